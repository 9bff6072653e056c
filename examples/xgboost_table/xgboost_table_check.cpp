// xgboost_table_check: compares xgboost_table's output ("<key> <diagnosis> <probability>"
// rows, the key being "<file>:<line>", after an optional header line) with the diagnosis
// column of the test table from breast_cancer_prepare. Prints "accuracy: <value>" and exits 1
// when the output does not hold exactly one row per test row in input order, or the accuracy
// is below the minimum (0.95 unless --min-accuracy), so scripts and tests can rely on the exit
// status.
//
//   xgboost_table_check result/parallel_run_step.txt data/test.csv
#include "../score_table/breast_cancer.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <charconv>
#include <cstddef>
#include <exception>
#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace fs = std::filesystem;

struct Prediction {
  std::size_t line = 0;    // the record's line in the test table, from the key
  std::string file;        // the file part of the key
  bool malignant = false;  // the diagnosis written
};

Prediction parse_row(std::string_view row, const fs::path& file, std::size_t number) {
  auto fail = [&](std::string_view what) {
    return std::runtime_error(
        fmt::format("'{}' line {}: {}: '{}'", file.string(), number, what, row));
  };
  // "<file>:<line> <diagnosis> <probability>"; the file key of a prepared table has no space.
  const std::vector<std::string_view> fields = breast_cancer::split(row, ' ');
  if (fields.size() != 3) throw fail("expected '<key> <diagnosis> <probability>'");
  const std::string_view key = fields[0], diagnosis = fields[1], probability_text = fields[2];

  Prediction p;
  if (diagnosis != breast_cancer::kMalignant && diagnosis != breast_cancer::kBenign)
    throw fail(fmt::format("diagnosis '{}' is neither '{}' nor '{}'", diagnosis,
                           breast_cancer::kMalignant, breast_cancer::kBenign));
  p.malignant = diagnosis == breast_cancer::kMalignant;
  double probability = -1;
  auto [end, ec] = std::from_chars(probability_text.data(),
                                   probability_text.data() + probability_text.size(), probability);
  if (ec != std::errc{} || end != probability_text.data() + probability_text.size() ||
      !(probability >= 0 && probability <= 1))
    throw fail(fmt::format("'{}' is not a probability", probability_text));
  // The probability is rounded to 4 decimals: 0.5000 may stand for either side of 0.5.
  if (probability != 0.5 && (probability > 0.5) != p.malignant)
    throw fail("the diagnosis does not follow from the probability");

  const std::size_t colon = key.rfind(':');
  if (colon == std::string_view::npos)
    throw fail(fmt::format("key '{}' is not '<file>:<line>'", key));
  auto [line_end, line_ec] =
      std::from_chars(key.data() + colon + 1, key.data() + key.size(), p.line);
  if (line_ec != std::errc{} || line_end != key.data() + key.size())
    throw fail(fmt::format("key '{}' is not '<file>:<line>'", key));
  p.file = std::string(key.substr(0, colon));
  return p;
}

std::vector<Prediction> read_predictions(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::runtime_error(fmt::format("cannot open '{}'", file.string()));
  std::vector<Prediction> predictions;
  std::string row;
  for (std::size_t number = 1; std::getline(in, row); ++number) {
    if (number == 1 && row == "key diagnosis probability") continue;  // Config::output_header
    predictions.push_back(parse_row(row, file, number));
  }
  return predictions;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Compares xgboost_table's output with the diagnoses of the test table.",
               "xgboost_table_check"};
  fs::path output_file, test_file;
  double min_accuracy = 0.95;
  app.add_option("output_file", output_file, "The job's output (parallel_run_step.txt)")
      ->required();
  app.add_option("test_csv", test_file, "test.csv from breast_cancer_prepare")->required();
  app.add_option("--min-accuracy", min_accuracy, "Exit 1 below this accuracy (default 0.95)")
      ->check(CLI::Range(0.0, 1.0));
  CLI11_PARSE(app, argc, argv);

  try {
    const std::vector<breast_cancer::Sample> tests = breast_cancer::read_table(test_file);
    const std::vector<Prediction> predictions = read_predictions(output_file);

    // Row j must be test row j: the library keeps input order across mini-batches, and test
    // row j sits on line j + 2 of its table (after the header; no field holds a line break).
    std::optional<std::string> order_problem;
    if (predictions.size() != tests.size())
      order_problem =
          fmt::format("{} output rows for {} test rows", predictions.size(), tests.size());
    for (std::size_t j = 0; j < predictions.size() && j < tests.size() && !order_problem; ++j) {
      const Prediction& p = predictions[j];
      if (p.line != j + 2 || p.file != predictions[0].file)
        order_problem = fmt::format("output row {} is '{}:{}', expected line {} of the test table",
                                    j + 1, p.file, p.line, j + 2);
    }

    std::size_t correct = 0, malignant = 0, malignant_correct = 0;
    for (std::size_t j = 0; j < tests.size(); ++j) {
      const bool right = j < predictions.size() && predictions[j].malignant == tests[j].malignant;
      correct += right ? 1 : 0;
      malignant += tests[j].malignant ? 1 : 0;
      malignant_correct += right && tests[j].malignant ? 1 : 0;
    }
    const double accuracy = static_cast<double>(correct) / static_cast<double>(tests.size());

    fmt::print("accuracy: {:.3f}\n", accuracy);
    fmt::print(
        "xgboost_table_check: {} of {} test rows diagnosed correctly (malignant {}/{}, benign "
        "{}/{})\n",
        correct, tests.size(), malignant_correct, malignant, correct - malignant_correct,
        tests.size() - malignant);
    bool passed = true;
    if (order_problem) {
      fmt::print(stderr, "xgboost_table_check: {}\n", *order_problem);
      passed = false;
    } else {
      fmt::print("xgboost_table_check: {} output rows, one per test row, in input order\n",
                 predictions.size());
    }
    if (accuracy < min_accuracy) {
      fmt::print(stderr, "xgboost_table_check: accuracy {:.3f} is below the minimum {:.3f}\n",
                 accuracy, min_accuracy);
      passed = false;
    }
    return passed ? 0 : 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "xgboost_table_check: {}\n", e.what());
    return 1;
  }
}
