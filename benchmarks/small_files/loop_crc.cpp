// small_files by hand, the floor the library is measured against: list the folder's files
// (sorted by name, as the library orders a folder), cut them into mini-batches of 10, let
// THREADS threads pull mini-batch numbers from an atomic counter, then write every row in
// input order into one file. No retries, logs or ordering machinery: only the work.
//
//   loop_crc DATA_DIR OUTPUT_FILE [THREADS=2] [MINI_BATCH_SIZE=10]
#include "crc_file.hpp"

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

namespace {

std::size_t positive_arg(const char* text, const char* what) {
  char* end = nullptr;
  const long v = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || v < 1) {
    std::fprintf(stderr, "loop_crc: %s must be a positive integer, got '%s'\n", what, text);
    std::exit(2);
  }
  return static_cast<std::size_t>(v);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3 || argc > 5) {
    std::fprintf(stderr, "usage: loop_crc DATA_DIR OUTPUT_FILE [THREADS=2] [MINI_BATCH_SIZE=10]\n");
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  const std::size_t threads = argc > 3 ? positive_arg(argv[3], "THREADS") : 2;
  const std::size_t batch_size = argc > 4 ? positive_arg(argv[4], "MINI_BATCH_SIZE") : 10;

  try {
    // The benchmark's data folder is flat, so its file names are the library's item keys.
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(dir))
      if (e.is_regular_file()) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());

    const std::size_t batches = (names.size() + batch_size - 1) / batch_size;
    std::vector<std::string> rows(batches);
    std::atomic<std::size_t> next{0};
    std::atomic<bool> failed{false};
    auto work = [&] {
      std::string path;
      for (std::size_t b; (b = next.fetch_add(1, std::memory_order_relaxed)) < batches;) {
        const std::size_t end = std::min(names.size(), (b + 1) * batch_size);
        std::string& out = rows[b];
        for (std::size_t i = b * batch_size; i < end; ++i) {
          path = (dir / names[i]).string();
          try {
            small_files::append_row(out, names[i], small_files::crc32_of_file(path.c_str()));
          } catch (const std::exception& e) {
            std::fprintf(stderr, "loop_crc: %s\n", e.what());
            failed = true;
            return;
          }
          out.push_back('\n');
        }
      }
    };
    std::vector<std::thread> pool;
    for (std::size_t t = 0; t < threads; ++t)
      pool.emplace_back(work);
    for (auto& t : pool)
      t.join();
    if (failed) return 1;

    std::FILE* f = std::fopen(argv[2], "wb");
    if (!f) {
      std::perror(argv[2]);
      return 1;
    }
    bool ok = true;
    for (const auto& r : rows)
      ok = ok && std::fwrite(r.data(), 1, r.size(), f) == r.size();
    ok = (std::fclose(f) == 0) && ok;
    if (!ok) {
      std::fprintf(stderr, "loop_crc: cannot write %s\n", argv[2]);
      return 1;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "loop_crc: %s\n", e.what());
    return 1;
  }
  return 0;
}
