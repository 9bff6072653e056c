// How a job ends and what its folders say about it: the verdict (nothing succeeded is a
// failure), the job's own files never read as input, what the listing does not read, a full
// disk, the previous run's logs, and the smaller records (metrics, limit, log lines).
#include <parallel_run/command_line.hpp>

#include <catch2/catch.hpp>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <functional>
#include <sstream>

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include "support/invoke_main.hpp"
#include "support/temp_dir.hpp"

using namespace parallel_run;
using test_support::Invocation;
using test_support::invoke_main;
using test_support::make_numbered_files;
using test_support::numbered_keys;
using test_support::read_file;
using test_support::TempDir;
using test_support::write_file;
namespace fs = std::filesystem;

namespace {
Config quiet_config(const fs::path& out) {
  Config c;
  c.output_dir = out;
  c.mini_batch_size = 3;
  c.process_count_per_node = 2;
  c.logging_level = LoggingLevel::warning;
  return c;
}

auto file_key_scorer() {
  return make_scorer([](const FileBatch& b) {
    std::vector<std::string> keys;
    for (const auto& e : b)
      keys.push_back(e.key);
    return keys;
  });
}

std::size_t count_lines(const std::string& s) {
  return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n'));
}
}  // namespace

TEST_CASE("a job in which no item succeeded fails", "[outcome][verdict]") {
  TempDir t;
  make_numbered_files(t / "in", 15);
  Config c = quiet_config(t / "out");
  c.run_max_try = 1;
  auto throwing = make_scorer([](const FileBatch&) -> std::vector<std::string> {
    throw std::runtime_error("model broken");
  });
  JobResult r = run(c, FileDataset({(t / "in").string()}), throwing);
  CHECK_FALSE(r.succeeded);
  CHECK(r.items_total == 15);
  CHECK(r.items_failed == 15);
  CHECK(r.failure_reason == "no item succeeded: all 15 items failed (see " +
                                (t / "out/logs/failed_items.csv").string() + ")");
  CHECK_THAT(read_file(t / "out/logs/job_result.txt"),
             Catch::StartsWith("failed: items 0/15 succeeded") &&
                 Catch::Contains("reason: no item succeeded: all 15 items failed"));
  // One attempt allowed: the reason does not say "all 1 attempts".
  CHECK_THAT(read_file(t / "out/logs/failed_items.csv"),
             Catch::Contains("f000.txt,0,1,the only attempt failed: model broken\n"));

  Invocation cli = invoke_main({"--input", (t / "in").string(), "--output", (t / "cli").string(),
                                "--run-max-try", "1", "--logging-level", "WARNING"},
                               throwing);
  CHECK(cli.status == 1);
  CHECK_THAT(cli.err, Catch::Contains("parallel_run: job failed: no item succeeded: all 15 "
                                      "items failed"));
}

TEST_CASE("echo_to_stderr off: the job writes nothing on the host's stderr", "[outcome][stderr]") {
  TempDir t;
  make_numbered_files(t / "in", 4);
  auto failing = make_scorer([](const FileBatch& b) -> std::vector<std::string> {
    if (b.mini_batch_index() == 1) throw std::runtime_error("cannot score");
    return std::vector<std::string>(b.size(), "ok");
  });
  // What the job writes on fd 2 while `job` runs.
  auto stderr_of = [&](const std::function<void()>& job) {
    std::fflush(stderr);
    const int saved = ::dup(2);
    const int fd = ::open((t / "stderr.txt").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 2);
    ::close(fd);
    job();
    std::fflush(stderr);
    ::dup2(saved, 2);
    ::close(saved);
    return read_file(t / "stderr.txt");
  };
  for (const bool echo : {true, false}) {
    Config c = quiet_config(t / "out");
    c.mini_batch_size = 2;
    c.run_max_try = 1;
    c.progress = ProgressMode::none;
    c.echo_to_stderr = echo;
    JobResult r;
    const std::string err =
        stderr_of([&] { r = run(c, FileDataset({(t / "in").string()}), failing); });
    CHECK(r.items_failed == 2);
    CHECK_THAT(read_file(t / "out/logs/master.txt"),
               Catch::Contains("WARNING mini-batch 1 attempt 1/1 failed: cannot score"));
    if (echo)
      CHECK_THAT(err, Catch::Contains("parallel_run: warning: mini-batch 1 attempt 1/1 failed: "
                                      "cannot score\n"));
    else
      CHECK(err.empty());
  }
}

TEST_CASE("a job that tolerated failures says so on stderr", "[outcome][verdict]") {
  TempDir t;
  make_numbered_files(t / "in", 5);
  auto one_fails = make_scorer([](const FileBatch& b) {
    std::vector<ItemResult<std::string>> out;
    for (const auto& e : b)
      out.push_back(e.key == "f002.txt" ? fail<std::string>(e, "unreadable")
                                        : ok(e, std::string(e.key)));
    return out;
  });
  Invocation cli =
      invoke_main({"--input", (t / "in").string(), "--output", (t / "out").string()}, one_fails);
  CHECK(cli.status == 0);
  CHECK_THAT(cli.out, Catch::StartsWith("parallel_run: succeeded: items 4/5 succeeded, 1 failed"));
  CHECK_THAT(cli.err, Catch::Contains("parallel_run: warning: the job succeeded with 1 of 5 items "
                                      "failed (tolerated by error_threshold -1); they are listed "
                                      "in " +
                                      (t / "out/logs/failed_items.csv").string() + "\n"));
}

TEST_CASE("a job whose inputs hold no item succeeds with a warning", "[outcome][verdict]") {
  TempDir t;
  fs::create_directories(t / "in");
  REQUIRE(::mkfifo((t / "in/pipe").c_str(), 0600) == 0);
  Config c = quiet_config(t / "out");
  JobResult r = run(c, FileDataset({(t / "in").string()}), file_key_scorer());
  CHECK(r.succeeded);
  CHECK(r.items_total == 0);
  CHECK(r.inputs_skipped == 1);
  CHECK_THAT(read_file(t / "out/logs/master.txt"),
             Catch::Contains("WARNING the inputs hold no items: nothing was scored (1 input entry "
                             "not read: " +
                             (t / "out/logs/skipped_inputs.csv").string() + " says why)\n"));
  CHECK(read_file(t / "out/parallel_run_step.txt").empty());
}

TEST_CASE("the output folder given as the input: the job's own files are never read",
          "[outcome][own_files]") {
  TempDir t;
  make_numbered_files(t / "d", 7);
  Config c = quiet_config(t / "d");
  for (int run_number = 0; run_number < 2; ++run_number) {
    // The second run finds the first run's output, its logs and a killed run's temporaries.
    if (run_number == 1) {
      write_file(t / "d/.parallel_run_step.txt.partial-1-1", "stale");
      fs::create_directories(t / "d/.parallel_run_tmp/worker-0");
    }
    JobResult r = run(c, FileDataset({(t / "d").string()}), file_key_scorer());
    REQUIRE(r.succeeded);
    CHECK(r.items_total == 7);
    CHECK(read_file(t / "d/parallel_run_step.txt") == numbered_keys(7));
  }
  // Globs, list files and single paths never read them either.
  Config other = quiet_config(t / "d");
  write_file(t / "list.txt", "d/f000.txt\nd/parallel_run_step.txt\nd/logs/master.txt\n");
  JobResult r = run(other,
                    FileDataset({(t / "d").string() + "/*.txt", "@" + (t / "list.txt").string(),
                                 (t / "d/parallel_run_step.txt").string()}),
                    file_key_scorer());
  REQUIRE(r.succeeded);
  CHECK(r.items_total == 8);  // f000..f006 by the glob, f000 by the list
  CHECK(read_file(t / "d/parallel_run_step.txt") == numbered_keys(7) + "d/f000.txt\n");
  const std::string skipped = read_file(t / "d/logs/skipped_inputs.csv");
  CHECK_THAT(skipped, Catch::Contains((t / "d/parallel_run_step.txt").string() +
                                      ",the job's output file\n"));
  CHECK_THAT(skipped, Catch::Contains("d/logs/master.txt,in the job's log folder\n"));
  // The glob's and the list's copies of the output file, the list's log file, the path.
  CHECK(r.inputs_skipped == 4);
}

TEST_CASE("another job's output folder among the inputs: its journal is not read",
          "[outcome][own_files]") {
  TempDir t;
  make_numbered_files(t / "d", 3);
  Config first = quiet_config(t / "d");
  REQUIRE(run(first, FileDataset({(t / "d").string()}), file_key_scorer()).succeeded);
  REQUIRE(fs::exists(t / "d/.parallel_run_journal/journal"));
  // A second job reads the first one's output folder from outside it (its output folder
  // elsewhere): the first job's output and logs are files like any other, its journal not.
  Config second = quiet_config(t / "out");
  JobResult r = run(second, FileDataset({(t / "d").string()}), file_key_scorer());
  REQUIRE(r.succeeded);
  const std::string rows = read_file(t / "out/parallel_run_step.txt");
  CHECK(rows.find(".parallel_run_journal") == std::string::npos);
  CHECK_THAT(rows, Catch::Contains("parallel_run_step.txt\n"));
  CHECK_THAT(read_file(t / "out/logs/skipped_inputs.csv"),
             Catch::Contains((t / "d/.parallel_run_journal").string() +
                             ",the journal of another parallel_run job (its output folder is "
                             "among the inputs)\n"));
  // And from inside it: the folder of the second job inside the first's.
  Config nested = quiet_config(t / "d/sub");
  r = run(nested, FileDataset({(t / "d").string()}), file_key_scorer());
  REQUIRE(r.succeeded);
  CHECK(read_file(t / "d/sub/parallel_run_step.txt").find(".parallel_run_journal") ==
        std::string::npos);
}

TEST_CASE("table inputs: the output folder among the inputs is not read as a table",
          "[outcome][own_files]") {
  TempDir t;
  write_file(t / "d/a.csv", "x,y\n1,2\n3,4\n");
  Config c = quiet_config(t / "d");
  auto rows = make_scorer([](const TableBatch& b) {
    std::vector<std::string> out;
    for (const Row& row : b)
      out.emplace_back(row["x"]);
    return out;
  });
  for (int i = 0; i < 2; ++i) {
    JobResult r = ParallelRun(c, rows).run(TabularDataset({(t / "d").string()}));
    REQUIRE(r.succeeded);
    CHECK(r.items_total == 2);
    CHECK(read_file(t / "d/parallel_run_step.txt") == "1\n3\n");
  }
}

TEST_CASE("a scorer that returns the batch's own rows filters them: each keeps its key",
          "[outcome][filter]") {
  TempDir t;
  // 30 rows over mini-batches of about 64 bytes; a malformed record (line 9) fails alone.
  std::string csv = "id,note\n", expected;
  for (int i = 0; i < 30; ++i) {
    if (i == 7) csv += "\"unterminated,x\",y,z\n";
    const bool keep = i % 4 == 1;
    csv += fmt::format("{},{}\n", i, keep ? "keep" : "drop");
    const int line = i + 2 + (i >= 7 ? 1 : 0);
    if (keep) expected += fmt::format("a.csv:{},{},keep\n", line, i);
  }
  write_file(t / "in/a.csv", csv);
  auto filter = make_scorer([](const TableBatch& b) {
    std::vector<Row> kept;
    for (const Row& row : b)
      if (row["note"] == "keep") kept.push_back(row);
    return kept;
  });
  {
    Config c = quiet_config(t / "out");
    c.key_column = true;
    c.delimiter = ",";
    c.mini_batch_size = "64";
    c.journal = false;
    JobResult r = ParallelRun(c, filter).run(TabularDataset({(t / "in").string()}));
    CHECK(r.items_total == 31);
    CHECK(r.items_succeeded == 30);  // the rows filtered out succeeded too
    CHECK(r.items_failed == 1);      // the malformed record
    CHECK(r.mini_batches_total > 3);
    CHECK(read_file(t / "out/parallel_run_step.txt") == expected);
    CHECK(count_lines(read_file(t / "out/logs/failed_items.csv")) == 2);
    CHECK_THAT(read_file(t / "out/logs/failed_items.csv"), Catch::Contains("\na.csv:9,"));
  }
}

TEST_CASE("what the listing does not read is counted, listed and warned about",
          "[outcome][skipped]") {
  TempDir t;
  make_numbered_files(t / "in", 3);
  make_numbered_files(t / "elsewhere", 2);
  fs::create_directory_symlink(t / "elsewhere", t / "in/linked");
  fs::create_symlink(t / "nowhere", t / "in/dangling");
  REQUIRE(::mkfifo((t / "in/pipe").c_str(), 0600) == 0);
  Config c = quiet_config(t / "out");
  JobResult r = run(c, FileDataset({(t / "in").string()}), file_key_scorer());
  CHECK(r.succeeded);
  CHECK(r.items_total == 3);
  CHECK(r.inputs_skipped == 3);
  CHECK(read_file(t / "out/logs/skipped_inputs.csv") ==
        "path,reason\n" + (t / "in/dangling").string() +
            ",a dangling symbolic link (its target does not exist)\n" + (t / "in/linked").string() +
            ",\"a symbolic link to a folder, not followed (--follow-symlinks follows it)\"\n" +
            (t / "in/pipe").string() + ",\"a FIFO (named pipe), not a regular file\"\n");
  CHECK_THAT(read_file(t / "out/logs/master.txt"),
             Catch::Contains("WARNING 3 input entries were not read (symbolic links to folders, "
                             "FIFOs, devices, dangling links); they are listed in " +
                             (t / "out/logs/skipped_inputs.csv").string()));

  SECTION("--follow-symlinks enters linked folders and stops at loops") {
    fs::create_directory_symlink(t / "in", t / "in/loop");
    c.follow_symlinks = true;
    JobResult f = run(c, FileDataset({(t / "in").string()}), file_key_scorer());
    CHECK(f.items_total == 5);
    CHECK(read_file(t / "out/parallel_run_step.txt") ==
          "f000.txt\nf001.txt\nf002.txt\nlinked/f000.txt\nlinked/f001.txt\n");
    CHECK_THAT(
        read_file(t / "out/logs/skipped_inputs.csv"),
        Catch::Contains((t / "in/loop").string() + ",a symbolic link loop: it leads back to '" +
                        (t / "in").string() + "'\n"));
  }
}

TEST_CASE("a list line that names no file and an empty folder are failed items",
          "[outcome][listing]") {
  TempDir t;
  make_numbered_files(t / "in", 2);
  fs::create_directories(t / "empty");
  make_numbered_files(t / "after", 2);
  write_file(t / "list.txt", "in/f000.txt\nin/missing.txt\nin/f001.txt\n");
  Config c = quiet_config(t / "out");
  JobResult r = run(c,
                    FileDataset({"@" + (t / "list.txt").string(), (t / "empty").string(),
                                 (t / "after").string()}),
                    file_key_scorer());
  CHECK(r.succeeded);  // tolerated: error_threshold -1
  CHECK(r.items_succeeded == 4);
  CHECK(r.items_failed == 2);
  CHECK(r.items_total == 6);
  CHECK(read_file(t / "out/parallel_run_step.txt") ==
        "in/f000.txt\nin/f001.txt\nf000.txt\nf001.txt\n");
  const std::string failed = read_file(t / "out/logs/failed_items.csv");
  CHECK_THAT(failed, Catch::Contains("in/missing.txt,,0,list file '" + (t / "list.txt").string() +
                                     "' line 2: 'in/missing.txt' is not a file (it does not "
                                     "exist)\n"));
  CHECK_THAT(failed, Catch::Contains((t / "empty").string() + ",,0,input folder '" +
                                     (t / "empty").string() + "' holds no files\n"));
  CHECK(count_lines(failed) == 3);
  // The first screen and job_error.txt name them too, as listed.
  const std::string missing_reason = "list file '" + (t / "list.txt").string() +
                                     "' line 2: 'in/missing.txt' is not a file (it does not "
                                     "exist)",
                    empty_reason = "input folder '" + (t / "empty").string() + "' holds no files";
  REQUIRE(r.first_input_failures.size() == 2);
  CHECK(r.first_input_failures[0].input == "in/missing.txt");
  CHECK(r.first_input_failures[0].reason == missing_reason);
  CHECK(r.first_input_failures[1].input == (t / "empty").string());
  CHECK(r.first_input_failures[1].reason == empty_reason);
  CHECK(r.first_failures.empty());
  CHECK_THAT(
      read_file(t / "out/logs/job_error.txt"),
      Catch::Contains("\ninput_failed: 2\n  " + missing_reason + "\n  " + empty_reason + "\n"));
  CHECK_THAT(read_file(t / "out/logs/overview.txt"),
             Catch::Contains("first failed items:\n  " + missing_reason + "\n  " + empty_reason +
                             "\nall failed items: "));

  SECTION("they count toward error_threshold") {
    c.error_threshold = 1;
    JobResult e = run(c,
                      FileDataset({"@" + (t / "list.txt").string(), (t / "empty").string(),
                                   (t / "after").string()}),
                      file_key_scorer());
    CHECK_FALSE(e.succeeded);
    CHECK_THAT(e.failure_reason, Catch::StartsWith("error_threshold exceeded: 2 failed items"));
    CHECK(e.items_total == 6);
  }
}

TEST_CASE("a FIFO given as an input is not a regular file", "[outcome][listing]") {
  TempDir t;
  REQUIRE(::mkfifo((t / "pipe").c_str(), 0600) == 0);
  Config c = quiet_config(t / "out");
  CHECK_THROWS_WITH(
      run(c, FileDataset({(t / "pipe").string()}), file_key_scorer()),
      "[parallel_run.input] input '" + (t / "pipe").string() + "' is not a regular file (a FIFO)");
}

TEST_CASE("the same key from two inputs is written twice, with a warning",
          "[outcome][duplicates]") {
  TempDir t;
  write_file(t / "a/README.gz", "1");
  write_file(t / "a/x.txt", "2");
  write_file(t / "b/README.gz", "3");
  write_file(t / "c/README.gz", "4");
  Config c = quiet_config(t / "out");
  JobResult r = run(c, FileDataset({(t / "a").string(), (t / "b").string(), (t / "c").string()}),
                    file_key_scorer());
  CHECK(r.succeeded);
  CHECK(r.duplicate_keys == 2);
  CHECK(read_file(t / "out/parallel_run_step.txt") == "README.gz\nx.txt\nREADME.gz\nREADME.gz\n");
  const std::string master = read_file(t / "out/logs/master.txt");
  CHECK_THAT(master,
             Catch::Contains("WARNING key 'README.gz' comes from input '" + (t / "a").string() +
                             "' and again from input '" + (t / "b").string() + "'"));
  // Once per key: the third copy is counted, not warned about again.
  CHECK(master.find("WARNING key 'README.gz'") == master.rfind("WARNING key 'README.gz'"));
  CHECK_THAT(r.summary(), Catch::Contains("; 2 duplicate keys"));
}

TEST_CASE("a full disk: the output is absent, the log folder tells the truth",
          "[outcome][full_disk]") {
  TempDir t;
  make_numbered_files(t / "in", 400);
  // Each file gives a 10 KB row: 4 MB of output.
  auto big_rows = make_scorer([](const FileBatch& b) {
    std::vector<std::string> out;
    for (const auto& e : b)
      out.push_back(e.key + std::string(10000, 'x'));
    return out;
  });
  // A first, successful run leaves its output and logs.
  Config c = quiet_config(t / "out");
  c.mini_batch_size = 10;
  c.limit = 50;
  REQUIRE(run(c, FileDataset({(t / "in").string()}), big_rows).succeeded);
  REQUIRE_THAT(read_file(t / "out/logs/job_result.txt"), Catch::StartsWith("succeeded"));

  // Files of the child may grow to `limit` bytes: past it, writes fail with EFBIG. With 1.5
  // MB, the output's second 1 MB write fails while the job runs; with 300 KB and 50 files
  // (500 KB, less than the output's buffer), the output fails when it is committed.
  struct Case {
    rlim_t file_size_limit;
    std::string files;
  };
  for (const Case& test : {Case{rlim_t{1500} << 10, "0"}, Case{rlim_t{300} << 10, "50"}}) {
#if defined(__SANITIZE_THREAD__)
    // ThreadSanitizer ends a forked child that starts threads; the other builds run this.
    WARN("skipped under ThreadSanitizer: the job runs in a forked child");
    break;
#endif
    std::fflush(nullptr);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      std::signal(SIGXFSZ, SIG_IGN);
      rlimit rl{test.file_size_limit, test.file_size_limit};
      ::setrlimit(RLIMIT_FSIZE, &rl);
      std::ofstream out(t / "stdout.txt"), err(t / "stderr.txt");
      std::vector<std::string> args{"prog",
                                    "--input",
                                    (t / "in").string(),
                                    "--output",
                                    (t / "out").string(),
                                    "--mini-batch-size",
                                    "10",
                                    "--process-count-per-node",
                                    "2",
                                    "--logging-level",
                                    "WARNING",
                                    "--limit",
                                    test.files};
      std::vector<const char*> argv;
      for (auto& a : args)
        argv.push_back(a.c_str());
      const int status = parallel_run::main(static_cast<int>(argv.size()), argv.data(), big_rows,
                                            Config{}, "", out, err);
      out.close();
      err.close();
      std::_Exit(status);
    }
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    const std::string err = read_file(t / "stderr.txt");
    INFO("limit " << test.file_size_limit << "; stderr: " << err);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 1);
    CHECK_THAT(err, Catch::Contains("parallel_run: job failed: the output could not be written: "
                                    "cannot write '" +
                                    (t / "out/.parallel_run_step.txt.partial-").string()));
    CHECK_THAT(err, Catch::Contains("File too large; no output file was written"));
    CHECK_THAT(err, Catch::Contains("\nparallel_run: failed: items "));
    // The output is absent (the previous run's too: it is not this run's), no temporary file
    // is left, and the logs are this run's.
    CHECK_FALSE(fs::exists(t / "out/parallel_run_step.txt"));
    for (const auto& e : fs::directory_iterator(t / "out"))
      if (e.path().filename() != ".parallel_run_journal")  // kept: what the run finished
        CHECK(e.path().filename().string().rfind(".parallel_run", 0) != 0);
    const std::string job_result = read_file(t / "out/logs/job_result.txt");
    CHECK_THAT(job_result, Catch::StartsWith("failed: items ") &&
                               Catch::Contains("output: none (it could not be written)") &&
                               Catch::Contains("\nreason: the output could not be written: "));
    CHECK_THAT(read_file(t / "out/logs/master.txt"),
               Catch::Contains("INFO failed: items ") &&
                   Catch::Contains("ERROR job failed: the output could not be written"));
    // failed_items.csv lists exactly the items the summary counts as failed or not processed.
    std::size_t succeeded = 0, total = 0, failed = 0, not_processed = 0;
    REQUIRE(std::sscanf(job_result.c_str(),
                        "failed: items %zu/%zu succeeded, %zu failed, %zu not processed",
                        &succeeded, &total, &failed, &not_processed) == 4);
    CHECK(total == (test.files == "0" ? 400u : 50u));
    const std::string list = read_file(t / "out/logs/failed_items.csv");
    CHECK_THAT(list, Catch::StartsWith("key,mini_batch,attempts,reason\n"));
    CHECK(count_lines(list) == 1 + failed + not_processed);
  }
}

TEST_CASE("each run starts its log folder afresh and always writes master.txt", "[outcome][logs]") {
  TempDir t;
  make_numbered_files(t / "in", 4);
  write_file(t / "out/logs/metrics.csv", "old\n");
  write_file(t / "out/logs/user/somehost/worker-9.txt", "old\n");
  write_file(t / "out/logs/master.txt", "old\n");
  Config c = quiet_config(t / "out");  // logging level WARNING
  c.limit = 3;
  JobResult r = run(c, FileDataset({(t / "in").string()}), file_key_scorer());
  REQUIRE(r.succeeded);
  CHECK_FALSE(fs::exists(t / "out/logs/metrics.csv"));
  CHECK_FALSE(fs::exists(t / "out/logs/user/somehost/worker-9.txt"));
  const std::string master = read_file(t / "out/logs/master.txt");
  CHECK_THAT(master, !Catch::Contains("old\n"));  // the earlier file's line
  CHECK_THAT(master, Catch::Contains("INFO job 'parallel-run': mini-batches of up to 3 files, 2 "
                                     "thread workers, output " +
                                     (t / "out").string() + ", limit: the first 3 items\n"));
  CHECK_THAT(master, Catch::Contains("INFO succeeded: items 3/3 succeeded"));
  CHECK_THAT(master,
             Catch::Contains("INFO settings: run_max_try 3, run_invocation_timeout 60 s, "));
  CHECK_THAT(master, Catch::Contains(", resume fresh, journal on, logging_level "));
  CHECK_THAT(r.summary(), Catch::Contains("; limit: the first 3 items"));
  CHECK_THAT(read_file(t / "out/logs/job_result.txt"),
             Catch::Contains("; limit: the first 3 items"));
}

TEST_CASE("a folder of one's own given as log_dir is refused before anything is removed",
          "[outcome][logs]") {
  TempDir t;
  make_numbered_files(t / "in", 2);
  // Someone's project: a user/ folder and a metrics.csv, no master.txt.
  write_file(t / "project/user/profile.txt", "mine\n");
  write_file(t / "project/metrics.csv", "mine\n");
  write_file(t / "project/notes.txt", "mine\n");
  Config c = quiet_config(t / "out");
  c.log_dir = t / "project";
  try {
    (void)run(c, FileDataset({(t / "in").string()}), file_key_scorer());
    FAIL("a folder of one's own was taken as the log folder");
  } catch (const ConfigError& e) {
    CHECK(e.setting() == "log_dir");
    CHECK(std::string(e.what()) ==
          "[parallel_run.config.log_dir] the log folder '" + (t / "project").string() +
              "' holds metrics.csv, user/ but no master.txt: it is not a log folder a job "
              "wrote, and a job removes those at its start; give a new or empty folder as "
              "log_dir (or the log folder of an earlier job)");
  }
  CHECK(read_file(t / "project/user/profile.txt") == "mine\n");
  CHECK(read_file(t / "project/metrics.csv") == "mine\n");
  CHECK_FALSE(fs::exists(t / "project/master.txt"));
  CHECK_FALSE(fs::exists(t / "out/parallel_run_step.txt"));

  // A folder with other files only is a log folder like any: they are left alone.
  fs::remove_all(t / "project/user");
  fs::remove(t / "project/metrics.csv");
  REQUIRE(run(c, FileDataset({(t / "in").string()}), file_key_scorer()).succeeded);
  CHECK(read_file(t / "project/notes.txt") == "mine\n");
  CHECK(fs::exists(t / "project/master.txt"));
  // Now the folder is one a job wrote: the next run (not a reuse) replaces its files.
  write_file(t / "project/user/stale.txt", "old\n");
  c.allow_reuse = false;
  REQUIRE(run(c, FileDataset({(t / "in").string()}), file_key_scorer()).succeeded);
  CHECK_FALSE(fs::exists(t / "project/user/stale.txt"));
}

TEST_CASE("metrics.csv quotes names and leaves init's mini-batch empty", "[outcome][metrics]") {
  TempDir t;
  make_numbered_files(t / "in", 1);
  Config c = quiet_config(t / "out");
  c.process_count_per_node = 1;
  auto scorer = make_scorer([](Context& ctx) { ctx.log_metric("odd, name \"q\"", 1.5); },
                            [](const FileBatch& b, Context& ctx) {
                              ctx.log_metric("per\nbatch", 2);
                              std::vector<std::string> keys;
                              for (const auto& e : b)
                                keys.push_back(e.key);
                              return keys;
                            });
  REQUIRE(run(c, FileDataset({(t / "in").string()}), scorer).succeeded);
  const std::string metrics = read_file(t / "out/logs/metrics.csv");
  CHECK(count_lines(metrics) == 3);
  CHECK_THAT(metrics, Catch::StartsWith("time,worker,mini_batch,name,value\n"));
  CHECK_THAT(metrics, Catch::Contains(",0,,\"odd, name \"\"q\"\"\",1.5\n"));
  CHECK_THAT(metrics, Catch::Contains(",0,0,per\\nbatch,2\n"));
}

TEST_CASE("control characters of keys are escaped in log lines", "[outcome][logs]") {
  TempDir t;
  write_file(t / "in/a\nb\x1b[31m.txt", "x");
  Config c = quiet_config(t / "out");
  c.run_max_try = 1;
  auto scorer = make_scorer([](const FileBatch& b) -> std::vector<std::string> {
    throw std::runtime_error("cannot read " + b.begin()->key);
  });
  JobResult r = run(c, FileDataset({(t / "in").string()}), scorer);
  CHECK_FALSE(r.succeeded);
  const std::string master = read_file(t / "out/logs/master.txt");
  CHECK(master.find('\x1b') == std::string::npos);
  CHECK_THAT(master, Catch::Contains("failed: cannot read a\\nb\\x1b[31m.txt\n"));
  // The CSV keeps the key as it is, quoted.
  CHECK_THAT(read_file(t / "out/logs/failed_items.csv"),
             Catch::Contains("\"a\nb\x1b[31m.txt\",0,1,\"the only attempt failed: cannot read "
                             "a\nb\x1b[31m.txt\"\n"));
}

TEST_CASE("stale temporaries are matched by process id and start time", "[outcome][temporaries]") {
  TempDir t;
  make_numbered_files(t / "in", 2);
  const fs::path out = t / "out";
  const std::string me = detail::process_tag();
  const std::string reused = fmt::format("{}-1", ::getpid());  // this pid, another start time
  pid_t dead = ::fork();
  if (dead == 0) std::_Exit(0);
  ::waitpid(dead, nullptr, 0);
  const std::vector<std::string> stale{".parallel_run_step.txt.partial-" + reused,
                                       ".parallel_run_spill-" + reused,
                                       fmt::format(".parallel_run_step.txt.partial-{}", dead)};
  const std::vector<std::string> kept{".other.partial-" + me, ".keep.partial-x",
                                      fmt::format(".x.partial-{}", ::getppid())};
  for (const auto& name : stale)
    write_file(out / name, "old");
  for (const auto& name : kept)
    write_file(out / name, "old");
  REQUIRE(run(quiet_config(out), FileDataset({(t / "in").string()}), file_key_scorer()).succeeded);
  for (const auto& name : stale)
    CHECK_FALSE(fs::exists(out / name));
  for (const auto& name : kept)
    CHECK(fs::exists(out / name));
}

TEST_CASE("an output folder that cannot be written is a ConfigError naming output_dir",
          "[outcome][errors]") {
  TempDir t;
  make_numbered_files(t / "in", 2);
  // /sys cannot be written, even by root; with and without a log folder of its own.
  for (bool own_log_dir : {false, true}) {
    Config c = quiet_config("/sys");
    if (own_log_dir) c.log_dir = t / "logs";
    CHECK_THROWS_WITH(run(c, FileDataset({(t / "in").string()}), file_key_scorer()),
                      Catch::StartsWith("[parallel_run.config.output_dir] cannot write in the "
                                        "output folder '/sys': "));
    Invocation cli = invoke_main({"--input", (t / "in").string(), "--output", "/sys", "--log-dir",
                                  own_log_dir ? (t / "logs").string() : "/sys/logs"},
                                 file_key_scorer());
    CHECK(cli.status == 2);
    CHECK_THAT(cli.err, Catch::StartsWith("parallel_run: [parallel_run.config.output_dir]"));
  }
}
