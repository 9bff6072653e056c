// What the score_table programs share: the 30 measurements of the Wisconsin diagnostic breast
// cancer data set, a reader for the tables breast_cancer_prepare writes, and a logistic
// regression (standardized features, full-batch gradient descent, no randomness).
#pragma once

#include <fmt/format.h>

#include <array>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace breast_cancer {

inline constexpr std::size_t kFeatureCount = 30;

/// The column names of the prepared tables, in scikit-learn's order: the mean, the standard
/// error and the worst (mean of the three largest) of ten measurements of the cell nuclei.
inline constexpr std::array<std::string_view, kFeatureCount> kFeatures{
    "mean radius",      "mean texture",
    "mean perimeter",   "mean area",
    "mean smoothness",  "mean compactness",
    "mean concavity",   "mean concave points",
    "mean symmetry",    "mean fractal dimension",
    "radius error",     "texture error",
    "perimeter error",  "area error",
    "smoothness error", "compactness error",
    "concavity error",  "concave points error",
    "symmetry error",   "fractal dimension error",
    "worst radius",     "worst texture",
    "worst perimeter",  "worst area",
    "worst smoothness", "worst compactness",
    "worst concavity",  "worst concave points",
    "worst symmetry",   "worst fractal dimension",
};

/// The class column of the prepared tables and its values; scikit-learn's target 0 is
/// malignant, 1 benign.
inline constexpr std::string_view kIdColumn = "id";
inline constexpr std::string_view kDiagnosisColumn = "diagnosis";
inline constexpr std::string_view kMalignant = "malignant";
inline constexpr std::string_view kBenign = "benign";

using Features = std::array<double, kFeatureCount>;

class FormatError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Sample {
  std::string id;
  Features features{};
  bool malignant = false;
};

inline double parse_number(std::string_view text, const std::filesystem::path& file,
                           std::size_t line, std::string_view column) {
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || !std::isfinite(value))
    throw FormatError(fmt::format("'{}' line {}: column '{}': '{}' is not a number", file.string(),
                                  line, column, text));
  return value;
}

inline std::vector<std::string_view> split(std::string_view line, char delimiter) {
  std::vector<std::string_view> fields;
  for (std::size_t start = 0;;) {
    const std::size_t end = line.find(delimiter, start);
    fields.push_back(line.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) return fields;
    start = end + 1;
  }
}

/// The header row of the prepared tables: id, the 30 features, diagnosis.
inline std::string header_row() {
  std::string row(kIdColumn);
  for (std::string_view f : kFeatures)
    row += fmt::format(",{}", f);
  return row + fmt::format(",{}", kDiagnosisColumn);
}

/// A table breast_cancer_prepare wrote. Its fields are plain numbers and words, never quoted,
/// so a split on ',' reads it; the job itself reads the test table through the library.
/// Sample i is on line i + 2 (after the header).
inline std::vector<Sample> read_table(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw FormatError(fmt::format("cannot open '{}'", file.string()));
  std::string line;
  if (!std::getline(in, line) || line != header_row())
    throw FormatError(
        fmt::format("'{}' does not start with the header row '{}'", file.string(), header_row()));
  std::vector<Sample> samples;
  for (std::size_t number = 2; std::getline(in, line); ++number) {
    const std::vector<std::string_view> fields = split(line, ',');
    if (fields.size() != kFeatureCount + 2)
      throw FormatError(fmt::format("'{}' line {}: {} fields, expected {}", file.string(), number,
                                    fields.size(), kFeatureCount + 2));
    Sample s;
    s.id = std::string(fields.front());
    for (std::size_t f = 0; f < kFeatureCount; ++f)
      s.features[f] = parse_number(fields[f + 1], file, number, kFeatures[f]);
    const std::string_view diagnosis = fields.back();
    if (diagnosis != kMalignant && diagnosis != kBenign)
      throw FormatError(fmt::format("'{}' line {}: diagnosis '{}' is neither '{}' nor '{}'",
                                    file.string(), number, diagnosis, kMalignant, kBenign));
    s.malignant = diagnosis == kMalignant;
    samples.push_back(std::move(s));
  }
  if (samples.empty()) throw FormatError(fmt::format("'{}' holds no rows", file.string()));
  return samples;
}

struct TrainingOptions {
  int epochs = 500;
  double learning_rate = 0.5;
  // A little weight decay keeps the weights finite on separable data.
  double l2 = 1e-3;
};

/// Logistic regression for P(malignant). The features are standardized with the training
/// set's mean and standard deviation, which lets one learning rate suit areas in the
/// thousands and fractal dimensions in the hundredths.
class Model {
 public:
  static Model train(const std::vector<Sample>& samples, const TrainingOptions& o = {}) {
    if (samples.empty()) throw std::invalid_argument("Model::train: no samples");
    Model m;
    const double n = static_cast<double>(samples.size());
    for (const Sample& s : samples)
      for (std::size_t f = 0; f < kFeatureCount; ++f)
        m.mean_[f] += s.features[f] / n;
    for (const Sample& s : samples)
      for (std::size_t f = 0; f < kFeatureCount; ++f)
        m.scale_[f] += (s.features[f] - m.mean_[f]) * (s.features[f] - m.mean_[f]) / n;
    for (double& v : m.scale_)
      v = v > 0 ? 1.0 / std::sqrt(v) : 0.0;  // a constant column carries no information

    std::vector<Features> x(samples.size());
    for (std::size_t i = 0; i < samples.size(); ++i)
      x[i] = m.standardized(samples[i].features);
    // Full-batch gradient descent on the mean cross-entropy: the same model on every run and
    // in every worker.
    for (int epoch = 0; epoch < o.epochs; ++epoch) {
      Features gradient{};
      double bias_gradient = 0;
      for (std::size_t i = 0; i < samples.size(); ++i) {
        const double error = m.sigmoid(m.score(x[i])) - (samples[i].malignant ? 1.0 : 0.0);
        bias_gradient += error;
        for (std::size_t f = 0; f < kFeatureCount; ++f)
          gradient[f] += error * x[i][f];
      }
      m.bias_ -= o.learning_rate * bias_gradient / n;
      for (std::size_t f = 0; f < kFeatureCount; ++f)
        m.weight_[f] -= o.learning_rate * (gradient[f] / n + o.l2 * m.weight_[f]);
    }
    return m;
  }

  double probability_malignant(const Features& raw) const {
    return sigmoid(score(standardized(raw)));
  }

  double accuracy(const std::vector<Sample>& samples) const {
    std::size_t correct = 0;
    for (const Sample& s : samples)
      correct += (probability_malignant(s.features) >= 0.5) == s.malignant ? 1 : 0;
    return static_cast<double>(correct) / static_cast<double>(samples.size());
  }

 private:
  Features standardized(const Features& raw) const {
    Features z;
    for (std::size_t f = 0; f < kFeatureCount; ++f)
      z[f] = (raw[f] - mean_[f]) * scale_[f];
    return z;
  }
  double score(const Features& z) const {
    double s = bias_;
    for (std::size_t f = 0; f < kFeatureCount; ++f)
      s += weight_[f] * z[f];
    return s;
  }
  static double sigmoid(double s) { return 1.0 / (1.0 + std::exp(-s)); }

  Features mean_{}, scale_{}, weight_{};
  double bias_ = 0;
};

}  // namespace breast_cancer
