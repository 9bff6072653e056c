// head_of_line: one mini-batch sleeps while a million tiny ones finish behind it. Their
// results must wait for it (the output is in input order); this measures what that waiting
// costs in memory. Prints figures and, last, `RESULT head_of_line peak_rss_mb=<MB>`.
//
//   head_of_line <work folder> [mini-batches, default 1000000]
#include <utility>

#include <parallel_run/parallel_run.hpp>

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>

namespace {
// The process's peak resident set (VmHWM), in MB.
double peak_rss_mb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return -1;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    fmt::print(stderr, "usage: head_of_line <work folder> [mini-batches]\n");
    return 2;
  }
  namespace fs = std::filesystem;
  const fs::path work = argv[1];
  const std::size_t count = argc > 2 ? std::stoul(argv[2]) : 1000000;
  fs::create_directories(work);
  {
    std::ofstream(work / "item.txt") << "x";
    std::ofstream list(work / "list.txt");
    for (std::size_t i = 0; i < count; ++i)
      list << "item.txt\n";
  }
  parallel_run::Config c;
  c.output_dir = work / "out";
  c.mini_batch_size = 1;
  c.process_count_per_node = 2;
  c.logging_level = parallel_run::LoggingLevel::warning;
  // Each finished mini-batch counts; the first one sleeps until the others stop moving (the
  // output holds back new mini-batches) or all have finished.
  auto finished = std::make_shared<std::atomic<std::size_t>>(0);
  auto behind = std::make_shared<std::size_t>(0);
  auto scorer =
      parallel_run::make_scorer([finished, behind, count](const parallel_run::FileBatch& b) {
        if (b.mini_batch_index() == 0) {
          std::size_t seen = finished->load();
          auto still_since = std::chrono::steady_clock::now();
          while (finished->load() + 1 < count) {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
            const std::size_t now = finished->load();
            if (now != seen) {
              seen = now;
              still_since = std::chrono::steady_clock::now();
            } else if (std::chrono::steady_clock::now() - still_since > std::chrono::seconds(1)) {
              break;
            }
          }
          *behind = finished->load();
        } else {
          ++*finished;
        }
        // A 41-byte row, as in the issue's measurement.
        return std::vector<std::string>{
            fmt::format("{:>12} 0.123456789 0.987654321 ok", b.mini_batch_index())};
      });
  const auto started = std::chrono::steady_clock::now();
  parallel_run::JobResult r =
      parallel_run::run(c, parallel_run::FileDataset({"@" + (work / "list.txt").string()}), scorer);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  fmt::print("mini-batches           {}\n", r.mini_batches_total);
  fmt::print("succeeded              {}\n", r.mini_batches_succeeded);
  fmt::print("finished behind the late one while it slept  {}\n", *behind);
  fmt::print("wall seconds           {:.2f}\n", seconds);
  fmt::print("output bytes           {}\n", fs::file_size(c.output_dir / "parallel_run_step.txt"));
  const double peak = peak_rss_mb();
  fmt::print("RESULT head_of_line peak_rss_mb={:.1f}\n", peak);
  return r.succeeded && r.mini_batches_succeeded == count ? 0 : 1;
}
