// The journal as jobs use it (detail/run_journal.hpp): --resume after an interrupted or
// stopped run, --retry-failed, reuse of a finished identical run, refusals that name what
// changed, a torn journal. Each resumed output is compared byte for byte with the output of
// an uninterrupted run. Thread backend in this process; kill -9 and crashes are tested by
// tests/resume/kill_test.sh with a program of their own.
#include <parallel_run/detail/run_journal.hpp>

#include <parallel_run/parallel_run.hpp>
#include <parallel_run/detail/job_files.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <mutex>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/temp_dir.hpp"

using namespace parallel_run;
namespace fs = std::filesystem;
using test_support::make_numbered_files;
using test_support::read_file;
using test_support::TempDir;
using test_support::write_file;

namespace {

// What the scorer does, shared by every copy (the same scorer type: the same program for
// the journal's fingerprint, whatever the test changes between two runs).
struct Behaviour {
  std::mutex mutex;
  std::set<std::size_t> fail;           // mini-batches whose run() throws
  std::set<std::size_t> drop_last;      // ... whose run() returns no row for its last file
  std::size_t interrupt_at = SIZE_MAX;  // raise SIGINT from run() of this mini-batch
  fs::path master;  // ... and the later ones wait until this log says the job is stopping
  std::vector<std::size_t> ran;  // mini-batches run, in order
  void reset() {
    std::lock_guard lock(mutex);
    fail.clear();
    drop_last.clear();
    interrupt_at = SIZE_MAX;
    ran.clear();
  }
  std::size_t runs() {
    std::lock_guard lock(mutex);
    return ran.size();
  }
};
Behaviour behaviour;

struct JournaledScorer {
  std::vector<std::string> run(const FileBatch& batch, Context&) {
    const std::size_t index = batch.mini_batch_index();
    bool fail = false, interrupt = false, wait = false, drop_last = false;
    fs::path master;
    {
      std::lock_guard lock(behaviour.mutex);
      behaviour.ran.push_back(index);
      fail = behaviour.fail.count(index) != 0;
      drop_last = behaviour.drop_last.count(index) != 0;
      interrupt = behaviour.interrupt_at == index;
      wait = index >= behaviour.interrupt_at;
      master = behaviour.master;
    }
    if (fail) throw std::runtime_error("scripted failure of mini-batch " + std::to_string(index));
    if (interrupt) std::raise(SIGINT);
    for (int i = 0; wait && i < 2000; ++i) {
      if (read_file(master).find("stopping the job: interrupted by SIGINT") != std::string::npos)
        break;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    std::vector<std::string> rows;
    for (const auto& f : batch)
      rows.push_back(f.key + " " + read_file(f.path));
    if (drop_last) rows.pop_back();  // fewer rows than files: the last file fails
    return rows;
  }
};

Config journal_config(const fs::path& out) {
  Config c;
  c.output_dir = out;
  c.mini_batch_size = 3;
  c.process_count_per_node = 2;
  c.logging_level = LoggingLevel::warning;
  c.progress = ProgressMode::none;
  c.resource_monitor_interval = 0;
  c.run_max_try = 1;
  return c;
}

JobResult run_job(const Config& c, const fs::path& in) {
  return ParallelRun<JournaledScorer>(c).run(FileDataset({in.string()}));
}

struct Outputs {
  std::string rows, failed;
};
Outputs outputs_of(const fs::path& out) {
  return {read_file(out / "parallel_run_step.txt"), read_file(out / "logs" / "failed_items.csv")};
}

// The output of an uninterrupted run of `behaviour`'s current script over `in`.
Outputs reference(const TempDir& t, const fs::path& in, Config c) {
  c.output_dir = t / "reference";
  c.allow_reuse = false;
  run_job(c, in);
  return outputs_of(c.output_dir);
}

// `files` numbered files in t/in, the journal's settings for t/out and the output of an
// uninterrupted run of them; `behaviour` reset for the run under test.
struct Prepared {
  Config config;
  Outputs expected;
};
Prepared prepare(const TempDir& t, int files) {
  make_numbered_files(t / "in", files);
  behaviour.reset();
  Prepared p{journal_config(t / "out"), {}};
  p.expected = reference(t, t / "in", p.config);
  behaviour.reset();
  return p;
}

// A retry_failed run of `c` over `in` with `behaviour` reset: its result and the mini-batches
// that ran.
std::pair<JobResult, std::multiset<std::size_t>> retry_failed(Config c, const fs::path& in) {
  behaviour.reset();
  c.resume = ResumeMode::retry_failed;
  JobResult r = run_job(c, in);
  std::lock_guard lock(behaviour.mutex);
  return {r, std::multiset<std::size_t>(behaviour.ran.begin(), behaviour.ran.end())};
}

// A journal record of mini-batch `index` that succeeded on its first attempt, one item.
detail::JournalEntry finished_entry(std::uint64_t index) {
  detail::JournalEntry e;
  e.index = index;
  e.attempts = 1;
  e.items_succeeded = 1;
  return e;
}

}  // namespace

TEST_CASE("a run interrupted by SIGINT and resumed writes the bytes of an uninterrupted run",
          "[journal][resume]") {
  TempDir t;
  // 40 mini-batches: more than the coordinator keeps queued or running, so some are not cut.
  make_numbered_files(t / "in", 120);
  behaviour.reset();
  const Config c = journal_config(t / "out");
  const Outputs expected = reference(t, t / "in", c);

  behaviour.reset();
  behaviour.interrupt_at = 4;
  behaviour.master = t / "out" / "logs" / "master.txt";
  Config first = c;
  first.stop_on_signals = true;
  const JobResult stopped = run_job(first, t / "in");
  REQUIRE_FALSE(stopped.succeeded);
  CHECK(stopped.interrupted_by == SIGINT);
  REQUIRE(stopped.mini_batches_not_processed > 0);
  const std::size_t finished = stopped.mini_batches_succeeded;

  behaviour.reset();
  Config again = c;
  again.resume = ResumeMode::resume;
  const JobResult resumed = run_job(again, t / "in");
  CHECK(resumed.succeeded);
  CHECK(resumed.mini_batches_resumed == finished);
  CHECK(resumed.mini_batches_total == 40);
  CHECK(resumed.items_succeeded == 120);
  CHECK(behaviour.runs() == 40 - finished);
  const Outputs got = outputs_of(t / "out");
  CHECK(got.rows == expected.rows);
  CHECK(got.failed == expected.failed);
  CHECK_THAT(resumed.summary(),
             Catch::Contains(parallel_run::detail::counted(finished, "mini-batch") +
                             " kept from the earlier run"));
  CHECK_THAT(
      read_file(t / "out" / "logs" / "master.txt"),
      Catch::Contains("resuming the run in '" + (t / "out").string() + "': its journal holds " +
                      parallel_run::detail::counted(finished, "finished mini-batch")));
}

TEST_CASE("a resume keeps failed mini-batches failed and retry_failed runs them again",
          "[journal][resume]") {
  TempDir t;
  make_numbered_files(t / "in", 20);
  behaviour.reset();
  const Config c = journal_config(t / "out");
  const Outputs expected = reference(t, t / "in", c);

  behaviour.reset();
  behaviour.fail = {2, 5};
  const JobResult first = run_job(c, t / "in");
  CHECK(first.mini_batches_failed == 2);
  CHECK(first.items_failed == 6);
  const Outputs failed_run = outputs_of(t / "out");

  SECTION("resume: nothing runs again, the same bytes") {
    behaviour.reset();
    Config again = c;
    again.resume = ResumeMode::resume;
    const JobResult r = run_job(again, t / "in");
    CHECK(behaviour.runs() == 0);
    CHECK(r.mini_batches_resumed == 7);
    CHECK(r.mini_batches_failed == 2);
    CHECK(r.items_failed == 6);
    const Outputs got = outputs_of(t / "out");
    CHECK(got.rows == failed_run.rows);
    CHECK(got.failed == failed_run.failed);
  }
  SECTION("retry_failed: only the failed ones run, the output is that of a run without failures") {
    const auto [r, ran] = retry_failed(c, t / "in");
    CHECK(r.succeeded);
    CHECK(r.mini_batches_resumed == 5);
    CHECK(r.items_failed == 0);
    CHECK(ran == std::multiset<std::size_t>{2, 5});
    const Outputs got = outputs_of(t / "out");
    CHECK(got.rows == expected.rows);
    CHECK(got.failed == expected.failed);
  }
}

TEST_CASE("retry_failed also runs again the mini-batches that succeeded with failed items",
          "[journal][resume]") {
  TempDir t;
  const auto [c, expected] = prepare(t, 20);
  behaviour.drop_last = {1, 4};  // mini-batches that succeed with their last item failed
  behaviour.fail = {6};          // and one that fails whole
  const JobResult first = run_job(c, t / "in");
  CHECK(first.mini_batches_succeeded == 6);
  CHECK(first.mini_batches_failed == 1);
  CHECK(first.items_failed == 4);  // f005, f014 and mini-batch 6's f018, f019
  CHECK(outputs_of(t / "out").failed.find("f005.txt,1,1,") != std::string::npos);

  const auto [r, ran] = retry_failed(c, t / "in");
  CHECK(r.succeeded);
  CHECK(r.mini_batches_resumed == 4);
  CHECK(r.mini_batches_succeeded == 7);
  CHECK(r.items_succeeded == 20);
  CHECK(r.items_failed == 0);
  CHECK(ran == std::multiset<std::size_t>{1, 4, 6});
  const Outputs got = outputs_of(t / "out");
  CHECK(got.rows == expected.rows);
  CHECK(got.failed == expected.failed);
}

TEST_CASE("a resume is refused when a setting that changes results changed and the part is named",
          "[journal][resume]") {
  TempDir t;
  make_numbered_files(t / "in", 9);
  write_file(t / "side.txt", "reference data");
  behaviour.reset();
  Config c = journal_config(t / "out");
  c.side_inputs["ref"] = t / "side.txt";
  c.arguments = {"--alpha", "1"};
  REQUIRE(run_job(c, t / "in").succeeded);
  Config again = c;
  again.resume = ResumeMode::resume;

  auto refused = [&](const Config& changed, const std::string& part) {
    try {
      run_job(changed, t / "in");
      FAIL("not refused: " << part);
    } catch (const ConfigError& e) {
      CHECK(e.setting() == "resume");
      CHECK_THAT(e.what(), Catch::Contains("cannot resume the run in '" + (t / "out").string()));
      CHECK_THAT(e.what(), Catch::Contains(part));
      CHECK_THAT(e.what(), Catch::Contains("--restart"));
    }
  };
  Config d = again;
  d.mini_batch_size = 4;
  refused(d, "mini_batch_size: 3 -> 4");
  d = again;
  d.arguments = {"--alpha", "2"};
  refused(d, "arguments: [--alpha] [1] -> [--alpha] [2]");
  d = again;
  d.key_column = true;
  refused(d, "key_column: false -> true");
  d = again;
  d.delimiter = ",";
  refused(d, "delimiter: ' ' -> ,");
  d = again;
  d.output_action = OutputAction::summary_only;
  refused(d, "output_action: append_row -> summary_only");
  d = again;
  d.limit = 5;
  refused(d, "limit: 0 -> 5");
  d = again;
  d.scorer_version = "2";
  refused(d, "program: executable xxh64:");
  d = again;
  d.fingerprint = FingerprintMode::content;
  refused(d, "fingerprint: metadata -> content");
  d = again;
  write_file(t / "side.txt", "other reference data");
  refused(d, "side_input.ref: ");
}

TEST_CASE("settings that do not change results may differ between a run and its resume",
          "[journal][resume]") {
  TempDir t;
  make_numbered_files(t / "in", 9);
  behaviour.reset();
  Config c = journal_config(t / "out");
  REQUIRE(run_job(c, t / "in").succeeded);
  Config d = c;
  d.resume = ResumeMode::resume;
  d.process_count_per_node = 1;
  d.run_max_try = 3;
  d.run_invocation_timeout = 5;
  d.logging_level = LoggingLevel::debug;
  d.error_threshold = 100;
  d.backend = Backend::thread;
  d.resource_monitor_interval = 1;
  behaviour.reset();
  const JobResult r = run_job(d, t / "in");
  CHECK(r.succeeded);
  CHECK(r.mini_batches_resumed == 3);
  CHECK(behaviour.runs() == 0);
}

TEST_CASE("a new run over a run whose process died is refused and says how to resume it",
          "[journal][resume]") {
  TempDir t;
  make_numbered_files(t / "in", 9);
  behaviour.reset();
  const Config c = journal_config(t / "out");
  REQUIRE(run_job(c, t / "in").succeeded);
  const Outputs before = outputs_of(t / "out");
  // The end record torn off: the journal of a process that died before its end.
  const fs::path journal = detail::JobFiles(c).journal_dir() / "journal";
  fs::resize_file(journal, fs::file_size(journal) - 1);
  // Without reuse, the earlier run's records are read only once it is found dead: the same
  // refusal, with the same count.
  for (const bool allow_reuse : {true, false}) {
    Config fresh = c;
    fresh.allow_reuse = allow_reuse;
    try {
      run_job(fresh, t / "in");
      FAIL("a fresh run over a dead one was not refused");
    } catch (const ConfigError& e) {
      CHECK(e.setting() == "resume");
      CHECK_THAT(e.what(), Catch::Contains("holds a run whose process died before its end"));
      CHECK_THAT(e.what(), Catch::Contains("its journal holds 3 finished mini-batches; the last "));
      // What is seen: a record that cannot be read (torn by a death, or damaged since).
      CHECK_THAT(e.what(), Catch::Contains(" bytes of '" + journal.string() +
                                           "' could not be read: a record torn by the death, "
                                           "or damage): run again with --resume"));
      CHECK_THAT(e.what(), Catch::Contains("run again with --resume to continue it"));
      CHECK_THAT(e.what(), Catch::Contains("--restart to start over"));
    }
  }
  CHECK(outputs_of(t / "out").rows == before.rows);  // nothing touched

  SECTION("--resume continues it") {
    Config d = c;
    d.resume = ResumeMode::resume;
    behaviour.reset();
    const JobResult r = run_job(d, t / "in");
    CHECK(r.succeeded);
    CHECK(behaviour.runs() == 0);
    CHECK(outputs_of(t / "out").rows == before.rows);
  }
  SECTION("--restart starts over") {
    Config d = c;
    d.resume = ResumeMode::restart;
    behaviour.reset();
    const JobResult r = run_job(d, t / "in");
    CHECK(r.succeeded);
    CHECK(r.mini_batches_resumed == 0);
    CHECK(behaviour.runs() == 3);
    CHECK(outputs_of(t / "out").rows == before.rows);
  }
}

TEST_CASE(
    "a new run over a run that died before any mini-batch finished is refused, naming "
    "what ran",
    "[journal][resume]") {
  TempDir t;
  const Config c = journal_config(t / "out");
  const fs::path journal_file = detail::JobFiles(c).journal_dir() / "journal";
  detail::Fingerprint fingerprint;
  fingerprint.add("program", "version 1");
  JobResult ended;
  ended.failure_reason = "the output could not be written";
  {
    detail::RunJournal journal(c, fingerprint);
    journal.start();
    journal.started(1, 1, 0);
    journal.started(0, 1, 1);
    SECTION("it died") {}
    SECTION("it ended, its end record lost (a full disk): a new run replaces it") {
      const auto before_end = fs::file_size(journal_file);
      journal.end(ended, false);
      REQUIRE(fs::file_size(journal_file) > before_end);
      fs::resize_file(journal_file, before_end);  // as if the end record could not be written
      for (const bool allow_reuse : {true, false}) {
        Config fresh = c;
        fresh.allow_reuse = allow_reuse;
        const detail::RunJournal next(fresh, fingerprint);
        CHECK_FALSE(next.resuming());
      }
      return;
    }
  }  // destroyed without end(): the process died with mini-batches 0 and 1 running
  for (const bool allow_reuse : {true, false}) {
    Config fresh = c;
    fresh.allow_reuse = allow_reuse;
    try {
      const detail::RunJournal next(fresh, fingerprint);
      FAIL("a fresh run over a run that died in its first mini-batches was not refused");
    } catch (const ConfigError& e) {
      CHECK(e.setting() == "resume");
      CHECK_THAT(e.what(),
                 Catch::Contains("holds a run whose process died before its end (killed or "
                                 "crashed; its journal holds 0 finished mini-batches; "
                                 "mini-batches 0, 1 "
                                 "were running when it died): run again with --resume to "
                                 "continue it, or run with --restart to start over"));
    }
  }
  Config resume = c;
  resume.resume = ResumeMode::resume;
  const detail::RunJournal next(resume, fingerprint);
  CHECK(next.deaths(0) == 1);
  CHECK(next.deaths(1) == 1);
}

TEST_CASE("what a resume keeps of the earlier run's failures is reported as that run's",
          "[journal][resume]") {
  // Mini-batch 1 (f003-f005) fails whole and mini-batch 2 loses its last file (f008); the run
  // dies before its end record; the resume keeps all three and reports their failures.
  TempDir t;
  make_numbered_files(t / "in", 9);
  behaviour.reset();
  behaviour.fail = {1};
  behaviour.drop_last = {2};
  const Config c = journal_config(t / "out");
  const JobResult first = run_job(c, t / "in");
  REQUIRE(first.items_failed == 4);
  const fs::path journal = detail::JobFiles(c).journal_dir() / "journal";
  fs::resize_file(journal, fs::file_size(journal) - 1);
  Config d = c;
  d.resume = ResumeMode::resume;
  behaviour.reset();
  const JobResult r = run_job(d, t / "in");
  CHECK(behaviour.runs() == 0);
  CHECK(r.mini_batches_resumed == 3);
  CHECK(r.items_failed == 4);
  // The first screen as the earlier run's: the mini-batch that failed whole by its first
  // item, then the item that failed alone.
  REQUIRE(r.first_failures.size() == 2);
  CHECK(r.first_failures[0].key == "f003.txt");
  CHECK(r.first_failures[0].mini_batch == 1);
  CHECK_THAT(r.first_failures[0].reason, Catch::Contains("scripted failure of mini-batch 1"));
  CHECK(r.first_failures[1].key == "f008.txt");
  CHECK(r.first_failures[1].reason == "run returned 2 results for 3 items");
  REQUIRE(first.first_failures.size() == 2);
  for (std::size_t i = 0; i < 2; ++i) {
    CHECK(r.first_failures[i].key == first.first_failures[i].key);
    CHECK(r.first_failures[i].mini_batch == first.first_failures[i].mini_batch);
    CHECK(r.first_failures[i].reason == first.first_failures[i].reason);
  }
  const std::string digest = read_file(t / "out/logs/job_error.txt");
  CHECK_THAT(digest, Catch::Contains("\nitem_failed: 1\n  item 'f008.txt' (mini-batch 2): run "
                                     "returned 2 results for 3 items\n"));
  CHECK_THAT(digest, Catch::Contains("\nfailed_in_earlier_run: 3\n  item 'f003.txt' (mini-batch "
                                     "1): "));
  const std::string overview = read_file(t / "out/logs/overview.txt");
  CHECK_THAT(overview, Catch::Contains("first failed items:\n  f003.txt (mini-batch 1): "));
  // Nothing ran: no rate of this run's own work, and the kept part said.
  CHECK_THAT(overview, Catch::Contains("\nkept from the earlier run: 3 mini-batches, 9 items\n"));
  CHECK_THAT(overview, !Catch::Contains("; rate: "));
}

TEST_CASE("a resume over a journal cut at any byte writes the bytes of an uninterrupted run",
          "[journal][resume]") {
  TempDir t;
  make_numbered_files(t / "in", 30);
  behaviour.reset();
  Config c = journal_config(t / "out");
  // A torn tail is a death: what it had started counts one (poison needs run_max_try).
  c.run_max_try = 3;
  REQUIRE(run_job(c, t / "in").succeeded);
  const Outputs expected = outputs_of(t / "out");
  const fs::path dir = detail::JobFiles(c).journal_dir();
  const std::string journal = read_file(dir / "journal"), data = read_file(dir / "data");
  std::mt19937 random(7);
  for (int trial = 0; trial < 12; ++trial) {
    const std::size_t cut = random() % (journal.size() + 1);
    write_file(dir / "journal", journal.substr(0, cut));
    write_file(dir / "data", data);
    fs::remove(t / "out" / "parallel_run_step.txt");
    Config d = c;
    d.resume = ResumeMode::resume;
    behaviour.reset();
    const JobResult r = run_job(d, t / "in");
    INFO("journal cut at " << cut << " of " << journal.size());
    CHECK(r.succeeded);
    CHECK(r.mini_batches_resumed + behaviour.runs() == 10);
    const Outputs got = outputs_of(t / "out");
    CHECK(got.rows == expected.rows);
    CHECK(got.failed == expected.failed);
  }
}

TEST_CASE("a reuse compares every group of mini-batches on both of its threads",
          "[journal][reuse]") {
  // 700 mini-batches: groups of 256, 256 and 188, each compared on two threads (the even
  // positions on one, the odd ones on the other).
  TempDir t;
  make_numbered_files(t / "in", 700);
  behaviour.reset();
  Config c = journal_config(t / "out");
  c.mini_batch_size = 1;
  REQUIRE(run_job(c, t / "in").succeeded);
  behaviour.reset();
  JobResult r = run_job(c, t / "in");
  CHECK(r.reused);
  CHECK(r.mini_batches_total == 700);
  CHECK(behaviour.runs() == 0);
  for (const char* name : {"f601.txt", "f000.txt", "f255.txt", "f256.txt", "f699.txt"}) {
    DYNAMIC_SECTION("a change to " << name << " is found") {
      write_file(t / "in" / name, "changed");
      r = run_job(c, t / "in");
      CHECK_FALSE(r.reused);
      CHECK(behaviour.runs() == 700);
      CHECK_THAT(read_file(t / "out" / "parallel_run_step.txt"),
                 Catch::Contains(std::string(name) + " changed\n"));
    }
  }
}

TEST_CASE("a reused run's result names its first failed items as that run did",
          "[journal][reuse]") {
  TempDir t;
  make_numbered_files(t / "in", 9);
  behaviour.reset();
  behaviour.drop_last = {0, 2};
  behaviour.fail = {1};  // whole: one line, by its first item
  Config c = journal_config(t / "out");
  c.error_threshold = -1;
  const JobResult first = run_job(c, t / "in");
  REQUIRE(first.first_failures.size() == 3);
  behaviour.reset();
  const JobResult r = run_job(c, t / "in");
  REQUIRE(r.reused);
  REQUIRE(r.first_failures.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(r.first_failures[i].key == first.first_failures[i].key);
    CHECK(r.first_failures[i].mini_batch == first.first_failures[i].mini_batch);
    CHECK(r.first_failures[i].reason == first.first_failures[i].reason);
  }
  CHECK(r.first_failures[1].key == "f003.txt");
  CHECK(r.first_failures[2].key == "f008.txt");
}

TEST_CASE("a resume counts the failures it keeps against the thresholds, as their run did",
          "[journal][resume][threshold]") {
  struct Case {
    const char* name;
    void (*set)(Config&);
    const char* reason;
  };
  const Case cases[] = {
      {"error_threshold", [](Config& c) { c.error_threshold = 3; },
       "error_threshold exceeded: 6 failed items > error_threshold 3"},
      {"mini_batch_error_threshold", [](Config& c) { c.mini_batch_error_threshold = 1; },
       "mini_batch_error_threshold exceeded: 2 failed mini-batches > mini_batch_error_threshold "
       "1"},
      {"allowed_failed_percent", [](Config& c) { c.allowed_failed_percent = 25; },
       "allowed_failed_percent exceeded: 2 of 4 mini-batches failed (50.00%) > "
       "allowed_failed_percent 25"}};
  for (const Case& k : cases) {
    INFO(k.name);
    TempDir t;
    make_numbered_files(t / "in", 12);  // 4 mini-batches of 3
    behaviour.reset();
    behaviour.fail = {1, 2};
    Config c = journal_config(t / "out");
    c.process_count_per_node = 1;  // in order: the threshold is crossed at mini-batch 2
    k.set(c);
    const JobResult first = run_job(c, t / "in");
    REQUIRE_FALSE(first.succeeded);
    CHECK(first.failure_reason == k.reason);
    const Outputs before = outputs_of(t / "out");

    // The same settings: the kept failures cross the threshold again, with the first run's
    // verdict. Mini-batch 3, if that run did not finish it, may start before the kept ones
    // are settled (a resume starts what it runs first), as a mini-batch queued in a run never
    // interrupted may run past a threshold (README); otherwise nothing runs, and the output
    // and lists are the first run's.
    behaviour.reset();
    Config resume = c;
    resume.resume = ResumeMode::resume;
    JobResult r = run_job(resume, t / "in");
    CHECK_FALSE(r.succeeded);
    CHECK(r.failure_reason == k.reason);
    CHECK(r.items_failed == first.items_failed);
    const Outputs after = outputs_of(t / "out");
    REQUIRE(behaviour.runs() <= 1);
    if (behaviour.runs() == 0) {
      CHECK(r.items_not_processed == first.items_not_processed);
      CHECK(after.rows == before.rows);
      CHECK(after.failed == before.failed);
    } else {
      CHECK(first.items_not_processed == 3);
      CHECK(r.items_not_processed == 0);
      CHECK(after.rows == before.rows + "f009.txt 9\nf010.txt 10\nf011.txt 11\n");
    }

    // A resume that tolerates them goes on to the end.
    behaviour.reset();
    resume.error_threshold = -1;
    resume.mini_batch_error_threshold = -1;
    resume.allowed_failed_percent = 100;
    r = run_job(resume, t / "in");
    CHECK(r.succeeded);
    CHECK(r.items_failed == 6);
    CHECK(r.items_succeeded == 6);
  }
}

TEST_CASE("an identical finished run is reused and a changed input or argument runs again",
          "[journal][reuse]") {
  TempDir t;
  make_numbered_files(t / "in", 12);
  behaviour.reset();
  const Config c = journal_config(t / "out");
  const JobResult first = run_job(c, t / "in");
  REQUIRE(first.succeeded);
  const fs::path output = t / "out" / "parallel_run_step.txt";
  const auto written = fs::last_write_time(output);
  const std::string rows = read_file(output);

  behaviour.reset();
  JobResult r = run_job(c, t / "in");
  CHECK(r.reused);
  CHECK(r.succeeded);
  CHECK(r.items_succeeded == 12);
  CHECK(r.mini_batches_total == 4);
  CHECK_THAT(r.reused_run, Catch::Contains("the run that ended"));
  CHECK(r.summary() ==
        "succeeded: items 12/12 succeeded, 0 failed, 0 not processed; mini-batches 4/4 "
        "succeeded, 0 failed, 0 not processed; nothing ran: the earlier run's result, reused; "
        "output: " +
            output.string());
  CHECK(behaviour.runs() == 0);
  CHECK(fs::last_write_time(output) == written);

  SECTION("allow_reuse false runs again") {
    Config d = c;
    d.allow_reuse = false;
    r = run_job(d, t / "in");
    CHECK_FALSE(r.reused);
    CHECK(behaviour.runs() == 4);
  }
  SECTION("a changed input runs again, with its new bytes") {
    write_file(t / "in" / "f005.txt", "changed!");
    r = run_job(c, t / "in");
    CHECK_FALSE(r.reused);
    CHECK(behaviour.runs() == 4);
    CHECK_THAT(read_file(output), Catch::Contains("f005.txt changed!\n"));
  }
  SECTION("a new input runs again") {
    write_file(t / "in" / "f100.txt", "100");
    r = run_job(c, t / "in");
    CHECK_FALSE(r.reused);
    CHECK(r.items_succeeded == 13);
  }
  SECTION("a changed argument runs again") {
    Config d = c;
    d.arguments = {"x"};
    r = run_job(d, t / "in");
    CHECK_FALSE(r.reused);
    CHECK(behaviour.runs() == 4);
  }
  SECTION("a run that failed items is reused with its result") {
    behaviour.fail = {1};
    Config d = c;
    d.allow_reuse = false;
    const JobResult failed = run_job(d, t / "in");
    CHECK(failed.items_failed == 3);
    behaviour.reset();
    r = run_job(c, t / "in");
    CHECK(r.reused);
    CHECK(r.items_failed == 3);
    CHECK(r.mini_batches_failed == 1);
    CHECK(behaviour.runs() == 0);
  }
  SECTION("an edited output is written again, and the log says why") {
    write_file(output, "garbage\n");
    r = run_job(c, t / "in");
    CHECK_FALSE(r.reused);
    CHECK(behaviour.runs() == 4);
    CHECK(read_file(output) == rows);
    CHECK_THAT(
        read_file(t / "out" / "logs" / "master.txt"),
        Catch::Contains("INFO the earlier run in '" + (t / "out").string() +
                        "' ran the same program, settings and inputs, but '" + output.string() +
                        "' was changed after it ended: this run writes it again\n"));
    behaviour.reset();
    CHECK(run_job(c, t / "in").reused);  // as this run left it: reused again
    CHECK(behaviour.runs() == 0);
  }
  SECTION("an output cut short with its modification time set back is written again") {
    const auto size = fs::file_size(output);
    fs::resize_file(output, size - 1);
    fs::last_write_time(output, written);
    r = run_job(c, t / "in");
    CHECK_FALSE(r.reused);
    CHECK(read_file(output) == rows);
  }
  SECTION("with content fingerprints, an output edited to the same size and time is seen") {
    Config d = c;
    d.fingerprint = FingerprintMode::content;
    d.allow_reuse = false;
    REQUIRE(run_job(d, t / "in").succeeded);  // its end record holds the output's hash
    d.allow_reuse = true;
    behaviour.reset();
    CHECK(run_job(d, t / "in").reused);
    const auto time = fs::last_write_time(output);
    std::string edited = rows;
    edited[0] = edited[0] == 'x' ? 'y' : 'x';
    write_file(output, edited);
    fs::last_write_time(output, time);
    behaviour.reset();
    r = run_job(d, t / "in");
    CHECK_FALSE(r.reused);
    CHECK(behaviour.runs() == 4);
    CHECK(read_file(output) == rows);
  }
  SECTION("an edited failed_items.csv is written again") {
    write_file(t / "out" / "logs" / "failed_items.csv",
               "key,mini_batch,attempts,reason\nx,0,1,y\n");
    r = run_job(c, t / "in");
    CHECK_FALSE(r.reused);
    CHECK(read_file(t / "out" / "logs" / "failed_items.csv") == "key,mini_batch,attempts,reason\n");
  }
  SECTION("a missing output is written again") {
    fs::remove(output);
    r = run_job(c, t / "in");
    CHECK_FALSE(r.reused);
    CHECK(behaviour.runs() == 4);
    CHECK(read_file(output) == rows);
  }
}

TEST_CASE("a change that keeps size and modification time is seen, by content and by ctime",
          "[journal][reuse]") {
  TempDir t;
  make_numbered_files(t / "in", 6);
  behaviour.reset();
  Config c = journal_config(t / "out");
  c.fingerprint = FingerprintMode::content;
  REQUIRE(run_job(c, t / "in").succeeded);
  const fs::path f = t / "in" / "f003.txt";
  const auto time = fs::last_write_time(f);
  write_file(f, "9");  // same size as "3"
  fs::last_write_time(f, time);
  behaviour.reset();
  const JobResult r = run_job(c, t / "in");
  CHECK_FALSE(r.reused);
  CHECK(behaviour.runs() == 2);
  CHECK_THAT(read_file(t / "out" / "parallel_run_step.txt"), Catch::Contains("f003.txt 9\n"));

  SECTION("metadata sees it by the file's ctime, which cannot be set back") {
    Config m = journal_config(t / "meta");
    REQUIRE(run_job(m, t / "in").succeeded);
    behaviour.reset();
    CHECK(run_job(m, t / "in").reused);  // nothing changed: reused, nothing runs
    CHECK(behaviour.runs() == 0);
    write_file(f, "7");
    fs::last_write_time(f, time);
    behaviour.reset();
    const JobResult again = run_job(m, t / "in");
    CHECK_FALSE(again.reused);
    CHECK(behaviour.runs() == 2);
    CHECK_THAT(read_file(t / "meta" / "parallel_run_step.txt"), Catch::Contains("f003.txt 7\n"));
  }
  SECTION("a resume runs again only the mini-batch whose file changed after the run read it") {
    Config m = journal_config(t / "resumed");
    m.mini_batch_size = 1;
    REQUIRE(run_job(m, t / "in").succeeded);
    write_file(f, "5");
    fs::last_write_time(f, time);
    m.resume = ResumeMode::resume;
    behaviour.reset();
    const JobResult resumed = run_job(m, t / "in");
    CHECK(resumed.mini_batches_resumed == 5);
    CHECK(behaviour.runs() == 1);
    CHECK_THAT(read_file(t / "resumed" / "parallel_run_step.txt"), Catch::Contains("f003.txt 5\n"));
  }
}

TEST_CASE("a resume checks kept mini-batches in groups: changed or unreadable ones run again",
          "[journal][resume]") {
  // 200 mini-batches of one file: checked 128 at a time, on two threads.
  TempDir t;
  make_numbered_files(t / "in", 200);
  behaviour.reset();
  Config c = journal_config(t / "out");
  c.mini_batch_size = 1;
  REQUIRE(run_job(c, t / "in").succeeded);
  const Outputs before = outputs_of(t / "out");
  // Two inputs change (one in each group) and one kept mini-batch's bytes in the journal no
  // longer match their checksum: those three run again, the 197 others are taken as kept.
  write_file(t / "in" / "f005.txt", "five");
  write_file(t / "in" / "f150.txt", "150!");
  const fs::path data = detail::JobFiles(c).journal_dir() / "data";
  std::string bytes = read_file(data);
  const std::string row = "f077.txt 77\n";
  const auto at = bytes.find(row);
  REQUIRE(at != std::string::npos);
  bytes[at + row.size() - 2] = '8';  // "f077.txt 78": the journal's copy is damaged
  write_file(data, bytes);
  c.resume = ResumeMode::resume;
  behaviour.reset();
  const JobResult r = run_job(c, t / "in");
  CHECK(r.succeeded);
  CHECK(r.mini_batches_resumed == 197);
  CHECK(r.mini_batches_inputs_changed == 2);  // the damaged bytes are said on their own
  CHECK_THAT(r.summary(),
             Catch::Contains("; 197 mini-batches kept from the earlier run; 2 mini-batches of "
                             "the earlier run ran again (their inputs changed);"));
  CHECK(behaviour.runs() == 3);
  std::string expected = before.rows;
  expected.replace(expected.find("f005.txt 5\n"), 11, "f005.txt five\n");
  expected.replace(expected.find("f150.txt 150\n"), 13, "f150.txt 150!\n");
  CHECK(read_file(t / "out" / "parallel_run_step.txt") == expected);
  const std::string master = read_file(t / "out" / "logs" / "master.txt");
  CHECK_THAT(master, Catch::Contains("does not match its checksum: mini-batch 77 runs again"));
  // The first changed one is named; the others are counted.
  CHECK_THAT(master, Catch::Contains("mini-batch 5 (f005.txt) was finished by the earlier run, "
                                     "but its inputs changed since (or are named another way): "
                                     "it runs again"));
  CHECK(master.find("mini-batch 150 (f150.txt) was finished") == std::string::npos);
}

TEST_CASE("a resume starts the mini-batches left to run before it settles the kept ones",
          "[journal][resume]") {
  // 300 mini-batches of one file, 250 finished by an interrupted run. The resume cuts the
  // kept ones, starts the others and settles the kept ones while they run: the first kept
  // one is final only once a worker has begun a mini-batch left to run (the observer waits
  // for that, at most 20 s: a resume that settled them all first would wait in vain). The
  // output is that of an uninterrupted run.
  TempDir t;
  make_numbered_files(t / "in", 300);
  behaviour.reset();
  Config c = journal_config(t / "out");
  c.mini_batch_size = 1;
  const Outputs expected = reference(t, t / "in", c);
  behaviour.reset();
  behaviour.interrupt_at = 250;
  behaviour.master = t / "out" / "logs" / "master.txt";
  Config first = c;
  first.stop_on_signals = true;
  const JobResult stopped = run_job(first, t / "in");
  REQUIRE(stopped.interrupted_by == SIGINT);
  const std::size_t finished = stopped.mini_batches_succeeded;
  REQUIRE(finished > 16);  // more than a slice of kept ones (settled 16 at a time)
  REQUIRE(finished < 300);

  struct FirstKept : JobObserver {
    std::size_t kept = 0;
    std::size_t runs_at_first_kept = 0;
    void mini_batch_final(const MiniBatchFinal& m) override {
      if (!m.from_journal || kept++ > 0) return;
      for (int i = 0; i < 2000 && behaviour.runs() == 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      runs_at_first_kept = behaviour.runs();
    }
  };
  auto observer = std::make_shared<FirstKept>();
  behaviour.reset();
  Config again = c;
  again.resume = ResumeMode::resume;
  const JobResult resumed = ParallelRun<JournaledScorer>(again).add_observer(observer).run(
      FileDataset({(t / "in").string()}));
  CHECK(resumed.succeeded);
  CHECK(resumed.mini_batches_resumed == finished);
  CHECK(observer->kept == finished);
  CHECK(observer->runs_at_first_kept > 0);
  CHECK(behaviour.runs() == 300 - finished);
  const Outputs got = outputs_of(t / "out");
  CHECK(got.rows == expected.rows);
  CHECK(got.failed == expected.failed);
}

TEST_CASE("a resume of more kept mini-batches than it cuts ahead settles them all in order",
          "[journal][resume]") {
  // 2,100 mini-batches of one file: the kept ones are cut 2,048 at a time (the bound on what
  // waits to be settled). f2090.txt changed (its mini-batch is one of the last: the names
  // sort as text), so that mini-batch runs again, after the first 2,048 were settled with
  // nothing running.
  TempDir t;
  make_numbered_files(t / "in", 2100);
  behaviour.reset();
  Config c = journal_config(t / "out");
  c.mini_batch_size = 1;
  REQUIRE(run_job(c, t / "in").succeeded);
  std::string expected = read_file(t / "out" / "parallel_run_step.txt");
  const std::string row = "f2090.txt 2090\n";
  REQUIRE(expected.find(row) != std::string::npos);
  expected.replace(expected.find(row), row.size(), "f2090.txt changed\n");
  write_file(t / "in" / "f2090.txt", "changed");
  c.resume = ResumeMode::resume;
  behaviour.reset();
  const JobResult r = run_job(c, t / "in");
  CHECK(r.succeeded);
  CHECK(r.mini_batches_resumed == 2099);
  CHECK(r.mini_batches_inputs_changed == 1);
  CHECK(r.mini_batches_total == 2100);
  CHECK(behaviour.runs() == 1);
  CHECK(read_file(t / "out" / "parallel_run_step.txt") == expected);
}

TEST_CASE("a resume keeps what the earlier run finished whichever way its inputs are spelled",
          "[journal][resume]") {
  // The run reads t/in by its absolute path; its resume names the same files relative to the
  // working folder, with a "." inside, or through a link made before or after the run: all
  // are kept. Copies of the files in another folder (same names, sizes, times) are other
  // inputs, also when a link that named t/in points at them.
  TempDir t;
  make_numbered_files(t / "in", 12);
  write_file(t / "ref.txt", "reference");
  fs::create_directory_symlink(t / "in", t / "link");
  behaviour.reset();
  Config c = journal_config(t / "out");
  c.side_inputs["ref"] = t / "ref.txt";
  REQUIRE(run_job(c, t / "in").succeeded);
  const Outputs before = outputs_of(t / "out");
  REQUIRE(before.rows.find("f011.txt 11\n") != std::string::npos);
  c.resume = ResumeMode::resume;
  const fs::path relative = fs::relative(t / "in", fs::current_path());
  REQUIRE(relative.is_relative());
  fs::create_directory_symlink(t / "in", t / "late");  // a link made after the run
  for (const fs::path& spelling : {relative, t / "in" / ".", t / "link", t / "late"}) {
    CAPTURE(spelling);
    Config again = c;
    again.side_inputs["ref"] = fs::relative(t / "ref.txt", fs::current_path());
    behaviour.reset();
    const JobResult r = run_job(again, spelling);
    CHECK(r.succeeded);
    CHECK(r.mini_batches_resumed == 4);
    CHECK(r.mini_batches_inputs_changed == 0);
    CHECK(behaviour.runs() == 0);
    CHECK(outputs_of(t / "out").rows == before.rows);
  }
  fs::copy(t / "in", t / "copy", fs::copy_options::recursive);
  for (int i = 0; i < 12; ++i) {
    const std::string name = fmt::format("f{:03}.txt", i);
    fs::last_write_time(t / "copy" / name, fs::last_write_time(t / "in" / name));
  }
  // The link the run could have read pointed at the copy instead: its real paths changed.
  fs::remove(t / "link");
  fs::create_directory_symlink(t / "copy", t / "link");
  behaviour.reset();
  const JobResult r = run_job(c, t / "link");
  CHECK(r.succeeded);
  CHECK(r.mini_batches_resumed == 0);
  CHECK(r.mini_batches_inputs_changed == 4);
  CHECK_THAT(r.summary(), Catch::Contains("; 4 mini-batches of the earlier run ran again (their "
                                          "inputs changed)"));
  CHECK(behaviour.runs() == 4);
  CHECK(outputs_of(t / "out").rows == before.rows);
  CHECK_THAT(read_file(t / "out" / "logs" / "master.txt"),
             Catch::Contains("mini-batch 0 (first: f000.txt; last: f002.txt) was finished by "
                             "the earlier run, but its inputs changed since (or are named "
                             "another way): it runs again"));
  // The copy by its own name is what that session read: all kept.
  behaviour.reset();
  const JobResult copy = run_job(c, t / "copy");
  CHECK(copy.mini_batches_resumed == 4);
  CHECK(copy.mini_batches_inputs_changed == 0);
  CHECK(behaviour.runs() == 0);
}

TEST_CASE("a suspect among kept mini-batches runs alone and the resume ends", "[journal][resume]") {
  // Session 1 finished every mini-batch; then input 20 changed, and session 2 died while it
  // ran mini-batch 20 again. Session 3 finds 20 among kept mini-batches (its old record),
  // changed and a suspect: it runs alone, the others are kept, and the run ends.
  TempDir t;
  make_numbered_files(t / "in", 40);
  behaviour.reset();
  Config c = journal_config(t / "out");
  c.mini_batch_size = 1;
  REQUIRE(run_job(c, t / "in").succeeded);
  std::string expected = read_file(t / "out" / "parallel_run_step.txt");
  expected.replace(expected.find("f020.txt 20\n"), 12, "f020.txt twenty\n");
  write_file(t / "in" / "f020.txt", "twenty");
  const detail::JournalFiles files{detail::JobFiles(c).journal_dir()};
  {
    const detail::JournalScan scan =
        detail::read_journal(files, [](const detail::JournalEntry&) {});
    detail::JournalWriter w =
        detail::JournalWriter::resume(files, scan.valid_journal_bytes, scan.valid_data_bytes);
    w.session(2);
    w.started(20, 1, 0);  // and no end: that process died
  }
  c.resume = ResumeMode::resume;
  behaviour.reset();
  const JobResult r = run_job(c, t / "in");
  CHECK(r.succeeded);
  CHECK(r.mini_batches_resumed == 39);
  CHECK(behaviour.runs() == 1);
  CHECK_THAT(read_file(t / "out" / "logs" / "master.txt"),
             Catch::Contains("mini-batch 20 (f020.txt) was running when a process of this run "
                             "died (1 of at most 2 times): it runs again, alone"));
  CHECK(read_file(t / "out" / "parallel_run_step.txt") == expected);
}

TEST_CASE("a folder renamed over another and a link pointed elsewhere are seen as changes",
          "[journal][resume]") {
  // Every file here is older than the run: only the folders' and the link's ctime move.
  TempDir t;
  write_file(t / "in" / "sub" / "a.txt", "1");
  write_file(t / "in" / "sub" / "b.txt", "2");
  write_file(t / "in" / "c.txt", "3");
  write_file(t / "other" / "a.txt", "7");
  write_file(t / "other" / "b.txt", "8");
  write_file(t / "targets" / "first.txt", "first");
  write_file(t / "targets" / "second.txt", "other");
  fs::create_symlink(t / "targets" / "first.txt", t / "in" / "link.txt");
  behaviour.reset();
  Config c = journal_config(t / "out");
  c.mini_batch_size = 1;
  REQUIRE(run_job(c, t / "in").succeeded);
  CHECK(read_file(t / "out" / "parallel_run_step.txt") ==
        "c.txt 3\nlink.txt first\nsub/a.txt 1\nsub/b.txt 2\n");
  c.resume = ResumeMode::resume;

  SECTION("nothing changed: everything is kept") {
    behaviour.reset();
    CHECK(run_job(c, t / "in").mini_batches_resumed == 4);
    CHECK(behaviour.runs() == 0);
  }
  SECTION("a folder of older files renamed over the one the run read") {
    fs::rename(t / "in" / "sub", t / "sub.before");
    fs::rename(t / "other", t / "in" / "sub");
    behaviour.reset();
    const JobResult r = run_job(c, t / "in");
    CHECK(r.mini_batches_resumed == 0);  // the input folder itself changed: nothing is kept
    CHECK(read_file(t / "out" / "parallel_run_step.txt") ==
          "c.txt 3\nlink.txt first\nsub/a.txt 7\nsub/b.txt 8\n");
  }
  SECTION("a link pointed at another, older file (its folder changes too)") {
    fs::remove(t / "in" / "link.txt");
    fs::create_symlink(t / "targets" / "second.txt", t / "in" / "link.txt");
    behaviour.reset();
    run_job(c, t / "in");
    CHECK(read_file(t / "out" / "parallel_run_step.txt") ==
          "c.txt 3\nlink.txt other\nsub/a.txt 1\nsub/b.txt 2\n");
  }
  SECTION("the file a link points to rewritten: only its mini-batch runs again") {
    write_file(t / "targets" / "first.txt", "FIRST");
    behaviour.reset();
    const JobResult r = run_job(c, t / "in");
    CHECK(r.mini_batches_resumed == 3);
    CHECK_THAT(r.summary(), Catch::Contains("; 3 mini-batches kept from the earlier run; 1 "
                                            "mini-batch of the earlier run ran again (its "
                                            "inputs changed);"));
    CHECK(behaviour.runs() == 1);
    CHECK(read_file(t / "out" / "parallel_run_step.txt") ==
          "c.txt 3\nlink.txt FIRST\nsub/a.txt 1\nsub/b.txt 2\n");
  }
}

TEST_CASE("a session that died counts one death for each mini-batch that was running",
          "[journal][resume]") {
  // Journals written by hand: what each session started and finished, and whether it ended.
  TempDir t;
  Config c = journal_config(t / "out");
  c.resume = ResumeMode::resume;
  const detail::JournalFiles files{detail::JobFiles(c).journal_dir()};
  detail::Fingerprint fingerprint;
  fingerprint.add("program", "version 1");
  const auto finished = finished_entry;
  {
    detail::JournalWriter w = detail::JournalWriter::create(files, fingerprint);
    // Session 1 dies while workers 0 and 1 run mini-batches 5 and 6; mini-batch 4 had failed
    // its first attempt on worker 1 and was retried on worker 0, which finished it. Mini-batch
    // 7 failed on worker 0 and its retry was running on worker 1 when the process died:
    // the last start of both workers, but one death.
    w.session(1);
    w.started(4, 1, 1);
    w.started(4, 2, 0);
    w.add(finished(4), "r4\n", "");
    w.commit();
    w.started(5, 1, 0);
    w.started(7, 1, 2);
    w.started(7, 2, 3);
    w.started(6, 1, 1);
    // Session 2 (a resume) dies too, with mini-batch 5 running again and 6 finished.
    w.session(2);
    w.started(5, 1, 0);
    w.started(6, 1, 1);
    w.add(finished(6), "r6\n", "");
    w.commit();
  }
  const detail::RunJournal journal(c, fingerprint);
  CHECK(journal.resuming());
  CHECK(journal.deaths(4) == 0);  // finished: no death counts
  CHECK(journal.deaths(5) == 2);  // running at both deaths
  CHECK(journal.deaths(6) == 0);  // finished after its death
  CHECK(journal.deaths(7) == 1);  // the last start of two workers, one death
  CHECK(journal.has_kept(4));
  CHECK(journal.has_kept(6));
  CHECK_FALSE(journal.has_kept(5));
  CHECK_THAT(journal.notes().back(), Catch::Contains("its journal holds 2 finished mini-batches") &&
                                         Catch::Contains("2 were running when a process"));
}

TEST_CASE("a dead session's running slots count its deaths and stay on record for later ones",
          "[journal][resume]") {
  TempDir t;
  Config c = journal_config(t / "out");
  c.resume = ResumeMode::resume;
  const detail::JournalFiles files{detail::JobFiles(c).journal_dir()};
  detail::Fingerprint fingerprint;
  fingerprint.add("program", "version 1");
  {
    // Session 1: workers 0, 1 and 2 start mini-batches 5, 6 and 8; 6 finishes; the process
    // dies. Worker 70 has no slot (16 a node): its start is a record instead.
    detail::JournalWriter w = detail::JournalWriter::create(files, fingerprint);
    w.session(1);
    auto slots = detail::RunningSlots::create(files.running(), 1, 1, 16);
    CHECK(slots.mark(5, 1, 0));
    CHECK(slots.mark(6, 2, 1));
    CHECK(slots.mark(8, 1, 2));
    CHECK_FALSE(slots.mark(9, 1, 70));
    CHECK_FALSE(slots.mark(9, 1, std::uint64_t{1} << 32));  // node 1 of a one-node job
    w.add(finished_entry(6), "r6\n", "");
    w.commit();
  }
  const auto session1 = detail::RunningSlots::read(files.running(), 1);
  REQUIRE(session1.size() == 3);
  CHECK(session1[2].index == 8);
  CHECK(session1[2].worker == 2);
  CHECK(detail::RunningSlots::read(files.running(), 2).empty());  // another session's file
  {
    detail::RunJournal journal(c, fingerprint);
    CHECK(journal.deaths(5) == 1);
    CHECK(journal.deaths(6) == 0);  // finished after it started
    CHECK(journal.deaths(8) == 1);
    // Session 2 writes session 1's starts to the journal, then dies while 5 runs alone.
    journal.start();
    journal.quiet();
    journal.started(5, 1, 0);
  }
  std::vector<std::uint64_t> started;
  detail::JournalVisitor visit;
  visit.started = [&](std::uint64_t index, std::int64_t, std::uint64_t) {
    started.push_back(index);
  };
  CHECK(detail::read_journal(files, visit).sessions == 2);
  CHECK(started == std::vector<std::uint64_t>{5, 8, UINT64_MAX});  // and the quiet mark
  const detail::RunJournal third(c, fingerprint);
  CHECK(third.deaths(5) == 2);  // at both deaths: a poison mini-batch with run_max_try 2
  CHECK(third.deaths(8) == 1);  // not running at the second
  CHECK(third.deaths(6) == 0);
}

TEST_CASE("a worker past the running slots writes its start to the journal and its death counts",
          "[journal][resume]") {
  // A job's session through RunJournal: worker 0 has a slot, worker 70 does not (16 a node
  // with two workers), so its start goes to the journal file at once. The session dies (no
  // end record); the next one counts a death for both mini-batches.
  TempDir t;
  Config c = journal_config(t / "out");
  const detail::JournalFiles files{detail::JobFiles(c).journal_dir()};
  detail::Fingerprint fingerprint;
  fingerprint.add("program", "version 1");
  {
    detail::RunJournal journal(c, fingerprint);
    journal.start();
    journal.started(3, 1, 0);
    journal.started(9, 2, 70);
  }  // destroyed without end(): the process died
  std::vector<std::pair<std::uint64_t, std::uint64_t>> starts;  // (mini-batch, worker)
  detail::JournalVisitor visit;
  visit.started = [&](std::uint64_t index, std::int64_t, std::uint64_t worker) {
    starts.emplace_back(index, worker);
  };
  REQUIRE(detail::read_journal(files, visit).sessions == 1);
  CHECK(starts == std::vector<std::pair<std::uint64_t, std::uint64_t>>{{9, 70}});
  REQUIRE(detail::RunningSlots::read(files.running(), 1).size() == 1);
  c.resume = ResumeMode::resume;
  const detail::RunJournal next(c, fingerprint);
  CHECK(next.deaths(3) == 1);  // from its slot
  CHECK(next.deaths(9) == 1);  // from its record
  CHECK(next.deaths(4) == 0);
}

TEST_CASE("a mini-batch whose run() had returned is not named at a later death",
          "[journal][resume]") {
  // Worker 0 finishes mini-batch 0 (its record not committed yet) and then waits; worker 1
  // crashes in mini-batch 2 (a README trial: mini-batch 0 was named, and ran alone, at every
  // resume, and could have been failed as poison).
  TempDir t;
  Config c = journal_config(t / "out");
  detail::Fingerprint fingerprint;
  fingerprint.add("program", "version 1");
  {
    detail::RunJournal journal(c, fingerprint);
    journal.start();
    journal.started(0, 1, 0);
    journal.started(1, 1, 1);
    journal.ran(1);
    journal.started(2, 1, 1);
    journal.ran(0);
  }  // destroyed without end(): the process died in mini-batch 2
  const detail::JournalFiles files{detail::JobFiles(c).journal_dir()};
  const auto slots = detail::RunningSlots::read(files.running(), 1);
  REQUIRE(slots.size() == 1);
  CHECK(slots[0].index == 2);
  CHECK(slots[0].worker == 1);
  c.resume = ResumeMode::resume;
  const detail::RunJournal next(c, fingerprint);
  CHECK(next.deaths(0) == 0);
  CHECK(next.deaths(1) == 0);
  CHECK(next.deaths(2) == 1);
}

TEST_CASE("a running slot caught between its stores or in a torn file is not read",
          "[journal][resume]") {
  TempDir t;
  const fs::path path = t / "running";
  {
    auto slots = detail::RunningSlots::create(path, 3, 2, 4);
    CHECK(slots.mark(1, 1, 0));
    CHECK(slots.mark(2, 1, 1));
    CHECK(slots.mark(3, 1, (std::uint64_t{1} << 32) | 3));  // node 1, worker 3
  }
  REQUIRE(detail::RunningSlots::read(path, 3).size() == 3);
  std::string bytes = read_file(path);
  REQUIRE(bytes.size() == 64 + 8 * 32);
  bytes[64 + 32 + 8] ^= 1;  // worker 1's attempt, its check word not written after it
  write_file(path, bytes);
  const auto read = detail::RunningSlots::read(path, 3);
  REQUIRE(read.size() == 2);
  CHECK(read[0].index == 1);
  CHECK(read[1].index == 3);
  CHECK(read[1].worker == ((std::uint64_t{1} << 32) | 3));
  write_file(path, bytes.substr(0, 100));  // cut short: nothing
  CHECK(detail::RunningSlots::read(path, 3).empty());
  {
    auto slots = detail::RunningSlots::create(path, 4, 1, 2);
    CHECK(slots.mark(7, 2, 1));
    slots.clear();
  }
  CHECK(detail::RunningSlots::read(path, 4).empty());  // cleared: nothing runs
}

TEST_CASE("every other part of the fingerprint refuses a resume when it changes",
          "[journal][resume]") {
  TempDir t;
  make_numbered_files(t / "in", 6);
  behaviour.reset();
  Config c = journal_config(t / "out");
  REQUIRE(run_job(c, t / "in").succeeded);
  auto refused = [&](Config d, const std::string& part) {
    d.resume = ResumeMode::resume;
    CHECK_THROWS_WITH(run_job(d, t / "in"), Catch::Contains(part));
  };
  Config d = c;
  d.output_header = {"key", "value"};
  refused(d, "output_header: (none) -> key,value");
  d = c;
  d.follow_symlinks = true;
  refused(d, "follow_symlinks: false -> true");
  d = c;
  d.append_row_file_name = "other.txt";
  refused(d, "append_row_file_name: parallel_run_step.txt -> other.txt");
}

TEST_CASE("a table job resumes and refuses changed table options with the option named",
          "[journal][resume]") {
  TempDir t;
  std::string text = "id,value\n";
  for (int i = 1; i <= 300; ++i)
    text += std::to_string(i) + "," + std::to_string(i) + ".5\n";
  write_file(t / "in/data.csv", text);
  auto scorer = make_scorer([](const TableBatch& batch) {
    return map_items(batch, [](const Row& row) { return std::string(row["id"]); });
  });
  Config c = journal_config(t / "out");
  c.mini_batch_size = "256";
  const JobResult first = ParallelRun(c, scorer).run(TabularDataset({(t / "in").string()}));
  REQUIRE(first.succeeded);
  const std::string rows = read_file(t / "out" / "parallel_run_step.txt");
  Config d = c;
  d.resume = ResumeMode::resume;
  const JobResult again = ParallelRun(d, scorer).run(TabularDataset({(t / "in").string()}));
  CHECK(again.mini_batches_resumed == first.mini_batches_total);
  CHECK(read_file(t / "out" / "parallel_run_step.txt") == rows);

  TableOptions no_header;
  no_header.header = false;
  CHECK_THROWS_WITH(ParallelRun(d, scorer).run(TabularDataset({(t / "in").string()}, no_header)),
                    Catch::Contains("table.header: true -> false"));
  TableOptions keys;
  keys.partition_keys = {"id"};
  CHECK_THROWS_WITH(ParallelRun(d, scorer).run(TabularDataset({(t / "in").string()}, keys)),
                    Catch::Contains("table.partition_keys: (none) -> id"));
  TableOptions tabs;
  tabs.delimiter = ';';
  CHECK_THROWS_WITH(ParallelRun(d, scorer).run(TabularDataset({(t / "in").string()}, tabs)),
                    Catch::Contains("table.delimiter: default -> ;"));
}
