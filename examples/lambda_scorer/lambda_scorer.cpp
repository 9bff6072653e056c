// lambda_scorer: the smallest useful job. The scorer is a lambda turned into a scorer by
// parallel_run::make_scorer; it returns one FileStats per file, and the library writes its
// fields joined by the delimiter (--delimiter, a space by default):
//
//   lambda_scorer --input docs --output out/stats --delimiter ,
//   -> out/stats/parallel_run_step.txt: one row per file, in input order, such as
//      "notes/b.txt,20,1" (file, bytes, lines)
#include <parallel_run/parallel_run.hpp>

#include <fmt/format.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

/// One output row. A plain aggregate: no formatter needed, each field becomes a column.
struct FileStats {
  std::string file;  // the item key: the path relative to its input folder
  std::uintmax_t bytes = 0;
  std::uintmax_t lines = 0;  // a last line without a final newline counts too
};

FileStats count_file(const parallel_run::FileEntry& entry) {
  std::FILE* in = std::fopen(entry.path.c_str(), "rb");
  // Throwing fails the whole mini-batch, which the library then retries (--run-max-try).
  if (!in)
    throw std::runtime_error(
        fmt::format("cannot open '{}': {}", entry.path.string(), std::strerror(errno)));
  FileStats stats{entry.key};
  char buffer[1 << 16];
  char last = '\n';
  std::size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, in)) > 0) {
    stats.bytes += n;
    for (std::size_t i = 0; i < n; ++i)
      stats.lines += buffer[i] == '\n' ? 1 : 0;
    last = buffer[n - 1];
  }
  const bool failed = std::ferror(in) != 0;
  std::fclose(in);
  if (failed) throw std::runtime_error(fmt::format("cannot read '{}'", entry.path.string()));
  if (last != '\n') ++stats.lines;
  return stats;
}

}  // namespace

int main(int argc, char** argv) {
  auto scorer = parallel_run::make_scorer([](const parallel_run::FileBatch& batch) {
    std::vector<FileStats> rows;
    rows.reserve(batch.size());
    for (const parallel_run::FileEntry& entry : batch)
      rows.push_back(count_file(entry));
    return rows;
  });
  parallel_run::Config defaults;
  defaults.name = "lambda-scorer";
  return parallel_run::main(argc, argv, scorer, defaults,
                            "Counts the bytes and lines of each input file; writes "
                            "'<file><delimiter><bytes><delimiter><lines>' rows.");
}
