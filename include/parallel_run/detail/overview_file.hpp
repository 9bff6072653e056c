// logs/overview.txt: where the job stands, rewritten whole (written, then renamed) every few
// seconds and at the end: mini-batches created, started and processed, items, elapsed time,
// rate and time left once the total is known; then the result, and on failure the reason,
// the first failed items, the files to open and the command that reruns the mini-batch of
// the first failed item alone. The first file the seeds tell a user to open. An observer.
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/job_result.hpp"
#include "parallel_run/observer.hpp"
#include "parallel_run/detail/atomic_file.hpp"
#include "parallel_run/detail/clock.hpp"
#include "parallel_run/detail/leveled_log.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <system_error>
#include <string_view>
#include <vector>

PARALLEL_RUN_BEGIN_NAMESPACE
namespace detail {

/// The command that started the job with "--only-mini-batch N" after the program's name,
/// without the flags that choose what to do with an earlier run (--resume, --retry-failed,
/// --restart: a run of one mini-batch has its own folder and no journal); the words after a
/// "--" (the scorer's) are kept as they are. Empty when the command is not known.
inline std::string rerun_command(const std::string& command_line, std::size_t mini_batch) {
  if (command_line.empty()) return {};
  // The shell words, each with the space before it: split at unquoted spaces (the command
  // line is written with single quotes and backslashes where a word needs them).
  std::vector<std::string_view> words;
  std::size_t begin = 0;
  bool quoted = false;
  for (std::size_t i = 0; i < command_line.size(); ++i) {
    const char c = command_line[i];
    if (c == '\'') {
      quoted = !quoted;
    } else if (!quoted && c == '\\') {
      ++i;  // an escaped character
    } else if (!quoted && c == ' ' && i > begin) {
      words.push_back(std::string_view(command_line).substr(begin, i - begin));
      begin = i;
    }
  }
  words.push_back(std::string_view(command_line).substr(begin));
  std::string command(words.front());
  command += fmt::format(" --only-mini-batch {}", mini_batch);
  bool scorers = false;  // after "--"
  for (std::size_t w = 1; w < words.size(); ++w) {
    const std::string_view word = words[w].substr(1);  // without its space
    scorers = scorers || word == "--";
    if (!scorers && (word == "--resume" || word == "--retry-failed" || word == "--retry_failed" ||
                     word == "--restart"))
      continue;
    command += words[w];
  }
  return command;
}

/// "12 s", "3 min 5 s", "2 h 10 min".
inline std::string duration_text(double seconds) {
  if (seconds < 60) return fmt::format("{:.0f} s", seconds);
  const auto s = static_cast<long long>(seconds);
  if (s < 3600) return fmt::format("{} min {} s", s / 60, s % 60);
  return fmt::format("{} h {} min", s / 3600, (s % 3600) / 60);
}

class OverviewFile final : public JobObserver {
 public:
  /// `warn`: told when the job's end cannot be written (a full disk).
  explicit OverviewFile(std::filesystem::path file,
                        std::function<void(const std::string&)> warn = {})
      : file_(std::move(file)), warn_(std::move(warn)) {}

  void job_started(const JobInfo& job) override {
    head_ = fmt::format("job '{}' on {} (process {}), started {} UTC\n", job.config->name, job.host,
                        job.pid, timestamp(job.start));
    if (!job.config->command_line.empty())
      head_ += fmt::format("command: {}\n", job.config->command_line);
    command_line_ = job.config->command_line;
    write("state: starting\n");
  }

  // Kept from the earlier run (a resume): done, but in no time of this run's.
  void mini_batch_final(const MiniBatchFinal& m) override {
    if (!m.from_journal) return;
    ++resumed_;
    resumed_items_ += m.succeeded + m.failed;
  }

  void progress(const JobProgress& p) override {
    last_ = p;
    write("state: running\n" + counts(p));
  }

  void job_ended(const JobResult& r) override {
    std::string text = counts(last_.value_or(JobProgress{}));
    text = fmt::format("state: {}\n{}\nresult: {}\n", r.succeeded ? "succeeded" : "failed", text,
                       r.summary());
    if (!r.succeeded) text += fmt::format("reason: {}\n", r.failure_reason);
    if (!r.first_failures.empty() || !r.first_input_failures.empty()) {
      text += "first failed items:\n";
      for (const auto& f : r.first_input_failures)
        text += fmt::format("  {}\n", f.reason);
      for (const auto& f : r.first_failures)
        text += fmt::format("  {} (mini-batch {}): {}\n", f.key, f.mini_batch, f.reason);
      text += fmt::format("all failed items: {}\n", r.failed_items_file.string());
      if (!r.job_error_file.empty())
        text += fmt::format("failures by category: {}\n", r.job_error_file.string());
      const std::string rerun =
          r.first_failures.empty()
              ? std::string()
              : rerun_command(command_line_, r.first_failures.front().mini_batch);
      if (!rerun.empty())
        text += fmt::format("to rerun the mini-batch of the first failed item alone: {}\n", rerun);
    }
    if (!r.succeeded || !r.first_failures.empty() || !r.first_input_failures.empty())
      text += fmt::format("start with: {} (the job's log), then the files above\n",
                          (r.log_dir / "master.txt").string());
    if (write(text)) return;
    // An overview that says "running" after the end is worse than none.
    std::error_code ec;
    const bool removed = std::filesystem::remove(file_, ec);
    if (warn_)
      warn_(fmt::format(
          "{} could not be written ({}); {}", file_.string(), error_,
          removed ? "it is removed, since it said the job was still running"
          : ec    ? "it still says the job is running, and could not be removed: " + ec.message()
                  : "it was not there"));
  }

 private:
  std::string counts(const JobProgress& p) const {
    std::string text = fmt::format(
        "mini-batches: {} created{}, {} started, {} processed ({} succeeded, {} failed), {} not "
        "processed, {} running\n",
        p.mini_batches_created,
        p.listing_done ? std::string(" (all)")
        : p.mini_batches_expected > 0
            ? fmt::format(" so far, of about {} (the files are listed)", p.mini_batches_expected)
            : std::string(" so far (listing goes on)"),
        p.mini_batches_started, p.mini_batches_succeeded + p.mini_batches_failed,
        p.mini_batches_succeeded, p.mini_batches_failed, p.mini_batches_not_processed,
        p.attempts_running);
    text += fmt::format("items: {} succeeded, {} failed, {} not processed\n", p.items_succeeded,
                        p.items_failed, p.items_not_processed);
    if (resumed_ > 0)
      text += fmt::format("kept from the earlier run: {} mini-batches, {} items\n", resumed_,
                          resumed_items_);
    const std::size_t done = p.mini_batches_done();
    // The rate of this run's own work: kept mini-batches took none of its time.
    const std::size_t ran = done - std::min(done, resumed_);
    const std::size_t items = p.items_succeeded + p.items_failed;
    text += fmt::format("elapsed: {}", duration_text(p.elapsed_seconds));
    if (p.elapsed_seconds > 0 && ran > 0) {
      const double rate = static_cast<double>(ran) / p.elapsed_seconds;
      text += fmt::format(
          "; rate: {:.2f} mini-batches/s, {:.1f} items/s", rate,
          static_cast<double>(items - std::min(items, resumed_items_)) / p.elapsed_seconds);
      const std::size_t total = p.listing_done ? p.mini_batches_created : p.mini_batches_expected;
      if (total > done)
        text += fmt::format("; time left: about {}",
                            duration_text(static_cast<double>(total - done) / rate));
    }
    text += "\n";
    return text;
  }

  bool write(const std::string& body) {
    try {
      AtomicFile f(file_);
      f.write(head_);
      f.write(body);
      f.commit(false);
      return true;
    } catch (const std::exception& e) {
      error_ = e.what();  // a full disk: the next refresh tries again
      return false;
    }
  }

  std::filesystem::path file_;
  std::function<void(const std::string&)> warn_;
  std::string error_;  // why the last write failed
  std::string head_;
  std::string command_line_;
  std::optional<JobProgress> last_;
  std::size_t resumed_ = 0, resumed_items_ = 0;
};

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
