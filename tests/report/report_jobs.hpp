// A synthetic job fed to the report's observers: mini-batches of 10 items on 8 workers,
// attempts of 36 ms back to back; every 1000th mini-batch fails its first attempt and
// succeeds on the retry, except every 50,000th, which times out on both of its attempts (1 s
// each) and fails. Used by the size test of
// run_report_test.cpp and by the browser test (tests/report/report_driver.cpp).
#pragma once
#include <parallel_run/parallel_run.hpp>
#include <parallel_run/detail/run_report.hpp>

#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <thread>
#include <cstddef>
#include <string>
#include <vector>

namespace test_support {

/// 2 workers, mini-batches of 2 files, 2 tries, a 0.5 s timeout, a resource sample every
/// 50 ms.
inline parallel_run::Config report_job_config(const std::filesystem::path& out) {
  parallel_run::Config c;
  c.output_dir = out;
  c.mini_batch_size = 2;
  c.process_count_per_node = 2;
  c.run_max_try = 2;
  c.run_invocation_timeout = 0.5;
  c.logging_level = parallel_run::LoggingLevel::warning;
  c.resource_monitor_interval = 0.05;
  return c;
}

/// Over make_numbered_files(12): mini-batch 1 fails once, 2 always, 3 times out on its first
/// attempt; item f009 fails alone.
inline auto flaky_scorer() {
  using namespace parallel_run;
  return make_scorer([](const FileBatch& b, Context& ctx) {
    if (b.mini_batch_index() == 1 && ctx.attempt() == 1) throw std::runtime_error("flaky");
    if (b.mini_batch_index() == 2) throw std::runtime_error("always <fails> & \"quotes\"");
    if (b.mini_batch_index() == 3 && ctx.attempt() == 1) {
      const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
      while (!ctx.stop_requested() && std::chrono::steady_clock::now() < end)
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    std::vector<ItemResult<std::string>> out;
    for (const auto& e : b)
      out.push_back(e.key == "f009.txt" ? fail<std::string>(e, "unreadable <item>")
                                        : ok(e, std::string(e.key)));
    return out;
  });
}

/// Passes every event to each of its observers, in order.
struct FanOut final : parallel_run::JobObserver {
  std::vector<parallel_run::JobObserver*> to;
  void job_started(const parallel_run::JobInfo& i) override {
    for (auto* o : to)
      o->job_started(i);
  }
  void attempt_ended(const parallel_run::AttemptInfo& a) override {
    for (auto* o : to)
      o->attempt_ended(a);
  }
  void mini_batch_final(const parallel_run::MiniBatchFinal& m) override {
    for (auto* o : to)
      o->mini_batch_final(m);
  }
  void progress(const parallel_run::JobProgress& p) override {
    for (auto* o : to)
      o->progress(p);
  }
  void job_ended(const parallel_run::JobResult& r) override {
    for (auto* o : to)
      o->job_ended(r);
  }
};

/// Feeds a job of `mini_batches` mini-batches to `o` and returns its result (the numbers the
/// events add up to).
inline parallel_run::JobResult feed_synthetic_job(parallel_run::JobObserver& o,
                                                  const parallel_run::Config& config,
                                                  std::size_t mini_batches) {
  using namespace parallel_run;
  using namespace std::chrono;
  constexpr std::size_t workers = 8;
  const auto start = system_clock::time_point(seconds(1'800'000'000));
  JobInfo info;
  info.config = &config;
  info.host = "synthetic";
  info.pid = 1000;
  info.start = start;
  info.log_dir = config.effective_log_dir();
  o.job_started(info);
  JobResult r;
  std::array<system_clock::time_point, workers> free_at;
  free_at.fill(start);
  std::size_t next_worker = 0;
  AttemptInfo a;
  a.host = "synthetic";
  for (std::size_t i = 0; i < mini_batches; ++i) {
    a.mini_batch.index = i;
    a.mini_batch.items = 10;
    a.mini_batch.first_key = fmt::format("data/part-{:06}/item-{:08}.txt", i / 1000, i * 10);
    a.mini_batch.last_key = fmt::format("data/part-{:06}/item-{:08}.txt", i / 1000, i * 10 + 9);
    const bool retried = i % 1000 == 999;
    const bool timed_out = i % 50000 == 49999;
    const int tries = retried || timed_out ? 2 : 1;
    for (int t = 1; t <= tries; ++t) {
      const std::size_t w = next_worker++ % workers;
      a.attempt = t;
      a.worker = w;
      a.pid = 1000;
      a.start = free_at[w];
      a.end = a.start + milliseconds(timed_out ? 1000 : 36);
      free_at[w] = a.end;
      a.last = t == tries;
      a.items = 10;
      if (timed_out) {
        a.status = AttemptStatus::timed_out;
        a.reason = "run() did not return within 1 s (run_invocation_timeout 1 s)";
        a.succeeded = 0;
      } else if (retried && t == 1) {
        a.status = AttemptStatus::failed;
        a.reason = "std::runtime_error: a flaky first attempt";
        a.succeeded = 0;
      } else {
        a.status = AttemptStatus::succeeded;
        a.reason.clear();
        a.succeeded = 10;
      }
      o.attempt_ended(a);
      ++r.attempts;
      if (t > 1) ++r.retries;
      if (timed_out) ++r.timeouts;
    }
    MiniBatchFinal f;
    f.mini_batch = a.mini_batch;
    f.attempts = tries;
    f.status = timed_out ? MiniBatchStatus::failed : MiniBatchStatus::succeeded;
    f.succeeded = timed_out ? 0 : 10;
    f.failed = timed_out ? 10 : 0;
    f.reason = timed_out ? "all 2 attempts failed; last: " + a.reason : "";
    o.mini_batch_final(f);
    (timed_out ? r.mini_batches_failed : r.mini_batches_succeeded) += 1;
    r.items_succeeded += f.succeeded;
    r.items_failed += f.failed;
    if (i % 10000 == 0) {
      JobProgress p;
      p.mini_batches_created = i + 1;
      p.mini_batches_succeeded = r.mini_batches_succeeded;
      p.mini_batches_failed = r.mini_batches_failed;
      p.items_succeeded = r.items_succeeded;
      p.items_failed = r.items_failed;
      p.elapsed_seconds = duration<double>(free_at[0] - start).count();
      o.progress(p);
    }
  }
  r.mini_batches_total = mini_batches;
  r.items_total = 10 * mini_batches;
  r.succeeded = true;
  auto last = start;
  for (const auto& t : free_at)
    last = std::max(last, t);
  r.wall_seconds = duration<double>(last - start).count();
  r.log_dir = info.log_dir;
  o.job_ended(r);
  return r;
}

}  // namespace test_support
