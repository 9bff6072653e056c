// small_files by hand, the floor the library is measured against: list the folder's files
// (sorted by name, as the library orders a folder), cut them into mini-batches of 10, let
// THREADS threads pull mini-batch numbers from an atomic counter, then write every row in
// input order into one file. No retries, logs or ordering machinery: only the work.
//
//   loop_crc DATA_DIR OUTPUT_FILE [THREADS=2] [MINI_BATCH_SIZE=10] [KEPT_FROM KEPT]
//
// With KEPT_FROM and KEPT, the floor of a resume done by hand: the first KEPT mini-batches'
// rows are taken from KEPT_FROM (an earlier run's whole output, one row per line), and each of
// their files is only checked, with an fstatat of its name in the open folder (the least a
// resume can do to know that a file did not change since the run that scored it: its size and
// modification time); the others are scored. The same listing comes first, since which files
// make up each mini-batch is known only once the folder is read and sorted. run.sh times it
// beside the library's resume (loop_resume_ratio).
#include "crc_file.hpp"

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>

namespace {

std::size_t number_arg(const char* text, const char* what, long least) {
  char* end = nullptr;
  const long v = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || v < least) {
    std::fprintf(stderr, "loop_crc: %s must be an integer of at least %ld, got '%s'\n", what, least,
                 text);
    std::exit(2);
  }
  return static_cast<std::size_t>(v);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3 || argc > 7 || argc == 6) {
    std::fprintf(stderr,
                 "usage: loop_crc DATA_DIR OUTPUT_FILE [THREADS=2] [MINI_BATCH_SIZE=10] "
                 "[KEPT_FROM KEPT]\n");
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  const std::size_t threads = argc > 3 ? number_arg(argv[3], "THREADS", 1) : 2;
  const std::size_t batch_size = argc > 4 ? number_arg(argv[4], "MINI_BATCH_SIZE", 1) : 10;
  const char* kept_from = argc > 6 ? argv[5] : nullptr;
  const std::size_t kept = kept_from != nullptr ? number_arg(argv[6], "KEPT", 0) : 0;

  try {
    // The benchmark's data folder is flat, so its file names are the library's item keys.
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(dir))
      if (e.is_regular_file()) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());

    const std::size_t batches = (names.size() + batch_size - 1) / batch_size;
    // The kept rows, each kept mini-batch's lines as one string.
    std::vector<std::string> kept_rows;
    if (kept_from != nullptr) {
      std::ifstream in(kept_from, std::ios::binary);
      if (!in) {
        std::perror(kept_from);
        return 1;
      }
      std::string line;
      for (std::size_t i = 0; i < std::min(kept, batches) * batch_size && std::getline(in, line);
           ++i) {
        if (i % batch_size == 0) kept_rows.emplace_back();
        kept_rows.back().append(line).push_back('\n');
      }
    }
    const int folder = ::open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (folder < 0) {
      std::perror(argv[1]);
      return 1;
    }
    std::vector<std::string> rows(batches);
    std::atomic<std::size_t> next{0};
    std::atomic<bool> failed{false};
    auto work = [&] {
      std::string path;
      for (std::size_t b; (b = next.fetch_add(1, std::memory_order_relaxed)) < batches;) {
        const std::size_t end = std::min(names.size(), (b + 1) * batch_size);
        std::string& out = rows[b];
        if (b < kept_rows.size()) {
          struct stat st {};
          for (std::size_t i = b * batch_size; i < end; ++i)
            if (::fstatat(folder, names[i].c_str(), &st, 0) != 0) {
              std::fprintf(stderr, "loop_crc: cannot check %s\n", names[i].c_str());
              failed = true;
              return;
            }
          out = std::move(kept_rows[b]);
          continue;
        }
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
