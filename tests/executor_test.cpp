#include <parallel_run/executor.hpp>

#include <catch2/catch.hpp>

#include <condition_variable>
#include <csignal>
#include <future>
#include <mutex>

#include <sys/wait.h>
#include <unistd.h>

#include "support/scripted_scorer.hpp"
#include "support/gate.hpp"
#include "support/temp_dir.hpp"

using namespace parallel_run;
using namespace std::chrono_literals;
using test_support::cooperative_sleep;
using test_support::make_numbered_files;
using test_support::numbered_keys;
using test_support::read_file;
using test_support::Script;
using test_support::ScriptedScorer;
using test_support::TempDir;

namespace {
struct Job {
  TempDir dir;
  std::shared_ptr<Script> script = std::make_shared<Script>();
  Config config;
  explicit Job(int files, std::int64_t mini_batch_size = 10, int workers = 2) {
    make_numbered_files(dir / "in", files);
    config.output_dir = dir / "out";
    config.mini_batch_size = mini_batch_size;
    config.process_count_per_node = workers;
    config.logging_level = LoggingLevel::warning;
  }
  JobResult run() {
    return ParallelRun<ScriptedScorer>(config, ScriptedScorer(script))
        .run(FileDataset({(dir / "in").string()}));
  }
  std::string output() const { return read_file(dir / "out" / "parallel_run_step.txt"); }
  std::string failed() const { return read_file(dir / "out" / "logs" / "failed_items.csv"); }
};

// "f010.txt,1,3,reason\n" for items [from, to) of mini-batch `mb`.
std::string failed_lines(int from, int to, int mb, int attempts, const std::string& reason) {
  std::string s;
  for (int i = from; i < to; ++i) {
    char key[32];
    std::snprintf(key, sizeof key, "f%03d.txt", i);
    s += std::string(key) + "," + std::to_string(mb) + "," + std::to_string(attempts) + "," +
         reason + "\n";
  }
  return s;
}
const std::string header = "key,mini_batch,attempts,reason\n";

using test_support::Gate;

// Waits until the job's log holds `text`: the coordinator has handled what the line reports.
bool wait_for_log(const std::filesystem::path& file, const std::string& text,
                  std::chrono::milliseconds limit = 30s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (std::filesystem::exists(file) && read_file(file).find(text) != std::string::npos)
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return false;
}

// Waits until `done()` holds; false past `limit`.
template <class Done>
bool eventually(Done done, std::chrono::milliseconds limit = 30s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}
}  // namespace

TEST_CASE("every file is scored once, in mini-batches of mini_batch_size", "[executor]") {
  Job job(25, 10);
  JobResult r = job.run();
  CHECK(r.succeeded);
  CHECK(r.failure_reason.empty());
  CHECK(r.items_total == 25);
  CHECK(r.items_succeeded == 25);
  CHECK(r.items_failed == 0);
  CHECK(r.mini_batches_total == 3);
  CHECK(r.mini_batches_succeeded == 3);
  CHECK(r.attempts == 3);
  CHECK(r.retries == 0);
  std::vector<std::size_t> sizes = job.script->batch_sizes;
  std::sort(sizes.begin(), sizes.end());
  CHECK(sizes == std::vector<std::size_t>{5, 10, 10});
  CHECK(job.output() == numbered_keys(25));
  CHECK(job.failed() == header);
  CHECK(r.output_file == job.dir / "out" / "parallel_run_step.txt");
  CHECK(read_file(job.dir / "out/logs/job_result.txt") == r.summary() + "\n");
  CHECK_FALSE(std::filesystem::exists(job.dir / "out/.parallel_run_tmp"));
}

TEST_CASE("output is in input order whatever the completion order", "[executor][order]") {
  Job job(60, 3, 4);
  // Mini-batch 0 finishes last: it waits until the 19 others have run.
  auto others_done = std::make_shared<std::atomic<int>>(0);
  job.script->before_run = [others_done](std::size_t b, int, Context&) {
    if (b == 0)
      eventually([&] { return others_done->load() == 19; });
    else
      ++*others_done;
  };
  SECTION("in memory") {}
  SECTION("through the spill file") {
    job.config.max_buffered_output_bytes = 0;
  }
  JobResult r = job.run();
  CHECK(r.succeeded);
  CHECK(r.mini_batches_total == 20);
  CHECK(job.output() == numbered_keys(60));
}

TEST_CASE("limit scores only the first files, for a quick trial", "[executor]") {
  Job job(25, 10);
  job.config.limit = 12;
  JobResult r = job.run();
  CHECK(r.succeeded);
  CHECK(r.items_total == 12);
  CHECK(r.mini_batches_total == 2);
  CHECK(job.output() == numbered_keys(12));
}

TEST_CASE("init runs once per worker before its first mini-batch, shutdown once at the end",
          "[executor]") {
  Job job(100, 1, 3);
  JobResult r = job.run();
  CHECK(r.succeeded);
  CHECK(job.script->inits == 3);
  CHECK(job.script->shutdowns == 3);
  CHECK(r.attempts == 100);
}

TEST_CASE("a failed attempt is retried - after run_max_try attempts its items fail",
          "[executor][retry]") {
  Job job(30, 10);
  job.config.run_max_try = 3;
  SECTION("succeeds on the third attempt") {
    job.script->before_run = [](std::size_t b, int attempt, Context&) {
      if (b == 1 && attempt < 3) throw std::runtime_error("flaky " + std::to_string(attempt));
    };
    JobResult r = job.run();
    CHECK(r.succeeded);
    CHECK(r.items_succeeded == 30);
    CHECK(r.attempts == 5);
    CHECK(r.retries == 2);
    CHECK(r.mini_batches_failed == 0);
    CHECK(job.output() == numbered_keys(30));
    CHECK(job.failed() == header);
  }
  SECTION("fails every attempt") {
    job.script->before_run = [](std::size_t b, int attempt, Context&) {
      if (b == 1) throw std::runtime_error("bad batch, attempt " + std::to_string(attempt));
    };
    JobResult r = job.run();
    CHECK(r.succeeded);  // no threshold set: the job tolerates it
    CHECK(r.items_succeeded == 20);
    CHECK(r.items_failed == 10);
    CHECK(r.mini_batches_failed == 1);
    CHECK(r.mini_batches_succeeded == 2);
    CHECK(r.attempts == 5);
    CHECK(r.retries == 2);
    CHECK(job.output() == numbered_keys(10) + numbered_keys(30, 20));
    CHECK(job.failed() ==
          header +
              failed_lines(10, 20, 1, 3, "\"all 3 attempts failed; last: bad batch, attempt 3\""));
  }
  SECTION("an exception not derived from std::exception is caught too") {
    job.config.run_max_try = 1;
    job.script->before_run = [](std::size_t b, int, Context&) {
      if (b == 0) throw 42;
    };
    JobResult r = job.run();
    CHECK(r.items_failed == 10);
    CHECK(job.failed() ==
          header + failed_lines(0, 10, 0, 1,
                                "the only attempt failed: unknown exception (not derived from "
                                "std::exception)"));
  }
}

TEST_CASE("a run past run_invocation_timeout is a timed-out attempt - a new worker takes over",
          "[executor][timeout]") {
  Job job(40, 10, 2);
  job.config.run_invocation_timeout = 0.3;
  job.config.run_max_try = 2;
  SECTION("the retry succeeds") {
    job.script->before_run = [](std::size_t b, int attempt, Context& ctx) {
      if (b == 2 && attempt == 1) cooperative_sleep(ctx, 20s);
    };
    JobResult r = job.run();
    CHECK(r.succeeded);
    CHECK(r.timeouts == 1);
    CHECK(r.retries == 1);
    CHECK(r.attempts == 5);
    CHECK(r.items_succeeded == 40);
    CHECK(job.script->inits == 3);  // two workers and the replacement
    CHECK(job.output() == numbered_keys(40));
  }
  SECTION("every attempt times out") {
    job.script->before_run = [](std::size_t b, int, Context& ctx) {
      if (b == 2) cooperative_sleep(ctx, 20s);
    };
    JobResult r = job.run();
    CHECK(r.succeeded);
    CHECK(r.timeouts == 2);
    CHECK(r.mini_batches_failed == 1);
    CHECK(r.items_failed == 10);
    // A replacement for the first timeout (its retry is work); none after the last attempt.
    CHECK(job.script->inits == 3);
    CHECK(job.output() == numbered_keys(20) + numbered_keys(40, 30));
    std::string failed = job.failed();
    CHECK_THAT(
        failed,
        Catch::StartsWith(header + "f020.txt,2,2,all 2 attempts failed; last: timed out after 0."));
    CHECK_THAT(failed, Catch::Contains(" s (run_invocation_timeout 0.3 s)\n"));
    CHECK(std::count(failed.begin(), failed.end(), '\n') == 11);
  }
}

TEST_CASE("returning fewer elements is a partial success - more is capped with a warning",
          "[executor][partial]") {
  Job job(20, 10);
  job.script->returned = [](std::size_t b, std::size_t items) {
    return b == 0 ? items - 3 : items + 2;
  };
  JobResult r = job.run();
  CHECK(r.succeeded);
  CHECK(r.attempts == 2);
  CHECK(r.retries == 0);
  CHECK(r.items_succeeded == 17);
  CHECK(r.items_failed == 3);
  CHECK(r.mini_batches_succeeded == 2);
  CHECK(r.mini_batches_failed == 0);
  CHECK(r.warnings == 1);
  CHECK(job.output() == numbered_keys(7) + numbered_keys(20, 10) + "extra10\nextra11\n");
  CHECK(job.failed() == header + failed_lines(7, 10, 0, 1, "run returned 7 results for 10 items"));
}

TEST_CASE("thresholds are checked as results arrive - -1 tolerates everything",
          "[executor][threshold]") {
  // One worker and the failing mini-batches last: the outcome is exact.
  Job job(100, 10, 1);
  job.config.run_max_try = 1;
  job.script->before_run = [](std::size_t b, int, Context&) {
    if (b >= 7) throw std::runtime_error("broken");
  };
  SECTION("error_threshold exceeded") {
    job.config.error_threshold = 25;
    JobResult r = job.run();
    CHECK_FALSE(r.succeeded);
    CHECK(r.failure_reason == "error_threshold exceeded: 30 failed items > error_threshold 25");
    CHECK(r.items_failed == 30);
    CHECK(r.items_succeeded == 70);
    CHECK(r.mini_batches_failed == 3);
    CHECK(job.output() == numbered_keys(70));
    const std::string why = "the only attempt failed: broken";
    CHECK(job.failed() == header + failed_lines(70, 80, 7, 1, why) +
                              failed_lines(80, 90, 8, 1, why) + failed_lines(90, 100, 9, 1, why));
  }
  SECTION("error_threshold equal to the failures is not exceeded") {
    job.config.error_threshold = 30;
    JobResult r = job.run();
    CHECK(r.succeeded);
    CHECK(r.items_failed == 30);
  }
  SECTION("mini_batch_error_threshold") {
    job.config.mini_batch_error_threshold = 2;
    JobResult r = job.run();
    CHECK_FALSE(r.succeeded);
    CHECK(r.failure_reason ==
          "mini_batch_error_threshold exceeded: 3 failed mini-batches > mini_batch_error_threshold "
          "2");
    job.config.mini_batch_error_threshold = 3;
    CHECK(job.run().succeeded);
  }
  SECTION("allowed_failed_percent") {
    job.config.allowed_failed_percent = 25;
    JobResult r = job.run();
    CHECK_FALSE(r.succeeded);
    CHECK(r.failure_reason ==
          "allowed_failed_percent exceeded: 3 of 10 mini-batches failed (30.00%) > "
          "allowed_failed_percent 25");
    job.config.allowed_failed_percent = 30;
    CHECK(job.run().succeeded);
  }
  SECTION("-1 disables the count thresholds") {
    job.config.error_threshold = -1;
    job.config.mini_batch_error_threshold = -1;
    JobResult r = job.run();
    CHECK(r.succeeded);
    CHECK(r.items_failed == 30);
    CHECK(r.mini_batches_failed == 3);
    CHECK(r.items_not_processed == 0);
    CHECK(job.output() == numbered_keys(70));
  }
}

TEST_CASE("once a threshold is exceeded no new mini-batch starts and nothing is lost",
          "[executor][threshold]") {
  // 100 mini-batches of 2 files: more than the 16 per worker the coordinator keeps queued or
  // running, so some are never cut, whatever the speed of the machine.
  Job job(200, 2, 2);
  job.config.run_max_try = 1;
  job.config.error_threshold = 1;
  const auto log = job.dir / "out/logs/master.txt";
  job.script->before_run = [log](std::size_t b, int, Context&) {
    if (b == 1) throw std::runtime_error("broken");
    // The later mini-batches wait until the failure has stopped the job.
    if (b > 1) wait_for_log(log, "stopping the job: error_threshold exceeded");
  };
  JobResult r = job.run();
  CHECK_FALSE(r.succeeded);
  CHECK(r.failure_reason == "error_threshold exceeded: 2 failed items > error_threshold 1");
  CHECK(r.items_failed == 2);
  CHECK(r.mini_batches_failed == 1);
  // Every mini-batch a worker started finished and counts; no new one was cut once the
  // failure was counted: at most mini-batches 0 and 1 had ended, and at most 16 per worker
  // were queued or running, then.
  const auto started = job.script->batch_sizes.size();
  CHECK(r.mini_batches_succeeded == started - 1);
  CHECK(started <= 2 + 16 * 2);
  CHECK(r.mini_batches_not_processed == 100 - started);
  CHECK(r.items_succeeded + r.items_failed + r.items_not_processed == 200);
  CHECK(r.mini_batches_succeeded + r.mini_batches_failed + r.mini_batches_not_processed == 100);
  CHECK(r.mini_batches_total == 100);
  // Every item is in the output or in failed_items.csv, exactly once.
  std::string out = job.output(), failed = job.failed();
  CHECK(std::count(out.begin(), out.end(), '\n') == static_cast<std::ptrdiff_t>(r.items_succeeded));
  CHECK(std::count(failed.begin(), failed.end(), '\n') ==
        static_cast<std::ptrdiff_t>(1 + r.items_failed + r.items_not_processed));
  CHECK_THAT(failed, Catch::Contains(failed_lines(2, 4, 1, 1, "the only attempt failed: broken")));
  CHECK_THAT(
      failed,
      Catch::EndsWith("f199.txt,99,0,not processed: the job stopped (error_threshold exceeded: 2 "
                      "failed items > error_threshold 1)\n"));
  CHECK_THAT(out, Catch::StartsWith(numbered_keys(2)));
}

TEST_CASE("repeated init failures stop the job instead of restarting forever", "[executor][init]") {
  TempDir t;
  make_numbered_files(t / "in", 5);
  Config c;
  c.output_dir = t / "out";
  c.process_count_per_node = 2;
  c.logging_level = LoggingLevel::warning;
  std::atomic<int> calls{0};
  auto scorer = make_scorer(
      [&calls](Context&) {
        ++calls;
        throw std::runtime_error("model file is corrupt");
      },
      [](const FileBatch& b) { return std::vector<std::string>(b.size(), "x"); });
  JobResult r = run(c, FileDataset({(t / "in").string()}), scorer);
  CHECK_FALSE(r.succeeded);
  CHECK(r.failure_reason ==
        "init failed 6 times (the limit is 3 * process_count_per_node = 6); last error: model "
        "file is corrupt");
  // No replacement starts an init that could only be a seventh failure.
  CHECK(calls == 6);
  CHECK(r.init_failures == 6);
  CHECK(r.items_not_processed == 5);
  CHECK(r.mini_batches_not_processed == 1);
  CHECK(read_file(t / "out/parallel_run_step.txt").empty());
}

TEST_CASE("a worker whose init fails once is replaced and the job goes on", "[executor][init]") {
  TempDir t;
  make_numbered_files(t / "in", 30);
  Config c;
  c.output_dir = t / "out";
  c.process_count_per_node = 2;
  c.logging_level = LoggingLevel::warning;
  auto failures = std::make_shared<std::atomic<int>>(0);
  auto scorer = make_scorer(
      [failures](Context&) {
        if (failures->fetch_add(1) == 0) throw std::runtime_error("transient");
      },
      [](const FileBatch& b) {
        std::vector<std::string> keys;
        for (auto& e : b)
          keys.push_back(e.key);
        return keys;
      });
  JobResult r = run(c, FileDataset({(t / "in").string()}), scorer);
  CHECK(r.succeeded);
  CHECK(r.init_failures == 1);
  CHECK(read_file(t / "out/parallel_run_step.txt") == numbered_keys(30));
}

TEST_CASE("per-item results attribute each failure to its item", "[executor][item_result]") {
  TempDir t;
  make_numbered_files(t / "in", 12);
  Config c;
  c.output_dir = t / "out";
  c.mini_batch_size = 5;
  c.key_column = true;
  c.delimiter = "\t";
  c.logging_level = LoggingLevel::warning;
  auto scorer = make_scorer([](const FileBatch& b) {
    std::vector<ItemResult<std::pair<int, std::string>>> out;
    for (const auto& e : b) {
      int n = std::stoi(read_file(e.path));
      if (n % 4 == 3)
        out.push_back(
            fail<std::pair<int, std::string>>(e, "not divisible, got " + std::to_string(n)));
      else
        out.push_back(ok(e, std::make_pair(n * 10, std::string("ok"))));
    }
    return out;
  });
  JobResult r = run(c, FileDataset({(t / "in").string()}), scorer);
  CHECK(r.succeeded);
  CHECK(r.items_succeeded == 9);
  CHECK(r.items_failed == 3);
  CHECK(r.mini_batches_succeeded == 3);
  CHECK(read_file(t / "out/parallel_run_step.txt") ==
        "f000.txt\t0\tok\nf001.txt\t10\tok\nf002.txt\t20\tok\nf004.txt\t40\tok\nf005.txt\t50\tok\n"
        "f006.txt\t60\tok\nf008.txt\t80\tok\nf009.txt\t90\tok\nf010.txt\t100\tok\n");
  CHECK(read_file(t / "out/logs/failed_items.csv") ==
        header +
            "f003.txt,0,1,\"not divisible, got 3\"\nf007.txt,1,1,\"not divisible, got 7\"\n"
            "f011.txt,2,1,\"not divisible, got 11\"\n");
}

TEST_CASE("the context carries arguments, side inputs, folders and logs", "[executor][context]") {
  TempDir t;
  make_numbered_files(t / "in", 3);
  test_support::write_file(t / "model.txt", "weights");
  Config c;
  c.output_dir = t / "out";
  c.process_count_per_node = 1;
  c.arguments = {"--threshold", "0.5"};
  c.side_inputs["model"] = t / "model.txt";
  auto scorer = make_scorer([](const FileBatch& b, Context& ctx) {
    std::vector<std::string> out;
    for (const auto& e : b) {
      ctx.log().info("scoring {}", e.key);
      ctx.log_metric("bytes", 1.5);
      auto tmp = ctx.temp_dir() / "scratch";
      test_support::write_file(tmp, "x");
      out.push_back(fmt::format("{} {} {} {}", e.key, fmt::join(ctx.arguments(), "|"),
                                read_file(ctx.side_input("model")),
                                ctx.output_dir() == ctx.config().output_dir));
    }
    if (!ctx.has_side_input("labels")) {
      try {
        ctx.side_input("labels");
      } catch (const ContextError& err) {
        out.back() += std::string(" / ") + err.what();
      }
    }
    return out;
  });
  JobResult r = run(c, FileDataset({(t / "in").string()}), scorer);
  REQUIRE(r.succeeded);
  CHECK(read_file(t / "out/parallel_run_step.txt") ==
        "f000.txt --threshold|0.5 weights true\nf001.txt --threshold|0.5 weights true\n"
        "f002.txt --threshold|0.5 weights true / [parallel_run.context] no side input named "
        "'labels' (known: model)\n");
  auto user_log = read_file(t / "out/logs/user" / detail::host_name() / "worker-0.txt");
  CHECK(std::count(user_log.begin(), user_log.end(), '\n') == 3);
  CHECK_THAT(user_log, Catch::Contains(" INFO scoring f002.txt\n"));
  auto metrics = read_file(t / "out/logs/metrics.csv");
  CHECK_THAT(metrics, Catch::StartsWith("time,worker,mini_batch,name,value\n"));
  CHECK(std::count(metrics.begin(), metrics.end(), '\n') == 4);
  CHECK_THAT(metrics, Catch::EndsWith(",0,0,bytes,1.5\n"));
  CHECK_FALSE(std::filesystem::exists(t / "out/.parallel_run_tmp"));  // removed at the end
}

TEST_CASE("summary_only writes no rows - the output appears only when complete",
          "[executor][output]") {
  Job job(20, 5);
  SECTION("summary_only") {
    job.config.output_action = OutputAction::summary_only;
    JobResult r = job.run();
    CHECK(r.succeeded);
    CHECK(r.items_succeeded == 20);
    CHECK(r.output_file.empty());
    CHECK_FALSE(std::filesystem::exists(job.dir / "out/parallel_run_step.txt"));
    CHECK(job.failed() == header);
  }
  SECTION("summary_only after an append_row run removes that run's output") {
    REQUIRE(job.run().succeeded);
    REQUIRE(read_file(job.dir / "out/parallel_run_step.txt") == numbered_keys(20));
    job.config.output_action = OutputAction::summary_only;
    JobResult r = job.run();
    CHECK(r.succeeded);
    CHECK(r.items_succeeded == 20);
    CHECK_FALSE(std::filesystem::exists(job.dir / "out/parallel_run_step.txt"));
  }
  SECTION("append_row under another name, absent until the job ends") {
    job.config.append_row_file_name = "scores.txt";
    auto seen_early = std::make_shared<std::atomic<bool>>(false);
    auto out = job.dir / "out/scores.txt";
    job.script->before_run = [seen_early, out](std::size_t, int, Context&) {
      if (std::filesystem::exists(out)) *seen_early = true;
    };
    JobResult r = job.run();
    CHECK(r.succeeded);
    CHECK_FALSE(*seen_early);
    CHECK(read_file(out) == numbered_keys(20));
    // Only the output, the journal and the logs remain in the output folder.
    std::vector<std::string> names;
    for (auto& e : std::filesystem::directory_iterator(job.dir / "out"))
      names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    CHECK(names == std::vector<std::string>{".parallel_run_journal", "logs", "scores.txt"});
  }
}

TEST_CASE("bad settings and inputs throw before any scorer code runs", "[executor][errors]") {
  Job job(3);
  SECTION("invalid setting") {
    job.config.run_max_try = 0;
    CHECK_THROWS_AS(job.run(), ConfigError);
  }
  SECTION("missing input") {
    std::filesystem::remove_all(job.dir / "in");
    CHECK_THROWS_AS(job.run(), InputError);
  }
  SECTION("output folder is a file") {
    test_support::write_file(job.dir / "blocker", "");
    job.config.output_dir = job.dir / "blocker";
    CHECK_THROWS_WITH(job.run(), Catch::StartsWith("[parallel_run.config.output_dir] cannot create "
                                                   "the output folder '" +
                                                   (job.dir / "blocker").string() + "'"));
  }
  CHECK(job.script->inits == 0);
}

TEST_CASE("an input found faulty as the listing reaches it is a failed item, the job goes on",
          "[executor][errors]") {
  TempDir t;
  make_numbered_files(t / "in", 100);
  std::string list;
  for (int i = 0; i < 100; ++i)
    list += fmt::format("in/f{:03}.txt\n", i);
  list += "in/missing.txt\n";
  for (int i = 0; i < 50; ++i)
    list += fmt::format("in/f{:03}.txt\n", i);
  test_support::write_file(t / "list.txt", list);
  std::filesystem::create_directories(t / "empty");
  Config c;
  c.output_dir = t / "out";
  c.mini_batch_size = 3;
  c.process_count_per_node = 2;
  c.logging_level = LoggingLevel::warning;
  auto scorer = make_scorer([](const FileBatch& b) {
    std::vector<std::string> keys;
    for (auto& e : b)
      keys.push_back(e.key);
    return keys;
  });
  SECTION("a list line that names no file") {
    JobResult r = run(c, FileDataset({"@" + (t / "list.txt").string()}), scorer);
    CHECK(r.succeeded);  // one failed item, tolerated (error_threshold -1)
    CHECK_FALSE(r.configuration_error);
    CHECK(r.items_succeeded == 150);
    CHECK(r.items_failed == 1);
    CHECK(r.items_total == 151);
    CHECK(read_file(t / "out/logs/failed_items.csv") ==
          "key,mini_batch,attempts,reason\nin/missing.txt,,0,list file '" +
              (t / "list.txt").string() +
              "' line 101: 'in/missing.txt' is not a file (it does not exist)\n");
    std::string expected;
    for (int i = 0; i < 100; ++i)
      expected += fmt::format("in/f{:03}.txt\n", i);
    for (int i = 0; i < 50; ++i)
      expected += fmt::format("in/f{:03}.txt\n", i);
    CHECK(read_file(t / "out/parallel_run_step.txt") == expected);
    CHECK(r.duplicate_keys == 50);  // the list names 50 files twice
  }
  SECTION("an empty folder after a good one") {
    make_numbered_files(t / "after", 7);
    JobResult r =
        run(c, FileDataset({(t / "in").string(), (t / "empty").string(), (t / "after").string()}),
            scorer);
    CHECK(r.succeeded);
    CHECK(r.items_succeeded == 107);
    CHECK(r.items_failed == 1);
    CHECK_THAT(read_file(t / "out/logs/failed_items.csv"),
               Catch::EndsWith((t / "empty").string() + ",,0,input folder '" +
                               (t / "empty").string() + "' holds no files\n"));
  }
  SECTION("empty inputs one after the other each count, whatever their order") {
    // An empty input used to hide the one right after it (its own failure was counted as
    // the next input's).
    std::filesystem::create_directories(t / "empty2");
    std::filesystem::create_directories(t / "empty3");
    const std::string empty = (t / "empty").string(), empty2 = (t / "empty2").string(),
                      empty3 = (t / "empty3").string(), glob = (t / "in/*.png").string();
    const auto failed_line = [](const std::string& folder) {
      return folder + ",,0,input folder '" + folder + "' holds no files\n";
    };
    const std::string glob_line = glob + ",,0,no file matches the glob '" + glob + "'\n";
    const std::string header = "key,mini_batch,attempts,reason\n";
    struct Order {
      std::vector<std::string> inputs;
      std::string failed;
    };
    const std::vector<Order> orders = {
        {{empty, empty2, (t / "in").string()}, failed_line(empty) + failed_line(empty2)},
        {{empty, empty2, empty3, (t / "in").string()},
         failed_line(empty) + failed_line(empty2) + failed_line(empty3)},
        {{(t / "in").string(), empty, glob}, failed_line(empty) + glob_line},
        {{glob, empty, (t / "in").string()}, glob_line + failed_line(empty)},
        {{(t / "in").string(), empty, empty2}, failed_line(empty) + failed_line(empty2)},
    };
    for (const Order& o : orders) {
      std::filesystem::remove_all(t / "out");
      JobResult r = run(c, FileDataset(o.inputs), scorer);
      const auto empties = static_cast<std::size_t>(o.inputs.size() - 1);
      CHECK(r.succeeded);
      CHECK(r.items_succeeded == 100);
      CHECK(r.items_failed == empties);
      CHECK(r.items_total == 100 + empties);
      CHECK(read_file(t / "out/logs/failed_items.csv") == header + o.failed);
    }
  }
  SECTION("a missing root is found before any scorer code runs") {
    CHECK_THROWS_WITH(run(c, FileDataset({(t / "in").string(), (t / "gone").string()}), scorer),
                      "[parallel_run.input] input '" + (t / "gone").string() +
                          "' does not exist (not a file, folder, glob match or @list file)");
    CHECK_FALSE(std::filesystem::exists(t / "out"));
  }
}

TEST_CASE("with stop_on_signals, SIGINT stops the job gracefully and keeps the results",
          "[executor][signals]") {
  // 100 mini-batches: more than the 16 per worker the coordinator keeps queued or running, so
  // some are never cut, whatever the speed of the machine.
  Job job(200, 2, 2);
  job.config.stop_on_signals = true;
  struct sigaction before {};
  sigaction(SIGINT, nullptr, &before);
  const auto log = job.dir / "out/logs/master.txt";
  job.script->before_run = [log](std::size_t b, int, Context&) {
    if (b == 3) std::raise(SIGINT);
    // Mini-batch 3 and the later ones wait until the coordinator has handled the signal.
    if (b >= 3) wait_for_log(log, "stopping the job: interrupted by SIGINT");
  };
  JobResult r = job.run();
  CHECK_FALSE(r.succeeded);
  CHECK(r.interrupted_by == SIGINT);
  CHECK(r.failure_reason == "interrupted by SIGINT");
  CHECK_THAT(read_file(log), Catch::Contains(" ERROR stopping the job: interrupted by SIGINT: "
                                             "running mini-batches finish, no new one starts "
                                             "(send it again to abort at once)\n"));
  CHECK(r.items_failed == 0);
  // Every mini-batch a worker started finished (3 and the ones before it at least); the
  // others are listed as not processed.
  const auto started = job.script->batch_sizes.size();
  CHECK(started >= 4);
  CHECK(r.mini_batches_succeeded == started);
  CHECK(r.items_succeeded == 2 * started);
  CHECK(r.items_not_processed == 200 - 2 * started);
  CHECK(r.items_not_processed > 0);
  CHECK(job.output() == numbered_keys(static_cast<int>(r.items_succeeded)));
  std::string failed = job.failed();
  CHECK(std::count(failed.begin(), failed.end(), '\n') ==
        static_cast<std::ptrdiff_t>(1 + r.items_not_processed));
  // The handling from before the job is back.
  struct sigaction now {};
  sigaction(SIGINT, nullptr, &now);
  CHECK(now.sa_handler == before.sa_handler);
}

TEST_CASE("an exception from shutdown is reported as a warning", "[executor][shutdown]") {
  TempDir t;
  make_numbered_files(t / "in", 6);
  Config c;
  c.output_dir = t / "out";
  c.process_count_per_node = 2;
  c.logging_level = LoggingLevel::warning;
  struct ThrowsOnShutdown {
    std::vector<std::string> run(const FileBatch& b) {
      return std::vector<std::string>(b.size(), "x");
    }
    void shutdown() { throw std::runtime_error("cannot close the device"); }
  };
  JobResult r = run(c, FileDataset({(t / "in").string()}), ThrowsOnShutdown{});
  CHECK(r.succeeded);
  CHECK(r.warnings == 2);
  std::string log = read_file(t / "out/logs/master.txt");
  CHECK_THAT(log, Catch::Contains("WARNING worker 0: shutdown threw: cannot close the device\n"));
  CHECK_THAT(log, Catch::Contains("WARNING worker 1: shutdown threw: cannot close the device\n"));
}

TEST_CASE("threads whose run() ignores its stop token are bounded", "[executor][timeout]") {
  Job job(40, 1, 1);
  job.config.run_invocation_timeout = 0.2;
  job.config.run_max_try = 1;
  // Ignores the stop token: each timed-out thread stays busy until the job has returned.
  auto gate = std::make_shared<Gate>();
  job.script->before_run = [gate](std::size_t, int, Context&) { gate->wait(60s); };
  JobResult r = job.run();
  gate->open();
  CHECK_FALSE(r.succeeded);
  CHECK(r.failure_reason ==
        "2 timed-out run() calls ignored their stop token and still hold their threads (the "
        "limit is process_count_per_node = 1); a thread cannot be killed");
  CHECK(r.timeouts == 2);
  CHECK(r.detached_workers == 2);
  CHECK(r.items_succeeded + r.items_failed + r.items_not_processed == 40);
  // The log names the second timeout before the stop it causes.
  const std::string log = read_file(job.dir / "out/logs/master.txt");
  const auto second = log.find("WARNING mini-batch 1 attempt 1/1 timed out");
  const auto stop = log.find("stopping the job: 2 timed-out run() calls");
  REQUIRE(second != std::string::npos);
  REQUIRE(stop != std::string::npos);
  CHECK(second < stop);
  // The two threads leave once their run() returns (no replacement started after them).
  CHECK(eventually([&] { return job.script->shutdowns == 2; }));
}

TEST_CASE("a signal ignored before the job stays ignored", "[executor][signals]") {
  Job job(30, 10, 1);
  job.config.stop_on_signals = true;
  job.script->before_run = [](std::size_t b, int, Context&) {
    if (b == 0) std::raise(SIGINT);
  };
  struct sigaction ignore {
  }, before{}, after{};
  ignore.sa_handler = SIG_IGN;
  sigaction(SIGINT, &ignore, &before);
  JobResult r = job.run();
  sigaction(SIGINT, &before, &after);
  CHECK(after.sa_handler == SIG_IGN);
  CHECK(r.succeeded);
  CHECK(r.interrupted_by == 0);
  CHECK(job.output() == numbered_keys(30));
}

TEST_CASE("temporary files left by a killed run are removed, others are kept",
          "[executor][output]") {
  Job job(5);
  pid_t dead = fork();
  if (dead == 0) _exit(0);
  waitpid(dead, nullptr, 0);
  const auto out = job.dir / "out";
  const std::string stale_rows = fmt::format(".parallel_run_step.txt.partial-{}", dead);
  const std::string stale_spill = fmt::format(".parallel_run_spill-{}", dead);
  const std::string stale_failed = fmt::format(".failed_items.csv.partial-{}", dead);
  const std::string live = fmt::format(".parallel_run_step.txt.partial-{}", getppid());
  for (const auto& name : {stale_rows, stale_spill, live, std::string(".keep.partial-x")})
    test_support::write_file(out / name, "old");
  test_support::write_file(out / "logs" / stale_failed, "old");
  CHECK(job.run().succeeded);
  CHECK_FALSE(std::filesystem::exists(out / stale_rows));
  CHECK_FALSE(std::filesystem::exists(out / stale_spill));
  CHECK_FALSE(std::filesystem::exists(out / "logs" / stale_failed));
  CHECK(std::filesystem::exists(out / live));  // its process still runs
  CHECK(std::filesystem::exists(out / ".keep.partial-x"));
}

TEST_CASE("an output folder inside the input folder is not read as input", "[executor][output]") {
  Job job(8, 3);
  job.config.output_dir = job.dir / "in" / "zz_out";
  JobResult first = job.run();
  REQUIRE(first.succeeded);
  JobResult second = job.run();  // the first run's output and logs are there now
  CHECK(second.succeeded);
  CHECK(second.items_total == 8);
  CHECK(read_file(job.dir / "in/zz_out/parallel_run_step.txt") == numbered_keys(8));
}

TEST_CASE("a timed-out worker that leaves at once is ended exactly once", "[executor][timeout]") {
  TempDir t;
  make_numbered_files(t / "in", 7);
  Config c;
  c.output_dir = t / "out";
  c.mini_batch_size = 1;
  c.process_count_per_node = 1;
  c.run_invocation_timeout = 0.25;
  c.run_max_try = 1;
  c.logging_level = LoggingLevel::warning;
  auto left = std::make_shared<std::atomic<int>>(0);
  struct LeavesAtOnce {
    std::shared_ptr<std::atomic<int>> left;
    bool initialized = false;  // the prototype and its copies in transit count for nothing
    ~LeavesAtOnce() {
      if (initialized) ++*left;  // the worker is leaving
    }
    void init() { initialized = true; }
    std::vector<std::string> run(const FileBatch& b, Context& ctx) {
      if (b.mini_batch_index() == 6) {
        // The last mini-batch ends the job only once the six timed-out workers have left,
        // so none is still leaving when the job ends.
        eventually([&] { return left->load() == 6; });
        return {b[0].key};
      }
      // The stop callback runs inside the watchdog's request_stop and widens the window in
      // which the worker returns and leaves before the watchdog has moved it.
      std::stop_callback slow(ctx.stop_token(),
                              [] { std::this_thread::sleep_for(std::chrono::milliseconds(30)); });
      eventually([&] { return ctx.stop_requested(); });
      return {b[0].key};
    }
  };
  JobResult r = run(c, FileDataset({(t / "in").string()}), LeavesAtOnce{left});
  CHECK(r.succeeded);
  CHECK(r.timeouts == 6);
  CHECK(r.items_failed == 6);
  CHECK(r.items_succeeded == 1);
  CHECK(r.detached_workers == 0);
  CHECK(read_file(t / "out/parallel_run_step.txt") == "f006.txt\n");
}

TEST_CASE("when the only worker times out, queued attempts still get a worker",
          "[executor][timeout]") {
  Job job(3, 1, 1);  // every mini-batch is queued at once: no submit() follows the timeout
  job.config.run_invocation_timeout = 0.1;
  job.config.run_max_try = 1;
  job.script->before_run = [](std::size_t b, int, Context& ctx) {
    if (b == 0) cooperative_sleep(ctx, 20s);
  };
  JobResult r = job.run();
  CHECK(r.succeeded);
  CHECK(r.timeouts == 1);
  CHECK(r.items_succeeded == 2);
  CHECK(job.output() == "f001.txt\nf002.txt\n");
}

TEST_CASE("a slow shutdown of an idle worker is waited for, not cut off", "[executor][shutdown]") {
  TempDir t;
  make_numbered_files(t / "in", 4);
  Config c;
  c.output_dir = t / "out";
  c.process_count_per_node = 2;
  c.run_invocation_timeout = 0.5;  // the grace for stuck run() calls; shutdown is not one
  auto finished = std::make_shared<std::atomic<int>>(0);
  auto inited = std::make_shared<std::atomic<int>>(0);
  struct SlowShutdown {
    std::shared_ptr<std::atomic<int>> finished, inited;
    void init(Context&) { ++*inited; }
    std::vector<std::string> run(const FileBatch& b) {
      // Both workers are idle when the job ends: a worker still in init would rightly be
      // asked to stop (a slow machine starts threads late).
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
      while (*inited < 2 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      return std::vector<std::string>(b.size(), "x");
    }
    void shutdown(Context& ctx) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1000));
      if (!ctx.stop_requested()) ++*finished;
    }
  };
  JobResult r = run(c, FileDataset({(t / "in").string()}), SlowShutdown{finished, inited});
  CHECK(*inited == 2);
  CHECK(r.succeeded);
  CHECK(r.detached_workers == 0);
  CHECK(*finished == 2);
}

TEST_CASE("a worker stuck in init does not keep a finished job from returning",
          "[executor][init]") {
  TempDir t;
  make_numbered_files(t / "in", 20);
  Config c;
  c.output_dir = t / "out";
  c.process_count_per_node = 2;
  c.run_invocation_timeout = 1;  // the grace a stopped thread gets before it is left running
  c.logging_level = LoggingLevel::warning;
  auto gate = std::make_shared<Gate>();
  auto inits = std::make_shared<std::atomic<int>>(0);
  auto left = std::make_shared<std::atomic<int>>(0);
  struct StuckFirstInit {
    std::shared_ptr<Gate> gate;
    std::shared_ptr<std::atomic<int>> inits, left;
    void init() {
      if (inits->fetch_add(1) == 0) gate->wait(60s);  // ignores its stop token
    }
    std::vector<std::string> run(const FileBatch& b) {
      std::vector<std::string> keys;
      for (auto& e : b)
        keys.push_back(e.key);
      return keys;
    }
    void shutdown() { ++*left; }
  };
  auto job = std::async(std::launch::async, [&] {
    return run(c, FileDataset({(t / "in").string()}), StuckFirstInit{gate, inits, left});
  });
  // init_timeout is 600 s: the other worker does all the work, and the job must end.
  const bool returned = job.wait_for(30s) == std::future_status::ready;
  gate->open();
  JobResult r = job.get();
  CHECK(returned);
  CHECK(r.succeeded);
  CHECK(r.init_failures == 0);
  CHECK(r.detached_workers == 1);
  CHECK(read_file(t / "out/parallel_run_step.txt") == numbered_keys(20));
  // The detached worker goes on once its init returns, and leaves by itself.
  CHECK(eventually([&] { return left->load() == 2; }));
}

TEST_CASE("an init past init_timeout is an init failure on threads too - a new worker takes over",
          "[executor][init][timeout]") {
  TempDir t;
  make_numbered_files(t / "in", 20);
  Config c;
  c.output_dir = t / "out";
  c.process_count_per_node = 1;
  c.init_timeout = 0.3;
  c.run_invocation_timeout = 1;  // the grace a stopped thread gets before it is left running
  c.logging_level = LoggingLevel::warning;
  auto gate = std::make_shared<Gate>();
  auto inits = std::make_shared<std::atomic<int>>(0);
  auto saw_stop = std::make_shared<std::atomic<bool>>(false);
  bool cooperative = true;
  SECTION("init watches its stop token") {}
  SECTION("init ignores its stop token") {
    cooperative = false;
  }
  auto scorer = make_scorer(
      [=](Context& ctx) {
        if (inits->fetch_add(1) != 0) return;
        if (cooperative) {
          eventually([&] { return ctx.stop_requested(); });
          *saw_stop = ctx.stop_requested();
        } else {
          gate->wait(60s);
        }
      },
      [](const FileBatch& b) {
        std::vector<std::string> keys;
        for (auto& e : b)
          keys.push_back(e.key);
        return keys;
      });
  auto job = std::async(std::launch::async,
                        [&] { return run(c, FileDataset({(t / "in").string()}), scorer); });
  const bool returned = job.wait_for(30s) == std::future_status::ready;
  gate->open();
  JobResult r = job.get();
  CHECK(returned);
  CHECK(r.succeeded);
  CHECK(r.init_failures == 1);
  CHECK(*inits == 2);  // the stuck worker and its replacement
  CHECK(r.items_succeeded == 20);
  CHECK(read_file(t / "out/parallel_run_step.txt") == numbered_keys(20));
  const std::string log = read_file(t / "out/logs/master.txt");
  CHECK_THAT(log, Catch::Contains("ERROR worker 0: init failed (1 of at most 3): init timed out "
                                  "after 0."));
  CHECK_THAT(log, Catch::Contains(" s (init_timeout 0.3 s); its thread was asked to stop and is "
                                  "abandoned\n"));
  if (cooperative) {
    CHECK(*saw_stop);
    // It left as soon as its init returned: joined, not left running.
    CHECK(r.detached_workers == 0);
  } else {
    CHECK(r.detached_workers == 1);
  }
}
