// A file job for worker_env's tests (worker_env_test.cpp): what each worker process finds in
// its environment. The arguments after "--" name the variables to report. Each init() appends
// "init <pid> NAME=value ..." to <output>/inits.txt; each item's row is
// "<key> <pid> NAME=value ..." (value "(unset)" for a variable that is not set). Each input
// file's first word says what scoring it does:
//
//   ok              nothing more
//   abort-once      on the first attempt: writes "<pid> NAME=value ..." to <output>/crash.txt,
//                   then std::abort(); a retry scores it as ok
//   await-inits=N   waits until inits.txt has N lines (at most 20 s; then the row ends in
//                   "gave-up")
#include <parallel_run/parallel_run.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace fs = std::filesystem;

std::string variables(const parallel_run::Context& ctx) {
  std::string s = std::to_string(::getpid());
  for (const std::string& name : ctx.arguments()) {
    const char* value = std::getenv(name.c_str());
    s += " " + name + "=" + (value ? std::string(value) : std::string("(unset)"));
  }
  return s;
}

std::size_t lines(const fs::path& file) {
  std::ifstream in(file);
  std::size_t n = 0;
  for (std::string line; std::getline(in, line);)
    ++n;
  return n;
}

struct WorkerEnvScorer {
  void init(parallel_run::Context& ctx) {
    std::ofstream(ctx.output_dir() / "inits.txt", std::ios::app)
        << "init " << variables(ctx) << "\n";
  }

  std::vector<std::string> run(const parallel_run::FileBatch& batch, parallel_run::Context& ctx) {
    std::vector<std::string> rows;
    for (const parallel_run::FileEntry& e : batch) {
      std::ifstream in(e.path);
      std::string word;
      in >> word;
      std::string row = e.key + " " + variables(ctx);
      if (word == "abort-once") {
        if (ctx.attempt() == 1) {
          std::ofstream(ctx.output_dir() / "crash.txt") << variables(ctx) << "\n" << std::flush;
          std::abort();
        }
      } else if (word.rfind("await-inits=", 0) == 0) {
        const std::size_t n = std::stoul(word.substr(12));
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        while (lines(ctx.output_dir() / "inits.txt") < n) {
          if (std::chrono::steady_clock::now() > deadline) {
            row += " gave-up";
            break;
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
      } else if (word != "ok") {
        throw parallel_run::UsageError("worker_env_driver: unknown word '" + word + "'");
      }
      rows.push_back(row);
    }
    return rows;
  }
};

}  // namespace

int main(int argc, char** argv) {
  parallel_run::Config defaults;
  defaults.name = "worker-env";
  defaults.backend = parallel_run::Backend::process;
  defaults.mini_batch_size = 1;
  return parallel_run::main(argc, argv, WorkerEnvScorer{}, defaults);
}
