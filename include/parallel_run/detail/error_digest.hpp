// What went wrong in a job, digested: failures grouped by category with counts and the first
// examples, written to logs/job_error.txt when anything failed; and the first failed items,
// which the coordinator puts on the first screen (JobResult::first_failures). An observer of
// the job's events; its memory is bounded whatever the number of failures.
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/job_result.hpp"
#include "parallel_run/observer.hpp"
#include "parallel_run/detail/atomic_file.hpp"
#include "parallel_run/detail/leveled_log.hpp"
#include "parallel_run/detail/processed_log.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

PARALLEL_RUN_BEGIN_NAMESPACE
namespace detail {

class ErrorDigest final : public JobObserver {
 public:
  static constexpr std::size_t examples_per_category = 3;
  static constexpr std::size_t first_failures_kept = JobResult::first_failures_kept;

  explicit ErrorDigest(std::filesystem::path file) : file_(std::move(file)) {}

  void attempt_ended(const AttemptInfo& a) override {
    if (a.status == AttemptStatus::succeeded) {
      for (const auto& item : a.failed_items) {
        add("item_failed", fmt::format("item '{}' (mini-batch {}): {}", item.key,
                                       a.mini_batch.index, item.reason));
        keep_first({item.key, a.mini_batch.index, item.reason});
      }
      return;
    }
    add(error_category(a.status, a.reason),
        fmt::format("mini-batch {} attempt {} ({}) on {}: {}", a.mini_batch.index, a.attempt,
                    ProcessedLog::mini_batch_detail(a.mini_batch), process_name(a), a.reason));
  }

  /// An input named no file to read: a failed item of no mini-batch (not an event of the
  /// observers: the coordinator tells the digest itself).
  void input_failed(const std::string& input, const std::string& reason) {
    add("input_failed", reason);
    if (first_inputs_.size() < first_failures_kept) first_inputs_.push_back({input, reason});
  }

  void mini_batch_final(const MiniBatchFinal& m) override {
    if (m.from_journal) {
      // Kept from the earlier run: its failed items as that run recorded them, on the first
      // screen as that run put them: each failed item of a mini-batch that succeeded, one
      // line (its first item) for a mini-batch that failed whole.
      const bool whole = m.status != MiniBatchStatus::succeeded;
      for (std::size_t i = 0; i < m.failed_items.size(); ++i) {
        const auto& item = m.failed_items[i];
        add(whole ? "failed_in_earlier_run" : "item_failed",
            fmt::format("item '{}' (mini-batch {}): {}", item.key, m.mini_batch.index,
                        item.reason));
        if (!whole || i == 0) keep_first({item.key, m.mini_batch.index, item.reason});
      }
      return;
    }
    if (m.status == MiniBatchStatus::succeeded) return;
    if (m.status == MiniBatchStatus::not_processed) {
      add("not_processed", fmt::format("mini-batch {} ({}): {}", m.mini_batch.index,
                                       ProcessedLog::mini_batch_detail(m.mini_batch), m.reason));
      return;
    }
    keep_first({m.mini_batch.first_key, m.mini_batch.index, m.reason});
  }

  void job_ended(const JobResult& r) override {
    if (categories_.empty() && r.succeeded) return;
    std::string text = fmt::format("{}\n", r.summary());
    if (!r.succeeded) text += fmt::format("reason: {}\n", r.failure_reason);
    for (const auto& [name, c] : categories_) {
      text += fmt::format("\n{}: {}\n", name, c.count);
      for (const auto& e : c.examples)
        text += fmt::format("  {}\n", escape_control(e));
      if (c.count > c.examples.size())
        text += fmt::format(
            "  ... {} more (see failed_items.csv and "
            "processed_mini-batches.csv)\n",
            c.count - c.examples.size());
    }
    try {
      AtomicFile f(file_);
      f.write(text);
      f.commit(false);
    } catch (const std::exception&) {
      // A log folder that cannot take it (a full disk) is reported by the job's own files.
    }
  }

  /// The first items that failed (on their own, or with their whole mini-batch), by
  /// mini-batch.
  const std::vector<FailedItemRecord>& first_failures() const noexcept { return first_; }
  /// The first inputs that named no file, as listed.
  const std::vector<FailedInputRecord>& first_input_failures() const noexcept {
    return first_inputs_;
  }

  /// Calls f(category, count, examples) for each category of failure so far, by name.
  template <class F>
  void for_each_category(F&& f) const {
    for (const auto& [name, c] : categories_)
      f(name, c.count, c.examples);
  }

 private:
  struct Category {
    std::size_t count = 0;
    std::vector<std::string> examples;
  };

  void add(const std::string& category, std::string example) {
    Category& c = categories_[category];
    ++c.count;
    if (c.examples.size() < examples_per_category) c.examples.push_back(std::move(example));
  }

  // The first failures in input order (results arrive out of order): kept sorted by
  // mini-batch, in arrival order within one, at most first_failures_kept of them.
  void keep_first(FailedItemRecord r) {
    auto at = std::upper_bound(
        first_.begin(), first_.end(), r.mini_batch,
        [](std::size_t index, const FailedItemRecord& f) { return index < f.mini_batch; });
    if (at == first_.end() && first_.size() >= first_failures_kept) return;
    first_.insert(at, std::move(r));
    if (first_.size() > first_failures_kept) first_.pop_back();
  }

  std::filesystem::path file_;
  std::map<std::string, Category> categories_;
  std::vector<FailedItemRecord> first_;
  std::vector<FailedInputRecord> first_inputs_;
};

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
