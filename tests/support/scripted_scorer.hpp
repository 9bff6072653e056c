// A scorer whose behaviour per mini-batch and attempt is scripted by the test: throw, sleep
// (cooperatively, until the stop token fires), return fewer or more elements than items.
// Copies share one Script, so the test sees what every worker did.
#pragma once
#include <parallel_run/parallel_run.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace test_support {

struct Script {
  /// Called before each attempt with (mini-batch index, 1-based attempt of that batch).
  std::function<void(std::size_t batch, int attempt, parallel_run::Context&)> before_run;
  /// How many elements to return for a batch (default: one per item).
  std::function<std::size_t(std::size_t batch, std::size_t items)> returned;

  std::mutex mutex;
  std::map<std::size_t, int> attempts;   // per mini-batch
  std::vector<std::size_t> batch_sizes;  // in the order runs started
  std::atomic<int> inits{0};
  std::atomic<int> shutdowns{0};
  std::set<std::size_t> workers_that_ran;

  int attempt_of(std::size_t batch) {
    std::lock_guard lock(mutex);
    return ++attempts[batch];
  }
};

/// Sleeps until the stop token fires or `limit` passes: a well-behaved slow run().
inline void cooperative_sleep(parallel_run::Context& ctx, std::chrono::milliseconds limit) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (!ctx.stop_requested() && std::chrono::steady_clock::now() < end)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
}

class ScriptedScorer {
 public:
  explicit ScriptedScorer(std::shared_ptr<Script> script) : script_(std::move(script)) {}

  void init(parallel_run::Context&) { ++script_->inits; }
  void shutdown(parallel_run::Context&) { ++script_->shutdowns; }

  std::vector<std::string> run(const parallel_run::FileBatch& batch, parallel_run::Context& ctx) {
    const std::size_t b = batch.mini_batch_index();
    const int attempt = script_->attempt_of(b);
    {
      std::lock_guard lock(script_->mutex);
      script_->batch_sizes.push_back(batch.size());
      script_->workers_that_ran.insert(ctx.worker_index());
    }
    if (script_->before_run) script_->before_run(b, attempt, ctx);
    std::size_t n = script_->returned ? script_->returned(b, batch.size()) : batch.size();
    std::vector<std::string> out;
    for (std::size_t i = 0; i < n; ++i)
      out.push_back(i < batch.size() ? batch[i].key : "extra" + std::to_string(i));
    return out;
  }

 private:
  std::shared_ptr<Script> script_;
};

}  // namespace test_support
