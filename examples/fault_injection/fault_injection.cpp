// fault_injection: a scorer that crashes the way native scoring code does, on the items that
// ask for it, to see the process backend (--backend process) isolate crashes, kill hung or
// bloated workers and start new ones. Each input file's first word says what scoring it does:
//
//   ok         a row "<key> ok <bytes>"
//   segv       a segmentation fault           abort      std::abort()
//   terminate  an exception thrown through a noexcept function (std::terminate)
//   exit3      std::exit(3)                   kill       raise(SIGKILL)
//   throw      a C++ exception (an ordinary failed attempt)
//   hang       sleeps forever, ignoring the stop token (only a kill ends it)
//   oom        allocates and touches memory without bound (up to 4 GB, then hangs)
//   slow       sleeps 0.4 s, then a row as for ok
//   big        a row as for ok, followed by 4 MB of 'x' (large results)
//   close3     closes the worker's channel (fd 3), then hangs
//   fork-exit  forks a child that keeps running (and holds the channel), then std::exit(3)
//
// A word ending in "-once" (segv-once, hang-once, ...) misbehaves on the first attempt only,
// so the retry succeeds. Arguments after "--":
//
//   --init=WORD     init() misbehaves as WORD says (segv, abort, exit3, hang, throw, oom);
//                   WORD@rank=N only on MPI rank N (a node whose init fails; see mpi.hpp)
//   --record-inits  each init() appends "init <pid>" to <output>/inits.txt
//
// Each item is announced on stdout ("scoring <key>", "about to <word> on <key>"): the
// process backend keeps a worker's stdout and stderr in logs/user/stdout/<host>/process-<n>.txt
// and quotes the last lines in the reason of a crash. See README.md.
//
// FAULT_INJECTION_FILE_SIZE_LIMIT=<bytes> in the environment caps the size of the files the
// program writes (RLIMIT_FSIZE, SIGXFSZ ignored), to see a job whose output cannot be written;
// FAULT_INJECTION_IGNORE_SIGCHLD=1 sets SIGCHLD to SIG_IGN, as some hosts do.
#include <parallel_run/parallel_run.hpp>
#ifdef FAULT_INJECTION_MPI  // the same program on many nodes (tests/mpi)
#include <parallel_run/mpi.hpp>
#endif

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <sys/resource.h>
#include <unistd.h>

namespace {

// Opaque to the optimizer: the throw below is not seen to cross the noexcept at compile time.
void (*volatile thrower)() = [] {
  throw std::runtime_error("fault_injection: thrown past noexcept");
};
void call_noexcept() noexcept {
  thrower();
}

[[noreturn]] void hang() {
  for (;;)
    std::this_thread::sleep_for(std::chrono::seconds(1));
}

void misbehave(const std::string& word, const std::string& where) {
  if (word == "ok") return;
  std::printf("about to %s on %s\n", word.c_str(), where.c_str());
  if (word == "segv") {
    volatile std::uintptr_t address = 8;  // a page no process maps
    *reinterpret_cast<volatile int*>(address) = 1;
  } else if (word == "abort") {
    std::abort();
  } else if (word == "terminate") {
    call_noexcept();
  } else if (word == "exit3") {
    std::exit(3);
  } else if (word == "kill") {
    std::raise(SIGKILL);
  } else if (word == "slow") {
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
  } else if (word == "big") {
    return;
  } else if (word == "close3") {
    ::close(3);
    hang();
  } else if (word == "fork-exit") {
    std::fflush(nullptr);
    if (::fork() == 0)
      for (;;)
        ::pause();
    std::exit(3);
  } else if (word == "throw") {
    throw std::runtime_error(fmt::format("fault_injection: {} throws, as asked", where));
  } else if (word == "hang") {
    hang();
  } else if (word == "oom") {
    std::vector<std::unique_ptr<char[]>> hoard;
    for (int i = 0; i < 128; ++i) {  // 128 x 32 MB
      hoard.emplace_back(new char[32u << 20]);
      std::memset(hoard.back().get(), 1, 32u << 20);
    }
    hang();
  } else {
    throw parallel_run::UsageError(fmt::format(
        "fault_injection: unknown word '{}' in {} (known: ok, segv, abort, terminate, exit3, "
        "kill, throw, hang, oom, slow, big, close3, fork-exit, each optionally with -once)",
        word, where));
  }
}

class FaultInjection {
 public:
  void init(parallel_run::Context& ctx) {
    for (const std::string& a : ctx.arguments()) {
      if (a.rfind("--init=", 0) == 0)
        init_word_ = a.substr(7);
      else if (a == "--record-inits")
        record_inits_ = true;
      else
        throw parallel_run::UsageError(fmt::format(
            "fault_injection: unknown argument '{}' (known: --init=WORD, --record-inits)", a));
    }
    if (record_inits_) {
      std::ofstream(ctx.output_dir() / "inits.txt", std::ios::app)
          << fmt::format("init {}\n", ::getpid());
    }
    std::string word = init_word_;
    if (const auto at = word.find("@rank="); at != std::string::npos) {
      // Open MPI's and PMIx's rank variables, inherited by the rank's worker processes.
      const char* rank = std::getenv("OMPI_COMM_WORLD_RANK");
      if (rank == nullptr) rank = std::getenv("PMIX_RANK");
      if (rank == nullptr || word.substr(at + 6) != rank) word.clear();
      word.resize(std::min(word.size(), at));
    }
    if (!word.empty()) misbehave(word, "init");
  }

  std::vector<std::string> run(const parallel_run::FileBatch& batch, parallel_run::Context& ctx) {
    std::vector<std::string> rows;
    for (const parallel_run::FileEntry& e : batch) {
      std::ifstream in(e.path);
      std::string word;
      in >> word;
      if (!in && word.empty()) throw std::runtime_error("cannot read " + e.path.string());
      std::printf("scoring %s\n", e.key.c_str());
      const bool once = word.size() > 5 && word.compare(word.size() - 5, 5, "-once") == 0;
      if (once) word.resize(word.size() - 5);
      if (!once || ctx.attempt() == 1) misbehave(word, e.key);
      rows.push_back(fmt::format("{} {} {}", e.key, word, std::filesystem::file_size(e.path)));
      if (word == "big") rows.back().append(4u << 20, 'x');
    }
    ctx.log_metric("items", static_cast<double>(batch.size()));
    return rows;
  }

 private:
  std::string init_word_;
  bool record_inits_ = false;
};

}  // namespace

int main(int argc, char** argv) {
  if (const char* limit = std::getenv("FAULT_INJECTION_FILE_SIZE_LIMIT")) {
    const rlimit r{std::strtoull(limit, nullptr, 10), std::strtoull(limit, nullptr, 10)};
    ::setrlimit(RLIMIT_FSIZE, &r);
    std::signal(SIGXFSZ, SIG_IGN);  // a write past the limit fails with EFBIG instead
  }
  // A host that lets the kernel reap its children: their exit statuses are lost.
  if (std::getenv("FAULT_INJECTION_IGNORE_SIGCHLD")) std::signal(SIGCHLD, SIG_IGN);
  parallel_run::Config defaults;
  defaults.name = "fault-injection";
  return parallel_run::main(argc, argv, FaultInjection{}, defaults,
                            "Crashes, hangs or bloats on the items that ask for it, to show the "
                            "process backend's crash isolation.");
}
