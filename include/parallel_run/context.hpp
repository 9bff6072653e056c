// Context: what a scorer can reach besides its mini-batch: arguments, side inputs, folders,
// its own log, a metric logger and the stop token of its current attempt.
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/config.hpp"
#include "parallel_run/errors.hpp"
#include "parallel_run/detail/clock.hpp"
#include "parallel_run/detail/node_identity.hpp"
#include "parallel_run/detail/leveled_log.hpp"
#include "parallel_run/detail/quote.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

PARALLEL_RUN_BEGIN_NAMESPACE

namespace detail {
/// logs/metrics.csv, shared by all workers of a job (writes are serialized).
class MetricSink {
 public:
  explicit MetricSink(std::filesystem::path file) : file_(std::move(file)) {}
  ~MetricSink() {
    if (out_) std::fclose(out_);
  }
  MetricSink(const MetricSink&) = delete;
  MetricSink& operator=(const MetricSink&) = delete;

  /// `mini_batch`: none for a metric logged in init (the column is left empty). The name is
  /// quoted as a CSV field, its control characters escaped (one record per line).
  void write(std::size_t worker, std::optional<std::size_t> mini_batch, std::string_view name,
             double value) {
    std::string line = fmt::format("{},{},", timestamp(), worker);
    if (mini_batch) fmt::format_to(std::back_inserter(line), "{}", *mini_batch);
    line.push_back(',');
    append_csv_field(line, escape_control(name));
    fmt::format_to(std::back_inserter(line), ",{}\n", value);
    std::lock_guard lock(mutex_);
    if (!out_) {
      std::filesystem::create_directories(file_.parent_path());
      out_ = std::fopen(file_.c_str(), "we");  // "e": O_CLOEXEC, kept from the scorer's children
      if (!out_) return;
      std::fputs("time,worker,mini_batch,name,value\n", out_);
    }
    std::fputs(line.c_str(), out_);
    std::fflush(out_);
  }

 private:
  std::filesystem::path file_;
  std::mutex mutex_;
  std::FILE* out_ = nullptr;
};
}  // namespace detail

/// The scorer's own log, one file per worker: <logs>/user/<host>/worker-<n>.txt, created on
/// the first line written (each run starts it afresh): ctx.log().info("loaded {} weights", n).
/// Lines below the job's logging_level are dropped. Not thread-safe: each worker has its own.
class UserLog : public detail::LeveledLog<UserLog> {
 public:
  UserLog(std::filesystem::path file, LoggingLevel level)
      : LeveledLog(level), file_(std::move(file), "w") {}
  /// The file this log writes to.
  const std::filesystem::path& path() const noexcept { return file_.path(); }

 private:
  friend class detail::LeveledLog<UserLog>;
  void write(std::string_view level, const std::string& message) { file_.append(level, message); }
  detail::LineFile file_;
};

/// One per worker, passed to init, run and shutdown. Methods are called from that worker's
/// thread only.
class Context {
 public:
  Context(const Config& config, std::size_t worker_index,
          std::shared_ptr<detail::MetricSink> metrics,
          std::filesystem::path working_dir = std::filesystem::current_path())
      : config_(&config),
        worker_index_(worker_index),
        log_(config.effective_log_dir() / "user" / detail::node_name() /
                 fmt::format("worker-{}.txt", worker_index),
             config.logging_level),
        metrics_(std::move(metrics)),
        working_dir_(std::move(working_dir)) {}

  /// Arguments for the scorer: Config::arguments, or what followed "--" on the command line.
  const std::vector<std::string>& arguments() const noexcept { return config_->arguments; }
  /// The path of side input `name`. Throws ContextError naming it and the known names.
  const std::filesystem::path& side_input(std::string_view name) const {
    auto it = config_->side_inputs.find(std::string(name));
    if (it == config_->side_inputs.end()) {
      std::string known;
      for (const auto& [k, v] : config_->side_inputs)
        known += (known.empty() ? "" : ", ") + k;
      throw ContextError(fmt::format("no side input named '{}' (known: {})", name,
                                     known.empty() ? "none" : known));
    }
    return it->second;
  }
  bool has_side_input(std::string_view name) const {
    return config_->side_inputs.count(std::string(name)) != 0;
  }
  /// The job's output folder (it exists).
  const std::filesystem::path& output_dir() const noexcept { return config_->output_dir; }
  /// The folder relative paths resolve against: the current folder when the job started.
  const std::filesystem::path& working_dir() const noexcept { return working_dir_; }
  /// A scratch folder private to this worker, created on first use, removed when the job ends.
  const std::filesystem::path& temp_dir() {
    if (temp_dir_.empty()) {
      temp_dir_ =
          config_->output_dir / ".parallel_run_tmp" / fmt::format("worker-{}", worker_index_);
      std::filesystem::create_directories(temp_dir_);
    }
    return temp_dir_;
  }
  /// 0-based worker number, unique for the job (a replacement worker gets a new one).
  std::size_t worker_index() const noexcept { return worker_index_; }
  /// The mini-batch being run, or the last one run.
  std::size_t mini_batch_index() const noexcept { return mini_batch_index_; }
  /// The 1-based attempt of that mini-batch (2 and up: a retry).
  std::int64_t attempt() const noexcept { return attempt_; }
  /// Set when the current attempt (or init) timed out, or the job ends while it runs:
  /// return early.
  std::stop_token stop_token() const noexcept { return stop_token_; }
  bool stop_requested() const noexcept { return stop_token_.stop_requested(); }
  /// This worker's log.
  UserLog& log() noexcept { return log_; }
  /// Records a metric in <logs>/metrics.csv with the worker and mini-batch.
  void log_metric(std::string_view name, double value) {
    // Before the first mini-batch (in init) there is no mini-batch to name.
    if (metrics_)
      metrics_->write(worker_index_,
                      attempt_ == 0 ? std::nullopt : std::optional<std::size_t>(mini_batch_index_),
                      name, value);
  }
  const Config& config() const noexcept { return *config_; }

  // Set by the backend; not for scorers.
  void set_attempt(std::size_t mini_batch_index, std::int64_t attempt, std::stop_token token) {
    mini_batch_index_ = mini_batch_index;
    attempt_ = attempt;
    stop_token_ = std::move(token);
  }
  void set_stop_token(std::stop_token token) { stop_token_ = std::move(token); }

 private:
  const Config* config_;
  std::size_t worker_index_;
  std::size_t mini_batch_index_ = 0;
  std::int64_t attempt_ = 0;
  std::filesystem::path temp_dir_;
  UserLog log_;
  std::shared_ptr<detail::MetricSink> metrics_;
  std::filesystem::path working_dir_;
  std::stop_token stop_token_;
};

PARALLEL_RUN_END_NAMESPACE
