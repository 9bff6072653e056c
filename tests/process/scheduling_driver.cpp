// A file job for the process backend's scheduling tests: which worker runs which mini-batch,
// what starts after a stop, what a misuse inside run() leaves behind, whether an answer that
// arrived while the coordinator stalled is timed out. Each input file's first word says what
// scoring it does; the row is "<key> <pid of the worker>", and after it a marker file
// <output>/markers/<key> is made.
//
//   ok          nothing more
//   await=N     waits until N marker files exist (at most 20 s; then the row says "gave-up")
//   interrupt   sends SIGINT to the coordinator, then waits (at most 20 s) until this worker's
//               log says a task was handed back unstarted (the row says "gave-up" otherwise)
//   nested      calls another ParallelRun::run from inside run() (a misuse in a worker)
//   stall       sends SIGUSR1 to the coordinator, whose handler stalls its thread for
//               STALL_SECONDS (default 3), then answers with a row of 4 MB
//
// In a worker process, main() first prints "channel cloexec at main: yes|no": whether fd 3,
// the channel, is already CLOEXEC before any code of the program runs.
#include <parallel_run/parallel_run.hpp>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace fs = std::filesystem;

double stall_seconds = 3;

extern "C" void stall(int) {
  // Only async-signal-safe calls: the coordinator's thread is held here.
  timespec t{static_cast<time_t>(stall_seconds),
             static_cast<long>((stall_seconds - static_cast<double>(static_cast<time_t>(
                                                    stall_seconds))) *
                               1e9)};
  while (::nanosleep(&t, &t) != 0) {
  }
}

std::size_t markers(const fs::path& dir) {
  std::error_code ec;
  std::size_t n = 0;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    ++n;
  return n;
}

// Waits until `done()` holds, for at most 20 s: false when it gave up.
template <class Done>
bool await(Done done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

std::string own_log() {
  std::error_code ec;
  const fs::path log = fs::read_symlink("/proc/self/fd/1", ec);
  std::ifstream in(log);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

struct Scheduling {
  std::vector<std::string> run(const parallel_run::FileBatch& batch, parallel_run::Context& ctx) {
    std::vector<std::string> rows;
    const fs::path marker_dir = ctx.output_dir() / "markers";
    fs::create_directories(marker_dir);
    for (const parallel_run::FileEntry& e : batch) {
      std::ifstream in(e.path);
      std::string word;
      in >> word;
      std::printf("scoring %s\n", e.key.c_str());
      std::string row = e.key + " " + std::to_string(::getpid());
      if (word.rfind("await=", 0) == 0) {
        const auto n = std::stoul(word.substr(6));
        if (!await([&] { return markers(marker_dir) >= n; })) row += " gave-up";
      } else if (word == "interrupt") {
        ::kill(::getppid(), SIGINT);
        if (!await([] { return own_log().find("handed back unstarted") != std::string::npos; }))
          row += " gave-up";
      } else if (word == "nested") {
        parallel_run::Config other;
        other.name = "nested";
        other.output_dir = ctx.output_dir() / "nested";
        parallel_run::run(other, parallel_run::FileDataset({e.path}),
                          parallel_run::make_scorer([](const parallel_run::FileBatch& b) {
                            return std::vector<std::string>(b.size(), "x");
                          }));
      } else if (word == "stall") {
        ::kill(::getppid(), SIGUSR1);
        row.append(4u << 20, 'x');
      } else if (word != "ok") {
        throw parallel_run::UsageError("scheduling_driver: unknown word '" + word + "'");
      }
      rows.push_back(row);
      std::ofstream(marker_dir / e.key) << "done\n";
    }
    return rows;
  }
};

}  // namespace

int main(int argc, char** argv) {
  if (std::getenv("PARALLEL_RUN_WORKER")) {
    const int flags = ::fcntl(3, F_GETFD);
    std::printf("channel cloexec at main: %s\n",
                flags >= 0 && (flags & FD_CLOEXEC) != 0 ? "yes" : "no");
    std::fflush(stdout);
  }
  if (const char* s = std::getenv("STALL_SECONDS")) stall_seconds = std::strtod(s, nullptr);
  struct sigaction action {};
  action.sa_handler = stall;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  ::sigaction(SIGUSR1, &action, nullptr);
  parallel_run::Config defaults;
  defaults.name = "scheduling";
  defaults.backend = parallel_run::Backend::process;
  defaults.mini_batch_size = 1;
  return parallel_run::main(argc, argv, Scheduling{}, defaults);
}
