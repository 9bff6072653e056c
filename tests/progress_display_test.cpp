#include <parallel_run/detail/progress_display.hpp>
#include <parallel_run/detail/job_log.hpp>

#include <catch2/catch.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "support/temp_dir.hpp"

using namespace parallel_run;
using detail::ProgressCounts;
using detail::ProgressDisplay;

TEST_CASE("the progress line says listing while the total is unknown", "[progress]") {
  ProgressCounts c;
  c.created = 7;
  c.done = 3;
  c.items_succeeded = 30;
  c.running = 2;
  c.elapsed = 10;
  CHECK(c.fraction() < 0);
  CHECK(c.text() ==
        "3 of 7 mini-batches so far (listing the input), 30 items done, 3.0 items/s, 2 running, "
        "elapsed 10s");
}

TEST_CASE("the progress line of files counts mini-batches and estimates the time left",
          "[progress]") {
  ProgressCounts c;
  c.created = 40;
  c.done = 10;
  c.failed = 1;
  c.items_succeeded = 95;
  c.items_failed = 5;
  c.running = 2;
  c.elapsed = 20;
  c.listing_done = true;
  CHECK(c.fraction() == Approx(0.25));
  CHECK(c.text() ==
        "10/40 mini-batches (25.0%), 100 items done (5 items failed, 1 mini-batch failed), "
        "5.0 items/s, 2 running, elapsed 20s, ETA 1m00s");
}

TEST_CASE("after a resume the rate and the ETA are of this run's own work", "[progress]") {
  ProgressDisplay d(ProgressMode::none, LoggingLevel::warning, nullptr);
  d.job_started(JobInfo{});
  for (std::size_t i = 0; i < 40; ++i)
    d.mini_batch_created(MiniBatchInfo{});
  MiniBatchFinal kept;  // 20 kept from the earlier run, settled at once
  kept.succeeded = 10;
  kept.from_journal = true;
  for (int i = 0; i < 20; ++i)
    d.mini_batch_final(kept);
  MiniBatchFinal ran;  // 10 run in 20 s
  ran.succeeded = 10;
  for (int i = 0; i < 10; ++i)
    d.mini_batch_final(ran);
  ProgressCounts c = d.counts();
  CHECK(c.resumed == 20);
  CHECK(c.items_resumed == 200);
  c.listing_done = true;
  c.elapsed = 20;
  // 10 left at this run's 0.5 mini-batches/s: 20 s (not the 6.7 s that 30 done in 20 s says).
  CHECK(c.text() ==
        "30/40 mini-batches (75.0%), 300 items done (200 kept from the earlier run), 5.0 "
        "items/s, 0 running, elapsed 20s, ETA 20s");
}

TEST_CASE("the progress line of files uses the total the listing knows ahead", "[progress]") {
  ProgressCounts c;
  c.created = 12;
  c.done = 10;
  c.expected = 40;  // a folder read whole, cut only a window ahead
  c.items_succeeded = 100;
  c.elapsed = 20;
  CHECK(c.fraction() == Approx(0.25));
  CHECK(c.text() ==
        "10/40 mini-batches (25.0%), 100 items done, 5.0 items/s, 0 running, elapsed 20s, "
        "ETA 1m00s");
}

TEST_CASE("the progress line of tables counts bytes", "[progress]") {
  ProgressCounts c;
  c.created = 4;
  c.done = 1;
  c.bytes_created = 4 * 1024 * 1024;
  c.bytes_done = 3 * 1024 * 1024;
  c.items_succeeded = 1000;
  c.elapsed = 3;
  c.listing_done = true;
  CHECK(c.fraction() == Approx(0.75));
  CHECK(c.text() ==
        "1/4 mini-batches (75.0%), 3.0 MB of 4.0 MB, 1000 items done, 333.3 items/s, 0 running, "
        "elapsed 3s, ETA 1s");
}

TEST_CASE("sizes and durations read as a person writes them", "[progress]") {
  CHECK(detail::human_bytes(12) == "12 B");
  CHECK(detail::human_bytes(1536) == "1.5 KB");
  CHECK(detail::human_bytes(5ull << 30) == "5.0 GB");
  CHECK(detail::human_duration(59.4) == "59s");
  CHECK(detail::human_duration(725) == "12m05s");
  CHECK(detail::human_duration(3 * 3600 + 7 * 60 + 20) == "3h07m");
}

TEST_CASE("the progress display counts the job's events", "[progress]") {
  std::vector<std::string> recorded;
  ProgressDisplay d(
      ProgressMode::lines, LoggingLevel::warning,
      [&](std::string line) { recorded.push_back(std::move(line)); }, 0.0);
  CHECK(d.mode() == ProgressMode::lines);
  d.job_started(JobInfo{});
  for (std::size_t i = 0; i < 3; ++i) {
    MiniBatchInfo m;
    m.index = i;
    m.bytes = 100;
    d.mini_batch_created(m);
  }
  AttemptInfo a;
  d.attempt_started(a);
  d.attempt_started(a);
  d.attempt_ended(a);
  MiniBatchFinal ok;
  ok.mini_batch.bytes = 100;
  ok.succeeded = 4;
  d.mini_batch_final(ok);
  MiniBatchFinal failed;
  failed.mini_batch.bytes = 100;
  failed.status = MiniBatchStatus::failed;
  failed.failed = 4;
  d.mini_batch_final(failed);
  JobProgress p;
  p.listing_done = true;
  p.attempts_running = 1;
  d.progress(p);
  const ProgressCounts& c = d.counts();
  CHECK(c.created == 3);
  CHECK(c.done == 2);
  CHECK(c.failed == 1);
  CHECK(c.items_succeeded == 4);
  CHECK(c.items_failed == 4);
  CHECK(c.bytes_created == 300);
  CHECK(c.bytes_done == 200);
  CHECK(c.running == 1);
  REQUIRE(recorded.size() == 1);
  CHECK(recorded[0].rfind("progress: 2/3 mini-batches (66.7%), 200 B of 300 B, 8 items done (4 "
                          "items failed, 1 mini-batch failed)",
                          0) == 0);
}

TEST_CASE("after a stop the progress line counts what was not processed apart from failures",
          "[progress]") {
  ProgressDisplay d(ProgressMode::none, LoggingLevel::warning, nullptr);
  d.job_started(JobInfo{});
  for (std::size_t i = 0; i < 4; ++i)
    d.mini_batch_created(MiniBatchInfo{});
  MiniBatchFinal ok;
  ok.succeeded = 10;
  d.mini_batch_final(ok);
  MiniBatchFinal skipped;  // as the coordinator lists one the job never ran
  skipped.status = MiniBatchStatus::not_processed;
  skipped.failed = 10;
  for (int i = 0; i < 3; ++i)
    d.mini_batch_final(skipped);
  ProgressCounts c = d.counts();
  CHECK(c.done == 1);
  CHECK(c.failed == 0);
  CHECK(c.items_failed == 0);
  CHECK(c.not_processed == 3);
  CHECK(c.items_not_processed == 30);
  c.listing_done = true;
  c.elapsed = 2;
  CHECK(c.text() ==
        "1/4 mini-batches (25.0%), 10 items done, 30 items not processed (3 mini-batches: the "
        "job stopped), 5.0 items/s, 0 running, elapsed 2s");
}

TEST_CASE("progress auto is plain lines when stderr is not a terminal", "[progress]") {
  // CTest gives the tests a pipe or a file for stderr, never a terminal.
  CHECK(detail::resolve_progress_mode(ProgressMode::automatic) == ProgressMode::lines);
  CHECK(detail::resolve_progress_mode(ProgressMode::bar) == ProgressMode::bar);
  CHECK(detail::resolve_progress_mode(ProgressMode::none) == ProgressMode::none);
}

TEST_CASE("the progress setting parses its four modes and names a bad one", "[progress]") {
  CHECK(parse_progress_mode("auto") == ProgressMode::automatic);
  CHECK(parse_progress_mode("BAR") == ProgressMode::bar);
  CHECK(parse_progress_mode("lines") == ProgressMode::lines);
  CHECK(parse_progress_mode("none") == ProgressMode::none);
  CHECK(to_string(ProgressMode::automatic) == "auto");
  CHECK_THROWS_WITH(parse_progress_mode("fancy"),
                    Catch::Contains("progress must be one of auto, bar, lines, none; got 'fancy'"));
}

TEST_CASE("the job log calls its hook before each line it echoes to stderr, not before others",
          "[progress]") {
  // The live progress line wipes itself through this hook before a warning is printed.
  test_support::TempDir t;
  detail::JobLog log(t.path() / "master.txt", LoggingLevel::info);
  int wiped = 0;
  log.set_before_echo([&] { ++wiped; });
  log.info("{}", "only in master.txt");
  CHECK(wiped == 0);
  log.warning("{}", "on stderr too");
  CHECK(wiped == 1);
  log.record("INFO", "only in master.txt");
  CHECK(wiped == 1);
}

TEST_CASE("counts in messages are singular for one and plural otherwise", "[progress]") {
  using detail::counted;
  CHECK(counted(1, "mini-batch") == "1 mini-batch");
  CHECK(counted(2, "mini-batch") == "2 mini-batches");
  CHECK(counted(0, "item") == "0 items");
  CHECK(counted(1, "input entry") == "1 input entry");
  CHECK(counted(3, "input entry") == "3 input entries");
  CHECK(counted(2, "thread worker") == "2 thread workers");
  // The job's summary counts with it.
  JobResult r;
  r.mini_batches_resumed = 1;
  r.mini_batches_inputs_changed = 1;
  r.inputs_skipped = 1;
  r.duplicate_keys = 1;
  CHECK_THAT(r.summary(), Catch::Contains("; 1 mini-batch kept from the earlier run; 1 mini-batch "
                                          "of the earlier run ran again (its inputs changed); 1 "
                                          "input entry not read; 1 duplicate key"));
  r.inputs_skipped = 2;
  CHECK_THAT(r.summary(), Catch::Contains("; 2 input entries not read;"));
}
