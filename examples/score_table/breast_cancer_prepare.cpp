// breast_cancer_prepare: turns scikit-learn's breast_cancer.csv (a first line
// "569,30,malignant,benign", then per tumour 30 measurements and the class, 0 for malignant
// and 1 for benign) into two CSV tables with a header row:
//   <out>/train.csv   id, the 30 named measurements, diagnosis ("malignant" or "benign")
//   <out>/test.csv    the same columns for every 5th tumour: the job's input
// The id is the tumour's 1-based position in the source file. The measurements are copied as
// they are written, so no precision is lost. The split is deterministic.
#include "breast_cancer.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstddef>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace fs = std::filesystem;
using breast_cancer::FormatError;

std::string read_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw FormatError(fmt::format("cannot open '{}'", file.string()));
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// Written under a temporary name and renamed, so a reader never sees half a table.
void write_atomically(const fs::path& file, const std::string& text) {
  const fs::path partial = file.string() + ".partial";
  {
    std::ofstream out(partial, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out.flush()) throw FormatError(fmt::format("cannot write '{}'", partial.string()));
  }
  fs::rename(partial, file);
}

struct Split {
  std::size_t tumours = 0, train = 0, test = 0, malignant = 0;
};

Split prepare(const fs::path& source, const fs::path& out_dir, std::size_t test_every) {
  const std::string text = read_file(source);
  std::vector<std::string_view> lines = breast_cancer::split(text, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  for (std::string_view& line : lines)
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);

  // scikit-learn's own first line: rows, features, then the class names by target value.
  const std::vector<std::string_view> head =
      lines.empty() ? std::vector<std::string_view>{} : breast_cancer::split(lines[0], ',');
  if (head.size() != 4 || head[1] != "30" || head[2] != breast_cancer::kMalignant ||
      head[3] != breast_cancer::kBenign)
    throw FormatError(
        fmt::format("'{}' does not start with scikit-learn's line '<rows>,30,malignant,benign'",
                    source.string()));
  const std::size_t declared =
      static_cast<std::size_t>(breast_cancer::parse_number(head[0], source, 1, "number of rows"));
  if (declared != lines.size() - 1)
    throw FormatError(fmt::format("'{}' announces {} rows but holds {}", source.string(), declared,
                                  lines.size() - 1));

  const std::string header = breast_cancer::header_row() + "\n";
  std::string train = header, test = header;
  Split split;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const std::vector<std::string_view> fields = breast_cancer::split(lines[i], ',');
    if (fields.size() != breast_cancer::kFeatureCount + 1)
      throw FormatError(
          fmt::format("'{}' line {}: {} fields, expected {} (30 measurements and "
                      "the class)",
                      source.string(), i + 1, fields.size(), breast_cancer::kFeatureCount + 1));
    std::string row = std::to_string(i);
    for (std::size_t f = 0; f < breast_cancer::kFeatureCount; ++f) {
      breast_cancer::parse_number(fields[f], source, i + 1, breast_cancer::kFeatures[f]);
      row += ',';
      row += fields[f];
    }
    const std::string_view target = fields.back();
    if (target != "0" && target != "1")
      throw FormatError(
          fmt::format("'{}' line {}: class '{}' is neither 0 (malignant) nor 1 "
                      "(benign)",
                      source.string(), i + 1, target));
    const bool malignant = target == "0";
    row += fmt::format(",{}\n", malignant ? breast_cancer::kMalignant : breast_cancer::kBenign);

    const bool held_out = i % test_every == 0;
    (held_out ? test : train) += row;
    ++(held_out ? split.test : split.train);
    split.malignant += malignant ? 1 : 0;
  }
  split.tumours = lines.size() - 1;
  if (split.train == 0 || split.test == 0)
    throw FormatError(
        fmt::format("'{}' holds too few rows ({}) to split", source.string(), split.tumours));

  fs::create_directories(out_dir);
  write_atomically(out_dir / "train.csv", train);
  write_atomically(out_dir / "test.csv", test);
  return split;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Turns scikit-learn's breast_cancer.csv into train.csv and test.csv: CSV tables with a "
      "header row of column names (id, the 30 measurements, diagnosis).",
      "breast_cancer_prepare"};
  fs::path source, out_dir;
  std::size_t test_every = 5;
  app.add_option("breast_cancer_csv", source, "scikit-learn's breast_cancer.csv")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_option("output_dir", out_dir, "Folder for train.csv and test.csv")->required();
  app.add_option("--test-every", test_every, "Every Nth tumour goes to test.csv (default 5: 20%)")
      ->check(CLI::Range(std::size_t{2}, std::size_t{100}));
  CLI11_PARSE(app, argc, argv);

  try {
    const Split s = prepare(source, out_dir, test_every);
    fmt::print(
        "breast_cancer_prepare: {} tumours ({} malignant) from {}: {} for training, {} "
        "for testing (every {}th)\n",
        s.tumours, s.malignant, source.string(), s.train, s.test, test_every);
    fmt::print("breast_cancer_prepare: wrote {}/train.csv and {}/test.csv\n", out_dir.string(),
               out_dir.string());
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "breast_cancer_prepare: {}\n", e.what());
    return 1;
  }
}
