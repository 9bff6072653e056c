// The thread backend: process_count_per_node worker threads, each with its own scorer and
// its own init(), pulling attempts from one queue and handing outcomes to the coordinator's
// Boost.Asio io_context. Timeouts are cooperative: a watchdog timer on the io_context finds
// a run() past run_invocation_timeout, requests stop through the worker's stop token, reports
// the attempt as timed out and starts a replacement worker so throughput holds. The late
// worker is abandoned: its result is discarded and it exits when run() returns. A thread
// cannot be killed; hard timeouts need process isolation.
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/config.hpp"
#include "parallel_run/context.hpp"
#include "parallel_run/errors.hpp"
#include "parallel_run/scorer.hpp"
#include "parallel_run/detail/batch_outcome.hpp"

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

/// One attempt of one mini-batch. Ids are unique per job: a retry is a new attempt.
template <class Batch>
struct Attempt {
  std::uint64_t id = 0;
  std::shared_ptr<const Batch> batch;
  std::int64_t number = 1;  // 1-based attempt number of this mini-batch
};

/// What a backend reports to the coordinator, always on the io_context's thread.
struct BackendEvents {
  std::function<void(std::uint64_t attempt, BatchOutcome)> result;
  std::function<void(std::uint64_t attempt, std::string reason, bool timed_out)> attempt_failed;
  // `misconfigured`: init threw one of our own errors (an unknown side input, say), which
  // no restart can fix.
  std::function<void(std::size_t worker, std::string reason, bool misconfigured)> init_failed;
  std::function<void(std::string message)> warning;
};

inline std::string describe_current_exception() {
  try {
    throw;
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "unknown exception (not derived from std::exception)";
  }
}

template <class Scorer, class Batch>
class ThreadBackend {
 public:
  ThreadBackend(boost::asio::io_context& io, std::shared_ptr<const Config> config,
                std::function<Scorer()> factory, BackendEvents events,
                std::shared_ptr<MetricSink> metrics, std::size_t low_water)
      : watchdog_(io),
        shared_(std::make_shared<Shared>(config, std::move(factory), std::move(metrics), &io,
                                         std::move(events), low_water)) {}

  ~ThreadBackend() { stop(); }
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
    w->thread = std::thread([shared = shared_, w] { worker_main(shared, *w); });
    workers_.push_back(std::move(w));
  }

  /// Closes the queue, joins the workers, waits a grace period for abandoned ones and leaves
  /// those still inside run() detached (they own everything they touch).
  void stop() {
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
    for (auto& w : workers_)
      if (w->thread.joinable()) w->thread.join();
    auto deadline = std::chrono::steady_clock::now() + abandon_grace();
    for (auto& w : abandoned_) {
      while (!w->done.load() && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      if (w->done.load()) {
        w->thread.join();
      } else {
        w->thread.detach();
        ++detached_;
      }
    }
    std::lock_guard lock(shared_->mutex);
    shared_->io = nullptr;  // late outcomes from detached workers are dropped
    shared_->inbox.clear();
  }

  /// Workers that ignored their stop request past the grace period and were left running.
  std::size_t detached_workers() const noexcept { return detached_; }
  std::size_t workers_started() const noexcept { return next_worker_index_; }

 private:
  using Event = std::function<void(BackendEvents&)>;

  struct Shared {
    Shared(std::shared_ptr<const Config> c, std::function<Scorer()> f,
           std::shared_ptr<MetricSink> m, boost::asio::io_context* i, BackendEvents e,
           std::size_t low)
        : config(std::move(c)),
          factory(std::move(f)),
          metrics(std::move(m)),
          io(i),
          events(std::move(e)),
          low_water(low) {}
    std::shared_ptr<const Config> config;
    std::function<Scorer()> factory;
    std::shared_ptr<MetricSink> metrics;

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

  struct Worker {
    std::size_t index = 0;
    std::thread thread;
    std::stop_source stop;
    // The attempt in run() (0: none) and when it started; written by the worker, read by
    // the watchdog (started_ns before current, so a consistent pair can be read).
    std::atomic<std::uint64_t> current{0};
    std::atomic<std::int64_t> started_ns{0};
    std::atomic<bool> abandoned{false};
    std::atomic<bool> done{false};
  };

  static std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

  static void worker_main(const std::shared_ptr<Shared>& sp, Worker& w) {
    Shared& s = *sp;
    const Config& config = *s.config;
    Context ctx(config, w.index, s.metrics);
    const RowFormat format{config.output_action == OutputAction::append_row, config.key_column,
                           config.delimiter};
    std::optional<Scorer> scorer;
    try {
      scorer.emplace(s.factory());
      call_init(*scorer, ctx);
    } catch (...) {
      std::string reason = describe_current_exception();
      bool misconfigured = false;
      try {
        throw;
      } catch (const Error&) {
        misconfigured = true;
      } catch (...) {
      }
      s.deliver(
          sp,
          [index = w.index, reason, misconfigured](BackendEvents& e) {
            e.init_failed(index, reason, misconfigured);
          },
          true);
      w.done = true;
      return;
    }
    for (;;) {
      Attempt<Batch> a;
      {
        std::unique_lock lock(s.mutex);
        s.cv.wait(lock, [&] { return s.closed || !s.queue.empty() || w.abandoned.load(); });
        if (w.abandoned.load() || s.queue.empty()) break;
        a = std::move(s.queue.front());
        s.queue.pop_front();
      }
      w.started_ns.store(now_ns(), std::memory_order_relaxed);
      w.current.store(a.id, std::memory_order_release);
      ctx.set_attempt(a.batch->mini_batch_index(), a.number, w.stop.get_token());
      try {
        BatchOutcome outcome = collect(*a.batch, call_run(*scorer, *a.batch, ctx), format);
        w.current.store(0, std::memory_order_release);
        const bool urgent = !outcome.failed.empty() || !outcome.warnings.empty();
        s.deliver(
            sp,
            [id = a.id, o = std::move(outcome)](BackendEvents& e) mutable {
              e.result(id, std::move(o));
            },
            urgent);
      } catch (...) {
        w.current.store(0, std::memory_order_release);
        std::string reason = describe_current_exception();
        s.deliver(
            sp, [id = a.id, reason](BackendEvents& e) { e.attempt_failed(id, reason, false); },
            true);
      }
      if (w.abandoned.load()) break;
    }
    try {
      call_shutdown(*scorer, ctx);
    } catch (...) {
      std::string reason = describe_current_exception();
      s.deliver(
          sp,
          [index = w.index, reason](BackendEvents& e) {
            e.warning(fmt::format("worker {}: shutdown threw: {}", index, reason));
          },
          true);
    }
    w.done = true;
  }

  std::chrono::nanoseconds timeout() const {
    return std::chrono::nanoseconds(
        static_cast<std::int64_t>(shared_->config->run_invocation_timeout * 1e9));
  }
  // A few seconds for a stopped run() to notice its stop token before it is left detached.
  std::chrono::nanoseconds abandon_grace() const {
    return std::min(timeout(), std::chrono::nanoseconds(std::chrono::seconds(5)));
  }

  // Ticks every 1/20 of the timeout (1 ms to 100 ms): precise enough, and no per-attempt
  // message on the hot path. Each tick also drains outcomes no worker woke us for.
  void arm_watchdog() {
    auto period = std::clamp(timeout() / 20, std::chrono::nanoseconds(std::chrono::milliseconds(1)),
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
    const std::int64_t limit = timeout().count();
    std::vector<std::shared_ptr<Worker>> timed_out;
    for (auto& w : workers_) {
      std::uint64_t id = w->current.load(std::memory_order_acquire);
      if (id == 0 || w->abandoned.load()) continue;
      std::int64_t started = w->started_ns.load(std::memory_order_relaxed);
      if (w->current.load(std::memory_order_acquire) != id) continue;
      if (now - started <= limit) continue;
      timed_out.push_back(w);
      w->abandoned = true;
      w->stop.request_stop();
      shared_->events.attempt_failed(
          id,
          fmt::format("timed out after {:.3f} s (run_invocation_timeout {} s)",
                      static_cast<double>(now - started) / 1e9,
                      shared_->config->run_invocation_timeout),
          true);
    }
    if (timed_out.empty()) return;
    shared_->cv.notify_all();
    for (auto& w : timed_out) {
      std::erase(workers_, w);
      abandoned_.push_back(w);
      spawn_worker();
    }
  }

  boost::asio::steady_timer watchdog_;
  std::shared_ptr<Shared> shared_;
  std::vector<std::shared_ptr<Worker>> workers_;
  std::vector<std::shared_ptr<Worker>> abandoned_;
  std::size_t next_worker_index_ = 0;
  std::size_t detached_ = 0;
  bool stopped_ = false;
};

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
