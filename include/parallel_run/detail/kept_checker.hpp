// A resume's check of the mini-batches the earlier run finished, on a thread of its own: for
// each one cut, the hash of its inputs' names and whether they changed since that run (a
// stat per input with metadata fingerprints). The job's thread, which also hands the workers
// their work, then only settles them: in a small-files resume it was the bottleneck, the
// workers idle a third of the time waiting for it, and while it cuts the kept mini-batches
// ahead of the first one to run, the other core is idle. With it, a resume took 0.744 of a
// full run against 0.830 (docs/benchmarks.md, "2026-12-03, second session").
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/detail/fingerprint.hpp"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>

PARALLEL_RUN_BEGIN_NAMESPACE
namespace detail {

/// What the checker found for one kept mini-batch; `state` is written last (release).
struct KeptVerdict {
  static constexpr int pending = -1, changed = 0, same = 1;
  std::atomic<int> state{pending};
  std::uint64_t input_hash = 0;  // valid once state is not pending
  bool ready() const { return state.load(std::memory_order_acquire) != pending; }
};

template <class Batch>
class KeptChecker {
 public:
  /// `hash(batch, folders)`: its inputs' hash; `unchanged(batch, hash, check)`: whether the
  /// earlier run finished it on the same inputs. `on_ready`: called on the checker's thread
  /// when a verdict the job's thread waits for (want()) is ready.
  using Hash = std::function<std::uint64_t(const Batch&, CanonicalFolders&)>;
  using Unchanged = std::function<bool(const Batch&, std::uint64_t, ChangeCheck&)>;

  KeptChecker(Hash hash, Unchanged unchanged, std::function<void()> on_ready)
      : hash_(std::move(hash)),
        unchanged_(std::move(unchanged)),
        on_ready_(std::move(on_ready)),
        thread_([this] { loop(); }) {}
  KeptChecker(const KeptChecker&) = delete;
  KeptChecker& operator=(const KeptChecker&) = delete;
  ~KeptChecker() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    work_.notify_one();
    thread_.join();
  }

  /// Checks `batch` after those added before it.
  std::shared_ptr<const KeptVerdict> add(std::shared_ptr<const Batch> batch) {
    auto verdict = std::make_shared<KeptVerdict>();
    {
      std::lock_guard lock(mutex_);
      queue_.push_back({std::move(batch), verdict});
    }
    work_.notify_one();
    return verdict;
  }

  /// The job's thread waits for `v` without blocking: on_ready() is called once it is ready
  /// (at once, here, when it already is). A verdict set between the two looks is not missed:
  /// both sides write, then read, the flag and the state in one order.
  void want(const KeptVerdict& v) {
    wanted_.store(true);
    if (v.ready() && wanted_.exchange(false)) on_ready_();
  }

  /// Blocks until `v` is ready (the job stops, or nothing runs to overlap with).
  void wait(const KeptVerdict& v) {
    if (v.ready()) return;
    std::unique_lock lock(mutex_);
    done_.wait(lock, [&] { return v.ready(); });
  }

 private:
  struct Item {
    std::shared_ptr<const Batch> batch;
    std::shared_ptr<KeptVerdict> verdict;
  };

  void loop() {
    CanonicalFolders folders;
    ChangeCheck check;
    for (;;) {
      Item item;
      {
        std::unique_lock lock(mutex_);
        work_.wait(lock, [&] { return stop_ || !queue_.empty(); });
        if (stop_) return;
        item = std::move(queue_.front());
        queue_.pop_front();
      }
      int state = KeptVerdict::changed;
      try {
        item.verdict->input_hash = hash_(*item.batch, folders);
        if (unchanged_(*item.batch, item.verdict->input_hash, check)) state = KeptVerdict::same;
      } catch (const std::exception&) {
        // Not to be compared (an input that cannot be named now): it runs again, and says why.
      }
      {
        std::lock_guard lock(mutex_);  // a waiter sees the state under the lock it waits with
        item.verdict->state.store(state, std::memory_order_release);
      }
      done_.notify_all();
      if (wanted_.exchange(false)) on_ready_();
    }
  }

  Hash hash_;
  Unchanged unchanged_;
  std::function<void()> on_ready_;
  std::mutex mutex_;
  std::condition_variable work_, done_;
  std::deque<Item> queue_;
  bool stop_ = false;
  std::atomic<bool> wanted_{false};
  std::thread thread_;  // last: started once the rest is built
};

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
