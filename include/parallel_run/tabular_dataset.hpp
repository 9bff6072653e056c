// TabularDataset: table files (CSV, TSV, JSON Lines) as the input of a job. The files come
// from the same inputs as a FileDataset (folders, globs, @list files, paths); the job cuts
// each file into mini-batches of mini_batch_size bytes on record boundaries.
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/errors.hpp"
#include "parallel_run/file_dataset.hpp"

#include <fmt/format.h>

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

PARALLEL_RUN_BEGIN_NAMESPACE

/// CSV (RFC 4180: quoted fields may hold delimiters, doubled quotes and line breaks), TSV
/// (tab-separated, no quoting) or JSON Lines (one JSON object per line).
enum class TableFormat { csv, tsv, jsonl };

inline std::string_view to_string(TableFormat f) {
  switch (f) {
    case TableFormat::csv:
      return "csv";
    case TableFormat::tsv:
      return "tsv";
    case TableFormat::jsonl:
      return "jsonl";
  }
  return "csv";
}

/// Parses "csv", "tsv" or "jsonl" (case-insensitive). Throws ConfigError.
inline TableFormat parse_table_format(std::string_view text) {
  std::string s(text);
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  if (s == "csv") return TableFormat::csv;
  if (s == "tsv") return TableFormat::tsv;
  if (s == "jsonl") return TableFormat::jsonl;
  throw ConfigError("table_format",
                    fmt::format("table_format must be one of csv, tsv, jsonl; got '{}'", text));
}

/// How the table files are read.
struct TableOptions {
  /// Empty: from each file's extension (.csv; .tsv, .tab; .jsonl, .ndjson). A file with
  /// another extension then stops the job with a configuration error naming it
  /// (JobResult::configuration_error; the file is listed in failed_items.csv).
  std::optional<TableFormat> format;
  /// 0: ',' for CSV, '\t' for TSV (ignored for JSON Lines).
  char delimiter = 0;
  /// CSV and TSV: the first record of each file names the columns. (JSON Lines: the keys of
  /// each file's first object are the columns.)
  bool header = true;
  /// Files whose headers differ from the first file's are an InputError naming both files,
  /// unless this is set.
  bool allow_different_headers = false;
  /// Column names: rows with equal values of these columns go to the same mini-batches.
  std::vector<std::string> partition_keys;
};

/// The table inputs of a job: files listed as by FileDataset, read as by TableOptions.
class TabularDataset {
 public:
  explicit TabularDataset(std::vector<std::string> inputs, TableOptions options = {})
      : files_(inputs), options_(std::move(options)) {}
  TabularDataset(FileDataset files, TableOptions options = {})  // NOLINT: a dataset of files
      : files_(std::move(files)), options_(std::move(options)) {}

  const FileDataset& files() const noexcept { return files_; }
  const TableOptions& options() const noexcept { return options_; }
  TableOptions& options() noexcept { return options_; }

 private:
  FileDataset files_;
  TableOptions options_;
};

namespace detail {
/// The format of `path` from its extension, or nothing.
inline std::optional<TableFormat> table_format_of(std::string_view path) {
  const auto dot = path.rfind('.');
  const auto slash = path.rfind('/');
  if (dot == std::string_view::npos || (slash != std::string_view::npos && dot < slash))
    return std::nullopt;
  std::string ext(path.substr(dot + 1));
  for (char& c : ext)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  if (ext == "csv") return TableFormat::csv;
  if (ext == "tsv" || ext == "tab") return TableFormat::tsv;
  if (ext == "jsonl" || ext == "ndjson") return TableFormat::jsonl;
  return std::nullopt;
}
}  // namespace detail

PARALLEL_RUN_END_NAMESPACE
