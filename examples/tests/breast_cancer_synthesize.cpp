// breast_cancer_synthesize: writes a breast_cancer.csv in scikit-learn's layout (a first line
// "<rows>,30,malignant,benign", then 30 measurements and the class, 0 malignant, 1 benign),
// with made-up tumours around the real data set's class means, so the score_table pipeline
// can be tested without downloading the real file.
//
//   breast_cancer_synthesize <out.csv> [rows, default 569]
#include "../score_table/breast_cancer.hpp"

#include <fmt/format.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

namespace {

// The real data set's mean of each measurement over benign and over malignant tumours.
constexpr std::array<double, breast_cancer::kFeatureCount> kBenignMean{
    12.15,  17.91, 78.08, 462.8, 0.09248,  0.08008, 0.04606, 0.02572,  0.1742,  0.06287,
    0.2841, 1.22,  2.0,   21.14, 0.007196, 0.02144, 0.026,   0.009858, 0.02058, 0.003636,
    13.38,  23.52, 87.01, 558.9, 0.125,    0.1827,  0.1662,  0.07444,  0.2702,  0.07944};
constexpr std::array<double, breast_cancer::kFeatureCount> kMalignantMean{
    17.46,  21.6,  115.4, 978.4,  0.1029,  0.1452,  0.1608,  0.08799, 0.1929,  0.06268,
    0.6091, 1.211, 4.324, 72.67,  0.00678, 0.03228, 0.04182, 0.01506, 0.02047, 0.004062,
    21.13,  29.32, 141.4, 1422.0, 0.1448,  0.3748,  0.4506,  0.1822,  0.3235,  0.09153};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    fmt::print(stderr, "usage: breast_cancer_synthesize <out.csv> [rows]\n");
    return 2;
  }
  const int rows = argc == 3 ? std::atoi(argv[2]) : 569;
  if (rows < 10) {
    fmt::print(stderr, "breast_cancer_synthesize: rows must be at least 10\n");
    return 2;
  }
  // mt19937's sequence is fixed by the standard (distributions are not), and the sum of 12
  // uniforms is a normal enough noise made of additions only: the same file everywhere.
  std::mt19937 random(20241122u);
  auto normal = [&] {
    double sum = 0;
    for (int i = 0; i < 12; ++i)
      sum += static_cast<double>(random()) / 4294967296.0;
    return sum - 6.0;
  };

  std::string csv = fmt::format("{},30,malignant,benign\n", rows);
  for (int r = 0; r < rows; ++r) {
    const bool malignant = random() % 8 < 3;  // about 3 in 8, as in the real data
    // One severity per tumour, shared by its measurements: 0 is the benign mean, 1 the
    // malignant one. Its spread makes a few tumours look like the other class.
    const double severity = (malignant ? 1.0 : 0.0) + 0.2 * normal();
    for (std::size_t f = 0; f < breast_cancer::kFeatureCount; ++f) {
      const double spread = kMalignantMean[f] - kBenignMean[f];
      const double value = kBenignMean[f] + spread * severity + 0.15 * kBenignMean[f] * normal();
      csv += fmt::format("{:.4g},", value > 0 ? value : 0.0);
    }
    csv += malignant ? "0\n" : "1\n";
  }

  std::FILE* out = std::fopen(argv[1], "wb");
  if (!out || std::fwrite(csv.data(), 1, csv.size(), out) != csv.size() || std::fclose(out) != 0) {
    fmt::print(stderr, "breast_cancer_synthesize: cannot write '{}'\n", argv[1]);
    return 1;
  }
  fmt::print("breast_cancer_synthesize: {} tumours written to {}\n", rows, argv[1]);
  return 0;
}
