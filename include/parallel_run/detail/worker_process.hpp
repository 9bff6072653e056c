// The worker side of the process backend. A worker is the host program started again with
// PARALLEL_RUN_WORKER set; its main() runs as usual until it reaches ParallelRun::run, whose
// run_job calls worker_run_job() here instead of running a job: the worker takes the
// coordinator's Config from the channel, builds its scorer from its own prototype or
// factory, runs init, then runs tasks until the channel closes or says stop, runs shutdown
// and ends with _Exit: it never returns into the host's main.
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/config.hpp"
#include "parallel_run/context.hpp"
#include "parallel_run/errors.hpp"
#include "parallel_run/detail/scorer_lifecycle.hpp"
#include "parallel_run/detail/batch_outcome.hpp"
#include "parallel_run/detail/clock.hpp"
#include "parallel_run/detail/cluster_protocol.hpp"
#include "parallel_run/detail/process_spawn.hpp"
#include "parallel_run/detail/task.hpp"
#include "parallel_run/detail/thread_backend.hpp"
#include "parallel_run/detail/worker_protocol.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>

PARALLEL_RUN_BEGIN_NAMESPACE
namespace detail {

/// What PARALLEL_RUN_WORKER says: "job=<ordinal>;parent=<pid>;worker=<index>;name=<job name>".
struct WorkerEnv {
  std::size_t job = 0;
  pid_t parent = 0;
  std::size_t worker = 0;
  std::string name;

  std::string encode() const {
    return fmt::format("job={};parent={};worker={};name={}", job, parent, worker, name);
  }
  static std::optional<WorkerEnv> parse(std::string_view text) {
    WorkerEnv e;
    int seen = 0;
    while (!text.empty()) {
      const auto semi = text.find(';');
      std::string_view field = text.substr(0, semi);
      text = semi == std::string_view::npos ? std::string_view{} : text.substr(semi + 1);
      const auto eq = field.find('=');
      if (eq == std::string_view::npos) return std::nullopt;
      const std::string_view key = field.substr(0, eq);
      const std::string value(field.substr(eq + 1));
      if (key == "name") {
        e.name = value + std::string(text.empty() ? "" : ";") + std::string(text);
        text = {};  // the name comes last and is taken whole
        ++seen;
        continue;
      }
      char* end = nullptr;
      const unsigned long long n = std::strtoull(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0') return std::nullopt;
      if (key == "job")
        e.job = static_cast<std::size_t>(n);
      else if (key == "parent")
        e.parent = static_cast<pid_t>(n);
      else if (key == "worker")
        e.worker = static_cast<std::size_t>(n);
      else
        return std::nullopt;
      ++seen;
    }
    return seen == 4 ? std::optional<WorkerEnv>(e) : std::nullopt;
  }
};

/// Is fd 3 really the channel our coordinator made? Its peer (the socketpair's creator) must
/// be `parent`. An unrelated program that inherited the variable (a tool the scorer runs)
/// does not pass: it is no worker.
inline bool channel_is_from(pid_t parent) {
  struct ucred cred {};
  socklen_t len = sizeof cred;
  if (::getsockopt(worker_channel_fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return false;
  return cred.pid == parent;
}

/// Parses PARALLEL_RUN_WORKER and checks that fd 3 is its coordinator's channel; nothing for
/// any other process.
inline std::optional<WorkerEnv> worker_env_of_this_process() {
  const char* value = std::getenv(worker_env_name);
  if (!value) return std::nullopt;
  std::optional<WorkerEnv> e = WorkerEnv::parse(value);
  if (!e || !channel_is_from(e->parent)) return std::nullopt;
  return e;
}

/// The channel is CLOEXEC from the start of the worker's program: a child process that code
/// before run() starts (a helper, a shell command) does not hold the channel open. Runs from
/// a static initializer, before main().
inline bool mark_worker_channel_cloexec() noexcept {
  if (worker_env_of_this_process()) ::fcntl(worker_channel_fd, F_SETFD, FD_CLOEXEC);
  return true;
}
inline const bool worker_channel_marked_cloexec = mark_worker_channel_cloexec();

/// Non-empty in a worker process. Read once, at the first run(); the variable is then removed
/// so that programs the scorer starts are not taken for workers.
inline const std::optional<WorkerEnv>& worker_env() {
  static const std::optional<WorkerEnv> env = []() -> std::optional<WorkerEnv> {
    if (!std::getenv(worker_env_name)) return std::nullopt;
    std::optional<WorkerEnv> e = worker_env_of_this_process();
    ::unsetenv(worker_env_name);
    if (!e) return std::nullopt;
    // Die with the coordinator. It may have died before this line: then we are orphaned.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != e->parent) std::_Exit(1);
    // Marked at program start already; again in case code before run() cleared it.
    ::fcntl(worker_channel_fd, F_SETFD, FD_CLOEXEC);
    return e;
  }();
  return env;
}

/// Blocking frame I/O on the worker's channel. Sends from any thread are whole frames, one
/// at a time; receive() is for one thread.
class WorkerChannel {
 public:
  /// Held by every send: the task reader (withdrawn replies), the worker's main thread
  /// (results) and a misuse report from inside run() never interleave their frames.
  static std::mutex& send_mutex() {
    static std::mutex m;
    return m;
  }
  static void send(const std::string& bytes) {
    const std::lock_guard lock(send_mutex());
    std::size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n =
          ::send(worker_channel_fd, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) end_process(1);  // the coordinator is gone
      done += static_cast<std::size_t>(n);
    }
  }
  template <class Fill>
  static void send(MessageType type, Fill&& fill) {
    std::string out;
    append_frame(out, type, std::forward<Fill>(fill));
    send(out);
  }
  WorkerChannel() {
    struct stat st {};
    if (::fstat(worker_channel_fd, &st) == 0) inode_ = st.st_ino;
  }

  /// The next frame, or nothing at end of stream, or once fd 3 is not the channel any more.
  /// The view is valid until the next call.
  std::optional<Frame> receive() {
    buffer_.compact();
    for (;;) {
      if (auto f = buffer_.next()) return f;
      buffer_.compact();
      // Never blocked in read() for long: a scorer that closes fd 3 must close the channel
      // (the coordinator then sees its end), which a read in progress would hold open.
      pollfd p{worker_channel_fd, POLLIN, 0};
      const int ready = ::poll(&p, 1, 100);
      if (ready < 0 && errno != EINTR) return std::nullopt;
      if (!still_the_channel()) return std::nullopt;
      if (ready <= 0) continue;
      char chunk[65536];
      const ssize_t n = ::read(worker_channel_fd, chunk, sizeof chunk);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) return std::nullopt;
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
  }

  /// Flushes what the worker printed and ends the process without returning to main().
  [[noreturn]] static void end_process(int status) {
    std::cout.flush();
    std::cerr.flush();
    std::fflush(nullptr);
    std::_Exit(status);
  }

 private:
  bool still_the_channel() const {
    struct stat st {};
    return ::fstat(worker_channel_fd, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_ino == inode_;
  }

  FrameBuffer buffer_;
  ino_t inode_ = 0;
};

/// The tasks sent to this worker and not started yet. A reader thread takes frames off the
/// channel as they come, so that a `withdraw` is seen while run() runs: a task withdrawn
/// before it starts goes back to the coordinator (which gives it to an idle worker, or lists
/// it as not processed once the job stops) and never runs here.
class TaskInbox {
 public:
  struct Task {
    std::uint64_t id = 0;
    std::string payload;  // the task frame's payload, the attempt id first
  };

  explicit TaskInbox(WorkerChannel& channel) : reader_([this, &channel] { read(channel); }) {}
  // next() returned nothing: the reader has returned (or is about to).
  ~TaskInbox() { reader_.join(); }
  TaskInbox(const TaskInbox&) = delete;
  TaskInbox& operator=(const TaskInbox&) = delete;

  /// Hands back every task not started, now and as they come: this worker starts no other.
  /// Before the answer of the running task, as any hand-back.
  void refuse_all() {
    const std::lock_guard lock(mutex_);
    refusing_ = true;
    for (const Task& t : tasks_)
      hand_back(t.id);
    tasks_.clear();
  }

  /// Whether a task is here to be taken at once (next() would not wait for one).
  bool task_waiting() {
    std::lock_guard lock(mutex_);
    return taken_.has_value() || !tasks_.empty();
  }

  /// Sends the answer to the task before (none for the first) and takes the next task, in
  /// one step under the inbox's lock; nothing once the coordinator said stop or went away.
  /// A task is started once taken here, or at its arrival while this waits: so a `withdrawn`
  /// for the task behind another is always sent before that other's answer, and the
  /// coordinator never sees a task come back that it already counts as running.
  std::optional<Task> next(const std::string* answer) {
    std::unique_lock lock(mutex_);
    if (answer) WorkerChannel::send(*answer);
    if (!taken_ && !tasks_.empty()) {
      taken_ = std::move(tasks_.front());
      tasks_.pop_front();
    }
    waiting_ = true;
    ready_.wait(lock, [&] { return closed_ || taken_; });
    waiting_ = false;
    if (closed_) return std::nullopt;
    std::optional<Task> t = std::move(taken_);
    taken_.reset();
    return t;
  }

 private:
  void read(WorkerChannel& channel) {
    for (;;)
      try {
        std::optional<Frame> f = channel.receive();
        if (!f || f->type == MessageType::stop) break;
        if (f->type == MessageType::task) {
          WireReader r(f->payload);
          Task t{r.get<std::uint64_t>(), std::string(f->payload)};
          const std::lock_guard lock(mutex_);
          if (refusing_) {
            hand_back(t.id);
          } else if (waiting_ && !taken_) {
            taken_ = std::move(t);  // started now: no withdraw reaches it any more
            ready_.notify_one();
          } else {
            tasks_.push_back(std::move(t));
          }
        } else if (f->type == MessageType::withdraw) {
          WireReader r(f->payload);
          const auto id = r.get<std::uint64_t>();
          const std::lock_guard lock(mutex_);
          auto it =
              std::find_if(tasks_.begin(), tasks_.end(), [&](const Task& t) { return t.id == id; });
          if (it == tasks_.end()) continue;  // it has started: its answer will come
          tasks_.erase(it);
          hand_back(id);
        } else {
          break;  // not a message for a worker: the stream is corrupt
        }
      } catch (const std::exception&) {
        break;  // a corrupt stream: no task can be trusted any more
      }
    const std::lock_guard lock(mutex_);
    closed_ = true;
    ready_.notify_all();
  }

  // Under mutex_. Said in the worker's stdout file, where a scorer's lines show what it ran,
  // without the task's number (the coordinator's own, which no user knows).
  static void hand_back(std::uint64_t id) {
    WorkerChannel::send(MessageType::withdrawn, [&](WireWriter& w) { w.put(id); });
    std::printf(
        "parallel_run: worker: a queued mini-batch was handed back unstarted (it runs "
        "elsewhere)\n");
  }

  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<Task> tasks_;     // waiting: may be withdrawn
  std::optional<Task> taken_;  // started: the main thread runs it next
  bool waiting_ = false;       // the main thread waits for a task
  bool closed_ = false;
  bool refusing_ = false;  // a misuse: no task starts any more
  std::thread reader_;     // last: started once the rest is built
};

/// Set once this worker reached a run() that is not its job: it starts no task any more.
inline std::atomic<bool>& worker_misused() {
  static std::atomic<bool> misused{false};
  return misused;
}

/// Tells the coordinator that this worker reached a run() that is not its job, and throws
/// the UsageError that explains it.
[[noreturn]] inline void worker_misuse(const WorkerEnv& env, const std::string& what) {
  const std::string message = fmt::format(
      "{}; a worker process runs the program again from main() and must reach the same "
      "ParallelRun::run call as the coordinator (job {} named '{}'): code before run() runs "
      "again in each worker, as with Python multiprocessing's spawn",
      what, env.job, env.name);
  worker_misused().store(true);
  WorkerChannel::send(MessageType::misuse, [&](WireWriter& w) { w.put(message); });
  std::fprintf(stderr, "parallel_run: worker process: %s\n", message.c_str());
  throw UsageError(message);
}

/// The size of this worker process's output file (its stdout and stderr, one file) once what
/// its scorer printed is flushed: where the next attempt's output starts, so that a crash's
/// reason quotes the crashed attempt's lines only. -1: not a regular file. Only stdio's buffer
/// is flushed (std::cout writes through it unless sync_with_stdio(false)): a stream of the
/// scorer's own may be written by its threads, and flushing it here could race with them.
inline std::int64_t flushed_output_size() noexcept {
  std::fflush(stdout);
  struct ::stat st {};
  if (::fstat(STDOUT_FILENO, &st) != 0 || !S_ISREG(st.st_mode)) return -1;
  return static_cast<std::int64_t>(st.st_size);
}

/// This worker's channel to its coordinator (one for the process). Never destroyed: a
/// scorer that calls exit() runs static destructors while the task reader still reads it.
inline WorkerChannel& worker_channel() {
  static WorkerChannel& channel = *new WorkerChannel;
  return channel;
}

/// The job frame, asked for at the first run() this worker process reaches.
inline const WorkerJob& worker_job() {
  // Never destroyed either (see worker_channel()): the worker's threads use it to the end.
  static const WorkerJob& job = *new WorkerJob([] {
    // Complete lines reach the log file even when the worker crashes.
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    WorkerChannel& channel = worker_channel();
    channel.send(MessageType::hello, [](WireWriter& w) { w.put<std::int64_t>(::getpid()); });
    std::optional<Frame> frame = channel.receive();
    if (!frame || frame->type != MessageType::job) WorkerChannel::end_process(1);
    WireReader r(frame->payload);
    return decode_worker_job(r);
  }());
  return job;
}

/// Serves one job as a worker process, then ends the process.
template <class Task>
[[noreturn]] void serve_as_worker(const WorkerEnv& env,
                                  const ScorerFactory<materialized_t<Task>>& factory) {
  const WorkerJob& job = worker_job();
  WorkerChannel& channel = worker_channel();
  const Config& config = job.config;
  const std::filesystem::path& working_dir = job.working_dir;
  const std::filesystem::path& metrics_file = job.metrics_file;
  const std::filesystem::path& record_path = job.record_path;
  std::error_code ec;
  std::filesystem::current_path(working_dir, ec);  // code before run() may have moved

  const RowFormat format{config.output_action == OutputAction::append_row, config.key_column,
                         config.delimiter};
  // Each process writes its own metrics file; the coordinator merges them into metrics.csv.
  auto metrics = std::make_shared<MetricSink>(metrics_file);
  std::optional<Context> context;
  std::unique_ptr<WorkerScorer<materialized_t<Task>>> scorer;
  try {
    context.emplace(config, env.worker, metrics, working_dir);
    scorer = factory();
    scorer->init(*context);
  } catch (...) {
    const std::string reason = describe_current_exception();
    const bool misconfigured = current_exception_is_ours();
    channel.send(MessageType::init_failed, [&](WireWriter& w) {
      w.put(reason);
      w.put(misconfigured);
    });
    WorkerChannel::end_process(0);
  }
  channel.send(MessageType::init_ok, [](WireWriter&) {});

  std::stop_source never_stopped;  // a timeout kills the process: no stop request comes
  {
    TaskInbox inbox(channel);
    // The record of attempts has a file of its own (stdout and stderr are the scorer's).
    LineFile record_file(record_path, "w");
    WorkerRecord record([&record_file](std::string_view line) { record_file.write(line); });
    std::string out;
    const ::pid_t pid = ::getpid();
    // About to wait for a task: the last end line goes to disk first.
    auto flush_if_idle = [&] {
      if (record.has_pending() && !inbox.task_waiting()) record.flush();
    };
    for (;;) {
      flush_if_idle();
      std::optional<TaskInbox::Task> task_frame = inbox.next(out.empty() ? nullptr : &out);
      if (!task_frame) break;
      WireReader r(task_frame->payload);
      const auto id = r.get<std::uint64_t>();
      out.clear();
      release_if_large(out);  // a huge answer is not kept for the worker's life
      AttemptTimes times = attempt_starts(env.worker, pid, CLOCK_PROCESS_CPUTIME_ID);
      std::string reason;
      try {
        const auto number = r.get<std::int64_t>();
        const Task task = decode_task<Task>(r);
        context->set_attempt(task.mini_batch_index(), number, never_stopped.get_token());
        AttemptEnd end = run_attempt(*scorer, task, *context, format, times,
                                     CLOCK_PROCESS_CPUTIME_ID, number, &record);
        end.times.output_end = flushed_output_size();
        if (end.outcome) end.outcome->times.output_end = end.times.output_end;
        times = end.times;
        if (end.outcome)
          out = result_frame(id, *end.outcome);
        else
          reason = std::move(end.reason);
      } catch (...) {
        reason = describe_current_exception();  // the task could not be decoded
      }
      if (out.empty()) {
        if (times.wall_end_ns == 0) times.wall_end_ns = wall_now_ns();
        if (times.output_end < 0) times.output_end = flushed_output_size();
        append_frame(out, MessageType::run_failed, [&](WireWriter& w) {
          w.put(id);
          w.put(reason);
          encode(w, times);
        });
      }
      // run() reached another ParallelRun::run: what waits goes back, nothing else starts.
      if (worker_misused().load()) inbox.refuse_all();
    }
  }
  try {
    scorer->shutdown(*context);
  } catch (...) {
    const std::string reason = describe_current_exception();
    channel.send(MessageType::warning, [&](WireWriter& w) {
      w.put(fmt::format("worker {} (process {}): shutdown threw: {}", env.worker, ::getpid(),
                        reason));
    });
  }
  context.reset();
  scorer.reset();
  WorkerChannel::end_process(0);
}

/// Called by every run_job with its ordinal among this process's run() calls (RunLog): in a
/// worker process, returns (or throws) what the coordinator's run() of that ordinal did when
/// it comes before the worker's job, so that the code between run() calls goes the same way
/// in both processes; serves the job this worker was started for (and never returns); or
/// throws UsageError for a run() that is neither. Elsewhere returns nothing at once.
template <class Task>
std::optional<JobResult> worker_run_job(std::size_t run, bool process_backend,
                                        const std::string& name,
                                        const ScorerFactory<materialized_t<Task>>& factory) {
  const std::optional<WorkerEnv>& env = worker_env();
  if (!env) return std::nullopt;
  if (run < env->job) {
    const auto& earlier = worker_job().earlier_runs;
    if (run > earlier.size() || earlier[run - 1].name != name)
      worker_misuse(*env, fmt::format("the worker process reached run() number {} named '{}', "
                                      "which the coordinator's process did not run",
                                      run, name));
    if (earlier[run - 1].end.empty())
      worker_misuse(*env, fmt::format("run() number {} named '{}' had not ended when this job "
                                      "started (run() calls on several threads at once)",
                                      run, name));
    WireReader r(earlier[run - 1].end);
    return decode_job_end(r);
  }
  if (!process_backend)
    worker_misuse(*env, fmt::format("the worker process reached a thread-backend run() (job "
                                    "'{}')",
                                    name));
  if (run != env->job || name != env->name)
    worker_misuse(*env,
                  fmt::format("the worker process reached run() number {} named '{}'", run, name));
  serve_as_worker<Task>(*env, factory);
}

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
