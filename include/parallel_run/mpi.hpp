// Many nodes on MPI: include this header (and link the CMake target parallel_run::mpi) and the
// same program, started by `mpirun -np N` or `srun -N N --mpi=pmix`, runs one job on N nodes:
// rank 0 coordinates and writes the output, journal and logs; every rank runs
// process_count_per_node workers (threads or processes, as --backend says). Started without
// a launcher, the program runs on one node and never initializes MPI; worker processes never
// do. The library initializes and finalizes MPI itself, on a thread of its own that makes
// every MPI call (MPI_THREAD_FUNNELED is enough).
#pragma once
#include <utility>  // before Asio and MPI's C++ headers with g++ 12 in C++20

#include "parallel_run/version.hpp"
#include "parallel_run/detail/cluster.hpp"
#include "parallel_run/detail/new_tcp_sockets.hpp"

#include <mpi.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <list>
#include <map>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <sched.h>

PARALLEL_RUN_BEGIN_NAMESPACE
namespace detail {

/// Whether a launcher started this process as one rank of several (Open MPI's mpirun, Slurm's
/// srun --mpi=pmix, MPICH's Hydra): only then is MPI initialized.
inline bool launched_by_mpi() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"})
    if (std::getenv(name) != nullptr) return true;
  return false;
}

/// The ClusterTransport on MPI_COMM_WORLD. One thread (the transport's) initializes MPI, makes
/// every MPI call and finalizes it: sends are queued to it, messages it receives wait in an
/// inbox. It polls (MPI has no descriptor to wait on), backing off to 1 ms when idle.
class MpiTransport final : public ClusterTransport {
 public:
  MpiTransport() {
    // The library's messages are small and few: Open MPI's ob1 starts in a tenth of what UCX
    // takes (0.15 s against 0.35 s for two ranks here). A choice made with --mca pml or
    // OMPI_MCA_pml stands.
    ::setenv("OMPI_MCA_pml", "ob1", 0);
    thread_ = std::thread([this] { main(); });
    std::unique_lock lock(mutex_);
    ready_cv_.wait(lock, [&] { return ready_ || !error_.empty(); });
    if (!error_.empty()) {
      lock.unlock();
      thread_.join();
      throw std::runtime_error(error_);
    }
  }

  ~MpiTransport() override { shutdown(); }

  void shutdown() override {
    {
      std::lock_guard lock(mutex_);
      quit_ = true;
    }
    out_cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  std::size_t rank() const override { return rank_; }
  std::size_t size() const override { return size_; }
  const std::vector<std::string>& hosts() const override { return hosts_; }
  std::string launcher() const override { return launcher_; }

  void send(std::size_t to, std::string bytes) override {
    {
      std::lock_guard lock(mutex_);
      outbox_.push_back({to, std::move(bytes)});
    }
    out_cv_.notify_one();
  }

  std::optional<Message> receive(std::chrono::milliseconds wait) override {
    std::unique_lock lock(mutex_);
    if (!in_cv_.wait_for(lock, wait, [&] { return !inbox_.empty(); })) return std::nullopt;
    Message m = std::move(inbox_.front());
    inbox_.pop_front();
    return m;
  }

  void receive_all(std::chrono::milliseconds wait, std::vector<Message>& out) override {
    std::unique_lock lock(mutex_);
    if (!in_cv_.wait_for(lock, wait, [&] { return !inbox_.empty(); })) return;
    for (auto& m : inbox_)
      out.push_back(std::move(m));
    inbox_.clear();
  }

  [[noreturn]] void abort(int status, const std::string& why) override {
    std::fprintf(stderr, "parallel_run: rank %zu ends the MPI job: %s\n", rank_, why.c_str());
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, status);
    std::_Exit(status);
  }

 private:
  static constexpr int tag = 7301;  // the library's messages: a user's own MPI calls differ
  struct Outgoing {
    std::size_t to;
    std::string bytes;
  };
  struct InFlight {
    std::string bytes;
    MPI_Request request;
  };

  static constexpr std::size_t pack_limit = 4u << 20;

  static void send_packed(std::size_t to, std::string& packed, std::list<InFlight>& in_flight) {
    in_flight.push_back({std::move(packed), MPI_REQUEST_NULL});
    packed.clear();
    InFlight& f = in_flight.back();
    MPI_Isend(f.bytes.data(), static_cast<int>(f.bytes.size()), MPI_BYTE, static_cast<int>(to), tag,
              MPI_COMM_WORLD, &f.request);
  }

  void main() {
    int provided = 0;
    int already = 0;
    MPI_Initialized(&already);
    const char* failure = nullptr;
    const NewTcpSockets opened_by_init;  // the connection to the launcher (see that header)
    if (already)
      failure =
          "MPI is already initialized: parallel_run initializes MPI itself, on a thread of its "
          "own (do not call MPI_Init in a program that includes <parallel_run/mpi.hpp>)";
    else if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
      failure = "MPI_Init_thread failed";
    else if (provided < MPI_THREAD_FUNNELED)
      failure =
          "this MPI offers no MPI_THREAD_FUNNELED: parallel_run calls MPI from a thread "
          "of its own";
    else
      opened_by_init.set_nodelay();  // MPI_Finalize would otherwise wait 40 ms on Nagle
    if (failure != nullptr) {
      std::lock_guard lock(mutex_);
      error_ = failure;
      ready_cv_.notify_all();
      return;
    }
    int rank = 0, size = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    char name[MPI_MAX_PROCESSOR_NAME] = {};
    int length = 0;
    MPI_Get_processor_name(name, &length);
    std::vector<char> all(static_cast<std::size_t>(size) * MPI_MAX_PROCESSOR_NAME);
    MPI_Allgather(name, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, all.data(), MPI_MAX_PROCESSOR_NAME,
                  MPI_CHAR, MPI_COMM_WORLD);
    char version[MPI_MAX_LIBRARY_VERSION_STRING] = {};
    int version_length = 0;
    MPI_Get_library_version(version, &version_length);
    std::string v(version, static_cast<std::size_t>(version_length));
    v = v.substr(0, std::min(v.find_first_of(",\n"), v.size()));
    {
      std::lock_guard lock(mutex_);
      rank_ = static_cast<std::size_t>(rank);
      size_ = static_cast<std::size_t>(size);
      for (int i = 0; i < size; ++i)
        hosts_.emplace_back(&all[static_cast<std::size_t>(i) * MPI_MAX_PROCESSOR_NAME]);
      launcher_ = v.empty() ? "MPI" : v;
      ready_ = true;
    }
    ready_cv_.notify_all();
    serve();
    MPI_Finalize();
  }

  // Sends what is queued, receives what has arrived, until told to quit with nothing left to
  // send.
  void serve() {
    // A list: MPI reads each buffer in place until its send completes (a short string's bytes
    // live inside the element, so elements must never move).
    std::list<InFlight> in_flight;
    std::deque<Outgoing> batch;
    int idle_turns = 0;
    for (;;) {
      bool quit = false;
      {
        std::lock_guard lock(mutex_);
        batch.swap(outbox_);
        quit = quit_;
      }
      bool busy = !batch.empty();
      // What waits for one rank goes as one MPI message (each part length-prefixed): with tiny
      // mini-batches, three messages an attempt would otherwise each pay MPI's per-message
      // cost.
      std::map<std::size_t, std::string> packed;
      for (auto& o : batch) {
        std::string& p = packed[o.to];
        const auto n = static_cast<std::uint64_t>(o.bytes.size());
        p.append(reinterpret_cast<const char*>(&n), sizeof n);
        p.append(o.bytes);
        if (p.size() >= pack_limit) send_packed(o.to, p, in_flight);
      }
      for (auto& [to, p] : packed)
        if (!p.empty()) send_packed(to, p, in_flight);
      batch.clear();
      std::erase_if(in_flight, [](InFlight& f) {
        int done = 0;
        MPI_Test(&f.request, &done, MPI_STATUS_IGNORE);
        return done != 0;
      });
      for (;;) {
        int arrived = 0;
        MPI_Status status;
        MPI_Iprobe(MPI_ANY_SOURCE, tag, MPI_COMM_WORLD, &arrived, &status);
        if (!arrived) break;
        int count = 0;
        MPI_Get_count(&status, MPI_BYTE, &count);
        std::string arrived_bytes(static_cast<std::size_t>(count), '\0');
        MPI_Recv(arrived_bytes.data(), count, MPI_BYTE, status.MPI_SOURCE, tag, MPI_COMM_WORLD,
                 MPI_STATUS_IGNORE);
        const auto from = static_cast<std::size_t>(status.MPI_SOURCE);
        {
          std::lock_guard lock(mutex_);
          for (std::size_t at = 0; at + sizeof(std::uint64_t) <= arrived_bytes.size();) {
            std::uint64_t n = 0;
            std::memcpy(&n, arrived_bytes.data() + at, sizeof n);
            at += sizeof n;
            if (n > arrived_bytes.size() - at) break;  // cannot be: MPI delivers whole messages
            inbox_.push_back({from, arrived_bytes.substr(at, n)});
            at += n;
          }
        }
        in_cv_.notify_all();
        busy = true;
      }
      if (quit && in_flight.empty()) return;
      if (busy) {
        idle_turns = 0;
        continue;
      }
      // Idle: yield a while (a reply often follows at once), then sleep, up to 1 ms: a wait
      // on the outbox ends early when something is to be sent.
      ++idle_turns;
      if (idle_turns < 64) {
        sched_yield();
        continue;
      }
      const auto pause = std::chrono::microseconds(std::min(1000, 20 * (idle_turns - 63)));
      std::unique_lock lock(mutex_);
      out_cv_.wait_for(lock, pause, [&] { return !outbox_.empty() || quit_; });
    }
  }

  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable ready_cv_, out_cv_, in_cv_;
  bool ready_ = false;
  bool quit_ = false;
  std::string error_;
  std::size_t rank_ = 0;
  std::size_t size_ = 1;
  std::vector<std::string> hosts_;
  std::string launcher_;
  std::deque<Outgoing> outbox_;
  std::deque<Message> inbox_;
};

namespace mpi_detail {
inline std::unique_ptr<ClusterTransport> launch() {
  if (!launched_by_mpi()) return nullptr;
  return std::make_unique<MpiTransport>();
}
// Registered before main() by every program that includes this header.
inline const bool registered = (cluster_launcher() = &launch, true);
}  // namespace mpi_detail

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
