// The process backend: process_count_per_node worker processes, each the host program started
// again in worker mode (see process_spawn.hpp and worker_process.hpp) with its own scorer and
// its own init(). Tasks go out and outcomes come back over one socketpair per worker,
// multiplexed on the coordinator's io_context; a pidfd per worker says when it ended, so
// every worker is reaped. A crash fails only the attempt the worker was running; a run()
// past run_invocation_timeout, an init() past init_timeout or a resident set above
// worker_memory_limit gets the worker killed. A dead or killed worker is replaced when there
// is work for it. A worker is sent tasks behind its running one (one, or many when runs are
// short) only while no worker is idle; a task waiting in a worker's channel is withdrawn (it
// never starts there) when another worker falls idle or the job stops. A worker holding many
// short tasks is gathered: its answers are read every half millisecond, not one wake-up each.
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/config.hpp"
#include "parallel_run/context.hpp"
#include "parallel_run/errors.hpp"
#include "parallel_run/detail/batch_outcome.hpp"
#include "parallel_run/detail/clock.hpp"
#include "parallel_run/detail/node_identity.hpp"
#include "parallel_run/detail/job_files.hpp"
#include "parallel_run/detail/process_spawn.hpp"
#include "parallel_run/detail/run_time_average.hpp"
#include "parallel_run/detail/scorer_lifecycle.hpp"
#include "parallel_run/detail/task.hpp"
#include "parallel_run/detail/thread_backend.hpp"
#include "parallel_run/detail/worker_process.hpp"
#include "parallel_run/detail/worker_protocol.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <fmt/format.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

PARALLEL_RUN_BEGIN_NAMESPACE
namespace detail {

/// The last lines a worker wrote to its log file after byte `after` (at most `max_lines` of
/// the last `max_bytes`, each cut at `max_line` bytes), joined by " | ": what a crash's reason
/// quotes. `after`: where the worker's last answered attempt's output ended, so that an
/// earlier mini-batch's lines are not quoted as the crashed one's. The worker's own lines (a
/// queued mini-batch handed back) are left out: they are not the scorer's output, and a hung
/// worker's many of them hid its scorer's last line from a 1 KB window.
inline std::string tail_of_file(const std::filesystem::path& file, std::size_t after = 0,
                                std::size_t max_bytes = 65536, std::size_t max_lines = 5,
                                std::size_t max_line = 300) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return "(no output)";
  in.seekg(0, std::ios::end);
  const auto size = static_cast<std::size_t>(std::max<std::streamoff>(in.tellg(), 0));
  if (after >= size) return "(no output)";
  const std::size_t from = std::max(after, size > max_bytes ? size - max_bytes : 0);
  in.seekg(static_cast<std::streamoff>(from));
  std::string text(size - from, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(std::max<std::streamsize>(in.gcount(), 0)));
  if (from > after) {  // the first line is cut: drop it unless it is all there is
    auto nl = text.find('\n');
    if (nl != std::string::npos && nl + 1 < text.size()) text.erase(0, nl + 1);
  }
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty() && !line.starts_with("parallel_run: worker: ")) {
      if (line.size() > max_line) line = line.substr(0, max_line) + "...";
      lines.push_back(std::move(line));
    }
    start = end + 1;
  }
  if (lines.empty()) return "(no output)";
  std::string out;
  for (std::size_t i = lines.size() > max_lines ? lines.size() - max_lines : 0; i < lines.size();
       ++i)
    out += (out.empty() ? "" : " | ") + lines[i];
  return out;
}

/// Sends `sig` to the process a pidfd refers to (0: only checks that it is not reaped yet).
/// glibc 2.36 declares the wrapper without extern "C": the system call itself.
inline int pidfd_signal(int pidfd, int sig) {
  return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

/// Resident memory of a process in bytes (/proc/<pid>/statm), or -1 when it is gone.
/// `pidfd`: the process's pidfd; the file is read only if the process was still unreaped
/// after it was opened, so a recycled pid never gives another process's memory.
inline std::int64_t resident_bytes(pid_t pid, int pidfd = -1) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/statm", static_cast<int>(pid));
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  if (pidfd >= 0 && pidfd_signal(pidfd, 0) != 0) {
    ::close(fd);
    return -1;
  }
  char buf[128];
  const ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return -1;
  buf[n] = '\0';
  long long size = 0, resident = 0;
  if (std::sscanf(buf, "%lld %lld", &size, &resident) != 2) return -1;
  return static_cast<std::int64_t>(resident) * ::sysconf(_SC_PAGESIZE);
}

inline std::string megabytes(std::int64_t bytes) {
  return fmt::format("{:.1f} MB", static_cast<double>(bytes) / (1024.0 * 1024.0));
}

template <class Batch>
class ProcessBackend {
 public:
  ProcessBackend(boost::asio::io_context& io, std::shared_ptr<const Config> config,
                 ScorerFactory<materialized_t<Batch>> /*factory: each worker makes its own*/,
                 BackendEvents events, std::shared_ptr<MetricSink> /*metrics: merged at stop*/,
                 std::size_t /*low_water*/)
      : io_(io),
        config_(std::move(config)),
        events_(std::move(events)),
        tick_(io),
        gather_timer_(io),
        worker_log_dir_(JobFiles(*config_).worker_dir(node_name())),
        worker_output_dir_(JobFiles(*config_).worker_output_dir(node_name())),
        working_dir_(std::filesystem::current_path()) {}

  // Unwinding (the coordinator threw): kill and reap every worker, run no handler.
  ~ProcessBackend() { stop(false); }
  ProcessBackend(const ProcessBackend&) = delete;
  ProcessBackend& operator=(const ProcessBackend&) = delete;

  /// The ordinal of this job among the run() calls of this process (RunLog, see
  /// worker_process.hpp): set before start(). The runs before it go to each worker, which
  /// replays them.
  void set_job(std::size_t job) {
    job_ = job;
    earlier_runs_ = RunLog::instance().before(job);
  }

  /// Starts process_count_per_node workers and the watchdog.
  void start() {
    for (const auto& dir : {worker_log_dir_, worker_output_dir_}) {
      std::error_code ec;
      std::filesystem::create_directories(dir, ec);
      if (ec)
        throw OutputError(fmt::format("cannot create the worker log folder '{}': {}", dir.string(),
                                      ec.message()));
    }
    for (int i = 0; i < config_->process_count_per_node; ++i)
      spawn_worker();
    arm_tick();
  }

  /// Queues an attempt; `front` puts it before the others (retries keep output flowing).
  void submit(Attempt<Batch> a, bool front = false) {
    if (front)
      queue_.push_front(std::move(a));
    else
      queue_.push_back(std::move(a));
    top_up();
    schedule_dispatch();
  }

  /// Removes and returns the attempts no worker has been sent.
  std::vector<Attempt<Batch>> take_queued() {
    std::vector<Attempt<Batch>> out(std::make_move_iterator(queue_.begin()),
                                    std::make_move_iterator(queue_.end()));
    queue_.clear();
    return out;
  }

  /// Marks a worker whose init failed as gone: the coordinator decides about a replacement.
  void retire(std::size_t worker_index) {
    for (auto& w : workers_)
      if (w->index == worker_index) w->gone = true;
  }

  /// Starts workers until process_count_per_node are alive (none once no_more_work()). Never
  /// more inits than could still fail within the coordinator's limit of
  /// 3 * process_count_per_node init failures: once that many are reached, no other starts.
  void top_up() {
    if (no_more_work_ || stopped_) return;
    auto alive = static_cast<std::size_t>(std::count_if(
        workers_.begin(), workers_.end(), [](const auto& w) { return !w->gone && !w->ended; }));
    auto in_init =
        static_cast<std::size_t>(std::count_if(workers_.begin(), workers_.end(), [](const auto& w) {
          return w->kill == Kill::none &&
                 (w->state == State::starting || w->state == State::initializing);
        }));
    const auto limit = 3 * static_cast<std::size_t>(config_->process_count_per_node);
    for (; alive < static_cast<std::size_t>(config_->process_count_per_node) &&
           init_failures_ + in_init < limit;
         ++alive, ++in_init)
      spawn_worker();
  }

  /// The job is stopping: no task starts any more. Those waiting in a worker's channel are
  /// withdrawn; they come back (before the answer of the task ahead of them) and the
  /// coordinator takes them with take_queued().
  void no_more_work() {
    no_more_work_ = true;
    for (auto& w : workers_) {
      ungather(w);
      if (w->sent.size() > 1) withdraw(w, true);
    }
    for (auto& w : workers_)
      flush(w);
  }
  /// Mini-batches the coordinator should keep queued or running for this node (it keeps at
  /// least its own window): enough for every worker's prefetch and a few more to hand out.
  std::size_t wanted_in_flight() const {
    return static_cast<std::size_t>(config_->process_count_per_node) * (prefetch() + 8);
  }

  // A process can be killed: nothing is ever left running.
  std::size_t stuck_workers() const noexcept { return 0; }
  std::size_t detached_workers() const noexcept { return 0; }

  /// Ends the workers. Delivering events: each is sent `stop`, runs shutdown() and exits
  /// (killed past init_timeout), the io_context running meanwhile so that their last messages
  /// (a shutdown that threw) arrive. Otherwise (unwinding): every worker is killed. Either
  /// way every worker is reaped, and the workers' metrics files are merged.
  void stop(bool deliver_events = true) {
    if (stopped_) {
      end_workers();  // a handler threw while an earlier stop() waited: none is left behind
      return;
    }
    stopped_ = true;
    queue_.clear();
    boost::system::error_code cancelled;
    gather_timer_.cancel(cancelled);
    if (deliver_events) {
      for (auto& w : workers_)
        ungather(w);
      const auto deadline = clock::now() + seconds(config_->init_timeout);
      for (auto& w : workers_) {
        if (w->kill != Kill::none || w->exited) continue;
        if (w->state == State::ready && !w->misused) {
          w->state = State::stopping;
          w->kill_deadline = deadline;
          append_frame(w->out, MessageType::stop);
          flush(w);
        } else if (w->state != State::init_failed) {
          // A replacement still starting: its init would only be followed by shutdown. (Or
          // one that reached another run() inside its run(): nothing of it is of use.)
          w->kill = Kill::unresponsive;
          signal_worker(w, SIGKILL);
          w->sigkilled = true;
        }
      }
      io_.restart();
      while (!workers_.empty() && io_.run_one() > 0) {
      }
    }
    boost::system::error_code ignored;
    tick_.cancel(ignored);
    end_workers();
    if (deliver_events) io_.poll();  // the cancelled operations complete
    merge_metrics();
  }

 private:
  using clock = std::chrono::steady_clock;
  static clock::duration seconds(double s) {
    return std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(s));
  }

  enum class State { starting, initializing, ready, init_failed, stopping };
  // Why we killed a worker (its end is reported when we decide, not when it dies).
  enum class Kill { none, run_timeout, init_timeout, memory, unresponsive };

  struct Worker {
    explicit Worker(boost::asio::io_context& io) : socket(io), pidfd(io) {}
    std::size_t index = 0;  // its identity in this job: 0, 1, 2, ... as started
    // Its place on this node, in [0, process_count_per_node): {local_worker} of worker_env.
    // A replacement takes the place of the worker it replaces.
    std::size_t slot = 0;
    pid_t pid = -1;
    State state = State::starting;
    boost::asio::local::stream_protocol::socket socket;
    boost::asio::posix::stream_descriptor pidfd;
    std::filesystem::path log_file;
    std::size_t output_answered = 0;  // log_file's size at its last answer (output_end)
    // Attempts sent, in order: the front one is running (or about to), the rest wait in
    // the worker's channel. started: when the front one began, as far as we can tell.
    std::deque<Attempt<Batch>> sent;
    clock::time_point spawned, started;
    // The attempts asked back, not handed back yet: they wait behind the running one.
    std::vector<std::uint64_t> withdrawing;
    // Gathered (see gather()): its channel is out of the io_context, read on the gather
    // timer's turn; `channel` is its descriptor meanwhile.
    bool gathered = false;
    int channel = -1;
    std::size_t answers = 0;      // answers read (results and run failures)
    std::size_t quiet_turns = 0;  // gather turns in a row that read no answer
    FrameBuffer in;
    // When the first bytes of a frame not complete yet were seen: an answer is arriving.
    std::optional<clock::time_point> answer_arriving;
    std::string out, writing_buffer;
    bool writing = false;
    bool eof = false, exited = false;
    clock::time_point eof_at, exited_at;
    Kill kill = Kill::none;
    bool sigkilled = false;
    clock::time_point kill_deadline;
    bool reaped = false;  // waited for: `how` and `clean` say how it ended
    std::string how;
    bool clean = false;
    bool gone = false;   // its init failed and the coordinator counted it
    bool ended = false;  // its end (crash, kill) was reported: not alive for top_up()
    // It reported a misuse (its run() reached another ParallelRun::run) while ready: it gets
    // no new task, answers for the one it runs until kill_deadline, then is killed.
    bool misused = false;
  };
  using WorkerPtr = std::shared_ptr<Worker>;

  // Tasks sent to a worker beyond the running one (only while no worker is idle): the next
  // one starts without a round trip to the coordinator, which keeps tiny mini-batches fast.
  // One, unless mini-batches are short: then as many as take about prefetch_work to run, at
  // most max_prefetch. A crash re-queues them uncounted; an idle worker or a stop withdraws
  // them.
  static constexpr std::chrono::nanoseconds prefetch_work{std::chrono::milliseconds(4)};
  static constexpr std::size_t max_prefetch = 32;
  // Workers with more than this many tasks queued are gathered (see gather()), and read every
  // gather_period: a gathered worker holds a few milliseconds of work (docs/benchmarks.md: the
  // period made little difference between 0.25 and 1 ms).
  static constexpr std::size_t gather_prefetch = 4;
  static constexpr std::chrono::microseconds gather_period{500};
  static constexpr std::size_t quiet_turns_to_ungather = 8;
  // What one turn reads from one worker's channel at most before others get a turn.
  static constexpr std::size_t max_read_per_turn = 16u << 20;

  // The place of a worker starting now: one no live worker holds (top_up() starts no more
  // than process_count_per_node live ones), preferably one no dying worker holds either (it
  // may still be using the device), the lowest of those.
  std::size_t free_slot() const {
    const auto slots = static_cast<std::size_t>(config_->process_count_per_node);
    std::vector<int> live(slots, 0), dying(slots, 0);
    for (const auto& w : workers_) {
      if (w->slot >= slots) continue;
      ++(!w->gone && !w->ended ? live : dying)[w->slot];
    }
    std::optional<std::size_t> best;
    for (std::size_t i = 0; i < slots; ++i) {
      if (live[i] != 0) continue;
      if (dying[i] == 0) return i;
      if (!best) best = i;
    }
    if (best) return *best;
    // Not reached while top_up() keeps count; the least used place otherwise.
    return static_cast<std::size_t>(std::min_element(live.begin(), live.end()) - live.begin());
  }

  // Config::worker_env with this worker's placeholders filled in.
  std::vector<std::string> worker_environment(std::size_t slot) const {
    const std::size_t node = this_node().index;
    const std::size_t worker =
        node * static_cast<std::size_t>(config_->process_count_per_node) + slot;
    std::vector<std::string> env;
    for (const auto& entry : config_->worker_env)
      env.push_back(std::string(worker_env_entry_name(entry)) + "=" +
                    expand_worker_env_value(entry, node, slot, worker));
    return env;
  }

  void spawn_worker() {
    auto w = std::make_shared<Worker>(io_);
    w->index = next_worker_index_++;
    w->slot = free_slot();
    w->spawned = clock::now();
    // The process's stdout and stderr; its record of attempts goes to worker_log_dir_.
    w->log_file = worker_output_dir_ / fmt::format("process-{}.txt", w->index);
    workers_.push_back(w);
    try {
      int fds[2];
      if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
        throw Error("parallel_run.process", fmt::format("cannot start worker {}: socketpair: {}",
                                                        w->index, std::strerror(errno)));
      w->socket.assign(boost::asio::local::stream_protocol(), fds[0]);
      w->socket.non_blocking(true);  // drained by hand: read until it would block
      struct Fd {
        int fd;
        ~Fd() {
          if (fd >= 0) ::close(fd);
        }
      } child_end{fds[1]};
      Fd log{
          ::open(w->log_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644)};
      if (log.fd < 0)
        throw OutputError(fmt::format("cannot create the worker log file '{}': {}",
                                      w->log_file.string(), std::strerror(errno)));
      const WorkerEnv env{job_, ::getpid(), w->index, config_->name};
      w->pid =
          spawn_worker_process(env.encode(), child_end.fd, log.fd, worker_environment(w->slot));
      // glibc 2.36 declares pidfd_open without extern "C": the system call itself.
      const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, w->pid, 0));
      if (pidfd < 0) {
        signal_worker(w, SIGKILL);
        reap(w);
        w->exited = true;
        throw Error("parallel_run.process",
                    fmt::format("cannot watch worker process {}: pidfd_open: {}", w->pid,
                                std::strerror(errno)));
      }
      w->pidfd.assign(pidfd);
    } catch (const std::exception& e) {
      // Reported like an init failure, after this call: the coordinator counts it.
      w->state = State::init_failed;
      std::erase(workers_, w);
      ++init_failures_;
      boost::asio::post(io_, [this, index = w->index, reason = std::string(e.what())] {
        if (!stopped_) events_.init_failed(index, reason, false);
      });
      return;
    }
    append_frame(w->out, MessageType::job, [&](WireWriter& wr) {
      encode_worker_job(wr, *config_, working_dir_, metrics_file(w->index),
                        worker_log_dir_ / fmt::format("process-{}.txt", w->index), earlier_runs_);
    });
    flush(w);
    watch_channel(w);
    watch_exit(w);
  }

  // Waits until the worker's pidfd is readable: it has exited. A completion whose pidfd is
  // not readable is not its exit (a readiness event of a descriptor closed earlier, whose
  // reactor state this pidfd took over, can complete its wait): it waits again, since
  // end_group() would otherwise wait for a process that lives on.
  void watch_exit(const WorkerPtr& w) {
    w->pidfd.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                        [this, w](const boost::system::error_code& ec) {
                          if (ec || !w->pidfd.is_open()) return;
                          pollfd p{w->pidfd.native_handle(), POLLIN, 0};
                          if (::poll(&p, 1, 0) == 0) {
                            watch_exit(w);
                            return;
                          }
                          w->exited = true;
                          w->exited_at = clock::now();
                          ungather(w);  // its last answers are read now
                          end_group(w);
                          maybe_finish(w);
                        });
  }

  // The worker has exited (its pidfd is readable). What is left of its process group (a
  // child holding the channel, a helper it started) is killed while the worker is a zombie:
  // its pid, the group's id, cannot be anyone else's then. Waited for without reaping first:
  // the pidfd may be readable while the process is still exiting, and a kill then would
  // change its status.
  static void end_group(const WorkerPtr& w) {
    if (!w->reaped) {
      siginfo_t info{};
      while (::waitid(P_PID, static_cast<id_t>(w->pid), &info, WEXITED | WNOWAIT) < 0 &&
             errno == EINTR) {
      }
    }
    signal_worker(w, SIGKILL);
    reap(w);
  }

  // Kills and reaps every worker still there.
  void end_workers() {
    boost::system::error_code ignored;
    for (auto& w : workers_) {
      signal_worker(w, SIGKILL);  // exited or not: its own child processes go too
      reap(w);
      close_gathered(w);
      w->socket.close(ignored);
      w->pidfd.close(ignored);
    }
    workers_.clear();
  }

  std::filesystem::path metrics_file(std::size_t index) const {
    return worker_log_dir_ / fmt::format("process-{}.metrics.csv", index);
  }

  // Waits until the channel is readable, then drains it. One watch is pending exactly while
  // the worker is not gathered: gather() happens in this handler, ungather() starts a watch.
  void watch_channel(const WorkerPtr& w) {
    if (w->gathered || !w->socket.is_open()) return;
    w->socket.async_wait(boost::asio::socket_base::wait_read,
                         [this, w](const boost::system::error_code& ec) {
                           if (ec == boost::asio::error::operation_aborted) return;
                           if (!drain(w)) return;
                           if (should_gather(w) && gather(w)) return;
                           watch_channel(w);
                         });
  }

  // Reads what the worker's channel holds now (up to max_read_per_turn) and handles every
  // complete frame. False once the channel has reached its end.
  bool drain(const WorkerPtr& w) {
    const int fd = channel_fd(w);
    if (w->eof || fd < 0) return false;
    for (std::size_t total = 0; total < max_read_per_turn;) {
      const ssize_t n = ::read(fd, read_buffer_.data(), read_buffer_.size());
      if (n > 0) {
        total += static_cast<std::size_t>(n);
        if (w->kill == Kill::none && !w->ended)
          w->in.append(read_buffer_.data(), static_cast<std::size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      w->eof = true;  // its end, or an error: nothing more comes
      w->eof_at = clock::now();
      break;
    }
    handle_frames(w);
    if (w->eof) {
      maybe_finish(w);
      return false;
    }
    return true;
  }

  void schedule_dispatch() {
    if (dispatch_posted_) return;
    dispatch_posted_ = true;
    boost::asio::post(io_, [this] {
      dispatch_posted_ = false;
      if (!stopped_) dispatch();
    });
  }

  // A worker that may be given a task.
  static bool takes_tasks(const WorkerPtr& w) {
    return w->state == State::ready && w->kill == Kill::none && !w->ended && !w->misused;
  }

  // Hands queued attempts to idle workers. A worker that falls idle while the queue is empty
  // gets one withdrawn from behind another's running task. More tasks go to a busy worker
  // (up to prefetch(), level by level across the workers) only while no worker is idle and
  // the queue holds more than the workers still in init will take. Then puts back the gathered
  // workers that no longer hold enough, and writes.
  void dispatch() {
    if (no_more_work_ || stopped_) return;
    std::size_t idle = 0, withdrawing = 0, in_init = 0;
    for (auto& w : workers_) {
      if (takes_tasks(w) && w->sent.empty() && !queue_.empty()) send_task(w);
      if (takes_tasks(w) && w->sent.empty()) ++idle;
      if (!w->withdrawing.empty()) ++withdrawing;
      if (w->kill == Kill::none && (w->state == State::starting || w->state == State::initializing))
        ++in_init;
    }
    if (idle > withdrawing) {
      for (auto& w : workers_)
        if (idle > withdrawing && w->sent.size() > 1 && w->withdrawing.empty()) {
          withdraw(w);
          ++withdrawing;
        }
    } else if (idle == 0) {
      const std::size_t depth = 1 + prefetch();
      for (std::size_t level = 1; level < depth && queue_.size() > in_init; ++level)
        for (auto& w : workers_) {
          if (queue_.size() <= in_init) break;
          if (takes_tasks(w) && w->sent.size() == level && w->withdrawing.empty()) send_task(w);
        }
    }
    for (auto& w : workers_) {
      if (w->gathered && !should_gather(w)) ungather(w);
      flush(w);
    }
  }

  // How many tasks wait behind a worker's running one at most: about prefetch_work of them.
  std::size_t prefetch() const { return run_time_.count_in(prefetch_work, 1, max_prefetch); }

  // A worker answers one task after another, each answer a wake-up of this thread. When a
  // worker holds many short tasks, its channel is taken out of the io_context (no wake-up per
  // answer) and read every gather_period instead, when its queue is topped up in one write;
  // its answers wait in the channel meanwhile, and a crash loses none of them. Its exit
  // (pidfd), a stop, a hand-back, a queue that runs low or quiet_turns_to_ungather turns
  // without an answer put it back.
  bool should_gather(const WorkerPtr& w) const {
    return !no_more_work_ && !stopped_ && prefetch() >= gather_prefetch && takes_tasks(w) &&
           w->sent.size() > gather_prefetch && w->withdrawing.empty() && !w->eof && !w->exited;
  }

  // Only from the handler of the worker's own watch (when no watch is pending and no event for
  // its channel waits in the io_context): release() frees the socket's reactor state at once,
  // and a readiness event for it still queued would complete an operation of whatever
  // descriptor gets that state next (a new worker's pidfd, taken for that worker's exit).
  bool gather(const WorkerPtr& w) {
    if (w->gathered || w->writing || !w->socket.is_open()) return false;
    boost::system::error_code ec;
    const int fd = w->socket.release(ec);
    if (ec) return false;
    w->channel = fd;
    w->gathered = true;
    w->quiet_turns = 0;
    arm_gather();
    return true;
  }

  // Back into the io_context (a descriptor added to epoll that is readable is reported at
  // once: what arrived meanwhile is read).
  void ungather(const WorkerPtr& w) {
    // At its end nothing more comes: it stays out (maybe_finish() closes it).
    if (!w->gathered || w->eof) return;
    w->gathered = false;
    boost::system::error_code ec;
    w->socket.assign(boost::asio::local::stream_protocol(), w->channel, ec);
    w->channel = -1;
    watch_channel(w);
  }

  void arm_gather() {
    if (gather_armed_) return;
    gather_armed_ = true;
    gather_timer_.expires_after(gather_period);
    gather_timer_.async_wait([this](const boost::system::error_code& ec) {
      gather_armed_ = false;
      if (ec || stopped_) return;
      const std::vector<WorkerPtr> workers = workers_;  // events may start replacements
      for (const auto& w : workers) {
        if (!w->gathered) continue;
        const std::size_t before = w->answers;
        drain(w);
        // A slow task in front: back to a wake-up on its answer, not a read every turn.
        w->quiet_turns = w->answers == before ? w->quiet_turns + 1 : 0;
        if (w->quiet_turns >= quiet_turns_to_ungather) ungather(w);
      }
      dispatch();
      for (const auto& w : workers_)
        if (w->gathered) arm_gather();
    });
  }

  // A gathered worker's channel is ours to close (its socket holds nothing any more).
  static void close_gathered(const WorkerPtr& w) {
    if (!w->gathered) return;
    ::close(std::exchange(w->channel, -1));
    w->gathered = false;
  }

  int channel_fd(const WorkerPtr& w) const {
    return w->gathered ? w->channel : (w->socket.is_open() ? w->socket.native_handle() : -1);
  }

  void send_task(const WorkerPtr& w) {
    Attempt<Batch> a = std::move(queue_.front());
    queue_.pop_front();
    if (w->sent.empty()) w->started = clock::now();
    append_frame(w->out, MessageType::task, [&](WireWriter& wr) {
      wr.put(a.id);
      wr.put(a.number);
      encode_task(wr, *a.batch);
    });
    w->sent.push_back(std::move(a));
    if (w->sent.size() == 1) announce_start(w);
  }

  // The worker's first task starts as it arrives: observers hear of it now (the worker's
  // own times come with its answer).
  void announce_start(const WorkerPtr& w) {
    if (w->sent.empty() || stopped_) return;
    AttemptTimes t;
    t.worker = w->index;
    t.pid = w->pid;
    t.wall_start_ns = wall_now_ns();
    events_.attempt_started(w->sent.front().id, t);
  }

  // Asks the worker to hand back the last task waiting behind its running one that was not
  // asked back yet (`all`: every one). It answers `withdrawn` for each (before the running
  // task's answer) or, for one that has started, nothing.
  void withdraw(const WorkerPtr& w, bool all = false) {
    if (w->sent.size() < 2 || w->kill != Kill::none || w->ended) return;
    for (auto it = w->sent.rbegin(); it != std::prev(w->sent.rend()); ++it) {
      if (std::find(w->withdrawing.begin(), w->withdrawing.end(), it->id) != w->withdrawing.end())
        continue;
      w->withdrawing.push_back(it->id);
      append_frame(w->out, MessageType::withdraw, [&](WireWriter& wr) { wr.put(it->id); });
      if (!all) break;
    }
  }

  void flush(const WorkerPtr& w) {
    if (w->writing || w->out.empty() || w->eof) return;
    if (w->gathered) {
      // Written here (the channel is not in the io_context); what does not fit now goes
      // the usual way.
      std::size_t done = 0;
      while (done < w->out.size()) {
        const ssize_t n =
            ::send(w->channel, w->out.data() + done, w->out.size() - done, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        done += static_cast<std::size_t>(n);
      }
      w->out.erase(0, done);
      if (w->out.empty()) return;
      ungather(w);
    }
    w->writing = true;
    w->writing_buffer.clear();
    w->writing_buffer.swap(w->out);
    boost::asio::async_write(w->socket, boost::asio::buffer(w->writing_buffer),
                             [this, w](const boost::system::error_code& ec, std::size_t) {
                               w->writing = false;
                               // A 1 GB task must not keep 1 GB for the worker's life.
                               w->writing_buffer.clear();
                               release_if_large(w->writing_buffer);
                               if (!ec) flush(w);  // a failed write: its death is seen soon
                             });
  }

  void handle_frames(const WorkerPtr& w) {
    for (;;) {
      // Once we killed it or reported its end, what it says changes nothing.
      if (w->kill != Kill::none || w->ended) break;
      // Only decoding is guarded: what the coordinator's handlers throw (an output that
      // cannot be written) is the job's error, not the worker's.
      WorkerMessage m;
      try {
        const std::optional<Frame> f = w->in.next();
        if (!f) break;
        m = decode_worker_message(*f);
        check(w, m);
      } catch (const std::exception& e) {
        // A corrupt stream: the worker cannot be trusted any more.
        w->in = FrameBuffer();
        give_up_on(w, Kill::unresponsive,
                   fmt::format("worker process {} broke the protocol ({}); it was killed with "
                               "SIGKILL",
                               w->pid, e.what()));
        return;
      }
      handle(w, std::move(m));
    }
    w->in.compact();
    if (!w->in.partial())
      w->answer_arriving.reset();
    else if (!w->answer_arriving)
      w->answer_arriving = clock::now();
  }

  // A message must fit what the worker holds: an answer is for the attempt it runs, and adds
  // up to its mini-batch; a hand-back is of an attempt we asked back.
  void check(const WorkerPtr& w, const WorkerMessage& m) const {
    switch (m.type) {
      case MessageType::result:
      case MessageType::run_failed:
        if (w->sent.empty() || w->sent.front().id != m.id)
          throw Error("parallel_run.internal",
                      fmt::format("worker {} answered attempt {}, which it was not running",
                                  w->index, m.id));
        if (m.type == MessageType::result)
          check_outcome(m.outcome, w->sent.front().batch->size(),
                        w->sent.front().batch->mini_batch_index());
        break;
      case MessageType::withdrawn:
        // Asked back: never the one it runs. Handed back unasked after a misuse: any it has
        // not answered, since a task that reached it after its last answer never started.
        if (std::none_of(w->sent.begin(), w->sent.end(),
                         [&](const auto& a) { return a.id == m.id; }) ||
            (!w->misused && (w->sent.size() < 2 || w->sent.front().id == m.id)))
          throw Error("parallel_run.internal",
                      fmt::format("worker {} handed back attempt {}, which was not waiting there",
                                  w->index, m.id));
        break;
      case MessageType::init_failed:
        if (w->state == State::ready)
          throw Error("parallel_run.internal",
                      fmt::format("worker {} reported an init failure after its init", w->index));
        break;
      default:
        break;
    }
  }

  void handle(const WorkerPtr& w, WorkerMessage m) {
    switch (m.type) {
      case MessageType::hello:
        if (w->state == State::starting) w->state = State::initializing;
        break;
      case MessageType::init_ok:
        if (w->state == State::initializing) {
          w->state = State::ready;
          dispatch();
        }
        break;
      case MessageType::init_failed:
      case MessageType::misuse: {
        // It is expected to exit now; if it does not (the host's code caught the misuse's
        // UsageError and went on), it is killed.
        w->kill_deadline = clock::now() + seconds(std::min(2.0, config_->init_timeout));
        if (w->state == State::ready) {
          // Its run() reached another ParallelRun::run: the task behind it is withdrawn, the
          // one it runs is answered (or fails when it is killed), and it gets no other.
          w->misused = true;
          ungather(w);
          withdraw(w, true);
          flush(w);
        } else {
          w->state = State::init_failed;
        }
        if (stopped_) break;
        ++init_failures_;
        if (m.type == MessageType::misuse)
          events_.init_failed(w->index, std::move(m.text), true);
        else
          events_.init_failed(
              w->index,
              fmt::format("{} (worker process {}, log {})", m.text, w->pid, w->log_file.string()),
              m.misconfigured);
        break;
      }
      case MessageType::result:
      case MessageType::run_failed:
        ++w->answers;
        if (const auto& t = m.type == MessageType::result ? m.outcome.times : m.times;
            t.output_end >= 0)
          w->output_answered = static_cast<std::size_t>(t.output_end);
        w->sent.pop_front();
        w->started = clock::now();
        // The task behind it started before our request arrived: it runs to its answer.
        if (!w->sent.empty()) std::erase(w->withdrawing, w->sent.front().id);
        run_time_.add(m.type == MessageType::result ? m.outcome.times : m.times);
        if (!stopped_) {
          if (m.type == MessageType::result)
            events_.result(m.id, std::move(m.outcome));
          else
            events_.attempt_failed(m.id, std::move(m.text), FailureKind::threw, m.times);
        }
        announce_start(w);
        if (!stopped_) schedule_dispatch();
        break;
      case MessageType::withdrawn: {
        // It never started there. While the job stops, the coordinator takes it as not
        // processed (no answer may follow: a misused worker hands back after its last one).
        auto it = std::find_if(w->sent.begin(), w->sent.end(),
                               [&](const auto& a) { return a.id == m.id; });
        queue_.push_front(std::move(*it));
        w->sent.erase(it);
        std::erase(w->withdrawing, m.id);
        if (no_more_work_ && !stopped_) events_.handed_back();
        schedule_dispatch();
        break;
      }
      case MessageType::warning:
        events_.warning(std::move(m.text));
        break;
      default:
        break;
    }
  }

  // What the worker printed since its last answer (the attempt it was running); idle or in
  // init, its last lines whatever printed them.
  std::string last_output(const WorkerPtr& w) const {
    return fmt::format("last output: {} (log {})",
                       tail_of_file(w->log_file, w->sent.empty() ? 0 : w->output_answered),
                       w->log_file.string());
  }

  // Puts the attempts a dead worker was merely sent back at the front of the queue, in
  // order, uncounted; returns the one it was running, if any.
  std::optional<Attempt<Batch>> take_back(const WorkerPtr& w) {
    w->withdrawing.clear();
    std::optional<Attempt<Batch>> running;
    if (!w->sent.empty()) {
      running = std::move(w->sent.front());
      w->sent.pop_front();
    }
    while (!w->sent.empty()) {
      queue_.push_front(std::move(w->sent.back()));
      w->sent.pop_back();
    }
    return running;
  }

  // The worker is gone for good (or going): its attempt fails, its queue comes back, and a
  // replacement starts if there is work.
  void report_run_failure(const WorkerPtr& w, const std::string& reason, bool timed_out) {
    w->ended = true;
    std::optional<Attempt<Batch>> running = take_back(w);
    if (stopped_) return;
    if (running) {
      AttemptTimes t;  // the coordinator knows when it started
      t.worker = w->index;
      t.pid = w->pid;
      t.wall_end_ns = wall_now_ns();
      events_.attempt_failed(running->id, reason,
                             timed_out ? FailureKind::timed_out : FailureKind::worker_lost, t);
    } else
      events_.warning(fmt::format("worker {}: {}", w->index, reason));
    if (!queue_.empty()) {
      top_up();
      schedule_dispatch();
    }
  }

  std::string running_what(const WorkerPtr& w) const {
    if (w->state == State::starting || w->state == State::initializing) return "during init";
    if (w->sent.empty()) return "while idle";
    return fmt::format("while running mini-batch {}", w->sent.front().batch->mini_batch_index());
  }

  // The worker leads its own process group: the signal reaches the processes it started too.
  // Only while the worker is unreaped: its pid, which is the group's id, is its own until
  // then. Its pidfd tells (a host's SIGCHLD handler may have reaped it behind our back), and
  // signals the worker itself in case it left its group.
  static void signal_worker(const WorkerPtr& w, int sig) {
    if (w->reaped) return;
    if (!w->pidfd.is_open()) {  // pidfd_open failed: it was just spawned, unreaped
      ::kill(-w->pid, sig);
      ::kill(w->pid, sig);
      return;
    }
    const int fd = w->pidfd.native_handle();
    if (pidfd_signal(fd, 0) != 0) return;  // reaped: its numbers may be another's now
    ::kill(-w->pid, sig);
    pidfd_signal(fd, sig);
  }

  // Waits for the worker's end (it has exited, or was sent SIGKILL) and keeps how it ended.
  static void reap(const WorkerPtr& w) {
    if (w->reaped) return;
    int status = 0;
    pid_t r;
    while ((r = ::waitpid(w->pid, &status, 0)) < 0 && errno == EINTR) {
    }
    w->reaped = true;
    w->how =
        r == w->pid ? describe_wait_status(status) : std::string("ended (its status is unknown)");
    w->clean = r == w->pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }

  // SIGTERM first lets a handler of the scorer's clean up; SIGKILL follows after `grace`.
  void kill_worker(const WorkerPtr& w, Kill why, int sig, double grace = 0) {
    w->kill = why;
    signal_worker(w, sig);
    if (sig == SIGKILL) w->sigkilled = true;
    w->kill_deadline = clock::now() + seconds(grace);
  }

  // Kills a worker that is of no use any more and reports its end now: an init failure if it
  // was not ready yet, its attempt's failure if it was running one.
  void give_up_on(const WorkerPtr& w, Kill why, const std::string& reason) {
    const State state = w->state;
    kill_worker(w, why, SIGKILL);
    if (state == State::starting || state == State::initializing) {
      ++init_failures_;
      if (!stopped_) events_.init_failed(w->index, reason, false);
    } else if (state == State::ready) {
      report_run_failure(w, reason, false);
    }
  }

  // Called when the process has exited or its channel closed: once both (every message it sent
  // is read), its end is judged.
  void maybe_finish(const WorkerPtr& w) {
    if (!w->exited) return;  // EOF alone: the tick kills it if it lingers
    if (!w->eof && clock::now() - w->exited_at < std::chrono::seconds(1)) return;
    reap(w);
    const std::string& how = w->how;
    const bool clean = w->clean;
    close_gathered(w);
    // Closed on a later turn: a readiness event of its channel may still wait in the
    // io_context, and a descriptor closed now gives its reactor state to the next one opened
    // (the replacement below), whose operation that event would complete.
    boost::asio::post(io_, [w] {
      boost::system::error_code ignored;
      w->socket.close(ignored);
      w->pidfd.close(ignored);
    });
    std::erase(workers_, w);
    if (w->kill != Kill::none) return;  // reported when it was killed
    switch (w->state) {
      case State::starting:
        ++init_failures_;
        if (!stopped_)
          events_.init_failed(
              w->index,
              fmt::format("the worker process {} {} before reaching ParallelRun::run; a "
                          "process-backend program must reach the same run() call when "
                          "started again; {}",
                          w->pid, how, last_output(w)),
              false);
        break;
      case State::initializing:
        ++init_failures_;
        if (!stopped_)
          events_.init_failed(
              w->index,
              fmt::format("worker process {} {} during init; {}", w->pid, how, last_output(w)),
              false);
        break;
      case State::ready:
        report_run_failure(w,
                           fmt::format("worker process {} {} {}; {}", w->pid, how, running_what(w),
                                       last_output(w)),
                           false);
        break;
      case State::init_failed:
        break;  // reported; it was expected to exit
      case State::stopping:
        if (!clean)
          events_.warning(fmt::format("worker {}: worker process {} {} after the job; {}", w->index,
                                      w->pid, how, last_output(w)));
        break;
    }
  }

  void arm_tick() {
    auto period =
        std::min(seconds(config_->run_invocation_timeout), seconds(config_->init_timeout)) / 20;
    period = std::clamp(period, clock::duration(std::chrono::milliseconds(1)),
                        clock::duration(std::chrono::milliseconds(100)));
    // Memory grows fast: poll every 10 ms while a limit is set.
    if (config_->worker_memory_limit > 0)
      period = std::min(period, clock::duration(std::chrono::milliseconds(10)));
    tick_.expires_after(period);
    tick_.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      check_workers();
      if (!workers_.empty() || !stopped_) arm_tick();
    });
  }

  void check_workers() {
    const auto run_limit = seconds(config_->run_invocation_timeout);
    const auto init_limit = seconds(config_->init_timeout);
    const std::vector<WorkerPtr> workers = workers_;  // events may start replacements
    for (const auto& w : workers) {
      if (w->exited) {
        maybe_finish(w);  // its channel never closed: a grandchild holds it
        continue;
      }
      // A gathered worker's answers wait in its channel: read them before judging it (a
      // memory kill blames the task it runs, not one it answered).
      if (w->gathered && !drain(w)) continue;
      if (w->kill != Kill::none || w->state == State::stopping || w->state == State::init_failed) {
        if (!w->sigkilled && clock::now() >= w->kill_deadline) {
          signal_worker(w, SIGKILL);
          w->sigkilled = true;
        }
        continue;
      }
      if (w->misused) {
        if (clock::now() >= w->kill_deadline)
          give_up_on(w, Kill::unresponsive,
                     fmt::format("worker process {} reached another ParallelRun::run in run() "
                                 "and was killed with SIGKILL {}; {}",
                                 w->pid, running_what(w), last_output(w)));
        continue;
      }
      if (w->eof) {
        // It closed its channel but lives on (a second to exit is fair): of no use any more.
        if (clock::now() - w->eof_at > std::chrono::seconds(1))
          give_up_on(w, Kill::unresponsive,
                     fmt::format("worker process {} closed its channel (fd {}) but did not exit; "
                                 "it was killed with SIGKILL {}; {}",
                                 w->pid, worker_channel_fd, running_what(w), last_output(w)));
        continue;
      }
      if (config_->worker_memory_limit > 0) {
        const std::int64_t rss = resident_bytes(w->pid, w->pidfd.native_handle());
        if (rss > config_->worker_memory_limit) {
          const std::string reason = fmt::format(
              "out of memory: worker process {} had {} resident (RSS), above "
              "worker_memory_limit {} ({} bytes), {}; it was killed with SIGKILL; {}",
              w->pid, megabytes(rss), megabytes(config_->worker_memory_limit),
              config_->worker_memory_limit, running_what(w), last_output(w));
          give_up_on(w, Kill::memory, reason);
          continue;
        }
      }
      const bool in_init = w->state == State::starting || w->state == State::initializing;
      const bool running = w->state == State::ready && !w->sent.empty();
      if (!in_init && !running) continue;
      const auto since = in_init ? w->spawned : w->started;
      const auto limit = in_init ? init_limit : run_limit;
      if (clock::now() - since <= limit) continue;
      // Due. But what has arrived is not late: the coordinator may have been busy (a big
      // write, a stall) while the answer came. Read it first.
      if (!drain(w)) continue;                                        // its end is being judged
      if (w->kill != Kill::none || w->ended || w->misused) continue;  // decided by what it said
      const auto now = clock::now();
      if (in_init) {
        if (w->state != State::starting && w->state != State::initializing) continue;
        const std::string reason = fmt::format(
            "init timed out: worker process {} did not finish init within init_timeout {} s "
            "(counted from its start); it was killed; {}",
            w->pid, config_->init_timeout, last_output(w));
        kill_worker(w, Kill::init_timeout, SIGTERM, std::min(2.0, config_->init_timeout));
        ++init_failures_;
        if (!stopped_) events_.init_failed(w->index, reason, false);
        continue;
      }
      if (w->sent.empty() || now - w->started <= run_limit) continue;  // it answered
      if (w->answer_arriving) {
        // Its answer began to arrive: the run is over, the transfer gets as long again.
        if (now - *w->answer_arriving <= run_limit) continue;
        give_up_on(
            w, Kill::unresponsive,
            fmt::format("worker process {} began its answer {:.3f} s ago and did not "
                        "finish it; it was killed with SIGKILL {}; {}",
                        w->pid, std::chrono::duration<double>(now - *w->answer_arriving).count(),
                        running_what(w), last_output(w)));
        continue;
      }
      const double grace = std::min(2.0, config_->run_invocation_timeout);
      const std::string reason = fmt::format(
          "timed out after {:.3f} s (run_invocation_timeout {} s): worker process {} was "
          "killed (SIGTERM, then SIGKILL if it still runs {} s later) and is replaced; {}",
          std::chrono::duration<double>(now - w->started).count(), config_->run_invocation_timeout,
          w->pid, grace, last_output(w));
      kill_worker(w, Kill::run_timeout, SIGTERM, grace);
      report_run_failure(w, reason, true);
    }
  }

  // Each worker wrote its own metrics file (a MetricSink is not shared across processes):
  // their lines go into <logs>/metrics.csv in time order, and the files are removed.
  void merge_metrics() {
    std::vector<std::string> lines;
    std::error_code ec;
    for (std::size_t i = 0; i < next_worker_index_; ++i) {
      const auto file = metrics_file(i);
      std::ifstream in(file);
      if (!in) continue;
      std::string line;
      std::getline(in, line);  // the header
      while (std::getline(in, line))
        if (!line.empty()) lines.push_back(line);
      in.close();
      std::filesystem::remove(file, ec);
    }
    if (lines.empty()) return;
    // Lines start with a fixed-width timestamp.
    std::stable_sort(lines.begin(), lines.end(), [](const std::string& a, const std::string& b) {
      return a.compare(0, 23, b, 0, 23) < 0;
    });
    // A node of a multi-node job keeps its own: logs/metrics.csv is rank 0's.
    const JobFiles files(*config_);
    std::ofstream out(
        this_node().index == 0 ? files.metrics() : files.worker_dir(node_name()) / "metrics.csv",
        std::ios::trunc);
    out << "time,worker,mini_batch,name,value\n";
    for (const auto& l : lines)
      out << l << '\n';
  }

  boost::asio::io_context& io_;
  std::shared_ptr<const Config> config_;
  BackendEvents events_;
  boost::asio::steady_timer tick_;
  boost::asio::steady_timer gather_timer_;
  bool gather_armed_ = false;
  RunTimeAverage run_time_;  // how deep to prefetch
  std::filesystem::path worker_log_dir_;
  std::filesystem::path worker_output_dir_;
  std::filesystem::path working_dir_;
  std::vector<WorkerPtr> workers_;
  std::deque<Attempt<Batch>> queue_;
  std::size_t next_worker_index_ = 0;
  std::size_t job_ = 0;
  std::vector<RunLog::Run> earlier_runs_;
  // Init failures reported (the coordinator stops the job at 3 * process_count_per_node).
  std::size_t init_failures_ = 0;
  std::array<char, 65536> read_buffer_;
  bool dispatch_posted_ = false;
  bool stopped_ = false;
  bool no_more_work_ = false;
};

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
