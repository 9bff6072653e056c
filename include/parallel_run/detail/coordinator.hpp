// The coordinator runs one job on the calling thread: it cuts mini-batches, hands attempts
// to the backend, and handles every outcome on one Boost.Asio io_context (so the accounting
// needs no locks): counts, retries, thresholds, ordered output and failed items.
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/config.hpp"
#include "parallel_run/errors.hpp"
#include "parallel_run/job_result.hpp"
#include "parallel_run/detail/atomic_file.hpp"
#include "parallel_run/detail/batch_outcome.hpp"
#include "parallel_run/detail/input_report.hpp"
#include "parallel_run/item_result.hpp"
#include "parallel_run/detail/clock.hpp"
#include "parallel_run/detail/counted.hpp"
#include "parallel_run/detail/kept_checker.hpp"
#include "parallel_run/detail/node_identity.hpp"
#include "parallel_run/detail/error_digest.hpp"
#include "parallel_run/detail/job_files.hpp"
#include "parallel_run/detail/job_log.hpp"
#include "parallel_run/detail/log_record.hpp"
#include "parallel_run/detail/processed_log.hpp"
#include "parallel_run/detail/run_journal.hpp"
#include "parallel_run/detail/observer_list.hpp"
#include "parallel_run/detail/ordered_output.hpp"
#include "parallel_run/detail/scorer_lifecycle.hpp"
#include "parallel_run/detail/stop_signals.hpp"
#include "parallel_run/detail/task.hpp"
#include "parallel_run/detail/temp_names.hpp"
#include "parallel_run/detail/thread_backend.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fmt/format.h>

#include <fcntl.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <deque>
#include <exception>
#include <cstdlib>
#include <signal.h>
#include <unistd.h>
#include <csignal>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <vector>

PARALLEL_RUN_BEGIN_NAMESPACE
namespace detail {

/// Runs one job: Partitioner cuts tasks (see task.hpp), BackendT<Task> runs them.
template <class Partitioner, template <class> class BackendT>
class Coordinator {
 public:
  using Batch = typename Partitioner::batch_type;
  using Backend = BackendT<Batch>;

  /// `inputs`: where the partitioner's listing reports what it does not read (may be null).
  /// `observers`: the user's, called after the log folder's own.
  /// `journal`: the run's journal (detail/run_journal.hpp), or null for none.
  Coordinator(std::shared_ptr<const Config> config, ScorerFactory<materialized_t<Batch>> factory,
              Partitioner partitioner, std::shared_ptr<InputReport> inputs = nullptr,
              std::vector<std::shared_ptr<JobObserver>> observers = {},
              std::shared_ptr<RunJournal> journal = nullptr)
      : config_(std::move(config)),
        factory_(std::move(factory)),
        partitioner_(std::move(partitioner)),
        inputs_(std::move(inputs)),
        user_observers_(std::move(observers)),
        journal_(std::move(journal)) {}

  /// Called with the backend once it is built, before it starts: what the job runner passes
  /// on to it (the ordinal of a process-backend job, a multi-node job's cluster).
  void set_backend_setup(std::function<void(Backend&)> setup) { setup_backend_ = std::move(setup); }

  JobResult run() {
    namespace fs = std::filesystem;
    const auto started = std::chrono::steady_clock::now();
    started_at_ = started;
    const Config& cfg = *config_;
    const fs::path log_dir = cfg.effective_log_dir();
    prepare_folders(cfg, log_dir);

    // Written at every logging level: the job's start and end are always on record.
    JobLog log(files_.master(), cfg.logging_level, cfg.echo_to_stderr);
    log_ = &log;
    std::string limit_text;
    if (cfg.limit > 0) limit_text = fmt::format(", limit: the first {} items", cfg.limit);
    std::string nodes_text;
    if (nodes() > 1) nodes_text = fmt::format(" per node on {} nodes", nodes());
    log.record("INFO", fmt::format("job '{}': mini-batches of up to {}, {}{}, output {}{}",
                                   cfg.name, partitioner_.describe_size(),
                                   counted(static_cast<std::size_t>(cfg.process_count_per_node),
                                           fmt::format("{} worker", to_string(cfg.backend))),
                                   nodes_text, cfg.output_dir.string(), limit_text));
    // The rest of what decides how the job treats failures, and how it was started: the log
    // alone says what the job was asked to do (report.html has every setting).
    log.record(
        "INFO",
        fmt::format("settings: run_max_try {}, run_invocation_timeout {} s, init_timeout "
                    "{} s, error_threshold {}, mini_batch_error_threshold {}, "
                    "allowed_failed_percent {}, worker_memory_limit {}, output_action {}, "
                    "resume {}, journal {}, logging_level {}",
                    cfg.run_max_try, cfg.run_invocation_timeout, cfg.init_timeout,
                    cfg.error_threshold, cfg.mini_batch_error_threshold, cfg.allowed_failed_percent,
                    cfg.worker_memory_limit == 0 ? std::string("none")
                                                 : fmt::format("{} bytes", cfg.worker_memory_limit),
                    to_string(cfg.output_action), to_string(cfg.resume), journal_text(cfg),
                    to_string(cfg.logging_level)));
    if (!cfg.command_line.empty()) log.record("INFO", "command: " + cfg.command_line);
    result_.limit = static_cast<std::size_t>(cfg.limit);
    result_.log_dir = log_dir;
    result_.failed_items_file = files_.failed_items();
    result_.skipped_inputs_file = files_.skipped_inputs();
    if (cfg.output_action == OutputAction::append_row)
      result_.output_file = cfg.output_dir / cfg.append_row_file_name;
    // The log folder's record (detail/log_record.hpp), then the user's observers.
    digest_ = std::make_shared<ErrorDigest>(files_.job_error());
    add_log_record(observers_, cfg, files_, log, digest_);
    for (auto& o : user_observers_)
      observers_.add(o);
    observers_.on_error([this](const std::string& what) {
      if (log_ != nullptr) log_->warning("{}", what);
    });
    JobInfo info;
    info.config = &cfg;
    info.host = node_name();
    info.pid = ::getpid();
    info.start = std::chrono::system_clock::now();
    info.log_dir = log_dir;
    observers_.notify([&](JobObserver& o) { o.job_started(info); });
    try {
      run_job(cfg, log);
    } catch (const OutputError& e) {
      // A file could not be written outside the rows' own path (a spill file, a worker's log
      // folder): the job ends here, and says so in its log folder.
      record_output_error(e.what());
      result_.failure_reason += fmt::format(
          "; {} was not written either (the job ended before "
          "its end)",
          result_.failed_items_file.string());
    } catch (const std::exception& e) {
      // A configuration found late (a partition_keys column missing from a header) or an
      // internal error: recorded, then thrown to the caller.
      result_.failure_reason = e.what();
      finish_result(log, started);
      end_journal(log);
      log.record("ERROR", fmt::format("job failed: {}", result_.failure_reason));
      observers_.notify([&](JobObserver& o) { o.job_ended(result_); });
      write_job_result();
      throw;
    }
    finish_result(log, started);
    end_journal(log);
    observers_.notify([&](JobObserver& o) { o.job_ended(result_); });
    // The caller reports the failure; stderr already saw "stopping the job".
    if (!result_.succeeded)
      log.record("ERROR", fmt::format("job failed: {}", result_.failure_reason));
    write_job_result();
    return result_;
  }

 private:
  // The journal's end record: the run ended, completely or not (a process that dies writes
  // none, which the next run sees).
  void end_journal(JobLog& log) {
    if (!journal_) return;
    try {
      journal_->end(result_, result_.succeeded || (ran_to_end_ && !stopping_ && !list_error_ &&
                                                   !result_.output_error));
    } catch (const std::exception& e) {
      log.error("{}", e.what());
    }
  }

  void run_job(const Config& cfg, JobLog& log) {
    namespace fs = std::filesystem;
    if (journal_) {
      for (const auto& note : journal_->notes())
        log.record("INFO", note);  // at every level: what this run took from an earlier one
      journal_->start();
    }
    // Declared first, so run last: nothing may point to this function's objects after it.
    struct Forget {
      Coordinator* c;
      ~Forget() {
        c->backend_ = nullptr;
        c->ordered_ = nullptr;
        c->io_ = nullptr;
        c->kept_checker_ = nullptr;
        c->rows_file_ = nullptr;
        c->failed_file_ = nullptr;
        if (c->inputs_) *c->inputs_ = InputReport{};
      }
    } forget{this};
    AtomicFile failed(files_.failed_items());
    failed.write("key,mini_batch,attempts,reason\n");
    failed_file_ = &failed;
    AtomicFile skipped(files_.skipped_inputs());
    skipped.write("path,reason\n");
    std::size_t dropped = 0;  // skipped entries that are not the job's own files
    if (inputs_) {
      inputs_->on_skipped = [&](const fs::path& path, const std::string& reason, bool job_file) {
        ++result_.inputs_skipped;
        if (!job_file) ++dropped;
        std::string line;
        append_csv_field(line, path.string());
        line.push_back(',');
        append_csv_field(line, reason);
        line.push_back('\n');
        skipped.write(line);
        log_->debug("input '{}' not read: {}", path.string(), reason);
      };
      // An input that names no file is a failed item of no mini-batch, listed as it is met.
      inputs_->on_failed = [&](const std::string& key, const std::string& reason) {
        ++result_.items_failed;
        std::string line;
        append_csv_field(line, key);
        line += ",,0,";
        append_csv_field(line, reason);
        line.push_back('\n');
        failed.write(line);
        log_->warning("{}", reason);
        if (digest_) digest_->input_failed(key, reason);
      };
      inputs_->on_duplicate = [&](const std::string& key, const std::string& earlier,
                                  const std::string& later, bool first_of_key) {
        ++result_.duplicate_keys;
        if (!first_of_key) return;
        if (earlier == later)
          log_->warning(
              "key '{}' comes twice from input '{}': both files are scored and "
              "written under it",
              key, later);
        else
          log_->warning(
              "key '{}' comes from input '{}' and again from input '{}': both files "
              "are scored and written under it",
              key, earlier, later);
      };
      inputs_->on_duplicate_check_ended = [&](std::size_t files) {
        log_->info("duplicate keys are checked among the first {} files only", files);
      };
    }
    std::optional<AtomicFile> rows;
    if (cfg.output_action == OutputAction::append_row) {
      rows.emplace(cfg.output_dir / cfg.append_row_file_name);
      rows_file_ = &*rows;
      if (!cfg.output_header.empty()) rows->write(header_line(cfg));
    }
    OrderedOutput ordered(rows ? &*rows : nullptr, &failed, cfg.output_dir,
                          static_cast<std::uint64_t>(cfg.max_buffered_output_bytes));
    ordered_ = &ordered;

    auto metrics = std::make_shared<MetricSink>(files_.metrics());
    boost::asio::io_context io;
    io_ = &io;
    // A resume checks the kept mini-batches' inputs on a thread of its own (kept_checker.hpp);
    // a verdict the job's thread waits for brings it back here through the io_context.
    std::optional<KeptChecker<Batch>> kept_checker;
    if (journal_ && journal_->resuming()) {
      kept_checker.emplace(
          [mode = journal_->fingerprint_mode()](const Batch& b, CanonicalFolders& folders) {
            return task_input_hash(b, mode, folders);
          },
          [journal = journal_.get()](const Batch& b, std::uint64_t hash, ChangeCheck& check) {
            return journal->inputs_unchanged(b, hash, check);
          },
          [this, &io] {
            if (kept_ready_posted_.exchange(true)) return;
            boost::asio::post(io, [this] {
              kept_ready_posted_.store(false);
              if (settle_posted_) return;  // a settle is queued already
              settle_kept(kept_slice);
              fill();
            });
          });
      kept_checker_ = &*kept_checker;
    }
    BackendEvents events{
        [this](std::uint64_t id, BatchOutcome o) { on_result(id, std::move(o)); },
        [this](std::uint64_t id, std::string reason, FailureKind kind, AttemptTimes times) {
          on_attempt_failed(id, std::move(reason), kind, times);
        },
        [this](std::size_t worker, std::string reason, bool misconfigured) {
          on_init_failed(worker, std::move(reason), misconfigured);
        },
        [this](std::string message) { log_->warning("{}", message); },
        [this] {
          if (stopping_) after_update();
        },
        [this](std::uint64_t id, AttemptTimes times) { on_attempt_started(id, times); },
        {},
        {}};
    // A worker that shares this process writes its start to the journal itself, before
    // run(): a crash inside run() ends the process before this thread would hear of it. (A
    // crash of a worker process is the process backend's to handle: nothing to record.)
    if (journal_)
      events.before_run = [journal = journal_.get()](std::size_t index, std::int64_t attempt,
                                                     std::size_t worker) {
        journal->started(index, attempt, worker);
      };
    if (journal_)
      events.after_run = [journal = journal_.get()](std::size_t worker) { journal->ran(worker); };
    // Mini-batches queued or running: enough that workers never wait for the coordinator
    // (it is woken when `low_water` or fewer are queued), few enough to bound memory.
    const auto workers = static_cast<std::size_t>(cfg.process_count_per_node) * nodes();
    window_ = 16 * workers;
    static_assert(BackendFor<Backend, Batch>, "a backend must offer what backend.hpp lists");
    Backend backend(io, config_, factory_, std::move(events), metrics, 4 * workers);
    if (setup_backend_) setup_backend_(backend);
    if constexpr (requires { backend.node_names(); }) node_names_ = backend.node_names();
    backend_ = &backend;

    // A closed stderr or stdout (`job 2>&1 | head`) costs the messages, not the job.
    SigpipeIgnored sigpipe_ignored;
    // With stop_on_signals, the first SIGINT or SIGTERM stops the job gracefully: no new
    // mini-batch starts, running ones finish, the output is written. A second one ends the
    // process at once, after these last words: the journal then blames no running mini-batch.
    LastWords last_words;
    if (journal_)
      last_words = {
          [](void* journal) noexcept { static_cast<RunJournal*>(journal)->stopped_by_signal(); },
          journal_.get()};
    StopSignals signals(
        io, cfg.stop_on_signals,
        [this](int signal) {
          if (stopping_) return;  // already stopping for another reason: keep that one
          result_.interrupted_by = signal;
          // What happens now is for the log while it happens; the job's reason (in the summary,
          // job_result.txt and each not-processed item's line) is the signal alone.
          stop_job(
              fmt::format("interrupted by {}", signal == SIGINT ? "SIGINT" : "SIGTERM"),
              ": running mini-batches finish, no new one starts (send it again to abort at once)");
          fill();
        },
        last_words);

    // Every few seconds, observers hear where the job stands (overview.txt is rewritten); the
    // first time after half a second, so that a live bar has its total (known once a folder
    // is listed) before the user wonders why it says "listing".
    boost::asio::steady_timer progress_timer(io);
    std::function<void(std::chrono::milliseconds)> arm_progress =
        [&](std::chrono::milliseconds after) {
          progress_timer.expires_after(after);
          progress_timer.async_wait([&](const boost::system::error_code& ec) {
            if (ec) return;
            report_progress();
            arm_progress(std::chrono::seconds(2));
          });
        };
    arm_progress(std::chrono::milliseconds(500));
    // The journal commits on its own thread; a failure to write it is said once.
    boost::asio::steady_timer journal_timer(io);
    std::function<void()> arm_journal = [&] {
      journal_timer.expires_after(std::chrono::milliseconds(250));
      journal_timer.async_wait([&](const boost::system::error_code& ec) {
        if (ec) return;
        if (std::string error = journal_->take_error(); !error.empty()) log_->error("{}", error);
        arm_journal();
      });
    };
    if (journal_) arm_journal();

    backend.start();
    fill();
    if (!finished()) io.run();
    progress_timer.cancel();
    journal_timer.cancel();
    finishing_ = true;
    backend.stop();
    // Every threshold is judged at the end too: the percentage only once every mini-batch is
    // cut, which may come after the last result.
    if (!stopping_)
      if (auto reason = threshold_exceeded()) {
        stopping_ = true;
        result_.failure_reason = std::move(*reason);
        log.error("{}", result_.failure_reason);
      }
    if (backend.detached_workers() > 0)
      log.warning(
          "{} timed-out worker thread(s) ignored their stop request and were left running; "
          "a thread cannot be killed",
          backend.detached_workers());

    if (stopping_) drain_not_processed();
    report_progress();
    if (ordered.waiting() != 0 || ordered.next_index() != created_)
      throw Error("parallel_run.internal",
                  fmt::format("output incomplete: {} of {} mini-batches written",
                              ordered.next_index(), created_));
    if (ordered.spilled_chunks() > 0)
      log.info("{} early results waited in the spill file", ordered.spilled_chunks());
    if (result_held_back_ > 0)
      log.info(
          "{} time(s) the results waiting for a late mini-batch filled "
          "max_buffered_output_bytes: no new mini-batch was cut until it arrived",
          result_held_back_);
    if (dropped > 0)
      log.warning(
          "{} input entries were not read (symbolic links to folders, FIFOs, devices, "
          "dangling links); they are listed in {}",
          dropped, skipped.target().string());
    if (result_.duplicate_keys > 0)
      log.warning(
          "{} files have the key of an earlier file of the job; each such key is named "
          "above",
          result_.duplicate_keys);
    // The end is recorded even when the output is not: a rows file that cannot be written
    // (a full disk) fails the job, and the lists and the summary are still written.
    if (rows) {
      try {
        rows->commit();
      } catch (const OutputError& e) {
        record_output_error(e.what());
      }
    }
    for (AtomicFile* list : {&failed, &skipped}) {
      try {
        list->commit(false);
      } catch (const OutputError& e) {
        log.error("{}", e.what());
        if (result_.succeeded || result_.failure_reason.empty())
          result_.failure_reason = fmt::format("the logs could not be written: {}", e.what());
        list_error_ = true;
      }
    }
    // Graceful signal handling stays until the output and the lists are written: a signal
    // while they are written waits (the job is already ending), it does not lose them.
    signals.restore();
    // A detached worker may still use its temporary folder.
    result_.detached_workers = backend.detached_workers();
    std::error_code rm_ec;
    if (result_.detached_workers == 0) fs::remove_all(files_.temp_dir(), rm_ec);
    ran_to_end_ = true;
  }

  // Counts, the verdict and the summary line, once the job's work is over.
  void finish_result(JobLog& log, std::chrono::steady_clock::time_point started) {
    result_.items_total =
        result_.items_succeeded + result_.items_failed + result_.items_not_processed;
    result_.mini_batches_total = created_ - skipped_;
    result_.init_failures = init_failures_;
    result_.succeeded = ran_to_end_ && !stopping_ && !result_.output_error && !list_error_;
    if (cfg_only_ >= 0 && created_ == skipped_ && result_.succeeded) {
      result_.succeeded = false;
      result_.configuration_error = true;
      result_.failure_reason =
          ConfigError("only_mini_batch",
                      fmt::format("only_mini_batch {}: the inputs hold only {} mini-batches",
                                  cfg_only_, created_))
              .what();
    }
    if (result_.succeeded && result_.items_total > 0 && result_.items_succeeded == 0) {
      // Every item timed out, crashed or threw: that is no success, whatever the thresholds.
      result_.succeeded = false;
      result_.failure_reason = fmt::format("no item succeeded: all {} items failed (see {})",
                                           result_.items_total, result_.failed_items_file.string());
    }
    if (result_.succeeded && result_.items_total == 0)
      log.warning("the inputs hold no items: nothing was scored{}",
                  result_.inputs_skipped == 0
                      ? std::string()
                      : fmt::format(" ({} not read: {} says why)",
                                    counted(result_.inputs_skipped, "input entry"),
                                    files_.skipped_inputs().string()));
    if (result_.output_error && !result_.output_file.empty()) {
      // An earlier run's output must not pass for this run's.
      std::error_code ec;
      if (std::filesystem::remove(result_.output_file, ec))
        log.warning("the previous run's output '{}' was removed: it is not this run's",
                    result_.output_file.string());
    }
    result_.warnings = log.warnings();
    if (digest_) {
      result_.first_failures = digest_->first_failures();
      result_.first_input_failures = digest_->first_input_failures();
    }
    if (result_.items_failed + result_.items_not_processed > 0 || !result_.succeeded)
      result_.job_error_file = files_.job_error();
    result_.wall_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    // main() says so on stderr in its own words; the log says it too, without an echo.
    if (result_.succeeded && result_.items_failed > 0)
      log.record("WARNING",
                 fmt::format("the job succeeded with {} of {} items failed (tolerated by "
                             "error_threshold {}); they are listed in {}",
                             result_.items_failed, result_.items_total, config_->error_threshold,
                             result_.failed_items_file.string()));
    log.record("INFO", result_.summary());
  }

  static std::string output_error_reason(const std::string& what) {
    return fmt::format("the output could not be written: {}; no output file was written", what);
  }

  // Called as results arrive: a rows file that can no longer be written (a full disk) stops
  // the job (running mini-batches finish, the rest is listed as not processed), and so does
  // a failed_items.csv that cannot be written. The job then fails; the output is absent.
  void check_output() {
    if (!result_.output_error && rows_file_ != nullptr && !rows_file_->error().empty()) {
      result_.output_error = true;
      // Lost: its bytes go now, so that the lists and logs still fit on a full disk.
      rows_file_->discard();
      const std::string reason = output_error_reason(rows_file_->error());
      if (!stopping_) {
        stop_job(reason);
      } else {
        log_->error("{}", reason);
        result_.failure_reason += "; and " + reason;
      }
    }
    if (!list_error_ && failed_file_ != nullptr && !failed_file_->error().empty()) {
      list_error_ = true;
      const std::string reason =
          fmt::format("the list of failed items could not be written: {}", failed_file_->error());
      if (!stopping_) {
        stop_job(reason);
      } else {
        log_->error("{}", reason);
        result_.failure_reason += "; and " + reason;
      }
    }
  }

  // The output could not be written, found at the end (or by an exception): the job fails.
  void record_output_error(const std::string& what) {
    if (result_.output_error) return;
    result_.output_error = true;
    const std::string reason = output_error_reason(what);
    if (log_ != nullptr) log_->error("{}", reason);
    if (!stopping_) {
      stopping_ = true;
      result_.failure_reason = reason;
    } else {
      result_.failure_reason += "; and " + reason;
    }
  }

  // Creates the output and log folders, checks that both can be written (a ConfigError
  // naming the setting, whichever is missing), removes temporary files that killed jobs
  // left, and the previous run's logs, so that the log folder only ever tells of this run.
  void prepare_folders(const Config& cfg, const std::filesystem::path& log_dir) {
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::create_directories(cfg.output_dir, ec);
    if (ec || !fs::is_directory(cfg.output_dir))
      // A folder that cannot be made is a setting to fix (exit 2), not a failed job.
      throw ConfigError("output_dir",
                        fmt::format("cannot create the output folder '{}': {}",
                                    cfg.output_dir.string(), ec ? ec.message() : "not a folder"));
    check_writable(cfg.output_dir, "output_dir", "output");
    fs::create_directories(log_dir, ec);
    if (ec || !fs::is_directory(log_dir))
      throw ConfigError("log_dir",
                        fmt::format("cannot create the log folder '{}': {}", log_dir.string(),
                                    ec ? ec.message() : "not a folder"));
    check_writable(log_dir, "log_dir", "log");

    refuse_foreign_log_folder(log_dir);
    remove_stale_temporaries(cfg.output_dir);
    remove_stale_temporaries(log_dir);
    // An earlier append_row run's output must not pass for this one's, which writes none.
    if (cfg.output_action == OutputAction::summary_only)
      fs::remove(cfg.output_dir / cfg.append_row_file_name, ec);
    for (const std::string& name : JobFiles::per_run_log_entries())
      fs::remove_all(log_dir / name, ec);
  }

  // The previous run's files are removed from the log folder at the start (user/, worker/,
  // performance/ whole): only from a folder a job wrote, which holds master.txt (a job's
  // first file, written just after this). A folder holding one of those names and no
  // master.txt is someone's own folder given as log_dir: refused before anything is removed.
  static void refuse_foreign_log_folder(const std::filesystem::path& log_dir) {
    std::error_code ec;
    if (std::filesystem::exists(JobFiles::master_in(log_dir), ec)) return;
    std::vector<std::string> found;
    for (const std::string& name : JobFiles::per_run_log_entries())
      if (std::filesystem::exists(log_dir / name, ec))
        found.push_back(std::filesystem::is_directory(log_dir / name, ec) ? name + "/" : name);
    if (found.empty()) return;
    throw ConfigError(
        "log_dir",
        fmt::format("the log folder '{}' holds {} but no master.txt: it is not a log folder a "
                    "job wrote, and a job removes those at its start; give a new or empty "
                    "folder as log_dir (or the log folder of an earlier job)",
                    log_dir.string(), fmt::join(found, ", ")));
  }

  // Whether the folder takes a new file: creates and removes one (permissions alone do not
  // tell: root, read-only mounts, /proc).
  static void check_writable(const std::filesystem::path& dir, const char* setting,
                             const char* what) {
    const std::filesystem::path probe =
        dir / fmt::format(".parallel_run_probe.partial-{}", process_tag());
    const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
      throw ConfigError(setting, fmt::format("cannot write in the {} folder '{}': {}", what,
                                             dir.string(), std::strerror(errno)));
    ::close(fd);
    ::unlink(probe.c_str());
  }

 private:
  struct InFlight {
    std::shared_ptr<const Batch> batch;
    std::int64_t number;
    std::string last_failure;  // why the previous attempt failed, for a retry
    std::shared_ptr<const MiniBatchInfo> info;
    std::optional<AttemptInfo> attempt;  // once started
    std::uint64_t input_hash = 0;        // for the journal
  };

  // A mini-batch that was running when a process of the run died, waiting to run alone.
  struct Held {
    std::shared_ptr<const Batch> batch;
    std::shared_ptr<const MiniBatchInfo> info;
    std::uint64_t input_hash = 0;
    std::shared_ptr<const KeptVerdict> verdict;  // a kept one's, from the KeptChecker
  };

  bool finished() const {
    return in_flight_.empty() && !held_ && cut_kept_.empty() && (exhausted_ || stopping_);
  }

  // Mini-batches queued or running at most: window_, or more when the backend asks for more
  // (the process backend sends short mini-batches ahead, up to 32 a worker; the cluster
  // backend asks for every node's queue).
  std::size_t window() const {
    if constexpr (requires(const Backend& b) { b.wanted_in_flight(); })
      if (backend_ != nullptr) return std::max(window_, backend_->wanted_in_flight());
    return window_;
  }

  // Starts what may start: a suspect alone, or mini-batches up to the window; settles the
  // kept ones cut. Each pass that may start more goes again (a loop, not a recursion: a resume
  // of many kept mini-batches settles them `kept_ahead` at a time).
  void fill() {
    while (fill_once()) {
    }
  }

  // One pass of fill(): true when another may start more.
  bool fill_once() {
    // A suspect runs alone (so that a death while it runs names it for sure): it waits for
    // the others to end, and nothing starts beside it.
    if (held_ && !stopping_ && in_flight_.empty()) {
      journal_->quiet();
      alone_ = held_->batch->mini_batch_index();
      Held h = std::move(*held_);
      held_.reset();
      submit(std::move(h.batch), std::move(h.info), 1, false, {}, h.input_hash);
    }
    if (alone_ && std::none_of(in_flight_.begin(), in_flight_.end(), [&](const auto& f) {
          return f.second.batch->mini_batch_index() == *alone_;
        })) {
      alone_.reset();
      if (in_flight_.empty()) journal_->quiet();
    }
    while (!stopping_ && !exhausted_ && in_flight_.size() < window() && !held_ && !alone_ &&
           cut_kept_.size() < kept_ahead) {
      // Results wait for a late mini-batch and cost the output's whole memory budget: cut
      // nothing new until it arrives. It cannot deadlock: the late one is in flight (retries
      // and timeouts go on) or a kept one that settle_soon() settles, and stopping the job
      // lists what is queued as not processed.
      if (ordered_->full()) {
        if (!holding_back_) ++result_held_back_;
        holding_back_ = true;
        break;
      }
      holding_back_ = false;
      std::optional<Batch> b;
      try {
        b = partitioner_.next();
      } catch (const InputError& e) {
        // Found as the listing reached it (an empty folder, a bad list line): an input to fix.
        if (!stopping_) result_.configuration_error = true;
        stop_job(e.what());
        break;  // not exhausted: the rest is listed as not processed at the end
      }
      if (!b) {
        exhausted_ = true;
        break;
      }
      if (cfg_only_ >= 0) {
        // A run of one mini-batch: the others are cut (to find it) but never run or counted.
        const auto index = static_cast<std::int64_t>(b->mini_batch_index());
        if (index != cfg_only_) {
          ++created_;
          ++skipped_;
          ordered_->submit(b->mini_batch_index(), {}, {});
          continue;
        }
        exhausted_ = true;  // nothing after it is read
      }
      ++created_;
      auto batch = std::make_shared<const Batch>(std::move(*b));
      auto info = std::make_shared<const MiniBatchInfo>(describe(*batch));
      observers_.notify([&](JobObserver& o) { o.mini_batch_created(*info); });
      if (journal_ && journal_->resuming() && journal_->has_kept(batch->mini_batch_index())) {
        // Hashed and checked by the KeptChecker, only to compare with a kept record (the
        // others are hashed on the journal's thread, journal_finished, as in a fresh run).
        // Settled in groups (settle_kept()).
        auto verdict = kept_checker_->add(batch);
        cut_kept_.push_back(Held{std::move(batch), std::move(info), 0, std::move(verdict)});
        continue;
      }
      // Not kept: it starts now, before the kept ones cut ahead of it are settled (its rows
      // wait in the ordered output for theirs), so that the workers run while they are.
      if (!run_or_hold(std::move(batch), std::move(info), 0)) return in_flight_.empty();
    }
    if (!cut_kept_.empty()) {
      if (in_flight_.empty() || stopping_) {
        // Nothing runs to overlap with: settle them all now, then cut on.
        const bool full = cut_kept_.size() >= kept_ahead;
        if (!settle_kept()) return in_flight_.empty();  // the suspect held among them
        if (full && !stopping_) return true;
      } else {
        settle_soon();
      }
    }
    if (finished()) io_->stop();
    return false;
  }

  // Mini-batches the earlier run finished are cut up to `kept_ahead` before any is settled,
  // so that the ones to run after them start at once; the KeptChecker checks their inputs as
  // they are cut (on the core left idle while this thread cuts, before the workers start);
  // then they are settled `kept_slice` at a time between the workers' events (settle_soon()),
  // or all at once when nothing runs. A slice is short beside the work left queued when the
  // workers ask for more: slices of 128 on two threads left the workers idle a fifth of a
  // small-files resume, since this thread is what hands them work (its trace: gaps of 1.4 ms
  // every 2.9 ms on each worker; docs/benchmarks.md). By that run's costs (about 30 us of
  // this thread per kept mini-batch, 0.1 ms of a worker per run one), a slice of 4 takes
  // about 0.13 ms, a third of the 0.4 ms the 8 still queued take to run on 2 workers.
  // Memory: `kept_ahead` mini-batches' inputs.
  static constexpr std::size_t kept_ahead = 2048;
  static constexpr std::size_t kept_slice = 4;

  // A slice of kept mini-batches is settled after the events already queued (the workers'
  // results, which keep them busy), then fill() goes on.
  void settle_soon() {
    // Held or alone, a suspect's end (an event) settles them.
    if (settle_posted_ || ((held_ || alone_) && !stopping_)) return;
    // Not checked yet: the checker says when it is (posting now would only spin).
    if (!cut_kept_.empty() && !cut_kept_.front().verdict->ready()) {
      kept_checker_->want(*cut_kept_.front().verdict);
      return;
    }
    settle_posted_ = true;
    boost::asio::post(*io_, [this] {
      settle_posted_ = false;
      settle_kept(kept_slice);
      fill();
    });
  }

  // Mini-batches the earlier run finished, cut in a row, are settled in order, at most `limit`
  // of them and, with a limit, only those the KeptChecker has checked (their inputs' hash and
  // ctimes: a stat per file with metadata fingerprints, most of what a kept one costs; without
  // a limit it waits for them); then, one at a time (memory: one mini-batch's bytes), each
  // one's bytes are read from the journal, or, changed or unreadable, it runs. False when a
  // suspect among them is held to run alone: those after it wait in cut_kept_ (nothing starts
  // beside it). While a suspect waits or runs alone, nothing is settled; once the job stops,
  // what would run is listed as not processed.
  bool settle_kept(std::size_t limit = SIZE_MAX) {
    if (cut_kept_.empty()) return true;
    if ((held_ || alone_) && !stopping_) return !held_;
    std::size_t n = std::min(limit, cut_kept_.size());
    if (limit != SIZE_MAX) {
      // Between the workers' events: only those the checker has done (it says when more are).
      std::size_t ready = 0;
      while (ready < n && cut_kept_[ready].verdict->ready())
        ++ready;
      if (ready == 0) {
        kept_checker_->want(*cut_kept_.front().verdict);
        return true;
      }
      n = ready;
    }
    std::vector<Held> cut(
        std::make_move_iterator(cut_kept_.begin()),
        std::make_move_iterator(cut_kept_.begin() + static_cast<std::ptrdiff_t>(n)));
    cut_kept_.erase(cut_kept_.begin(), cut_kept_.begin() + static_cast<std::ptrdiff_t>(n));
    std::vector<char> same(cut.size(), 0);
    for (std::size_t i = 0; i < cut.size(); ++i) {
      kept_checker_->wait(*cut[i].verdict);
      cut[i].input_hash = cut[i].verdict->input_hash;
      same[i] = cut[i].verdict->state.load(std::memory_order_acquire) == KeptVerdict::same;
    }
    for (std::size_t i = 0; i < cut.size(); ++i) {
      Held& h = cut[i];
      if (!same[i] && result_.mini_batches_inputs_changed++ == 0)
        log_->warning(
            "mini-batch {} ({}) was finished by the earlier run, but its inputs changed since "
            "(or are named another way): it runs again, as will any other such one (counted "
            "in the job's summary)",
            h.info->index, ProcessedLog::mini_batch_detail(*h.info));
      if (same[i]) {
        try {
          if (auto k = journal_->kept_bytes(h.batch->mini_batch_index())) {
            use_kept(*h.batch, *h.info, std::move(*k));
            // Its failures count as they did in the run that ran it: past a threshold, what
            // is not kept is not processed, as in a run never interrupted.
            stop_past_a_threshold();
            continue;
          }
        } catch (const InputError& e) {
          log_->warning("{}: mini-batch {} runs again", e.what(), h.batch->mini_batch_index());
        }
      }
      if (stopping_) {
        not_processed(*h.batch, h.info.get());
        continue;
      }
      if (!run_or_hold(std::move(h.batch), std::move(h.info), h.input_hash)) {
        cut_kept_.insert(cut_kept_.begin(),
                         std::make_move_iterator(cut.begin() + static_cast<std::ptrdiff_t>(i) + 1),
                         std::make_move_iterator(cut.end()));
        return false;
      }
    }
    return true;
  }

  // A mini-batch cut and not taken from the journal: it runs, unless a process of the run
  // died while it ran (then it runs alone: false, held) or did so too often (poisoned).
  bool run_or_hold(std::shared_ptr<const Batch> batch, std::shared_ptr<const MiniBatchInfo> info,
                   std::uint64_t input_hash) {
    if (journal_ && journal_->resuming()) {
      const std::int64_t deaths = journal_->deaths(batch->mini_batch_index());
      if (deaths >= poison_deaths()) {
        poisoned(batch, *info, deaths, input_hash);
        return true;
      }
      if (deaths > 0) {  // held_ is empty here: settle_kept() and fill() stop at a held one
        log_->warning(
            "mini-batch {} ({}) was running when a process of this run died ({} of at most {} "
            "times): it runs again, alone",
            info->index, ProcessedLog::mini_batch_detail(*info), deaths, poison_deaths());
        held_ = Held{std::move(batch), std::move(info), input_hash, {}};
        return false;
      }
    }
    submit(std::move(batch), std::move(info), 1, false, {}, input_hash);
    return true;
  }

  // A mini-batch the earlier run finished on the same inputs: its rows and failed lines come
  // from the journal, and it does not run.
  void use_kept(const Batch& batch, const MiniBatchInfo& info, RunJournal::Kept&& k) {
    const JournalEntry& e = k.entry;
    const bool ok = e.outcome == JournalOutcome::succeeded;
    ++result_.mini_batches_resumed;
    ++(ok ? result_.mini_batches_succeeded : result_.mini_batches_failed);
    result_.items_succeeded += e.items_succeeded;
    result_.items_failed += e.items_failed;
    MiniBatchFinal m;
    m.mini_batch = info;
    m.mini_batch.items = e.items_succeeded + e.items_failed;
    m.status = ok ? MiniBatchStatus::succeeded : MiniBatchStatus::failed;
    m.attempts = e.attempts;
    m.succeeded = e.items_succeeded;
    m.failed = e.items_failed;
    m.from_journal = true;
    // What it failed of, for the observers (job_error.txt, the first failed items) as a run
    // of it would say.
    m.failed_items = kept_failed_items(k.failed_lines);
    if (!ok)
      m.reason = m.failed_items.empty() ? std::string("failed in the earlier run")
                                        : "in the earlier run: " + m.failed_items.front().reason;
    ordered_->submit(batch.mini_batch_index(), std::move(k.rows), std::move(k.failed_lines));
    observers_.notify([&](JobObserver& o) { o.mini_batch_final(m); });
  }

  // Deaths of the run's process while a mini-batch ran that make it a "poison" mini-batch (the
  // service's word): run_max_try, but at least 2, since one death may be a kill of the job
  // (kill -9, an out-of-memory kill of the job's process) that the mini-batch did not cause.
  std::int64_t poison_deaths() const { return std::max<std::int64_t>(2, config_->run_max_try); }

  // A mini-batch that was running at poison_deaths() deaths of the run's process in a row:
  // failed without running it again.
  void poisoned(const std::shared_ptr<const Batch>& shared, const MiniBatchInfo& info,
                std::int64_t deaths, std::uint64_t input_hash) {
    const Batch& batch = *shared;
    const std::string why = fmt::format(
        "the job's process died while it was running, {} times in a row (the last time it ran "
        "alone): a crash in the scorer (a segmentation fault, an abort) or an out-of-memory "
        "kill; not run again (--retry-failed runs it again)",
        deaths);
    log_->error("mini-batch {} ({}): {}", info.index, ProcessedLog::mini_batch_detail(info), why);
    ++result_.mini_batches_failed;
    result_.items_failed += batch.size();
    std::string lines = failed_lines_of(batch, deaths, why);
    journal_finished(shared, JournalOutcome::failed, deaths, 0, batch.size(), input_hash, {},
                     lines);
    ordered_->submit(batch.mini_batch_index(), {}, std::move(lines));
    final_failed(info, MiniBatchStatus::failed, deaths, batch.size(), why);
  }

  // `input_hash` as cut, or 0: the journal's thread hashes `batch`'s inputs (a hash that is 0
  // by chance is computed twice, to the same value).
  void journal_finished(const std::shared_ptr<const Batch>& batch, JournalOutcome outcome,
                        std::int64_t attempts, std::size_t succeeded, std::size_t failed,
                        std::uint64_t input_hash, std::string_view rows,
                        std::string_view failed_lines) {
    if (!journal_) return;
    JournalEntry e;
    e.index = batch->mini_batch_index();
    e.outcome = outcome;
    e.attempts = attempts;
    e.items_succeeded = succeeded;
    e.items_failed = failed;
    e.input_hash = input_hash;
    RunJournal::HashLater hash_later{};
    if (input_hash == 0)
      hash_later = {batch, [](const void* task, FingerprintMode mode, CanonicalFolders& folders) {
                      return task_input_hash(*static_cast<const Batch*>(task), mode, folders);
                    }};
    journal_->finished(e, rows, failed_lines, std::move(hash_later));
  }

  static MiniBatchInfo describe(const Batch& batch) {
    MiniBatchInfo info;
    info.index = batch.mini_batch_index();
    info.items = batch.size();
    auto [first, last] = key_range(batch);
    info.first_key = std::move(first);
    info.last_key = std::move(last);
    if constexpr (requires { batch.length(); }) info.bytes = batch.length();
    return info;
  }

  AttemptInfo attempt_info(const InFlight& f, const AttemptTimes& t) const {
    AttemptInfo a;
    if (f.attempt) a = *f.attempt;
    a.mini_batch = *f.info;
    a.attempt = f.number;
    if (t.pid != 0) {
      a.worker = t.worker;
      a.pid = t.pid;
    }
    a.host = host_of(t.node);
    using namespace std::chrono;
    const auto at = [](std::int64_t ns) {
      return system_clock::time_point(duration_cast<system_clock::duration>(nanoseconds(ns)));
    };
    if (t.wall_start_ns != 0) a.start = at(t.wall_start_ns);
    a.end = t.wall_end_ns != 0 ? at(t.wall_end_ns) : system_clock::now();
    if (a.start == system_clock::time_point{}) a.start = a.end;
    if (t.wall_start_ns != 0 || t.cpu_end != 0) {
      a.cpu_start = t.cpu_start;
      a.cpu_end = t.cpu_end;
    } else {
      a.cpu_end = a.cpu_start;  // its worker died or was cut off: no CPU time is known
    }
    a.run_seconds = t.run_seconds;
    a.items = t.items != 0 ? t.items : f.info->items;
    return a;
  }

  void report_progress() {
    JobProgress p;
    p.mini_batches_created = created_;
    p.mini_batches_started = started_;
    p.mini_batches_succeeded = result_.mini_batches_succeeded;
    p.mini_batches_failed = result_.mini_batches_failed;
    p.mini_batches_not_processed = result_.mini_batches_not_processed;
    p.items_succeeded = result_.items_succeeded;
    p.items_failed = result_.items_failed;
    p.items_not_processed = result_.items_not_processed;
    p.attempts_running = running_;
    p.listing_done = exhausted_ || (stopping_ && finishing_);
    if constexpr (requires { partitioner_.expected_mini_batches(); })
      if (!p.listing_done && cfg_only_ < 0)
        p.mini_batches_expected = partitioner_.expected_mini_batches().value_or(0);
    p.elapsed_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started_at_).count();
    observers_.notify([&](JobObserver& o) { o.progress(p); });
  }

  void on_attempt_started(std::uint64_t id, const AttemptTimes& t) {
    auto it = in_flight_.find(id);
    if (it == in_flight_.end()) return;
    if (it->second.number == 1) ++started_;
    ++running_;
    AttemptInfo a;
    a.mini_batch = *it->second.info;
    a.attempt = it->second.number;
    a.worker = t.worker;
    a.pid = t.pid;
    a.host = host_of(t.node);
    a.start = a.end = std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::nanoseconds(t.wall_start_ns)));
    a.cpu_start = a.cpu_end = t.cpu_start;
    a.items = a.mini_batch.items;
    it->second.attempt = a;
    log_->debug("mini-batch {} attempt {} started on worker {} (process {}): {}",
                a.mini_batch.index, a.attempt, a.worker, a.pid,
                ProcessedLog::mini_batch_detail(a.mini_batch));
    observers_.notify([&](JobObserver& o) { o.attempt_started(a); });
  }

  void submit(std::shared_ptr<const Batch> batch, std::shared_ptr<const MiniBatchInfo> info,
              std::int64_t number, bool front, std::string last_failure = {},
              std::uint64_t input_hash = 0) {
    const std::uint64_t id = next_attempt_id_++;
    in_flight_.emplace(
        id, InFlight{batch, number, std::move(last_failure), std::move(info), {}, input_hash});
    backend_->submit(Attempt<Batch>{id, std::move(batch), number}, front);
  }

  void on_result(std::uint64_t id, BatchOutcome outcome) {
    auto it = in_flight_.find(id);
    if (it == in_flight_.end()) {
      log_->debug("late result of attempt {} discarded", id);
      return;
    }
    InFlight f = std::move(it->second);
    in_flight_.erase(it);
    if (f.attempt) --running_;
    ++result_.attempts;
    const Batch& batch = *f.batch;
    for (auto& w : outcome.warnings)
      log_->warning("{}", w);
    ++result_.mini_batches_succeeded;
    result_.items_succeeded += outcome.succeeded;
    result_.items_failed += outcome.failed.size();
    std::string failed_lines;
    for (const auto& fi : outcome.failed) {
      append_failed_line(failed_lines, fi.key, batch.mini_batch_index(), f.number, fi.reason);
      log_->debug("item '{}' failed: {}", fi.key, fi.reason);
    }
    log_->debug("mini-batch {} attempt {}: {}/{} items succeeded", batch.mini_batch_index(),
                f.number, outcome.succeeded, batch.size());
    AttemptInfo a = attempt_info(f, outcome.times);
    a.items = outcome.succeeded + outcome.failed.size();
    a.succeeded = outcome.succeeded;
    a.failed = outcome.failed.size();
    a.failed_items.reserve(outcome.failed.size());
    for (auto& fi : outcome.failed)
      a.failed_items.push_back({std::move(fi.key), std::move(fi.reason)});
    a.status = AttemptStatus::succeeded;
    a.last = true;
    journal_finished(f.batch, JournalOutcome::succeeded, f.number, a.succeeded, a.failed,
                     f.input_hash, outcome.rows, failed_lines);
    ordered_->submit(batch.mini_batch_index(), std::move(outcome.rows), std::move(failed_lines));
    observers_.notify([&](JobObserver& o) { o.attempt_ended(a); });
    MiniBatchFinal m;
    m.mini_batch = *f.info;
    m.mini_batch.items = a.items;
    m.status = MiniBatchStatus::succeeded;
    m.attempts = f.number;
    m.succeeded = a.succeeded;
    m.failed = a.failed;
    observers_.notify([&](JobObserver& o) { o.mini_batch_final(m); });
    after_update();
  }

  void on_attempt_failed(std::uint64_t id, std::string reason, FailureKind kind,
                         const AttemptTimes& times) {
    const bool timed_out = kind == FailureKind::timed_out;
    auto it = in_flight_.find(id);
    if (it == in_flight_.end()) return;
    InFlight f = std::move(it->second);
    in_flight_.erase(it);
    if (f.attempt) --running_;
    ++result_.attempts;
    if (timed_out) ++result_.timeouts;
    const Batch& batch = *f.batch;
    const Config& cfg = *config_;
    log_->warning("mini-batch {} attempt {}/{} {}: {}", batch.mini_batch_index(), f.number,
                  cfg.run_max_try, timed_out ? "timed out" : "failed", reason);
    // Each ignored stop token leaves a thread (and its scorer's memory) behind: bound them.
    // (After the warning: the log names the timeout before the stop it causes.)
    const auto cap = static_cast<std::size_t>(config_->process_count_per_node) * nodes();
    if (timed_out && !stopping_ && backend_->stuck_workers() > cap)
      stop_job(
          fmt::format("{} timed-out run() calls ignored their stop token and still hold "
                      "their threads (the limit is process_count_per_node = {}); a thread "
                      "cannot be killed",
                      backend_->stuck_workers(), cap));
    AttemptInfo a = attempt_info(f, times);
    a.failed = a.items;
    a.status = timed_out                          ? AttemptStatus::timed_out
               : kind == FailureKind::worker_lost ? AttemptStatus::crashed
                                                  : AttemptStatus::failed;
    a.reason = reason;
    a.last = !(f.number < cfg.run_max_try && !stopping_);
    observers_.notify([&](JobObserver& o) { o.attempt_ended(a); });
    if (!a.last) {
      ++result_.retries;
      submit(f.batch, f.info, f.number + 1, true, reason, f.input_hash);
    } else {
      ++result_.mini_batches_failed;
      result_.items_failed += batch.size();
      std::string why =
          f.number < cfg.run_max_try
              ? fmt::format("attempt {} failed and the job is stopping: {}", f.number, reason)
          : f.number == 1 ? fmt::format("the only attempt failed: {}", reason)
                          : fmt::format("all {} attempts failed; last: {}", f.number, reason);
      std::string lines = failed_lines_of(batch, f.number, why);
      // A mini-batch that failed only because the job stopped is not finished: a resume runs it.
      if (f.number >= cfg.run_max_try)
        journal_finished(f.batch, JournalOutcome::failed, f.number, 0, batch.size(), f.input_hash,
                         {}, lines);
      ordered_->submit(batch.mini_batch_index(), {}, std::move(lines));
      final_failed(*f.info, MiniBatchStatus::failed, f.number, batch.size(), why);
    }
    after_update();
  }

  std::size_t nodes() const { return static_cast<std::size_t>(std::max(1, config_->node_count)); }
  const std::string& host_of(std::size_t node) const {
    return node < node_names_.size() ? node_names_[node] : node_names_.front();
  }
  // A worker as the backend names it: its index, or on many nodes (node << 32 | index).
  std::string worker_label(std::size_t worker) const {
    if (nodes() == 1) return fmt::format("worker {}", worker);
    return fmt::format("node {} ({}) worker {}", worker >> 32, host_of(worker >> 32),
                       worker & 0xffffffffu);
  }

  void on_init_failed(std::size_t worker, std::string reason, bool misconfigured) {
    ++init_failures_;
    backend_->retire(worker);
    if (stopping_ || finishing_) {  // a replacement started before the job began to stop
      log_->error("{}: init failed: {}", worker_label(worker), reason);
      return;
    }
    // One node: 3 * process_count_per_node. Many (as the service): each node gives up after
    // 3 * process_count_per_node (detail/cluster_backend.hpp), the job after
    // 2 * node_count * process_count_per_node.
    const auto per_node = static_cast<std::size_t>(config_->process_count_per_node);
    const auto limit = nodes() == 1 ? 3 * per_node : 2 * nodes() * per_node;
    const std::string rule =
        nodes() == 1 ? "3 * process_count_per_node" : "2 * node_count * process_count_per_node";
    if (misconfigured) {
      if (!stopping_) result_.configuration_error = true;
      stop_job(fmt::format("init failed: {}", reason));
      after_update();
      return;
    }
    log_->error("{}: init failed ({} of at most {}): {}", worker_label(worker), init_failures_,
                limit, reason);
    bool workers_left = true;
    if constexpr (requires { backend_->any_node_open(); }) workers_left = backend_->any_node_open();
    if (init_failures_ >= limit)
      stop_job(fmt::format("init failed {} times (the limit is {} = {}); last error: {}",
                           init_failures_, rule, limit, reason));
    else if (!workers_left)
      stop_job(
          fmt::format("no node takes work any more: each stopped after init failures ({} "
                      "in all); last error: {}",
                      init_failures_, reason));
    else
      backend_->top_up();
    after_update();
  }

  void after_update() {
    check_output();
    if (!stopping_) {
      stop_past_a_threshold();
    } else {
      // A worker process that died hands back the attempts it was merely sent: they do not
      // start either.
      drop_queued();
    }
    fill();
  }

  void stop_past_a_threshold() {
    if (stopping_) return;
    if (auto reason = threshold_exceeded()) stop_job(std::move(*reason));
  }

  std::optional<std::string> threshold_exceeded() const {
    const Config& cfg = *config_;
    if (cfg.error_threshold >= 0 &&
        result_.items_failed > static_cast<std::size_t>(cfg.error_threshold))
      return fmt::format("error_threshold exceeded: {} > error_threshold {}",
                         counted(result_.items_failed, "failed item"), cfg.error_threshold);
    if (cfg.mini_batch_error_threshold >= 0 &&
        result_.mini_batches_failed > static_cast<std::size_t>(cfg.mini_batch_error_threshold))
      return fmt::format("mini_batch_error_threshold exceeded: {} > mini_batch_error_threshold {}",
                         counted(result_.mini_batches_failed, "failed mini-batch"),
                         cfg.mini_batch_error_threshold);
    // As in the service, the percentage is judged once every mini-batch is scheduled (the
    // inputs are listed lazily: only then is the total known).
    const std::size_t total = created_;
    if (exhausted_ && total > 0 &&
        static_cast<double>(result_.mini_batches_failed) * 100.0 >
            cfg.allowed_failed_percent * static_cast<double>(total))
      return fmt::format(
          "allowed_failed_percent exceeded: {} of {} mini-batches failed ({:.2f}%) > "
          "allowed_failed_percent {}",
          result_.mini_batches_failed, total,
          static_cast<double>(result_.mini_batches_failed) * 100.0 / static_cast<double>(total),
          cfg.allowed_failed_percent);
    return std::nullopt;
  }

  // No new mini-batch starts; running ones finish; queued ones are not processed.
  // `now` (for the log only) says what happens next.
  void stop_job(std::string reason, std::string_view now = {}) {
    if (stopping_) return;
    stopping_ = true;
    result_.failure_reason = std::move(reason);
    log_->error("stopping the job: {}{}", result_.failure_reason, now);
    backend_->no_more_work();
    drop_queued();
    if (held_) {
      not_processed(*held_->batch, held_->info.get());
      held_.reset();
    }
    settle_kept();  // kept ones are taken from the journal; the others are not processed
  }

  // The job is stopping: attempts that have not started are not run.
  void drop_queued() {
    for (auto& a : backend_->take_queued()) {
      auto it = in_flight_.find(a.id);
      if (it == in_flight_.end()) continue;
      if (a.number > 1) {
        // A retry that never ran: its mini-batch failed, for the reason its last attempt gave.
        ++result_.mini_batches_failed;
        result_.items_failed += a.batch->size();
        const std::string why =
            fmt::format("attempt {} failed and the job stopped before a retry: {}", a.number - 1,
                        it->second.last_failure);
        ordered_->submit(a.batch->mini_batch_index(), {},
                         failed_lines_of(*a.batch, a.number - 1, why));
        final_failed(*it->second.info, MiniBatchStatus::failed, a.number - 1, a.batch->size(), why);
      } else {
        not_processed(*a.batch, it->second.info.get());
      }
      in_flight_.erase(it);
    }
  }

  void not_processed(const Batch& batch, const MiniBatchInfo* info = nullptr) {
    ++result_.mini_batches_not_processed;
    result_.items_not_processed += batch.size();
    const std::string why =
        fmt::format("not processed: the job stopped ({})", result_.failure_reason);
    ordered_->submit(batch.mini_batch_index(), {}, failed_lines_of(batch, 0, why));
    final_failed(info != nullptr ? *info : describe(batch), MiniBatchStatus::not_processed, 0,
                 batch.size(), why);
  }

  void final_failed(const MiniBatchInfo& info, MiniBatchStatus status, std::int64_t attempts,
                    std::size_t items, const std::string& why) {
    MiniBatchFinal m;
    m.mini_batch = info;
    m.status = status;
    m.attempts = attempts;
    m.failed = items;
    m.reason = why;
    observers_.notify([&](JobObserver& o) { o.mini_batch_final(m); });
  }

  // Every item the job never reached is still listed in failed_items.csv. A partitioner
  // that can (tables) lists the input it has not read as ranges instead of reading it.
  void drain_not_processed() {
    if (exhausted_) return;
    if constexpr (requires { partitioner_.stop_reading(); }) partitioner_.stop_reading();
    for (;;) {
      try {
        while (auto b = partitioner_.next()) {
          ++created_;
          const MiniBatchInfo info = describe(*b);
          observers_.notify([&](JobObserver& o) { o.mini_batch_created(info); });
          not_processed(*b, &info);
        }
        return;
      } catch (const InputError& e) {
        // The cursor is past the faulty input: log it and list the rest.
        log_->error("{}", e.what());
      }
    }
  }

  // A run that was killed (a second Ctrl-C, SIGKILL) leaves its temporary files behind,
  // named with its process id and start time. Those of processes that no longer run (the
  // pid is gone, or belongs to a process started at another time) are removed.
  static void remove_stale_temporaries(const std::filesystem::path& dir) {
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
      const std::string name = e.path().filename().string();
      const auto tag = temporary_tag(name);
      if (!tag || !tag_is_stale(*tag)) continue;
      std::error_code rm;
      std::filesystem::remove(e.path(), rm);
    }
  }

  // Every item of a mini-batch that failed as a whole, each with its own reason if it has one
  // (a malformed record). For a table slice, listing its rows reads it again: only failures
  // pay for that. A mini-batch that never ran (attempts 0) is listed without reading input:
  // a table slice by the range of lines it covers.
  std::string failed_lines_of(const Batch& batch, std::int64_t attempts, std::string_view why) {
    std::string lines;
    try {
      if (attempts == 0)
        for_each_not_processed_key(batch, [&](const std::string& key) {
          append_failed_line(lines, key, batch.mini_batch_index(), attempts, why);
        });
      else
        for_each_failed_item(batch, [&](const std::string& key, std::string_view own) {
          append_failed_line(lines, key, batch.mini_batch_index(), attempts,
                             own.empty() ? why : own);
        });
    } catch (const std::exception& e) {
      // The input vanished or changed since it was cut: say so instead of losing the line.
      log_->error("mini-batch {}: its items cannot be listed: {}", batch.mini_batch_index(),
                  e.what());
      append_failed_line(lines, fmt::format("mini-batch-{}", batch.mini_batch_index()),
                         batch.mini_batch_index(), attempts,
                         fmt::format("{} (its items cannot be listed: {})", why, e.what()));
    }
    return lines;
  }

  static std::string header_line(const Config& cfg) {
    std::string line;
    bool first = true;
    auto add = [&](std::string_view name) {
      if (!first) line.append(cfg.delimiter);
      first = false;
      append_table_text(line, name, cfg.delimiter);
    };
    if (cfg.key_column) add("key");
    for (const auto& name : cfg.output_header)
      add(name);
    line.push_back('\n');
    return line;
  }

  static void append_failed_line(std::string& out, const std::string& key, std::size_t mini_batch,
                                 std::int64_t attempts, std::string_view reason) {
    append_csv_field(out, key);
    fmt::format_to(std::back_inserter(out), ",{},{},", mini_batch, attempts);
    append_csv_field(out, reason);
    out.push_back('\n');
  }

  // job_result.txt: the summary and, on failure, the reason. A log folder that cannot take
  // it (a full disk) is said on stderr; the caller still gets the JobResult.
  void write_job_result() const {
    try {
      AtomicFile f(files_.job_result());
      f.write(result_.summary() + "\n");
      if (!result_.succeeded) f.write("reason: " + result_.failure_reason + "\n");
      f.commit(false);
    } catch (const OutputError& e) {
      if (log_ != nullptr) log_->error("{}", e.what());
    }
  }

  std::shared_ptr<const Config> config_;
  JobFiles files_{*config_};
  ScorerFactory<materialized_t<Batch>> factory_;
  Partitioner partitioner_;
  std::shared_ptr<InputReport> inputs_;
  std::vector<std::shared_ptr<JobObserver>> user_observers_;
  ObserverList observers_;  // the log folder's files, then the user's
  // The nodes' names, by index (one node: this host's name).
  std::vector<std::string> node_names_{node_name()};
  std::function<void(Backend&)> setup_backend_;
  JobLog* log_ = nullptr;
  AtomicFile* rows_file_ = nullptr;    // while the job runs
  AtomicFile* failed_file_ = nullptr;  // while the job runs
  bool ran_to_end_ = false;
  bool list_error_ = false;
  OrderedOutput* ordered_ = nullptr;
  boost::asio::io_context* io_ = nullptr;
  Backend* backend_ = nullptr;
  std::unordered_map<std::uint64_t, InFlight> in_flight_;
  std::uint64_t next_attempt_id_ = 1;
  std::size_t window_ = 8;
  bool holding_back_ = false;         // fill() stopped because the ordered output is full
  std::size_t result_held_back_ = 0;  // how many times it did
  std::size_t created_ = 0;
  std::size_t skipped_ = 0;  // cut but not run: with only_mini_batch, all the others
  std::int64_t cfg_only_ = config_->only_mini_batch;
  std::size_t started_ = 0;  // mini-batches whose first attempt started
  std::size_t running_ = 0;  // attempts started and not ended
  std::chrono::steady_clock::time_point started_at_ = std::chrono::steady_clock::now();
  std::shared_ptr<ErrorDigest> digest_;
  std::shared_ptr<RunJournal> journal_;

  // What the settings line says of the journal: whether this run keeps one.
  std::string_view journal_text(const Config& cfg) const {
    if (journal_) return "on";
    if (cfg.only_mini_batch >= 0) return "off (a run of one mini-batch keeps none)";
    return "off";
  }
  std::optional<Held> held_;    // a suspect waiting to run alone
  std::deque<Held> cut_kept_;   // cut, finished by the earlier run: see settle_kept()
  bool settle_posted_ = false;  // settle_soon() is queued
  KeptChecker<Batch>* kept_checker_ = nullptr;  // a resume's, while the job runs
  std::atomic<bool> kept_ready_posted_{false};  // the checker's call back is queued
  std::optional<std::size_t> alone_;            // the suspect running alone
  std::size_t init_failures_ = 0;
  bool exhausted_ = false;
  bool stopping_ = false;
  bool finishing_ = false;  // io_context done: events now come from backend.stop()
  JobResult result_;
};

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
