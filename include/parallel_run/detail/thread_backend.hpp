// The thread backend: process_count_per_node worker threads, each with its own scorer and
// its own init(), pulling attempts from one queue and handing outcomes to the coordinator's
// Boost.Asio io_context. Timeouts are cooperative: a watchdog timer on the io_context finds
// a run() past run_invocation_timeout, requests stop through the worker's stop token, reports
// the attempt as timed out and starts a replacement worker so throughput holds. The late
// worker is abandoned: its result is discarded and it exits when run() returns. An init()
// past init_timeout is handled the same way and counted as an init failure. A thread
// cannot be killed; hard timeouts need process isolation.
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/config.hpp"
#include "parallel_run/context.hpp"
#include "parallel_run/errors.hpp"
#include "parallel_run/detail/backend.hpp"
#include "parallel_run/detail/batch_outcome.hpp"
#include "parallel_run/detail/clock.hpp"
#include "parallel_run/detail/node_identity.hpp"
#include "parallel_run/detail/job_files.hpp"
#include "parallel_run/detail/leveled_log.hpp"
#include "parallel_run/detail/scorer_lifecycle.hpp"
#include "parallel_run/detail/task.hpp"

#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

PARALLEL_RUN_BEGIN_NAMESPACE
namespace detail {

/// Threads of this process left detached by any job and still running: parallel_run::main
/// ends the process without static destructors when there are some.
inline std::atomic<std::size_t>& detached_thread_count() {
  static std::atomic<std::size_t> count{0};
  return count;
}

template <class Batch>
class ThreadBackend {
 public:
  /// A crash of a worker is the job's: BackendEvents::before_run is called on the worker.
  static constexpr bool calls_before_run = true;

  ThreadBackend(boost::asio::io_context& io, std::shared_ptr<const Config> config,
                ScorerFactory<materialized_t<Batch>> factory, BackendEvents events,
                std::shared_ptr<MetricSink> metrics, std::size_t low_water)
      : watchdog_(io),
        shared_(std::make_shared<Shared>(config, std::move(factory), std::move(metrics), &io,
                                         std::move(events), low_water)) {}

  // Unwinding (the coordinator threw): end the workers without running its handlers.
  ~ThreadBackend() { stop(false); }
  ThreadBackend(const ThreadBackend&) = delete;
  ThreadBackend& operator=(const ThreadBackend&) = delete;

  /// Starts process_count_per_node workers and the timeout watchdog.
  void start() {
    for (int i = 0; i < shared_->config->process_count_per_node; ++i)
      spawn_worker();
    arm_watchdog();
  }

  /// Queues an attempt; `front` puts it before the others (retries keep output flowing).
  void submit(Attempt<Batch> a, bool front = false) {
    {
      std::lock_guard lock(shared_->mutex);
      if (front)
        shared_->queue.push_front(std::move(a));
      else
        shared_->queue.push_back(std::move(a));
    }
    shared_->cv.notify_one();
    top_up();
  }

  /// Removes and returns the attempts no worker has started.
  std::vector<Attempt<Batch>> take_queued() {
    std::lock_guard lock(shared_->mutex);
    std::vector<Attempt<Batch>> out(std::make_move_iterator(shared_->queue.begin()),
                                    std::make_move_iterator(shared_->queue.end()));
    shared_->queue.clear();
    return out;
  }

  /// Starts one more worker (after an init failure, or to replace a timed-out one).
  void spawn_worker() {
    auto w = std::make_shared<Worker>();
    w->index = next_worker_index_++;
    // init's clock starts now (the factory and the context are part of it), and the worker
    // counts as busy from here: stop() never joins a worker in init without bound.
    w->started_ns.store(now_ns(), std::memory_order_relaxed);
    w->thread = std::thread([shared = shared_, w] {
      worker_main(shared, *w);
      w->done = true;  // after the scorer and its context are destroyed
      // Left detached by stop(): it counts no more once it has nothing left to run.
      if (w->ending.exchange(1) == 2) --detached_thread_count();
    });
    workers_.push_back(std::move(w));
  }

  /// Closes the queue and ends the workers. Idle ones run shutdown() and exit; they are
  /// joined however long that takes. One still inside init() or run() (abandoned after a
  /// timeout, or any when the coordinator threw) is asked to stop and given a grace period,
  /// then left detached (it owns everything it touches). Then the events the workers sent
  /// meanwhile (shutdown errors, late init failures) are delivered, on this thread.
  void stop(bool deliver_events = true) {
    if (stopped_) return;
    stopped_ = true;
    watchdog_.cancel();
    {
      // Attempts still queued here (the coordinator threw) are dropped, not run.
      std::lock_guard lock(shared_->mutex);
      shared_->closed = true;
      shared_->queue.clear();
    }
    shared_->cv.notify_all();
    auto busy = [](const std::shared_ptr<Worker>& w) {
      return w->current.load(std::memory_order_acquire) != 0;
    };
    for (auto& w : workers_)
      if (busy(w)) w->stop.request_stop();
    const auto deadline = std::chrono::steady_clock::now() + abandon_grace();
    auto end_thread = [&](const std::shared_ptr<Worker>& w, bool bounded) {
      if (!w->thread.joinable()) return;
      while (bounded && !w->done.load() && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      if (!bounded || w->done.load()) {
        w->thread.join();
      } else {
        ++detached_thread_count();
        if (w->ending.exchange(2) == 1) {  // it ended meanwhile: joining it does not block
          --detached_thread_count();
          w->thread.join();
          return;
        }
        w->thread.detach();
        ++detached_;
      }
    };
    for (auto& w : abandoned_)
      end_thread(w, true);
    for (auto& w : workers_)
      end_thread(w, busy(w));
    abandoned_.clear();
    workers_.clear();
    struct DetachIo {  // also when a handler throws below: no post to a dead io_context
      Shared& s;
      ~DetachIo() {
        std::lock_guard lock(s.mutex);
        s.io = nullptr;  // outcomes of detached workers are dropped
        s.inbox.clear();
      }
    } detach_io{*shared_};
    if (deliver_events) shared_->drain();
  }

  /// Marks a worker whose init failed as gone: the coordinator, having counted the failure
  /// against the limit, decides whether top_up() replaces it.
  void retire(std::size_t worker_index) {
    ++init_failures_;
    for (auto& w : workers_)
      if (w->index == worker_index) w->gone = true;
  }

  /// Starts workers until process_count_per_node are alive (none once no_more_work()): after
  /// a timeout or an init failure, replacements start only when there is work for them.
  /// Never more inits than could still fail within the coordinator's limit of
  /// 3 * process_count_per_node init failures: once that many are reached, no other starts.
  void top_up() {
    if (no_more_work_ || stopped_) return;
    const auto workers = static_cast<std::size_t>(shared_->config->process_count_per_node);
    auto alive = static_cast<std::size_t>(std::count_if(
        workers_.begin(), workers_.end(), [](const auto& w) { return !w->gone.load(); }));
    auto in_init =
        static_cast<std::size_t>(std::count_if(workers_.begin(), workers_.end(), [](const auto& w) {
          return !w->gone.load() && !w->init_ok.load();
        }));
    for (; alive < workers && init_failures_ + in_init < 3 * workers; ++alive, ++in_init)
      spawn_worker();
  }

  /// The job is stopping: nothing new will be submitted, so no replacement worker starts.
  void no_more_work() noexcept { no_more_work_ = true; }

  /// Timed-out workers still inside run(): they ignored their stop token. (Those abandoned in
  /// init() are bounded by the limit on init failures instead.)
  std::size_t stuck_workers() const {
    return static_cast<std::size_t>(
        std::count_if(abandoned_.begin(), abandoned_.end(),
                      [](const auto& w) { return !w->abandoned_in_init && !w->done.load(); }));
  }

  /// Workers that ignored their stop request past the grace period and were left running.
  std::size_t detached_workers() const noexcept { return detached_; }

 private:
  using Event = std::function<void(BackendEvents&)>;

  struct Shared {
    Shared(std::shared_ptr<const Config> c, ScorerFactory<materialized_t<Batch>> f,
           std::shared_ptr<MetricSink> m, boost::asio::io_context* i, BackendEvents e,
           std::size_t low)
        : config(std::move(c)),
          factory(std::move(f)),
          metrics(std::move(m)),
          before_run(e.before_run),
          after_run(e.after_run),
          io(i),
          events(std::move(e)),
          low_water(low) {}
    std::shared_ptr<const Config> config;
    ScorerFactory<materialized_t<Batch>> factory;
    std::mutex factory_mutex;
    std::shared_ptr<MetricSink> metrics;
    // Called by the workers themselves (see BackendEvents::before_run); set once.
    std::function<void(std::size_t, std::int64_t, std::size_t)> before_run;
    std::function<void(std::size_t)> after_run;
    // The job's current folder, read once: a replacement worker sees the same one.
    std::filesystem::path working_dir = std::filesystem::current_path();

    // Guards everything below.
    std::mutex mutex;
    std::condition_variable cv;
    std::deque<Attempt<Batch>> queue;
    bool closed = false;
    boost::asio::io_context* io;  // null once the backend has stopped
    // Outcomes wait here for the coordinator, which drains them all at once. Waking it for
    // every mini-batch costs a context switch each (measured: ~10 us per mini-batch on two
    // cores), so a worker wakes it only when it must act soon: a failure, a queue running
    // low, a full inbox. The watchdog tick drains the rest.
    std::vector<Event> inbox;
    bool drain_posted = false;
    BackendEvents events;  // called only on the io_context's thread
    std::size_t low_water;

    void deliver(const std::shared_ptr<Shared>& self, Event event, bool urgent) {
      std::lock_guard lock(mutex);
      if (!io) return;
      inbox.push_back(std::move(event));
      if (drain_posted) return;
      if (urgent || closed || queue.size() <= low_water || inbox.size() >= 64) {
        drain_posted = true;
        boost::asio::post(*io, [self] { self->drain(); });
      }
    }

    // On the io_context's thread.
    void drain() {
      std::vector<Event> ready;
      {
        std::lock_guard lock(mutex);
        ready.swap(inbox);
        drain_posted = false;
      }
      for (auto& e : ready)
        e(events);
    }
  };

  // What the watchdog swaps into Worker::current when it times an attempt (or init) out.
  static constexpr std::uint64_t timed_out_mark = ~std::uint64_t{0};
  // Worker::current from the worker's start until its init() has returned.
  static constexpr std::uint64_t in_init_mark = ~std::uint64_t{0} - 1;

  struct Worker {
    std::size_t index = 0;
    std::thread thread;
    std::stop_source stop;
    // The attempt in run() (0: none; in_init_mark: in init) and when it started; written by
    // the worker, read by the watchdog (started_ns before current, so a consistent pair can
    // be read).
    std::atomic<std::uint64_t> current{in_init_mark};
    std::atomic<std::int64_t> started_ns{0};
    // Set by the watchdog (on the coordinator's thread) when it abandons the worker in init.
    bool abandoned_in_init = false;
    // gone: its init failed and the coordinator counted it (retire()); done: its thread has
    // nothing left to run, so joining it does not block.
    std::atomic<bool> gone{false};
    std::atomic<bool> done{false};
    // 1: its thread is ending; 2: stop() left it detached (counted in
    // detached_thread_count() until it ends). Whichever comes second sees the other.
    std::atomic<int> ending{0};
    // Its init succeeded. Until then (a failure not yet counted included) its init may still
    // count against the limit on init failures.
    std::atomic<bool> init_ok{false};
  };

  static std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

  static void worker_main(const std::shared_ptr<Shared>& sp, Worker& w) {
    Shared& s = *sp;
    const Config& config = *s.config;
    const RowFormat format{config.output_action == OutputAction::append_row, config.key_column,
                           config.delimiter};
    std::optional<Context> context;
    std::unique_ptr<WorkerScorer<materialized_t<Batch>>> scorer;
    std::optional<std::string> init_error;
    bool misconfigured = false;
    try {
      context.emplace(config, w.index, s.metrics, s.working_dir);
      // init sees its own timeout, or the end of the job, as a stop request.
      context->set_stop_token(w.stop.get_token());
      {
        // A factory may keep state (a counter, an RNG); copies of one prototype may share a
        // non-atomic handle. One call at a time, once per worker: the lock costs nothing.
        std::lock_guard lock(s.factory_mutex);
        scorer = s.factory();
      }
      scorer->init(*context);
    } catch (...) {
      init_error = describe_current_exception();
      misconfigured = current_exception_is_ours();
    }
    // As for an attempt: whoever takes `current` from in_init_mark owns init's end. If the
    // watchdog did (init_timeout), it has reported the failure: this worker just leaves.
    if (w.current.exchange(0, std::memory_order_acq_rel) != in_init_mark) {
      if (!init_error) {
        try {
          scorer->shutdown(*context);
        } catch (...) {  // nobody listens to an abandoned worker
        }
      }
      return;
    }
    if (init_error) {
      s.deliver(
          sp,
          [index = w.index, reason = std::move(*init_error), misconfigured](BackendEvents& e) {
            e.init_failed(index, reason, misconfigured);
          },
          true);
      return;
    }
    w.init_ok = true;
    Context& ctx = *context;
    LineFile record_file(
        JobFiles(config).worker_dir(node_name()) / fmt::format("process-{}.txt", w.index), "w");
    WorkerRecord record([&record_file](std::string_view line) { record_file.write(line); });
    const ::pid_t pid = ::getpid();
    for (;;) {
      Attempt<Batch> a;
      {
        std::unique_lock lock(s.mutex);
        if (s.queue.empty() && record.has_pending()) {
          // About to wait: the last end line goes to disk first (not under the lock).
          lock.unlock();
          record.flush();
          lock.lock();
        }
        s.cv.wait(lock, [&] { return s.closed || !s.queue.empty(); });
        if (s.queue.empty()) break;
        a = std::move(s.queue.front());
        s.queue.pop_front();
        // Published under the lock that stop() takes to close the queue: once it has, it
        // sees every worker that took an attempt as busy.
        w.started_ns.store(now_ns(), std::memory_order_relaxed);
        w.current.store(a.id, std::memory_order_release);
      }
      ctx.set_attempt(a.batch->mini_batch_index(), a.number, w.stop.get_token());
      const AttemptTimes started = attempt_starts(w.index, pid, CLOCK_THREAD_CPUTIME_ID);
      if (s.before_run) s.before_run(a.batch->mini_batch_index(), a.number, w.index);
      s.deliver(
          sp, [id = a.id, started](BackendEvents& e) { e.attempt_started(id, started); }, false);
      // For a table slice this reads and parses its rows: here, on the worker.
      AttemptEnd end = run_attempt(*scorer, *a.batch, ctx, format, started, CLOCK_THREAD_CPUTIME_ID,
                                   a.number, &record);
      // Whoever takes `current` from this attempt's id owns its end: this worker, or the
      // watchdog, which swapped in timed_out_mark and has already reported a timeout.
      if (w.current.exchange(0, std::memory_order_acq_rel) != a.id) break;
      // Only while it owns the attempt: a thread the job gave up on (a timeout, a stop) may
      // return after the job and its journal are gone, and its slot rightly names what it
      // was stuck in.
      if (s.after_run) s.after_run(w.index);
      if (end.outcome) {
        const bool urgent = !end.outcome->failed.empty() || !end.outcome->warnings.empty();
        s.deliver(
            sp,
            [id = a.id, o = std::move(*end.outcome)](BackendEvents& e) mutable {
              e.result(id, std::move(o));
            },
            urgent);
      } else {
        s.deliver(
            sp,
            [id = a.id, reason = std::move(end.reason), times = end.times](BackendEvents& e) {
              e.attempt_failed(id, reason, FailureKind::threw, times);
            },
            true);
      }
    }
    try {
      scorer->shutdown(ctx);
    } catch (...) {
      std::string reason = describe_current_exception();
      s.deliver(
          sp,
          [index = w.index, reason](BackendEvents& e) {
            e.warning(fmt::format("worker {}: shutdown threw: {}", index, reason));
          },
          true);
    }
  }

  // What is known of an attempt that did not end by itself: where it ran (the coordinator
  // knows when it started).
  static AttemptTimes timed_out_times(const Worker& w) {
    AttemptTimes t;
    t.worker = w.index;
    t.pid = ::getpid();
    t.wall_end_ns = wall_now_ns();
    return t;
  }

  static std::chrono::nanoseconds seconds(double s) {
    return std::chrono::nanoseconds(static_cast<std::int64_t>(s * 1e9));
  }
  std::chrono::nanoseconds timeout() const {
    return seconds(shared_->config->run_invocation_timeout);
  }
  std::chrono::nanoseconds init_timeout() const { return seconds(shared_->config->init_timeout); }
  // A few seconds for a stopped run() to notice its stop token before it is left detached.
  std::chrono::nanoseconds abandon_grace() const {
    return std::min(timeout(), std::chrono::nanoseconds(std::chrono::seconds(5)));
  }

  // Ticks every 1/20 of the smaller timeout (1 ms to 100 ms): precise enough, and no
  // per-attempt message on the hot path. Each tick also drains outcomes no worker woke us for.
  void arm_watchdog() {
    auto period = std::clamp(std::min(timeout(), init_timeout()) / 20,
                             std::chrono::nanoseconds(std::chrono::milliseconds(1)),
                             std::chrono::nanoseconds(std::chrono::milliseconds(100)));
    watchdog_.expires_after(period);
    watchdog_.async_wait([this](const boost::system::error_code& ec) {
      if (ec || stopped_) return;
      check_timeouts();
      shared_->drain();
      arm_watchdog();
    });
  }

  void check_timeouts() {
    const std::int64_t now = now_ns();
    const std::int64_t run_limit = timeout().count();
    const std::int64_t init_limit = init_timeout().count();
    struct TimedOut {
      std::shared_ptr<Worker> worker;
      std::uint64_t attempt;  // in_init_mark: its init
      std::int64_t started;
    };
    std::vector<TimedOut> timed_out;
    for (auto& w : workers_) {
      std::uint64_t id = w->current.load(std::memory_order_acquire);
      if (id == 0 || id == timed_out_mark) continue;
      std::int64_t started = w->started_ns.load(std::memory_order_relaxed);
      if (now - started <= (id == in_init_mark ? init_limit : run_limit)) continue;
      // Only if the worker is still in that very attempt (or init): it cannot have finished
      // it or started another meanwhile, since it must take `current` back first.
      if (!w->current.compare_exchange_strong(id, timed_out_mark, std::memory_order_acq_rel))
        continue;
      timed_out.push_back({w, id, started});
    }
    // Abandoned workers that have returned from run() meanwhile are joined now, not at the end.
    std::erase_if(abandoned_, [](const std::shared_ptr<Worker>& w) {
      if (!w->done.load()) return false;
      w->thread.join();
      return true;
    });
    for (auto& t : timed_out) {
      // Moved by identity: the worker may already have taken `current` back and left.
      std::erase(workers_, t.worker);
      t.worker->abandoned_in_init = t.attempt == in_init_mark;
      abandoned_.push_back(t.worker);
      t.worker->stop.request_stop();
    }
    // What the workers delivered before (an attempt's start among it: its worker delivers it
    // just after taking the attempt) is handled before the timeouts, not after them.
    if (!timed_out.empty()) shared_->drain();
    // The coordinator retries or moves on; its next submit() starts a replacement through
    // top_up(), so none starts when no work is left or the job is stopping. An init that
    // timed out counts as an init failure, which the coordinator replaces within its limit.
    for (const auto& t : timed_out) {
      const double took = static_cast<double>(now - t.started) / 1e9;
      if (t.attempt == in_init_mark)
        shared_->events.init_failed(
            t.worker->index,
            fmt::format("init timed out after {:.3f} s (init_timeout {} s); its thread was "
                        "asked to stop and is abandoned",
                        took, shared_->config->init_timeout),
            false);
      else
        shared_->events.attempt_failed(
            t.attempt,
            fmt::format("timed out after {:.3f} s (run_invocation_timeout {} s)", took,
                        shared_->config->run_invocation_timeout),
            FailureKind::timed_out, timed_out_times(*t.worker));
    }
    // Attempts may still wait in the queue with no submit() to come (the input is exhausted):
    // they need a worker now.
    bool queued = false;
    {
      std::lock_guard lock(shared_->mutex);
      queued = !shared_->queue.empty();
    }
    if (queued) top_up();
  }

  boost::asio::steady_timer watchdog_;
  std::shared_ptr<Shared> shared_;
  std::vector<std::shared_ptr<Worker>> workers_;
  std::vector<std::shared_ptr<Worker>> abandoned_;
  std::size_t next_worker_index_ = 0;
  std::size_t detached_ = 0;
  std::size_t init_failures_ = 0;  // counted by retire(): bounds the inits top_up() starts
  bool stopped_ = false;
  bool no_more_work_ = false;
};

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
