// score_table_check: compares score_table's output ("<key> <probability> <diagnosis>" rows,
// the key being "<file>:<line>", after an optional header line) with the diagnosis column of
// the test table. Prints "accuracy <value>" and exits 1 when the output does not hold exactly
// one row per test row in input order, or the accuracy is below the minimum, so scripts and
// tests can rely on the exit status.
#include "breast_cancer.hpp"

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
  std::string key;         // empty when the output has no key column
  std::size_t line = 0;    // the record's line in the test table, from the key
  bool malignant = false;  // the diagnosis written
};

/// A field the output quoted CSV-style (it held the delimiter or a quote), unquoted.
std::string unquote(std::string_view field) {
  if (field.size() < 2 || field.front() != '"' || field.back() != '"') return std::string(field);
  std::string text;
  for (std::size_t i = 1; i + 1 < field.size(); ++i) {
    text.push_back(field[i]);
    if (field[i] == '"') ++i;  // "" stands for one quote
  }
  return text;
}

Prediction parse_row(std::string_view row, const fs::path& file, std::size_t number) {
  auto fail = [&](std::string_view what) {
    return std::runtime_error(
        fmt::format("'{}' line {}: {}: '{}'", file.string(), number, what, row));
  };
  // The last two fields are the probability and the diagnosis; the key is everything before.
  const std::size_t last = row.rfind(' ');
  if (last == std::string_view::npos) throw fail("expected '<key> <probability> <diagnosis>'");
  const std::size_t middle = row.rfind(' ', last == 0 ? 0 : last - 1);
  const std::string_view diagnosis = row.substr(last + 1);
  const std::string_view probability_text = middle == std::string_view::npos
                                                ? row.substr(0, last)
                                                : row.substr(middle + 1, last - middle - 1);

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
  if ((probability >= 0.5) != p.malignant)
    throw fail("the diagnosis does not follow from the probability");

  if (middle != std::string_view::npos) {
    p.key = unquote(row.substr(0, middle));
    const std::size_t colon = p.key.rfind(':');
    const char* begin = p.key.data() + colon + 1;
    auto [line_end, line_ec] = std::from_chars(begin, p.key.data() + p.key.size(), p.line);
    if (colon == std::string::npos || line_ec != std::errc{} ||
        line_end != p.key.data() + p.key.size())
      throw fail(fmt::format("key '{}' is not '<file>:<line>'", p.key));
  }
  return p;
}

std::vector<Prediction> read_predictions(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::runtime_error(fmt::format("cannot open '{}'", file.string()));
  std::vector<Prediction> predictions;
  std::string row;
  for (std::size_t number = 1; std::getline(in, row); ++number) {
    if (number == 1 && (row == "key probability diagnosis" || row == "probability diagnosis"))
      continue;  // the output header (Config::output_header)
    predictions.push_back(parse_row(row, file, number));
  }
  return predictions;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Compares score_table's output with the diagnoses of the test table.",
               "score_table_check"};
  fs::path output_file, test_file;
  double min_accuracy = 0.93;
  app.add_option("output_file", output_file, "The job's output (parallel_run_step.txt)")
      ->required();
  app.add_option("test_csv", test_file, "test.csv from breast_cancer_prepare")->required();
  app.add_option("--min-accuracy", min_accuracy, "Exit 1 below this accuracy (default 0.93)")
      ->check(CLI::Range(0.0, 1.0));
  CLI11_PARSE(app, argc, argv);

  try {
    const std::vector<breast_cancer::Sample> tests = breast_cancer::read_table(test_file);
    const std::vector<Prediction> predictions = read_predictions(output_file);

    // Row j must be test row j: the library keeps input order across mini-batches, and a
    // test row sits on line j + 2 of its table (no field holds a line break).
    std::optional<std::string> order_problem;
    if (predictions.size() != tests.size())
      order_problem =
          fmt::format("{} output rows for {} test rows", predictions.size(), tests.size());
    const std::string_view first_file =
        predictions.empty()
            ? std::string_view{}
            : std::string_view(predictions[0].key).substr(0, predictions[0].key.rfind(':') + 1);
    for (std::size_t j = 0; j < predictions.size() && j < tests.size() && !order_problem; ++j) {
      const Prediction& p = predictions[j];
      if (!p.key.empty() && (p.line != j + 2 || !p.key.starts_with(first_file)))
        order_problem = fmt::format("output row {} is '{}', expected line {} of the test table",
                                    j + 1, p.key, j + 2);
    }

    std::size_t correct = 0, malignant = 0, malignant_correct = 0;
    for (std::size_t j = 0; j < tests.size(); ++j) {
      const bool right = j < predictions.size() && predictions[j].malignant == tests[j].malignant;
      correct += right ? 1 : 0;
      malignant += tests[j].malignant ? 1 : 0;
      malignant_correct += right && tests[j].malignant ? 1 : 0;
    }
    const double accuracy = static_cast<double>(correct) / static_cast<double>(tests.size());

    fmt::print("accuracy {:.3f}\n", accuracy);
    fmt::print(
        "score_table_check: {} of {} test rows diagnosed correctly (malignant {}/{}, benign "
        "{}/{})\n",
        correct, tests.size(), malignant_correct, malignant, correct - malignant_correct,
        tests.size() - malignant);
    bool passed = true;
    if (order_problem) {
      fmt::print(stderr, "score_table_check: {}\n", *order_problem);
      passed = false;
    } else {
      fmt::print("score_table_check: one output row per test row, in input order\n");
    }
    if (accuracy < min_accuracy) {
      fmt::print(stderr, "score_table_check: accuracy {:.3f} is below the minimum {:.3f}\n",
                 accuracy, min_accuracy);
      passed = false;
    }
    return passed ? 0 : 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "score_table_check: {}\n", e.what());
    return 1;
  }
}
