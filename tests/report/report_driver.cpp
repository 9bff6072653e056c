// The programs behind the browser test (browser_test.py):
//   report_driver job <folder>              a job with failures, retries and a timeout over
//                                           12 files in <folder>/in, output in <folder>/out
//   report_driver synthetic <folder> <n>    report.html of a synthetic job of n mini-batches
//                                           in <folder>/logs (events fed to the observer)
#include <parallel_run/parallel_run.hpp>
#include <parallel_run/detail/job_files.hpp>
#include <parallel_run/detail/run_report.hpp>

#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "report/report_jobs.hpp"
#include "support/temp_dir.hpp"

namespace fs = std::filesystem;
using namespace parallel_run;

namespace {

int job(const fs::path& folder) {
  test_support::make_numbered_files(folder / "in", 12);
  Config c = test_support::report_job_config(folder / "out");
  c.name = "browser-test";
  c.command_line = "report_driver job '" + folder.string() + "' <&>";
  const JobResult r = run(c, FileDataset({(folder / "in").string()}), test_support::flaky_scorer());
  fmt::print("{}\n", r.summary());
  return r.succeeded ? 0 : 1;
}

int synthetic(const fs::path& folder, std::size_t mini_batches) {
  Config c;
  c.name = "synthetic";
  c.output_dir = folder;
  fs::create_directories(c.effective_log_dir());
  auto digest = std::make_shared<detail::ErrorDigest>(detail::JobFiles(c).job_error());
  detail::RunReport report{detail::JobFiles(c), digest};
  test_support::FanOut both;
  both.to = {digest.get(), &report};
  const JobResult r = test_support::feed_synthetic_job(both, c, mini_batches);
  fmt::print("{}\n", r.summary());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() == 2 && args[0] == "job") return job(args[1]);
  if (args.size() == 3 && args[0] == "synthetic") return synthetic(args[1], std::stoull(args[2]));
  fmt::print(stderr, "usage: report_driver job <folder> | synthetic <folder> <mini-batches>\n");
  return 2;
}
