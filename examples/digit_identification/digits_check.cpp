// digits_check: compares the rows of digit_identification ("<file name>: <digit>") with the
// labels digits_prepare wrote ("<file name> <label>"). Prints "accuracy: <value>" (an image
// without a prediction counts as wrong) and exits 1 when an image lacks a prediction or the
// accuracy is below the minimum, so scripts and tests can rely on the exit status.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <array>
#include <cstddef>
#include <exception>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

struct Labeled {
  std::string name;
  int digit = 0;
};

int parse_digit(const std::string& text, const fs::path& file, std::size_t line) {
  if (text.size() != 1 || text[0] < '0' || text[0] > '9')
    throw std::runtime_error(
        fmt::format("'{}' line {}: '{}' is not a digit", file.string(), line, text));
  return text[0] - '0';
}

std::ifstream open(const fs::path& file) {
  std::ifstream in(file);
  if (!in) throw std::runtime_error(fmt::format("cannot open '{}'", file.string()));
  return in;
}

/// "<file name> <label>" lines.
std::vector<Labeled> read_labels(const fs::path& file) {
  std::ifstream in = open(file);
  std::vector<Labeled> labels;
  std::string line;
  for (std::size_t number = 1; std::getline(in, line); ++number) {
    if (line.empty()) continue;
    const auto space = line.rfind(' ');
    if (space == std::string::npos || space == 0)
      throw std::runtime_error(
          fmt::format("'{}' line {}: expected '<file name> <label>'", file.string(), number));
    labels.push_back({line.substr(0, space), parse_digit(line.substr(space + 1), file, number)});
  }
  if (labels.empty()) throw std::runtime_error(fmt::format("'{}' holds no labels", file.string()));
  return labels;
}

/// "<file name>: <digit>" rows, by file name.
std::map<std::string, int> read_predictions(const fs::path& file) {
  std::ifstream in = open(file);
  std::map<std::string, int> predictions;
  std::string line;
  for (std::size_t number = 1; std::getline(in, line); ++number) {
    if (line.empty()) continue;
    const auto colon = line.rfind(": ");
    if (colon == std::string::npos || colon == 0)
      throw std::runtime_error(
          fmt::format("'{}' line {}: expected '<file name>: <digit>'", file.string(), number));
    const std::string name = line.substr(0, colon);
    if (!predictions.emplace(name, parse_digit(line.substr(colon + 2), file, number)).second)
      throw std::runtime_error(
          fmt::format("'{}' line {}: a second prediction for '{}'", file.string(), number, name));
  }
  return predictions;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Compares digit_identification's output with the held-out labels.", "digits_check"};
  fs::path output_file, labels_file;
  double min_accuracy = 0.90;
  app.add_option("output_file", output_file, "The job's output (parallel_run_step.txt)")
      ->required();
  app.add_option("labels_file", labels_file, "held_out_labels.txt from digits_prepare")->required();
  app.add_option("--min-accuracy", min_accuracy, "Exit 1 below this accuracy (default 0.90)")
      ->check(CLI::Range(0.0, 1.0));
  CLI11_PARSE(app, argc, argv);

  try {
    const std::vector<Labeled> labels = read_labels(labels_file);
    const std::map<std::string, int> predictions = read_predictions(output_file);

    std::size_t correct = 0;
    std::vector<std::string> missing;
    std::array<std::size_t, 10> per_digit_total{}, per_digit_correct{};
    for (const Labeled& l : labels) {
      ++per_digit_total[static_cast<std::size_t>(l.digit)];
      auto it = predictions.find(l.name);
      if (it == predictions.end()) {
        missing.push_back(l.name);
      } else if (it->second == l.digit) {
        ++correct;
        ++per_digit_correct[static_cast<std::size_t>(l.digit)];
      }
    }
    const double accuracy = static_cast<double>(correct) / static_cast<double>(labels.size());

    fmt::print("accuracy: {:.3f}\n", accuracy);
    std::string per_digit;
    for (std::size_t d = 0; d < 10; ++d)
      if (per_digit_total[d] > 0)
        per_digit += fmt::format(" {}:{}/{}", d, per_digit_correct[d], per_digit_total[d]);
    fmt::print("digits_check: {} of {} held-out images identified correctly (per digit{})\n",
               correct, labels.size(), per_digit);
    if (predictions.size() + missing.size() > labels.size())
      fmt::print("digits_check: {} predictions name images without a label; ignored\n",
                 predictions.size() + missing.size() - labels.size());

    bool passed = true;
    if (!missing.empty()) {
      fmt::print(stderr, "digits_check: {} of {} held-out images have no prediction, first: '{}'\n",
                 missing.size(), labels.size(), missing.front());
      passed = false;
    }
    if (accuracy < min_accuracy) {
      fmt::print(stderr, "digits_check: accuracy {:.3f} is below the minimum {:.3f}\n", accuracy,
                 min_accuracy);
      passed = false;
    }
    return passed ? 0 : 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "digits_check: {}\n", e.what());
    return 1;
  }
}
