// The run's journal as the job uses it: at the start, what an earlier run left in the output
// folder gives this one (nothing, a resume, a reuse, or a refusal that says why); while the job
// runs, what it finishes (detail/journal.hpp keeps the bytes). The coordinator asks it, for
// each mini-batch it cuts, whether the earlier run already finished that mini-batch on the
// same inputs (then its rows come from the journal), and whether a process died while it ran.
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/config.hpp"
#include "parallel_run/errors.hpp"
#include "parallel_run/job_result.hpp"
#include "parallel_run/observer.hpp"
#include "parallel_run/detail/counted.hpp"
#include "parallel_run/detail/fingerprint.hpp"
#include "parallel_run/detail/job_files.hpp"
#include "parallel_run/detail/journal.hpp"
#include "parallel_run/detail/quote.hpp"
#include "parallel_run/detail/running_slots.hpp"
#include "parallel_run/detail/task.hpp"
#include "parallel_run/detail/two_threads.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <filesystem>
#include <functional>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <type_traits>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

PARALLEL_RUN_BEGIN_NAMESPACE
namespace detail {

/// The items of a kept mini-batch's failed_items.csv lines ("key,mini_batch,attempts,reason"),
/// each its key and reason: what its failures were, as the run that ran it said.
inline std::vector<FailedItemInfo> kept_failed_items(std::string_view failed_lines) {
  std::vector<FailedItemInfo> items;
  for (auto& fields : csv_records(failed_lines))
    if (fields.size() == 4) items.push_back({std::move(fields[0]), std::move(fields[3])});
  return items;
}

/// The hash of what a mini-batch reads: each file's key and identity, a table slice's file and
/// byte range, a key-grouped slice's source files and place in the grouping.
template <class Task>
std::uint64_t task_input_hash(const Task& task, FingerprintMode mode, CanonicalFolders& folders) {
  InputIdentity id(mode, &folders);
  if constexpr (requires { task.sources(); }) {
    if (!task.from_spill()) {
      const auto& source = *task.sources().at(0);
      id.add(source.key, source.path, task.offset(), task.length());
    } else {
      // Grouped rows: any change of any input may move rows between mini-batches.
      for (const auto& source : task.sources())
        id.add(source->key, source->path);
      id.add(fmt::format("grouped {} {} {}", task.mini_batch_index(), task.length(), task.size()),
             {});
    }
  } else {
    for (const auto& entry : task)
      id.add(entry.key, entry.path);
  }
  return id.value();
}

/// Whether any input `task` reads changed after `clock_ns`, the file system clock reading of
/// the session that ran it (metadata fingerprints: content ones hash the bytes instead).
template <class Task>
bool task_inputs_changed(const Task& task, std::int64_t clock_ns, ChangeCheck& check) {
  if constexpr (requires { task.sources(); }) {
    for (const auto& source : task.sources())
      if (check.changed(source->path, source->key, clock_ns)) return true;
  } else {
    for (const auto& entry : task)
      if (check.changed(entry.path, entry.key, clock_ns)) return true;
  }
  return false;
}

class RunJournal {
 public:
  /// A mini-batch the earlier run finished, kept for this one.
  struct Kept {
    JournalEntry entry;
    std::string rows, failed_lines;
  };

  /// Reads the journal in `cfg.output_dir` (if any) for a run with `fingerprint` and decides
  /// what it gives this run. Throws ConfigError (setting "resume") when this run may not go
  /// on: a resume whose settings, program or side inputs changed (each change named), or a
  /// fresh run over a run whose process died before its end.
  RunJournal(const Config& cfg, Fingerprint fingerprint)
      : files_{JobFiles(cfg).journal_dir()},
        mode_(cfg.resume),
        fingerprint_mode_(cfg.fingerprint),
        fingerprint_(std::move(fingerprint)),
        output_file_(JobFiles(cfg).output_file()),
        failed_items_file_(JobFiles(cfg).failed_items()),
        slot_nodes_(static_cast<std::size_t>(std::max(1, cfg.node_count))),
        slots_per_node_(static_cast<std::size_t>(std::max(16, 4 * cfg.process_count_per_node))) {
    if (mode_ == ResumeMode::restart) return;
    std::vector<JournalEntry> entries;
    // This session's workers: the last mini-batch each one started, until it finishes.
    std::unordered_map<std::uint64_t, std::uint64_t> running;
    bool session_open = false, session_ended = false;
    std::size_t session_entries = 0;  // where the last session's records begin in `entries`
    auto close_session = [&] {
      if (session_open && !session_ended) {
        // One death per session: a mini-batch whose failed attempt was retried on another
        // worker is the last start of both (the failed attempt is not journaled).
        std::set<std::uint64_t> died;
        for (const auto& [worker, index] : running)
          died.insert(index);
        for (const std::uint64_t index : died)
          ++deaths_[index];
      }
      running.clear();
    };
    JournalVisitor visit;
    auto keep_entry = [&](const JournalEntry& e) {
      entries.push_back(e);
      std::erase_if(running, [&](const auto& r) { return r.second == e.index; });
      deaths_.erase(e.index);
    };
    // A fresh run that may not reuse the earlier one needs only how that one ended, not its
    // records (reading 2,000 of them was 2 ms of the small-files run's start); if it died
    // having finished some, they are read again below, for the refusal to count them.
    const bool light = mode_ == ResumeMode::fresh && !cfg.allow_reuse;
    if (!light) visit.entry = keep_entry;
    visit.session = [&](std::int64_t, std::int64_t) {
      close_session();
      session_entries = entries.size();
      session_open = true;
      session_ended = false;
    };
    visit.started = [&](std::uint64_t index, std::int64_t, std::uint64_t worker) {
      if (worker == quiet_mark)
        running.clear();  // nothing ran at that moment (see quiet())
      else
        running[worker] = index;
    };
    visit.end = [&](const JournalEnd&) {
      session_ended = true;
      running.clear();
    };
    scan_ = read_journal(files_, visit);
    if (light && !scan_.end && scan_.entries > 0) {
      running.clear();
      deaths_.clear();
      session_open = session_ended = false;
      session_entries = 0;
      visit.entry = keep_entry;
      scan_ = read_journal(files_, visit);
    }
    if (session_open && !session_ended) {
      // The last session died: its workers' last starts are in the running file, unless
      // they finished (their records are in `entries` after the session's start).
      for (const auto& s : RunningSlots::read(files_.running(), scan_.sessions)) {
        const bool finished =
            std::any_of(entries.begin() + static_cast<std::ptrdiff_t>(session_entries),
                        entries.end(), [&](const JournalEntry& e) { return e.index == s.index; });
        if (finished) continue;
        running[s.worker] = s.index;
        dead_starts_.push_back(s);
      }
    }
    close_session();
    if (!scan_.found) {
      if (mode_ != ResumeMode::fresh)
        notes_.push_back(fmt::format("nothing to resume in '{}' (no journal there): a new run",
                                     files_.dir.parent_path().string()));
      return;
    }
    // The last record of each mini-batch holds (a resume may have run it again).
    std::stable_sort(
        entries.begin(), entries.end(),
        [](const JournalEntry& a, const JournalEntry& b) { return a.index < b.index; });
    for (std::size_t i = 0; i < entries.size(); ++i)
      if (i + 1 == entries.size() || entries[i + 1].index != entries[i].index)
        kept_.push_back(entries[i]);
    const std::vector<std::string> all_changes = fingerprint_.differences(scan_.fingerprint);
    // A resume may change what only decides the verdict (thresholds, tries, timeouts).
    std::vector<std::string> changed;
    for (const auto& c : all_changes)
      if (!c.starts_with("verdict.")) changed.push_back(c);
    const std::string folder = files_.dir.parent_path().string();
    const bool died = !scan_.end;
    if (mode_ == ResumeMode::fresh) {
      // A run that died having finished nothing is kept too when it died with mini-batches
      // running: a crash in the first mini-batch must be named (and may be poison), not
      // met again by a run that starts over. A run that ended but could not write its end
      // record (a full disk) emptied its running slots, so it is not taken for a death.
      if (died && (!kept_.empty() || !deaths_.empty()))
        throw ConfigError(
            "resume",
            fmt::format("the output folder '{}' holds a run whose process died before its end "
                        "(killed or crashed; its journal holds {}{}{}): {}, or run with "
                        "--restart to start over",
                        folder, counted(kept_.size(), "finished mini-batch"), running_at_death(),
                        // A record torn by the death, or a journal damaged since: then no
                        // process may have died, and this says what was seen.
                        scan_.ignored_bytes == 0
                            ? std::string()
                            : fmt::format("; the last {} bytes of '{}' could not be read: a "
                                          "record torn by the death, or damage",
                                          scan_.ignored_bytes, files_.journal().string()),
                        changed.empty() ? "run again with --resume to continue it"
                                        : fmt::format("it cannot be resumed with these settings "
                                                      "({})",
                                                      fmt::join(changed, "; "))));
      reusable_ = cfg.allow_reuse && !died && scan_.end->complete && all_changes.empty();
      if (!died && !scan_.end->complete)
        notes_.push_back(
            fmt::format("the earlier run in '{}' stopped before its end ({}); this run starts over "
                        "(--resume would have continued it)",
                        folder, scan_.end->failure_reason));
      return;
    }
    if (!changed.empty())
      throw ConfigError("resume",
                        fmt::format("cannot resume the run in '{}': {} changed since it ran ({}); "
                                    "run with --restart to start over",
                                    folder, changed.size() == 1 ? "a setting" : "settings",
                                    fmt::join(changed, "; ")));
    // A mini-batch that succeeded with some items failed runs again too: what is retried is
    // every failed item, and an item runs only with its mini-batch.
    if (mode_ == ResumeMode::retry_failed)
      std::erase_if(kept_, [](const JournalEntry& e) {
        return e.outcome == JournalOutcome::failed || e.items_failed > 0;
      });
    resuming_ = true;
    notes_.push_back(fmt::format(
        "{} the run in '{}': its journal holds {} (each is kept unless its inputs changed){}{}",
        mode_ == ResumeMode::resume ? "resuming" : "retrying the mini-batches with failed items of",
        folder, counted(kept_.size(), "finished mini-batch"),
        scan_.ignored_bytes > 0
            ? fmt::format(" ({} bytes at the journal's end were torn and are ignored)",
                          scan_.ignored_bytes)
            : "",
        deaths_.empty()
            ? ""
            : fmt::format("; {} were running when a process of the run died", deaths_.size())));
  }

  RunJournal(const RunJournal&) = delete;
  RunJournal& operator=(const RunJournal&) = delete;
  ~RunJournal() {
    stop_committer();
    if (data_fd_ >= 0) ::close(data_fd_);
  }

  /// What to log once the job's log is open.
  const std::vector<std::string>& notes() const noexcept { return notes_; }
  bool resuming() const noexcept { return resuming_; }
  const JournalFiles& files() const noexcept { return files_; }

  /// With allow_reuse: the earlier run's result when it finished on the same program,
  /// settings and inputs (the partitioner cuts the mini-batches again and each one's inputs
  /// must hash as they did) and its output and failed_items.csv are as it left them; nothing
  /// is written. An edited result file is written again (a note says so).
  template <class Partitioner>
  std::optional<JobResult> reuse(Partitioner partitioner) {
    namespace fs = std::filesystem;
    if (!reusable_) return std::nullopt;
    std::error_code ec;
    if ((!output_file_.empty() && !fs::exists(output_file_, ec)) ||
        !fs::exists(failed_items_file_, ec))
      return std::nullopt;
    for (const auto& [file, was] :
         {std::pair{&output_file_, &scan_.end->output_identity},
          std::pair{&failed_items_file_, &scan_.end->failed_items_identity}})
      if (!was->empty() && result_identity(*file) != *was) {
        notes_.push_back(fmt::format(
            "the earlier run in '{}' ran the same program, settings and inputs, but '{}' was "
            "changed after it ended: this run writes it again",
            files_.dir.parent_path().string(), file->string()));
        return std::nullopt;
      }
    std::size_t matched = 0;
    ChangeCheck checks[2];  // one a thread
    CanonicalFolders folders[2];
    // Compared in groups (memory: a group's mini-batches), the inputs' ctimes on two threads:
    // a stat per input is most of a reuse hit's time.
    using Task = std::remove_cvref_t<decltype(*partitioner.next())>;
    std::vector<std::pair<Task, const JournalEntry*>> group;
    auto group_matches = [&] {
      std::atomic<bool> same{true};
      on_two_threads(group.size(), 16, [&](std::size_t first, std::size_t step) {
        for (std::size_t i = first; i < group.size() && same.load(std::memory_order_relaxed);
             i += step) {
          const auto& [task, e] = group[i];
          if (!same_inputs(*e, task, task_input_hash(task, fingerprint_mode_, folders[first]),
                           checks[first]))
            same.store(false, std::memory_order_relaxed);
        }
      });
      matched += group.size();
      group.clear();
      return same.load();
    };
    try {
      while (auto task = partitioner.next()) {
        const JournalEntry* e = find(task->mini_batch_index());
        if (e == nullptr) return std::nullopt;
        group.emplace_back(std::move(*task), e);
        if (group.size() == reuse_group && !group_matches()) return std::nullopt;
      }
      if (!group_matches()) return std::nullopt;
    } catch (const std::exception&) {
      return std::nullopt;  // an input that cannot be read now: run, and say so there
    }
    if (matched != kept_.size()) return std::nullopt;
    JobResult r;
    r.reused = true;
    r.succeeded = scan_.end->succeeded;
    r.failure_reason = scan_.end->failure_reason;
    for (const auto& e : kept_) {
      r.items_succeeded += e.items_succeeded;
      r.items_failed += e.items_failed;
      ++(e.outcome == JournalOutcome::succeeded ? r.mini_batches_succeeded : r.mini_batches_failed);
    }
    r.items_total = r.items_succeeded + r.items_failed;
    r.mini_batches_total = kept_.size();
    r.output_file = output_file_;
    r.failed_items_file = failed_items_file_;
    r.log_dir = failed_items_file_.parent_path();
    r.reused_run = fmt::format("the run that ended {} ({})",
                               format_time(scan_.end->ended_unix_seconds), scan_.end->summary);
    // Its first failed items, as that run recorded them (read back for these few only) and
    // put them on its first screen: a mini-batch that failed whole by its first item.
    constexpr std::size_t first_kept = JobResult::first_failures_kept;
    try {
      for (const auto& e : kept_) {
        if (r.first_failures.size() >= first_kept) break;
        if (e.items_failed == 0) continue;
        auto items = kept_failed_items(read_journal_data(files_, e).second);
        if (e.outcome == JournalOutcome::failed && items.size() > 1) items.resize(1);
        for (auto& item : items)
          if (r.first_failures.size() < first_kept)
            r.first_failures.push_back({std::move(item.key), e.index, std::move(item.reason)});
      }
    } catch (const InputError&) {
      // Data that does not check: the result stands without them (failed_items.csv has all).
    }
    return r;
  }

  /// Starts writing: a new journal (this run's fingerprint), or the resumed one continued.
  /// Finished mini-batches are written and committed by a thread of the journal's own, so
  /// that the job's thread never waits for a disk (an fdatasync costs about a millisecond).
  void start() {
    const auto now = unix_now();
    if (resuming_)
      writer_.emplace(
          JournalWriter::resume(files_, scan_.valid_journal_bytes, scan_.valid_data_bytes));
    else
      writer_.emplace(JournalWriter::create(files_, fingerprint_));
    // The dead session's last starts go on record before this session's (they count as
    // deaths in every later session too); then this session's slots replace its own.
    if (resuming_)
      for (const auto& s : dead_starts_)
        writer_->started(s.index, s.attempt, s.worker);
    writer_->session(now);
    try {
      slots_.emplace(RunningSlots::create(files_.running(), resuming_ ? scan_.sessions + 1 : 1,
                                          slot_nodes_, slots_per_node_));
    } catch (const OutputError&) {
      // No mapping to be had: each start is a record of the journal instead.
    }
    committer_ = std::thread([this] { commit_loop(); });
  }

  /// Whether the earlier run finished the mini-batch `task` on the inputs it reads now (which
  /// hash to `input_hash`; `check`: the calling thread's). Thread-safe: it only reads.
  template <class Task>
  bool inputs_unchanged(const Task& task, std::uint64_t input_hash, ChangeCheck& check) const {
    if (!resuming_) return false;
    const JournalEntry* e = find(task.mini_batch_index());
    return e != nullptr && same_inputs(*e, task, input_hash, check);
  }

  /// The rows and failed lines the earlier run kept for mini-batch `index` (checked against
  /// their checksum: InputError when they do not match), or nothing when it has none.
  std::optional<Kept> kept_bytes(std::uint64_t index) {
    if (!resuming_) return std::nullopt;
    const JournalEntry* e = find(index);
    if (e == nullptr) return std::nullopt;
    auto [rows, failed] = read_data(*e);
    return Kept{*e, std::move(rows), std::move(failed)};
  }

  /// Whether the earlier run finished mini-batch `index` (on inputs to be compared).
  bool has_kept(std::uint64_t index) const { return resuming_ && find(index) != nullptr; }

  /// How many times in a row a process of the run died while mini-batch `index` was running.
  std::int64_t deaths(std::uint64_t index) const {
    if (!resuming_) return 0;
    const auto it = deaths_.find(index);
    return it == deaths_.end() ? 0 : it->second;
  }

  /// An attempt starts on a worker that shares the job's process: marked in its slot at once,
  /// on the worker's thread, before run() (a crash inside it then names it); a worker without
  /// a slot writes a started record. Thread-safe.
  void started(std::uint64_t index, std::int64_t attempt, std::uint64_t worker) {
    if (writer_ && error_count_.load(std::memory_order_relaxed) == 0) {
      if (slots_ && slots_->mark(index, attempt, worker)) return;
      try {
        writer_->started(index, attempt, worker);
      } catch (const OutputError&) {
        // The committer reports the journal's failure; the job goes on.
      }
    }
  }

  /// `worker`'s run() returned: its slot is emptied (one store), so that a death later in
  /// the session does not name the mini-batch it had finished, whose record may not be
  /// committed yet. (A worker without a slot wrote a started record: that one stands.)
  /// Thread-safe for distinct workers.
  void ran(std::uint64_t worker) {
    if (slots_) slots_->unmark(worker);
  }

  /// A second stop signal ends the process (StopSignals' last words, in its signal handler:
  /// one store): the mini-batches running then did not cause that death, and no resume counts
  /// it against them.
  void stopped_by_signal() noexcept {
    if (slots_) slots_->stopped_by_signal();
  }

  /// Nothing runs now (before and after a suspect runs alone): written at once, so that a
  /// mini-batch that finished earlier, its record not committed yet, is not taken for one
  /// running at a death that comes later.
  void quiet() {
    if (slots_) slots_->clear();
    if (writer_) writer_->started(quiet_mark, 0, quiet_mark);
  }

  /// A mini-batch whose input hash the committer computes (off the job's thread): `hash(task,
  /// mode, folders)` with `folders` the committer's. A plain function and the task, not a
  /// std::function: one allocation less per mini-batch.
  struct HashLater {
    std::shared_ptr<const void> task;
    std::uint64_t (*hash)(const void* task, FingerprintMode, CanonicalFolders&);  // null: none
  };

  /// A mini-batch finished: its bytes and record go to the committer, which fills in the
  /// entry's input hash with `hash_later` when given.
  void finished(const JournalEntry& e, std::string_view rows, std::string_view failed_lines,
                HashLater hash_later = HashLater()) {
    if (!writer_) return;
    std::lock_guard lock(mutex_);
    // The bytes of all queued mini-batches in one buffer that the committer hands back
    // emptied: no allocation per mini-batch (each one's rows, allocated here and freed on the
    // committer's thread, cost the small-files run more in malloc than the journal's writes).
    queue_bytes_.append(rows);
    queue_bytes_.append(failed_lines);
    queue_.push_back(Finished{e, rows.size(), failed_lines.size(), std::move(hash_later)});
    // Woken in groups, not per mini-batch, and once per group: a wake-up costs two context
    // switches, and with 32 records a group they were most of the journal's cost in the
    // small-files run (docs/benchmarks.md, "2026-12-01, third session").
    if (!wake_sent_ && (queue_.size() >= wake_after || queue_bytes_.size() >= wake_after_bytes)) {
      wake_sent_ = true;
      wake_.notify_one();
    }
  }

  /// Why the journal can no longer be written, once (then empty): the run goes on without it.
  std::string take_error() {
    std::lock_guard lock(mutex_);
    if (error_reported_ || error_.empty()) return {};
    error_reported_ = true;
    return error_;
  }

  /// The run ended: what waits is committed, then the end record.
  void end(const JobResult& r, bool complete) {
    if (!writer_) return;
    // Nothing runs any more. Emptied first, in place (no disk space needed): when the end
    // record cannot be written (a full disk), the next run must not blame a death on the
    // mini-batches that were running.
    if (slots_) slots_->clear();
    stop_committer(false);  // what waits is committed with the end record: one commit
    if (!error_.empty()) {
      if (!error_reported_) throw OutputError(error_);
      return;
    }
    JournalEnd e;
    e.succeeded = r.succeeded;
    e.complete = complete;
    e.summary = r.summary();
    e.failure_reason = r.failure_reason;
    e.ended_unix_seconds = unix_now();
    e.output_identity = result_identity(output_file_);
    e.failed_items_identity = result_identity(failed_items_file_);
    writer_->end(e);
  }

  FingerprintMode fingerprint_mode() const noexcept { return fingerprint_mode_; }

 private:
  struct Finished {
    JournalEntry entry;
    std::size_t rows_length, failed_length;  // its bytes, in turn, in queue_bytes_
    HashLater hash_later;
  };
  static constexpr std::size_t reuse_group = 256;  // mini-batches compared at a time
  static constexpr std::size_t wake_after = 128;
  static constexpr std::size_t wake_after_bytes = 1u << 20;  // memory: rows wait in the queue
  static constexpr std::uint64_t quiet_mark = UINT64_MAX;

  void commit_loop() {
    // Swapped with the queue, then emptied: the two sides reuse each other's capacity.
    std::vector<Finished> batch;
    std::string bytes;
    for (;;) {
      batch.clear();
      bytes.clear();
      if (bytes.capacity() > 2 * wake_after_bytes) bytes = std::string();  // one huge batch
      bool stopping = false;
      {
        std::unique_lock lock(mutex_);
        wake_.wait_for(lock, std::chrono::milliseconds(250), [&] { return stop_ || wake_sent_; });
        batch.swap(queue_);
        bytes.swap(queue_bytes_);
        wake_sent_ = false;
        stopping = stop_;
      }
      try {
        std::size_t at = 0;
        const std::string_view all(bytes);
        for (auto& f : batch) {
          if (f.hash_later.hash)
            f.entry.input_hash =
                f.hash_later.hash(f.hash_later.task.get(), fingerprint_mode_, committer_folders_);
          writer_->add(f.entry, all.substr(at, f.rows_length),
                       all.substr(at + f.rows_length, f.failed_length));
          at += f.rows_length + f.failed_length;
        }
        writer_->poll();  // a group of records, or 1 s after the oldest
        if (stopping) {
          if (commit_at_stop_) {
            writer_->commit();
            writer_->sync_records();
          }
          return;
        }
      } catch (const std::exception& e) {
        std::lock_guard lock(mutex_);
        error_ =
            fmt::format("the journal cannot be written ({}): this run cannot be resumed", e.what());
        error_count_.store(1, std::memory_order_relaxed);
        return;
      }
    }
  }

  // Stops the committer after it has written what waits (and committed it, unless the caller
  // commits next).
  void stop_committer(bool commit = true) {
    if (!committer_.joinable()) return;
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
      commit_at_stop_ = commit;
    }
    wake_.notify_one();
    committer_.join();
  }

  // Whether `task`, cut now with inputs hashing to `input_hash`, reads what `e` read.
  template <class Task>
  bool same_inputs(const JournalEntry& e, const Task& task, std::uint64_t input_hash,
                   ChangeCheck& check) const {
    return e.input_hash == input_hash && (fingerprint_mode_ == FingerprintMode::content ||
                                          !task_inputs_changed(task, e.session_clock_ns, check));
  }

  // A result file as a reuse compares it: its size and modification time, or with content
  // fingerprints its size and hash (as an input's identity: no inode, which some network
  // and FUSE mounts do not keep); "none" for no file (summary_only has no output).
  std::string result_identity(const std::filesystem::path& file) const {
    return file.empty() ? "none" : file_identity(file, fingerprint_mode_);
  }

  // "; mini-batches 3, 7 were running when it died", or "" when none was.
  std::string running_at_death() const {
    if (deaths_.empty()) return {};
    std::vector<std::uint64_t> running;
    for (const auto& [index, count] : deaths_)
      running.push_back(index);
    std::sort(running.begin(), running.end());
    constexpr std::size_t named = 5;
    const std::size_t shown = std::min(running.size(), named);
    return fmt::format(
        "; {} {}{} {} running when it died", running.size() == 1 ? "mini-batch" : "mini-batches",
        fmt::join(running.begin(), running.begin() + shown, ", "),
        running.size() > named ? fmt::format(" and {} more", running.size() - named) : "",
        running.size() == 1 ? "was" : "were");
  }

  const JournalEntry* find(std::uint64_t index) const {
    const auto it =
        std::lower_bound(kept_.begin(), kept_.end(), index,
                         [](const JournalEntry& e, std::uint64_t i) { return e.index < i; });
    return it != kept_.end() && it->index == index ? &*it : nullptr;
  }

  std::pair<std::string, std::string> read_data(const JournalEntry& e) {
    // One descriptor for all reads: a resume reads every kept mini-batch back.
    if (data_fd_ < 0) {
      data_fd_ = ::open(files_.data().c_str(), O_RDONLY | O_CLOEXEC);
      if (data_fd_ < 0)
        throw InputError(fmt::format("cannot read the journal's data '{}': {}",
                                     files_.data().string(), std::strerror(errno)));
    }
    return read_journal_data(files_, e, data_fd_);
  }

  static std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  static std::string format_time(std::int64_t unix_seconds) {
    const std::time_t t = static_cast<std::time_t>(unix_seconds);
    std::tm tm{};
    ::localtime_r(&t, &tm);
    char text[64];
    std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", &tm);
    return text;
  }

  JournalFiles files_;
  ResumeMode mode_;
  FingerprintMode fingerprint_mode_;
  Fingerprint fingerprint_;
  std::filesystem::path output_file_, failed_items_file_;
  JournalScan scan_;
  std::vector<JournalEntry> kept_;  // by index: 80 bytes per finished mini-batch
  std::unordered_map<std::uint64_t, std::int64_t> deaths_;
  std::vector<std::string> notes_;
  bool reusable_ = false;
  bool resuming_ = false;
  std::optional<JournalWriter> writer_;
  std::size_t slot_nodes_, slots_per_node_;
  std::vector<RunningSlots::Start> dead_starts_;  // the last session's, if it died
  std::optional<RunningSlots> slots_;
  std::thread committer_;
  CanonicalFolders committer_folders_;  // the committer's
  std::mutex mutex_;                    // guards what follows
  std::condition_variable wake_;
  std::vector<Finished> queue_;
  std::string queue_bytes_;  // the rows and failed lines of queue_, in its order
  bool wake_sent_ = false;   // the committer was told the group is full
  bool stop_ = false;
  bool commit_at_stop_ = true;
  std::string error_;
  bool error_reported_ = false;
  std::atomic<int> error_count_{0};  // read by workers without the lock
  int data_fd_ = -1;                 // reading kept mini-batches (the job's thread)
};

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
