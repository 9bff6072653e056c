#include <parallel_run/detail/process_backend.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/spawn.hpp"
#include "support/temp_dir.hpp"

using namespace parallel_run;
using namespace std::chrono_literals;
using test_support::read_file;
using test_support::TempDir;
using test_support::write_file;

namespace {

// Sanitized builds report a crash themselves (ASan turns SIGSEGV into its report and an
// abort): the exact signal and the last lines differ there.
const bool sanitized = std::string(PARALLEL_RUN_SANITIZED).size() > 0;
const bool address_sanitized =
    std::string(PARALLEL_RUN_SANITIZED).find("address") != std::string::npos;

struct Ran {
  int status = -1;  // exit status, or 128 + signal
  std::string out, err;
};

struct Program {
  TempDir dir;
  std::string tag = "t" + std::to_string(::getpid()) + "-" +
                    std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());

  /// Input files in <dir>/in: f00.txt ... with the given first words.
  void inputs(const std::vector<std::string>& words) {
    for (std::size_t i = 0; i < words.size(); ++i) {
      char name[32];
      std::snprintf(name, sizeof name, "f%02zu.txt", i);
      write_file(dir / "in" / name, words[i] + "\n");
    }
  }

  /// Starts `program` in `dir`, tagged in its environment (its workers inherit the tag).
  /// `own_group`: in a process group of its own, as a shell's job (the test signals it whole,
  /// as a terminal's Ctrl-C does).
  pid_t start(const std::string& program, std::vector<std::string> args,
              const std::vector<std::string>& extra_env = {}, bool own_group = false,
              test_support::Streams streams = test_support::Streams::files) {
    args.insert(args.begin(), program);
    std::vector<std::string> env = {"PARALLEL_RUN_TEST_TAG=" + tag};
    env.insert(env.end(), extra_env.begin(), extra_env.end());
    const pid_t pid = test_support::spawn_in(dir.path(), std::move(args), env, own_group, streams);
    REQUIRE(pid > 0);
    return pid;
  }

  /// Waits for `pid`; past `limit` it is killed (a hung job) and the test fails.
  Ran wait(pid_t pid, std::chrono::seconds limit = 100s) {
    const std::optional<int> status = test_support::wait_for_exit(pid, limit);
    if (!status) FAIL_CHECK("the job did not end within " << limit.count() << " s");
    Ran r;
    r.status = status.value_or(-1);
    r.out = read_file(dir / "stdout.txt");
    r.err = read_file(dir / "stderr.txt");
    UNSCOPED_INFO("exit " << r.status << "\nstdout:\n" << r.out << "stderr:\n" << r.err);
    return r;
  }

  Ran run(const std::string& program, std::vector<std::string> args,
          const std::vector<std::string>& extra_env = {}) {
    return wait(start(program, std::move(args), extra_env));
  }

  /// Waits until `file` (under dir) holds `text`.
  bool wait_for_text(const std::string& rel, const std::string& text,
                     std::chrono::seconds limit = 30s) const {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (read_file(dir / rel).find(text) != std::string::npos) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }

  /// Live processes (not zombies) started with this test's tag; `workers`: only those
  /// started as worker processes.
  std::vector<pid_t> tagged(bool workers = true) const {
    std::vector<pid_t> pids;
    for (const auto& e : std::filesystem::directory_iterator("/proc")) {
      const std::string name = e.path().filename().string();
      if (name.find_first_not_of("0123456789") != std::string::npos) continue;
      const std::string environ_text = read_file(e.path() / "environ");
      if (environ_text.find("PARALLEL_RUN_TEST_TAG=" + tag + '\0') == std::string::npos) continue;
      if (workers && environ_text.find(std::string("PARALLEL_RUN_WORKER=")) == std::string::npos)
        continue;
      pids.push_back(std::stoi(name));
    }
    return pids;
  }

  std::string output() const { return read_file(dir / "out" / "parallel_run_step.txt"); }
  std::string failed() const { return read_file(dir / "out" / "logs" / "failed_items.csv"); }
  std::size_t lines_of(const std::string& rel) const {
    const std::string s = read_file(dir / rel);
    return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n'));
  }
};

const std::string fault_injection = PARALLEL_RUN_FAULT_INJECTION;
const std::string diverging = PARALLEL_RUN_DIVERGING_DRIVER;
const std::string sequence = PARALLEL_RUN_SEQUENCE_DRIVER;
const std::string table_driver = PARALLEL_RUN_TABLE_DRIVER;

std::vector<std::string> process_args(std::vector<std::string> more) {
  std::vector<std::string> args = {"--input",
                                   "in",
                                   "--output",
                                   "out",
                                   "--backend",
                                   "process",
                                   "--mini-batch-size",
                                   "3",
                                   "--process-count-per-node",
                                   "2"};
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

// process_args() with the thread backend, writing to "thread".
std::vector<std::string> thread_args(std::vector<std::string> more) {
  std::vector<std::string> args = process_args(std::move(more));
  args[3] = "thread";
  args[5] = "thread";
  return args;
}

// The rows fault_injection writes for items [0, n) of all-"ok" words, minus `skip`.
std::string ok_rows(std::size_t n, const std::vector<std::size_t>& skip = {}) {
  std::string s;
  for (std::size_t i = 0; i < n; ++i)
    if (std::find(skip.begin(), skip.end(), i) == skip.end())
      s += fmt::format("f{:02}.txt ok 3\n", i);
  return s;
}

bool matches(const std::string& text, const std::string& pattern) {
  return std::regex_search(text, std::regex(pattern));
}

}  // namespace

TEST_CASE("the protocol round-trips settings, file batches and outcomes", "[process]") {
  Config c;
  c.name = "round-trip";
  c.mini_batch_size = "64KB";
  c.error_threshold = 7;
  c.mini_batch_error_threshold = 3;
  c.allowed_failed_percent = 12.5;
  c.output_action = OutputAction::summary_only;
  c.append_row_file_name = "rows.txt";
  c.process_count_per_node = 5;
  c.logging_level = LoggingLevel::debug;
  c.run_invocation_timeout = 1.5;
  c.init_timeout = 2.5;
  c.worker_memory_limit = 1 << 20;
  c.run_max_try = 4;
  c.side_inputs = {{"model", "/tmp/m"}, {"labels", "l.txt"}};
  c.arguments = {"a", "", "c d"};
  c.output_dir = "/o";
  c.log_dir = "/l";
  c.backend = Backend::process;
  c.key_column = true;
  c.delimiter = ";;";
  c.output_header = {"x", "y"};
  c.max_buffered_output_bytes = 99;
  c.limit = 11;
  c.stop_on_signals = true;
  std::string bytes;
  detail::WireWriter w(bytes);
  detail::encode(w, c);
  detail::encode(w, FileBatch(3, {{"/a/b.txt", "b.txt", 30}, {"c", "c", 31}}));
  detail::BatchOutcome o{"row 1\nrow 2\n", 2, {{"k", "why"}}, {"careful"}, {}};
  o.times = {4, 1234, 1'700'000'000'000'000'001, 1'700'000'000'500'000'000, 0.25, 0.75, 0.5, 2};
  detail::encode(w, o);
  detail::WireReader r(bytes);
  const Config d = detail::decode_config(r);
  CHECK(d.name == c.name);
  CHECK(d.mini_batch_size.text() == "64KB");
  CHECK(d.error_threshold == 7);
  CHECK(d.mini_batch_error_threshold == 3);
  CHECK(d.allowed_failed_percent == 12.5);
  CHECK(d.output_action == OutputAction::summary_only);
  CHECK(d.append_row_file_name == "rows.txt");
  CHECK(d.process_count_per_node == 5);
  CHECK(d.logging_level == LoggingLevel::debug);
  CHECK(d.run_invocation_timeout == 1.5);
  CHECK(d.init_timeout == 2.5);
  CHECK(d.worker_memory_limit == 1 << 20);
  CHECK(d.run_max_try == 4);
  CHECK(d.side_inputs == c.side_inputs);
  CHECK(d.arguments == c.arguments);
  CHECK(d.output_dir == c.output_dir);
  CHECK(d.log_dir == c.log_dir);
  CHECK(d.backend == Backend::process);
  CHECK(d.key_column);
  CHECK(d.delimiter == ";;");
  CHECK(d.output_header == c.output_header);
  CHECK(d.max_buffered_output_bytes == 99);
  CHECK(d.limit == 11);
  CHECK(d.stop_on_signals);
  const FileBatch b = detail::decode_task<FileBatch>(r);
  CHECK(b.mini_batch_index() == 3);
  REQUIRE(b.size() == 2);
  CHECK(b[0] == FileEntry{"/a/b.txt", "b.txt", 30});
  CHECK(b[1] == FileEntry{"c", "c", 31});
  const detail::BatchOutcome p = detail::decode_outcome(r);
  CHECK(p.rows == o.rows);
  CHECK(p.succeeded == 2);
  REQUIRE(p.failed.size() == 1);
  CHECK(p.failed[0].key == "k");
  CHECK(p.failed[0].reason == "why");
  CHECK(p.warnings == o.warnings);
  CHECK(p.times.worker == 4);
  CHECK(p.times.pid == 1234);
  CHECK(p.times.wall_start_ns == 1'700'000'000'000'000'001);
  CHECK(p.times.wall_end_ns == 1'700'000'000'500'000'000);
  CHECK(p.times.cpu_start == 0.25);
  CHECK(p.times.cpu_end == 0.75);
  CHECK(p.times.run_seconds == 0.5);
  CHECK(p.times.items == 2);
  CHECK(r.done());
}

TEST_CASE("the run log keeps the last runs only, and then refuses a process-backend job",
          "[process][protocol]") {
  detail::RunLog log(3);
  for (int i = 1; i <= 3; ++i) {
    CHECK(log.begin(fmt::format("job {}", i)) == static_cast<std::size_t>(i));
    log.end(static_cast<std::size_t>(i), fmt::format("end {}", i));
  }
  const auto three = log.before(4);
  REQUIRE(three.size() == 3);
  CHECK(three[0].name == "job 1");
  CHECK(three[2].end == "end 3");
  CHECK(log.begin("job 4") == 4);  // job 1 is no longer kept
  log.end(4, "end 4");
  log.end(1, "late");  // ignored
  CHECK_THROWS_AS(log.check_replayable(5), Error);
  try {
    log.before(5);
    FAIL("a job that would replay a run no longer kept was not refused");
  } catch (const Error& e) {
    CHECK(std::string(e.what()) ==
          "[parallel_run.process] run() call 5 of this process uses the process backend, whose "
          "worker processes replay every earlier run() of the program; this process has made 4 "
          "before it, more than the 3 kept: use the thread backend for it, or start the "
          "process-backend jobs from a program of their own");
  }
}

TEST_CASE("the job frame a worker process gets first round-trips", "[process][protocol]") {
  Config c;
  c.name = "framed";
  c.run_max_try = 5;
  const std::vector<detail::RunLog::Run> runs{{"first", "end of 1"}, {"second", ""}};
  std::string bytes;
  detail::WireWriter w(bytes);
  detail::encode_worker_job(w, c, "/work", "/logs/metrics-3.csv", "/logs/worker/process-3.txt",
                            runs);
  detail::WireReader r(bytes);
  const detail::WorkerJob j = detail::decode_worker_job(r);
  CHECK(r.done());
  CHECK(j.config.name == "framed");
  CHECK(j.config.run_max_try == 5);
  CHECK(j.working_dir == "/work");
  CHECK(j.metrics_file == "/logs/metrics-3.csv");
  CHECK(j.record_path == "/logs/worker/process-3.txt");
  REQUIRE(j.earlier_runs.size() == 2);
  CHECK(j.earlier_runs[0].name == "first");
  CHECK(j.earlier_runs[0].end == "end of 1");
  CHECK(j.earlier_runs[1].name == "second");
  CHECK(j.earlier_runs[1].end.empty());
}

TEST_CASE("frames are cut from a stream however it arrives", "[process]") {
  std::string stream;
  detail::append_frame(stream, detail::MessageType::task,
                       [](detail::WireWriter& w) { w.put("x"); });
  detail::append_frame(stream, detail::MessageType::stop);
  std::size_t offset = 0;
  CHECK_FALSE(detail::next_frame(std::string_view(stream).substr(0, 7), offset));
  CHECK(offset == 0);
  auto f = detail::next_frame(stream, offset);
  REQUIRE(f);
  CHECK(f->type == detail::MessageType::task);
  auto g = detail::next_frame(stream, offset);
  REQUIRE(g);
  CHECK(g->type == detail::MessageType::stop);
  CHECK(g->payload.empty());
  CHECK(offset == stream.size());
  CHECK_FALSE(detail::next_frame(stream, offset));

  auto env = detail::WorkerEnv::parse("job=2;parent=77;worker=5;name=a;b");
  REQUIRE(env);
  CHECK(env->job == 2);
  CHECK(env->parent == 77);
  CHECK(env->worker == 5);
  CHECK(env->name == "a;b");
  CHECK_FALSE(detail::WorkerEnv::parse("job=x;parent=1;worker=1;name=a"));
  CHECK(detail::WorkerEnv::parse(env->encode())->name == "a;b");
}

TEST_CASE("a crash quotes the scorer's last lines, not the worker's own", "[process]") {
  test_support::TempDir t;
  std::string lines;
  for (int i = 0; i < 40; ++i)
    lines += fmt::format("scoring f{:02}.png\n", i);
  test_support::write_file(t / "log.txt", lines + "about to crash on b.png\r\n");
  CHECK(detail::tail_of_file(t / "log.txt") ==
        "scoring f36.png | scoring f37.png | scoring f38.png | scoring f39.png | about to crash "
        "on b.png");
  // A hung worker hands back its queue: 40 lines of its own (2.7 KB) after the scorer's
  // last one, which is still quoted (a README trial: "(no output)").
  std::string hung = "about to hang on big.csv:51\n";
  for (int i = 0; i < 40; ++i)
    hung +=
        "parallel_run: worker: a queued mini-batch was handed back unstarted (it runs "
        "elsewhere)\n";
  test_support::write_file(t / "hung.txt", hung);
  CHECK(detail::tail_of_file(t / "hung.txt") == "about to hang on big.csv:51");
  // After byte `after` (the worker's last answer): an earlier attempt's lines are not quoted.
  test_support::write_file(t / "two.txt", "scoring a\nscoring b\nabout to crash on b\n");
  CHECK(detail::tail_of_file(t / "two.txt", 10) == "scoring b | about to crash on b");
  CHECK(detail::tail_of_file(t / "two.txt", 40) == "(no output)");
  CHECK(detail::tail_of_file(t / "two.txt", 10, 25) == "about to crash on b");
  test_support::write_file(t / "blank.txt", "\n\n");
  CHECK(detail::tail_of_file(t / "blank.txt") == "(no output)");
  CHECK(detail::tail_of_file(t / "missing.txt") == "(no output)");
  // A line of 100 KB: its last 64 KB, cut to 300 bytes.
  test_support::write_file(t / "long.txt", std::string(100'000, 'x') + "\n");
  CHECK(detail::tail_of_file(t / "long.txt") == std::string(300, 'x') + "...");
}

TEST_CASE("a worker that dies fails only the attempt it was running", "[process]") {
  const auto [word, how] = GENERATE(table<std::string, std::string>({
      {"segv", "was killed by signal 11 \\(SIGSEGV\\)"},
      {"abort", "was killed by signal 6 \\(SIGABRT\\)"},
      {"terminate", "was killed by signal 6 \\(SIGABRT\\)"},
      {"exit3", "exited with status 3"},
      {"kill", "was killed by signal 9 \\(SIGKILL\\)"},
  }));
  CAPTURE(word);
  Program p;
  std::vector<std::string> words(12, "ok");
  words[4] = word;
  p.inputs(words);
  const Ran r = p.run(fault_injection, process_args({"--run-max-try", "2"}));
  CHECK(r.status == 0);
  CHECK(matches(r.out,
                "succeeded: items 9/12 succeeded, 3 failed, 0 not processed; "
                "mini-batches 3/4 succeeded, 1 failed, 0 not processed; attempts 5, retries 1"));
  CHECK(p.output() == ok_rows(12, {3, 4, 5}));
  // Every item of mini-batch 1 is listed, with the signal or status and the last output.
  const std::string failed = p.failed();
  const std::string reason_how =
      sanitized && word == "segv"
          ? std::string("(was killed by signal [0-9]+ \\([A-Z]+\\)|exited with status [0-9]+)")
          : how;
  for (const char* key : {"f03.txt", "f04.txt", "f05.txt"}) {
    CAPTURE(key);
    CHECK(matches(failed, std::string("\n") + key +
                              ",1,2,\"?all 2 attempts failed; last: worker process [0-9]+ " +
                              reason_how + " while running mini-batch 1; last output: "));
  }
  CHECK(std::count(failed.begin(), failed.end(), '\n') == 4);
  if (!sanitized) CHECK(matches(failed, "last output: [^\n]*about to " + word + " on f04.txt"));
  CHECK(p.tagged().empty());
}

TEST_CASE("a crash quotes what the worker printed in the crashed attempt only", "[process]") {
  // One worker runs mini-batch 0 (prints 3 lines), then dies in mini-batch 1: its reason
  // quotes mini-batch 1's lines, none of mini-batch 0's (the worker's output file holds both).
  Program p;
  p.inputs({"ok", "ok", "ok", "ok", "exit3", "ok"});
  std::vector<std::string> args = process_args({"--run-max-try", "1"});
  args[9] = "1";  // --process-count-per-node
  const Ran r = p.run(fault_injection, args);
  CHECK(r.status == 0);
  const std::string failed = p.failed();
  CHECK(matches(failed,
                "\nf03.txt,1,1,[^\n]*worker process [0-9]+ exited with status 3 while "
                "running mini-batch 1; last output: scoring f03.txt \\| scoring f04.txt "
                "\\| about to exit3 on f04.txt \\(log [^\n]*process-0.txt\\)"));
  CHECK(failed.find("scoring f02.txt") == std::string::npos);
  // The first attempt's output is whole in the worker's file.
  CHECK(read_file(p.dir / "out/logs/user/stdout" / detail::host_name() / "process-0.txt")
            .starts_with("scoring f00.txt\nscoring f01.txt\nscoring f02.txt\nscoring f03.txt\n"));
}

TEST_CASE("a crash on the first attempt is retried on a new worker, which runs init", "[process]") {
  Program p;
  std::vector<std::string> words(12, "ok");
  words[4] = "segv-once";
  p.inputs(words);
  const Ran r = p.run(fault_injection, {"--input", "in", "--output", "out", "--backend", "process",
                                        "--mini-batch-size", "3", "--process-count-per-node", "1",
                                        "--", "--record-inits"});
  CHECK(r.status == 0);
  CHECK(matches(r.out, "items 12/12 succeeded, 0 failed.* attempts 5, retries 1, timeouts 0"));
  CHECK(matches(r.err, "mini-batch 1 attempt 1/3 failed: worker process [0-9]+ "));
  std::string expected = ok_rows(12);
  expected.replace(expected.find("f04.txt ok 3"), 12, "f04.txt segv 10");
  CHECK(p.output() == expected);
  CHECK(p.lines_of("out/inits.txt") == 2);
  CHECK(p.tagged().empty());
}

TEST_CASE("a run() past run_invocation_timeout is killed and the new worker runs init",
          "[process]") {
  Program p;
  std::vector<std::string> words(9, "ok");
  words[4] = "hang-once";  // mini-batch 1: its retry succeeds
  words[7] = "hang";       // mini-batch 2: both attempts time out
  p.inputs(words);
  const auto started = std::chrono::steady_clock::now();
  const Ran r = p.run(fault_injection, {"--input", "in", "--output", "out", "--backend", "process",
                                        "--mini-batch-size", "3", "--process-count-per-node", "1",
                                        "--run-invocation-timeout", "0.5", "--run-max-try", "2",
                                        "--", "--record-inits"});
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  CHECK(r.status == 0);
  CHECK(matches(r.out, "items 6/9 succeeded, 3 failed.* attempts 5, retries 2, timeouts 3"));
  CHECK(matches(r.err,
                "mini-batch 1 attempt 1/2 timed out: timed out after 0\\.[5-9][0-9]* s "
                "\\(run_invocation_timeout 0\\.5 s\\): worker process [0-9]+ was killed"));
  std::string expected = ok_rows(6);
  expected.replace(expected.find("f04.txt ok 3"), 12, "f04.txt hang 10");
  CHECK(p.output() == expected);
  CHECK(matches(p.failed(),
                "\nf06.txt,2,2,\"all 2 attempts failed; last: timed out after [0-9.]+ s "
                "\\(run_invocation_timeout 0.5 s\\)"));
  // One init per worker process: the first, and one after each of the first 2 kills (after
  // the last one no work is left for a replacement).
  CHECK(p.lines_of("out/inits.txt") == 3);
  CHECK(seconds < 20);
  CHECK(p.tagged().empty());
}

TEST_CASE("a worker above worker_memory_limit is killed: out of memory", "[process]") {
  Program p;
  std::vector<std::string> words(6, "ok");
  words[1] = "oom";
  p.inputs(words);
  // A sanitized process starts with more resident memory: the limit leaves room for that.
  const std::string limit = sanitized ? "600MB" : "200MB";
  const Ran r =
      p.run(fault_injection, process_args({"--run-max-try", "1", "--worker-memory-limit", limit}));
  CHECK(r.status == 0);
  CHECK(matches(r.out, "items 3/6 succeeded, 3 failed"));
  CHECK(p.output() == ok_rows(6, {0, 1, 2}));
  CHECK(matches(p.failed(),
                "\nf01.txt,0,1,\"?the only attempt failed: out of memory: worker "
                "process [0-9]+ had [0-9.]+ MB resident \\(RSS\\), above "
                "worker_memory_limit [0-9.]+ MB"));
  CHECK(p.tagged().empty());
}

TEST_CASE("init that always crashes stops the job after 3 * process_count_per_node", "[process]") {
  Program p;
  p.inputs(std::vector<std::string>(6, "ok"));
  const Ran r = p.run(fault_injection, process_args({"--", "--init=abort", "--record-inits"}));
  CHECK(r.status == 1);
  // No 7th init starts: a replacement is started only while the inits in progress could
  // all fail without passing the limit.
  CHECK(p.lines_of("out/inits.txt") == 6);
  CHECK(matches(r.err,
                "job failed: init failed 6 times \\(the limit is 3 \\* "
                "process_count_per_node = 6\\); last error: worker process [0-9]+ was "
                "killed by signal 6 \\(SIGABRT\\) during init; last output: "));
  CHECK(matches(r.out + r.err, "items 0/6 succeeded, 0 failed, 6 not processed"));
  CHECK(p.lines_of("out/logs/failed_items.csv") == 7);
  CHECK(p.tagged().empty());
}

TEST_CASE("init past init_timeout is killed and counts as an init failure", "[process]") {
  Program p;
  p.inputs(std::vector<std::string>(6, "ok"));
  const Ran r =
      p.run(fault_injection, process_args({"--init-timeout", "0.3", "--", "--init=hang"}));
  CHECK(r.status == 1);
  CHECK(matches(r.err,
                "job failed: init failed 6 times .*last error: init timed out: worker "
                "process [0-9]+ did not finish init within init_timeout 0.3 s"));
  CHECK(p.tagged().empty());
}

TEST_CASE("the process backend writes the thread backend's bytes", "[process]") {
  Program p;
  std::vector<std::string> words(40, "ok");
  words[17] = "throw";  // a failed mini-batch, listed alike
  p.inputs(words);
  std::vector<std::string> common = {"--input",
                                     "in",
                                     "--mini-batch-size",
                                     "4",
                                     "--process-count-per-node",
                                     "2",
                                     "--key-column",
                                     "--delimiter",
                                     ",",
                                     "--output-header",
                                     "word,size",
                                     "--run-max-try",
                                     "2"};
  auto with = [&](std::vector<std::string> more) {
    std::vector<std::string> args = common;
    args.insert(args.end(), more.begin(), more.end());
    return args;
  };
  const Ran t = p.run(fault_injection, with({"--output", "thread", "--backend", "thread"}));
  const Ran q = p.run(fault_injection, with({"--output", "out", "--backend", "process"}));
  CHECK(t.status == 0);
  CHECK(q.status == 0);
  const std::string rows = read_file(p.dir / "thread" / "parallel_run_step.txt");
  CHECK(rows.size() > 500);
  CHECK(p.output() == rows);
  CHECK(p.failed() == read_file(p.dir / "thread" / "logs" / "failed_items.csv"));
  CHECK(p.tagged().empty());
}

TEST_CASE("each worker process's output and metrics are kept", "[process]") {
  Program p;
  p.inputs(std::vector<std::string>(12, "ok"));
  const Ran r = p.run(fault_injection, process_args({}));
  CHECK(r.status == 0);
  const auto worker_logs = p.dir / "out" / "logs" / "worker" / detail::host_name();
  const auto outputs = p.dir / "out" / "logs" / "user" / "stdout" / detail::host_name();
  const std::string all =
      read_file(outputs / "process-0.txt") + read_file(outputs / "process-1.txt");
  for (int i = 0; i < 12; ++i)
    CHECK(all.find(fmt::format("scoring f{:02}.txt\n", i)) != std::string::npos);
  // What the workers printed and their record of attempts are apart. A worker may also say
  // that a queued mini-batch was handed back to run elsewhere (the pool's balance at the end
  // decides): its own lines are tagged, and nothing else of the record is there.
  std::string untagged;
  std::istringstream lines(all);
  for (std::string line; std::getline(lines, line);)
    if (line.rfind("parallel_run: worker: ", 0) != 0) untagged += line + '\n';
  CHECK(untagged.find("mini-batch") == std::string::npos);
  CHECK(std::count(untagged.begin(), untagged.end(), '\n') == 12);
  const std::string records =
      read_file(worker_logs / "process-0.txt") + read_file(worker_logs / "process-1.txt");
  CHECK(records.find("scoring f") == std::string::npos);
  CHECK(std::count(records.begin(), records.end(), '\n') == 2 * 4);  // 4 mini-batches of 3
  // Each worker wrote its metrics apart; they are merged into metrics.csv, one per batch.
  const std::string metrics = read_file(p.dir / "out" / "logs" / "metrics.csv");
  CHECK(metrics.rfind("time,worker,mini_batch,name,value\n", 0) == 0);
  CHECK(std::count(metrics.begin(), metrics.end(), '\n') == 5);
  CHECK(matches(metrics, "\n[0-9-]+ [0-9:.]+,[01],3,items,3\n"));
  CHECK_FALSE(std::filesystem::exists(worker_logs / "process-0.metrics.csv"));
}

TEST_CASE("workers die with their coordinator", "[process]") {
  Program p;
  p.inputs(std::vector<std::string>(6, "hang"));
  const pid_t pid = p.start(fault_injection, process_args({}));
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (p.tagged().size() < 2 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  REQUIRE(p.tagged().size() == 2);
  ::kill(pid, SIGKILL);
  p.wait(pid);
  const auto gone_by = std::chrono::steady_clock::now() + 10s;
  while (!p.tagged().empty() && std::chrono::steady_clock::now() < gone_by)
    std::this_thread::sleep_for(10ms);
  CHECK(p.tagged().empty());
}

TEST_CASE("a worker that does not reach the same run() is an init failure", "[process]") {
  Program p;
  p.inputs(std::vector<std::string>(6, "ok"));
  const std::vector<std::string> args = {"--input",           "in", "--output", "out",
                                         "--mini-batch-size", "3"};
  SECTION("it exits first") {
    const Ran r = p.run(diverging, args, {"DIVERGE=exit3"});
    CHECK(r.status == 1);
    CHECK(matches(r.err,
                  "init failed 6 times .*the worker process [0-9]+ exited with status 3 "
                  "before reaching ParallelRun::run; a process-backend program must "
                  "reach the same run\\(\\) call when started again"));
  }
  SECTION("it reaches another job") {
    const Ran r = p.run(diverging, args, {"DIVERGE=name"});
    CHECK(r.status == 2);
    CHECK(matches(r.err,
                  "job failed: init failed: the worker process reached run\\(\\) number 1 "
                  "named 'other-job'; .* code before run\\(\\) runs again in each worker"));
  }
  SECTION("it reaches a thread-backend run()") {
    const Ran r = p.run(diverging, args, {"DIVERGE=thread"});
    CHECK(r.status == 2);
    CHECK(matches(r.err, "the worker process reached a thread-backend run\\(\\)"));
  }
  SECTION("it lingers after reaching another job: it is killed") {
    const Ran r = p.wait(p.start(diverging, args, {"DIVERGE=linger"}), 30s);
    CHECK(r.status == 2);
    CHECK(matches(r.err,
                  "job failed: init failed: the worker process reached run\\(\\) number 1 "
                  "named 'other-job'"));
  }
  SECTION("it computes other settings: the coordinator's are used") {
    const Ran r = p.run(diverging, args, {"DIVERGE=settings"});
    CHECK(r.status == 0);
    CHECK(p.output() ==
          "f00.txt coordinator\nf01.txt coordinator\nf02.txt coordinator\nf03.txt "
          "coordinator\nf04.txt coordinator\nf05.txt coordinator\n");
  }
  CHECK(p.tagged().empty());
}

TEST_CASE("jobs one after another in one program: each worker replays the earlier run() calls",
          "[process]") {
  // A thread-backend job, then two process-backend ones; the program goes on to the third
  // only if the second's result is what it expects, in the workers too.
  Program p;
  p.inputs({"ok", "fail", "ok", "ok"});
  const Ran r = p.run(sequence, {"in", "out"});
  INFO(r.err);
  REQUIRE(r.status == 0);
  const std::string pid = r.out.substr(4, r.out.find('\n') - 4);
  for (const char* job : {"first", "second", "third"})
    CHECK(matches(r.out, std::string("\nsucceeded: items 3/4 succeeded, 1 failed, 0 not "
                                     "processed; .* output: out/") +
                             job + "/parallel_run_step.txt\n"));
  for (const char* job : {"first", "second", "third"}) {
    const std::string rows = read_file(p.dir / "out" / job / "parallel_run_step.txt");
    INFO(job << ": " << rows);
    CHECK(std::count(rows.begin(), rows.end(), '\n') == 3);
    for (const char* key : {"f00.txt ", "f02.txt ", "f03.txt "})
      CHECK_THAT(rows, Catch::Contains(std::string(key) + job + " "));
    // The first ran in the program's own process; the others in worker processes.
    CHECK((rows.find(" " + pid + "\n") != std::string::npos) == (std::string(job) == "first"));
  }
  CHECK(p.tagged().empty());
}

namespace {

std::string worker_log(int n) {
  return fmt::format("out/logs/user/stdout/{}/process-{}.txt", detail::host_name(), n);
}

}  // namespace

TEST_CASE("a worker's result too large for one frame fails its attempt, saying why", "[process]") {
  const detail::BatchOutcome o{std::string(100, 'r'), 1, {}, {}, {}};
  std::string frame = detail::result_frame(7, o, 1000);
  std::size_t offset = 0;
  auto f = detail::next_frame(frame, offset);
  REQUIRE(f);
  CHECK(f->type == detail::MessageType::result);
  frame = detail::result_frame(7, o, 50);
  offset = 0;
  f = detail::next_frame(frame, offset);
  REQUIRE(f);
  CHECK(f->type == detail::MessageType::run_failed);
  detail::WireReader r(f->payload);
  CHECK(r.get<std::uint64_t>() == 7);
  CHECK(matches(r.get_string(),
                "the mini-batch's result is [0-9]+ bytes, above the 50 bytes a worker process "
                "can send back at once: use smaller mini-batches"));
}

TEST_CASE("attempts sent to a worker that dies while the job stops are not run, nor lost",
          "[process]") {
  // One worker, sent mini-batches 0 (which hangs) and 1. SIGINT stops the job; then the hang
  // times out and the worker is killed: mini-batch 1 comes back and must be listed as not
  // processed (it used to wait in the queue for a worker that never came: the job hung).
  Program p;
  std::vector<std::string> words(12, "ok");
  words[0] = "hang";
  p.inputs(words);
  const pid_t pid =
      p.start(fault_injection, {"--input", "in", "--output", "out", "--backend", "process",
                                "--mini-batch-size", "3", "--process-count-per-node", "1",
                                "--run-invocation-timeout", "2", "--run-max-try", "3"});
  REQUIRE(p.wait_for_text(worker_log(0), "about to hang on f00.txt"));
  ::kill(pid, SIGINT);  // the coordinator alone
  const Ran r = p.wait(pid, 30s);
  CHECK(r.status == 130);
  CHECK(matches(r.err,
                "items 0/12 succeeded, 3 failed, 9 not processed; mini-batches 0/4 "
                "succeeded, 1 failed, 3 not processed; attempts 1, retries 0, timeouts 1"));
  const std::string failed = p.failed();
  CHECK(matches(failed, "\nf00.txt,0,1,\"?attempt 1 failed and the job is stopping: timed out"));
  CHECK(matches(failed,
                "\nf03.txt,1,0,\"?not processed: the job stopped \\(interrupted by "
                "SIGINT"));
  CHECK(std::count(failed.begin(), failed.end(), '\n') == 13);
  CHECK(p.tagged().empty());
}

TEST_CASE("a Ctrl-C reaches the coordinator alone: running mini-batches finish", "[process]") {
  Program p;
  p.inputs(std::vector<std::string>(24, "slow"));
  // As a shell runs a job: its own process group, which a terminal's Ctrl-C signals whole.
  const pid_t pid = p.start(fault_injection, process_args({"--run-max-try", "1"}), {}, true);
  REQUIRE(p.wait_for_text(worker_log(0), "about to slow"));
  REQUIRE(p.wait_for_text(worker_log(1), "about to slow"));
  ::kill(-pid, SIGINT);
  const Ran r = p.wait(pid, 60s);
  CHECK(r.status == 130);
  CHECK(matches(r.err, "interrupted by SIGINT"));
  // The workers did not get the SIGINT: what they ran succeeded, the rest was not processed.
  CHECK(matches(r.err,
                "items [1-9][0-9]*/24 succeeded, 0 failed, [1-9][0-9]* not processed; "
                "mini-batches [0-9]+/8 succeeded, 0 failed"));
  CHECK(p.failed().find("signal 2") == std::string::npos);
  CHECK(p.tagged(false).empty());
}

TEST_CASE("a worker that closes its channel and lives on is killed, and the reason says so",
          "[process]") {
  Program p;
  std::vector<std::string> words(6, "ok");
  words[1] = "close3";
  p.inputs(words);
  const Ran r = p.run(fault_injection, process_args({"--run-max-try", "1"}));
  CHECK(r.status == 0);
  CHECK(matches(r.out, "items 3/6 succeeded, 3 failed"));
  CHECK(p.output() == ok_rows(6, {0, 1, 2}));
  CHECK(matches(p.failed(),
                "\nf01.txt,0,1,\"?the only attempt failed: worker process "
                "[0-9]+ closed its channel \\(fd 3\\) but did not exit; it was "
                "killed with SIGKILL while running mini-batch 0"));
  CHECK(p.tagged().empty());
}

TEST_CASE("what a dead worker started goes with it, and its end is seen at once", "[process]") {
  Program p;
  std::vector<std::string> words(6, "ok");
  words[1] = "fork-exit";  // a forked child keeps running, holding the channel
  p.inputs(words);
  const auto started = std::chrono::steady_clock::now();
  const Ran r = p.run(fault_injection, process_args({"--run-max-try", "1"}));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  CHECK(r.status == 0);
  CHECK(matches(r.out, "items 3/6 succeeded, 3 failed"));
  CHECK(matches(p.failed(),
                "\nf01.txt,0,1,\"?the only attempt failed: worker process "
                "[0-9]+ exited with status 3 while running mini-batch 0"));
  CHECK(seconds < 10);
  CHECK(p.tagged(false).empty());
}

TEST_CASE("results of many MB cross the channel whole", "[process]") {
  Program p;
  p.inputs(std::vector<std::string>(6, "big"));  // 2 mini-batches of 3 rows of 4 MB
  const Ran t = p.run(fault_injection, thread_args({}));
  const Ran q = p.run(fault_injection, process_args({}));
  CHECK(t.status == 0);
  CHECK(q.status == 0);
  const std::string rows = read_file(p.dir / "thread" / "parallel_run_step.txt");
  CHECK(rows.size() > (24u << 20));
  CHECK(p.output() == rows);
  CHECK(p.tagged().empty());
}

TEST_CASE("an output that cannot be written ends the job as with threads", "[process]") {
  Program p;
  p.inputs(std::vector<std::string>(12, "big"));
  const std::vector<std::string> limit = {"FAULT_INJECTION_FILE_SIZE_LIMIT=20000000"};
  const Ran t = p.run(fault_injection, thread_args({}), limit);
  const Ran q = p.run(fault_injection, process_args({}), limit);
  CHECK(t.status == 1);
  CHECK(q.status == t.status);
  CHECK(matches(
      q.err, "job failed: the output could not be written: cannot write '[^']*': File too large"));
  const std::string master = read_file(p.dir / "out" / "logs" / "master.txt");
  CHECK(master.find("broke the protocol") == std::string::npos);
  CHECK(q.err.find("broke the protocol") == std::string::npos);
  CHECK(p.tagged().empty());
}

TEST_CASE("a job whose stdout and stderr are a closed pipe runs to its end, as it would beside",
          "[process]") {
  // `job 2>&1 | head -1`: head has exited by the time the job writes its warnings, the
  // scorer's own lines (thread backend) and the summary; those writes fail, and the job goes on.
  const bool threads = GENERATE(true, false);
  Program p;
  std::vector<std::string> words(12, "ok");
  words[4] = "throw-once";
  p.inputs(words);
  const std::vector<std::string> args = threads ? thread_args({}) : process_args({});
  const std::string out_dir = threads ? "thread" : "out";
  const Ran beside = p.run(fault_injection, args);
  REQUIRE(beside.status == 0);
  const std::string rows = read_file(p.dir / out_dir / "parallel_run_step.txt");
  std::filesystem::remove_all(p.dir / out_dir);
  const Ran closed =
      p.wait(p.start(fault_injection, args, {}, false, test_support::Streams::closed_pipe));
  CHECK(closed.status == 0);
  CHECK(read_file(p.dir / out_dir / "parallel_run_step.txt") == rows);
  const std::string master = read_file(p.dir / out_dir / "logs" / "master.txt");
  CHECK(matches(master, "mini-batch 1 attempt 1/3 failed"));
  CHECK(matches(master, "items 12/12 succeeded, 0 failed"));
  CHECK(p.tagged().empty());
}

TEST_CASE("with SIGCHLD ignored a crash is still isolated and its status is unknown", "[process]") {
  Program p;
  std::vector<std::string> words(12, "ok");
  words[4] = "segv-once";
  p.inputs(words);
  const Ran r = p.run(fault_injection, process_args({}), {"FAULT_INJECTION_IGNORE_SIGCHLD=1"});
  CHECK(r.status == 0);
  CHECK(matches(r.out, "items 12/12 succeeded, 0 failed.* attempts 5, retries 1"));
  CHECK(matches(r.err,
                "mini-batch 1 attempt 1/3 failed: worker process [0-9]+ ended \\(its "
                "status is unknown\\) while running mini-batch 1"));
  CHECK(p.tagged().empty());
}

TEST_CASE("a table job writes the same bytes with processes as with threads", "[process]") {
  const bool keyed = GENERATE(false, true);
  CAPTURE(keyed);
  Program p;
  std::string csv = "id,group,value\n";
  for (int i = 1; i <= 400; ++i)
    csv += i == 37 ? "37,g1,not-a-number\n" : fmt::format("{},g{},{}.25\n", i, i % 7, i);
  write_file(p.dir / "in" / "a.csv", csv);
  write_file(p.dir / "in" / "b.csv", "id,group,value\n1000,g3,1\n1001,g9,2\n");
  std::vector<std::string> common = {
      "--input", "in", "--mini-batch-size", "700", "--process-count-per-node", "2"};
  if (keyed) common.insert(common.end(), {"--partition-keys", "group"});
  auto with = [&](std::vector<std::string> more) {
    std::vector<std::string> args = common;
    args.insert(args.end(), more.begin(), more.end());
    return args;
  };
  const Ran t = p.run(table_driver, with({"--output", "thread", "--backend", "thread"}));
  const Ran q = p.run(table_driver, with({"--output", "out", "--backend", "process"}));
  CHECK(t.status == 0);
  CHECK(q.status == 0);
  CHECK(matches(q.out, "items 401/402 succeeded, 1 failed"));
  const std::string rows = read_file(p.dir / "thread" / "parallel_run_step.txt");
  CHECK(std::count(rows.begin(), rows.end(), '\n') == 401);
  CHECK(p.output() == rows);
  CHECK(p.failed() == read_file(p.dir / "thread" / "logs" / "failed_items.csv"));
  CHECK(matches(p.failed(), "a.csv:38,"));
  // No socket, pidfd or file of the job is left open in the coordinator.
  CHECK(matches(t.out, "leftover fds: 0\n"));
  CHECK(matches(q.out, "leftover fds: 0\n"));
  CHECK(p.tagged().empty());
}

namespace {

const std::string scheduling = PARALLEL_RUN_SCHEDULING_DRIVER;

// The rows of the scheduling driver: key -> the rest of the row ("<pid>" or "<pid> gave-up").
std::map<std::string, std::string> rows_by_key(const std::string& output) {
  std::map<std::string, std::string> rows;
  std::size_t start = 0;
  while (start < output.size()) {
    const auto end = output.find('\n', start);
    const std::string line = output.substr(start, end - start);
    const auto space = line.find(' ');
    rows[line.substr(0, space)] = line.substr(space + 1, 64);
    start = end == std::string::npos ? output.size() : end + 1;
  }
  return rows;
}

}  // namespace

TEST_CASE("a mini-batch never waits behind a running one while a worker is idle", "[process]") {
  // 2 workers, 4 mini-batches of one file: the first waits until the other 3 are done. They
  // can only be done by the other worker; one queued behind the waiting one would never run.
  Program p;
  p.inputs({"await=3", "ok", "ok", "ok"});
  const Ran r =
      p.run(scheduling, {"--input", "in", "--output", "out", "--process-count-per-node", "2"});
  CHECK(r.status == 0);
  CHECK(matches(r.out, "items 4/4 succeeded"));
  const auto rows = rows_by_key(p.output());
  REQUIRE(rows.size() == 4);
  CHECK(rows.at("f00.txt").find("gave-up") == std::string::npos);
  CHECK(rows.at("f01.txt") == rows.at("f02.txt"));
  CHECK(rows.at("f02.txt") == rows.at("f03.txt"));
  CHECK(rows.at("f01.txt") != rows.at("f00.txt").substr(0, rows.at("f01.txt").size()));
  CHECK(p.tagged().empty());
}

TEST_CASE("once the job stops, a mini-batch sent to a worker and not started does not start",
          "[process]") {
  // One worker: it is sent mini-batch 1 behind mini-batch 0, which interrupts the job and
  // then waits until its worker handed mini-batch 1 back.
  Program p;
  p.inputs({"interrupt", "ok", "ok", "ok"});
  const Ran r =
      p.run(scheduling, {"--input", "in", "--output", "out", "--process-count-per-node", "1"});
  CHECK(r.status == 130);
  CHECK(matches(r.err, "items 1/4 succeeded, 0 failed, 3 not processed"));
  const auto rows = rows_by_key(p.output());
  REQUIRE(rows.size() == 1);
  CHECK(rows.at("f00.txt").find("gave-up") == std::string::npos);
  CHECK(read_file(p.dir / worker_log(0)).find("scoring f01.txt") == std::string::npos);
  CHECK(matches(p.failed(), "\nf01.txt,1,0,\"?not processed: the job stopped \\(interrupted"));
  CHECK(p.tagged().empty());
}

TEST_CASE("a worker whose run() reaches another run() reports every attempt it held", "[process]") {
  // Mini-batch 1 waits behind mini-batch 0 on the only worker; it would block (it waits for
  // markers that never come) if it ran. The job must end, with each item accounted for.
  Program p;
  p.inputs({"nested", "await=99", "ok"});
  const Ran r = p.wait(
      p.start(scheduling, {"--input", "in", "--output", "out", "--process-count-per-node", "1"}),
      60s);
  CHECK(r.status == 2);
  CHECK(matches(r.err,
                "job failed: init failed: the worker process reached a thread-backend "
                "run\\(\\) \\(job 'nested'\\)"));
  CHECK(matches(r.err, "items 0/3 succeeded, 1 failed, 2 not processed"));
  CHECK(matches(p.failed(), "\nf00.txt,0,1,\"?attempt 1 failed and the job is stopping: "));
  CHECK(matches(p.failed(), "\nf01.txt,1,0,\"?not processed: the job stopped"));
  CHECK(read_file(p.dir / worker_log(0)).find("scoring f01.txt") == std::string::npos);
  CHECK(p.tagged().empty());
}

TEST_CASE("an answer that arrived while the coordinator stalled is not timed out", "[process]") {
  // Mini-batch 0 stalls the coordinator's thread for 3 s (a signal handler) and answers with
  // 4 MB at once; run_invocation_timeout is 1 s. The answer is there when the timer is seen.
  Program p;
  p.inputs({"stall"});
  const Ran r = p.run(scheduling,
                      {"--input", "in", "--output", "out", "--process-count-per-node", "1",
                       "--run-invocation-timeout", "1", "--run-max-try", "1"},
                      {"STALL_SECONDS=3"});
  CHECK(r.status == 0);
  CHECK(matches(r.out, "items 1/1 succeeded, 0 failed.* timeouts 0"));
  CHECK(p.output().size() > (4u << 20));
  CHECK(p.tagged().empty());
}

TEST_CASE("a worker's channel is CLOEXEC before its main() runs", "[process]") {
  Program p;
  p.inputs({"ok"});
  const Ran r =
      p.run(scheduling, {"--input", "in", "--output", "out", "--process-count-per-node", "1"});
  CHECK(r.status == 0);
  CHECK(read_file(p.dir / worker_log(0)).find("channel cloexec at main: yes\n") !=
        std::string::npos);
}

TEST_CASE("a corrupt count in a message is an error before anything is allocated", "[process]") {
  // 24 bytes that claim 4 million failed items: an empty rows string, 0 succeeded, the count.
  std::string bytes;
  detail::WireWriter w(bytes);
  w.put("");
  w.put<std::uint64_t>(0);
  w.put<std::uint64_t>(4'000'000);
  REQUIRE(bytes.size() == 24);
  detail::WireReader r(bytes);
  CHECK_THROWS_WITH(detail::decode_outcome(r),
                    Catch::Contains("claims 4000000 failed items, more than its 0 remaining "
                                    "bytes can hold"));
  std::string strings;
  detail::WireWriter ws(strings);
  ws.put<std::uint64_t>(~std::uint64_t{0});
  detail::WireReader rs(strings);
  CHECK_THROWS_WITH(detail::decode_strings(rs), Catch::Contains("claims"));
  std::string files;
  detail::WireWriter wf(files);
  wf.put<std::uint64_t>(0);
  wf.put<std::uint64_t>(1);
  wf.put("a");  // one entry needs a path, a key and an index: 24 bytes at least
  detail::WireReader rf(files);
  CHECK_THROWS_WITH(detail::decode_file_batch(rf), Catch::Contains("claims 1 files"));
  std::string flag;
  detail::WireWriter wb(flag);
  wb.put<std::uint8_t>(7);
  detail::WireReader rb(flag);
  CHECK_THROWS_WITH(rb.get<bool>(), Catch::Contains("holds 7 where a bool belongs"));
  // An outcome must add up to its mini-batch.
  const detail::BatchOutcome o{"a\n", 1, {{"k", "why"}}, {}, {}};
  CHECK_NOTHROW(detail::check_outcome(o, 2, 5));
  CHECK_THROWS_WITH(detail::check_outcome(o, 3, 5),
                    "[parallel_run.internal] the result of mini-batch 5 counts 1 succeeded and 1 "
                    "failed items, but the mini-batch has 3");
  const detail::BatchOutcome too_many{"", 9, {}, {}, {}};
  CHECK_THROWS(detail::check_outcome(too_many, 3, 0));
}

TEST_CASE("a channel buffer does not keep the capacity of its largest frame", "[process]") {
  std::string stream;
  detail::append_frame(stream, detail::MessageType::result,
                       [](detail::WireWriter& w) { w.put(std::string(8u << 20, 'r')); });
  detail::append_frame(stream, detail::MessageType::init_ok);
  detail::FrameBuffer in;
  in.append(stream.data(), stream.size() - 2);  // the second frame is not complete
  auto f = in.next();
  REQUIRE(f);
  CHECK(f->payload.size() == (8u << 20) + 8);
  CHECK_FALSE(in.next());
  in.compact();
  CHECK(in.partial());
  CHECK(in.capacity() <= detail::buffer_capacity_kept);
  in.append(stream.data() + stream.size() - 2, 2);
  auto g = in.next();
  REQUIRE(g);
  CHECK(g->type == detail::MessageType::init_ok);
  in.compact();
  CHECK_FALSE(in.partial());
  CHECK(in.capacity() <= detail::buffer_capacity_kept);
  std::string big(8u << 20, 'x');
  big.clear();
  detail::release_if_large(big);
  CHECK(big.capacity() <= detail::buffer_capacity_kept);
}

TEST_CASE("a segfault on the thread backend leaves a record naming the mini-batch it ran",
          "[process]") {
  // The whole process dies: only what was on disk before run() was called tells the story.
  Program p;
  std::vector<std::string> words(6, "ok");
  words[4] = "segv";
  p.inputs(words);
  std::vector<std::string> args = thread_args({});
  args[9] = "1";  // --process-count-per-node 1: mini-batches run one after the other
  const Ran r = p.run(fault_injection, args);
  CHECK(r.status != 0);
  const auto logs = p.dir / "thread" / "logs";
  const std::string record = read_file(logs / "worker" / detail::host_name() / "process-0.txt");
  CHECK(matches(record,
                "mini-batch 0 attempt 1 started: host [^,]+, pid [0-9]+, items 3 "
                "\\(f00.txt, f01.txt, f02.txt\\), start1 [-0-9]+ [:.0-9]+, start2 "));
  CHECK(matches(record,
                "mini-batch 0 attempt 1 succeeded: host [^,]+, pid [0-9]+, items 3, "
                "succeeded 3, start1 [-0-9]+ [:.0-9]+, end1 [-0-9]+ [:.0-9]+, start2 "
                "[.0-9]+, end2 [.0-9]+, run\\(\\) [.0-9]+ s\n"));
  // Mini-batch 1 started and never ended: its start names its items.
  CHECK(matches(record,
                "mini-batch 1 attempt 1 started: [^\n]*items 3 \\(f03.txt, f04.txt, "
                "f05.txt\\)[^\n]*\n$"));
  CHECK(record.find("mini-batch 1 attempt 1 succeeded") == std::string::npos);
  // The coordinator's files were begun: overview.txt says the job was running or starting.
  CHECK(matches(read_file(logs / "overview.txt"), "\nstate: (starting|running)\n"));
}

// Short mini-batches are sent ahead many at a time, and their answers read in gathered turns
// (process_backend.hpp, prefetch() and gather()): what the faults below do to one of them
// must stay with that one.
namespace {

// 300 input files in <dir>/in named f000.txt ... (three digits: their order is their index),
// each saying "ok" but the one at `at`, which says `word`.
void numbered_inputs(Program& p, std::size_t at, const std::string& word) {
  for (std::size_t i = 0; i < 300; ++i)
    write_file(p.dir / "in" / fmt::format("f{:03}.txt", i), (i == at ? word : "ok") + "\n");
}

// The scheduling driver over numbered_inputs(), mini-batches of one file on `workers`.
Ran run_scheduling(Program& p, std::size_t at, const std::string& word, const char* workers) {
  numbered_inputs(p, at, word);
  return p.run(scheduling, {"--input", "in", "--output", "out", "--process-count-per-node", workers,
                            "--progress", "none"});
}

// The fault-injection driver over numbered_inputs() with `word` at 250, mini-batches of one
// file on 2 workers, with `more` arguments.
Ran run_faulty_250(Program& p, const std::string& word, std::vector<std::string> more) {
  numbered_inputs(p, 250, word);
  more.insert(more.end(), {"--progress", "none"});
  std::vector<std::string> args = process_args(std::move(more));
  args[7] = "1";  // --mini-batch-size
  return p.run(fault_injection, std::move(args));
}

// What fault_injection writes for numbered_inputs() when all but mini-batch 250 succeed.
std::string ok_rows_but_250() {
  std::string rows;
  for (std::size_t i = 0; i < 300; ++i)
    if (i != 250) rows += fmt::format("f{:03}.txt ok 3\n", i);
  return rows;
}

}  // namespace

TEST_CASE("with many short mini-batches sent ahead, a crash costs only the one that crashed",
          "[process]") {
  Program p;
  const Ran r = run_faulty_250(p, "segv", {"--run-max-try", "2"});
  CHECK(r.status == 0);
  CHECK(matches(r.out,
                "items 299/300 succeeded, 1 failed, 0 not processed; mini-batches 299/300 "
                "succeeded, 1 failed, 0 not processed; attempts 301, retries 1"));
  CHECK(p.output() == ok_rows_but_250());
  const std::string failed = p.failed();
  CHECK(std::count(failed.begin(), failed.end(), '\n') == 2);
  CHECK(matches(failed, "\nf250.txt,250,2,\"?all 2 attempts failed; last: worker process [0-9]+ " +
                            std::string(sanitized ? "(was killed by signal [0-9]+ \\([A-Z]+\\)|"
                                                    "exited with status [0-9]+)"
                                                  : "was killed by signal 11 \\(SIGSEGV\\)") +
                            " while running mini-batch 250; "));
  CHECK(p.tagged().empty());
}

TEST_CASE("once the job stops, none of the short mini-batches sent ahead starts", "[process]") {
  // One worker, 300 mini-batches of one file: by the 200th it holds many sent ahead. That one
  // interrupts the job and waits until its worker handed one back.
  Program p;
  const Ran r = run_scheduling(p, 200, "interrupt", "1");
  CHECK(r.status == 130);
  CHECK(matches(r.err, "items 201/300 succeeded, 0 failed, 99 not processed"));
  const auto rows = rows_by_key(p.output());
  CHECK(rows.size() == 201);
  CHECK(rows.count("f200.txt") == 1);
  if (rows.count("f200.txt") == 1) CHECK(rows.at("f200.txt").find("gave-up") == std::string::npos);
  const std::string log = read_file(p.dir / worker_log(0));
  for (std::size_t i = 201; i < 300; ++i) {
    CAPTURE(i);
    CHECK(log.find(fmt::format("scoring f{:03}.txt", i)) == std::string::npos);
  }
  const std::string failed = p.failed();
  CHECK(std::count(failed.begin(), failed.end(), '\n') == 100);
  CHECK(matches(failed, "\nf201.txt,201,0,\"?not processed: the job stopped \\(interrupted"));
  CHECK(p.tagged().empty());
}

TEST_CASE("short mini-batches sent ahead of a long one go to a worker that falls idle",
          "[process]") {
  // 2 workers. After 200 short mini-batches (which make the workers take many ahead), the
  // 201st waits until every other one is done: all those behind it must run on the other
  // worker, and none may wait for it.
  Program p;
  const Ran r = run_scheduling(p, 200, "await=299", "2");
  CHECK(r.status == 0);
  CHECK(matches(r.out, "items 300/300 succeeded"));
  const auto rows = rows_by_key(p.output());
  REQUIRE(rows.size() == 300);
  const std::string waiter = rows.at("f200.txt");
  CHECK(waiter.find("gave-up") == std::string::npos);
  std::size_t on_waiter = 0;
  for (std::size_t i = 201; i < 300; ++i)
    if (rows.at(fmt::format("f{:03}.txt", i)) == waiter) ++on_waiter;
  CHECK(on_waiter == 0);
  CHECK(p.tagged().empty());
}

TEST_CASE("a memory kill of a worker holding many short mini-batches blames the one it ran",
          "[process]") {
  // Answers of a gathered worker wait in its channel between reads: they are read before the
  // memory check, so the kill names mini-batch 250 and the ones it answered keep their rows.
  Program p;
  const std::string limit = sanitized ? "600MB" : "200MB";
  const Ran r = run_faulty_250(p, "oom", {"--run-max-try", "1", "--worker-memory-limit", limit});
  CHECK(r.status == 0);
  CHECK(matches(r.out,
                "items 299/300 succeeded, 1 failed, 0 not processed; mini-batches 299/300 "
                "succeeded, 1 failed, 0 not processed; attempts 300, retries 0"));
  CHECK(p.output() == ok_rows_but_250());
  const std::string failed = p.failed();
  CHECK(std::count(failed.begin(), failed.end(), '\n') == 2);
  CHECK(matches(failed,
                "\nf250.txt,250,1,\"?the only attempt failed: out of memory: worker "
                "process [0-9]+ had [0-9.]+ MB resident \\(RSS\\), above "
                "worker_memory_limit [0-9.]+ MB.* while running mini-batch 250; "));
  CHECK(p.tagged().empty());
}
