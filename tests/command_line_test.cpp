#include <parallel_run/command_line.hpp>

#include <catch2/catch.hpp>

#include <sstream>

#include "parallel_run/detail/overview_file.hpp"
#include "support/invoke_main.hpp"
#include "support/temp_dir.hpp"

using namespace parallel_run;
using test_support::Invocation;
using test_support::invoke_main;
using test_support::make_numbered_files;
using test_support::numbered_keys;
using test_support::read_file;
using test_support::TempDir;

namespace {
CommandLine parse(std::vector<std::string> args, Config defaults = {}) {
  args.insert(args.begin(), "prog");
  std::vector<const char*> argv;
  for (auto& a : args)
    argv.push_back(a.c_str());
  std::ostringstream out;
  return parse_command_line(static_cast<int>(argv.size()), argv.data(), std::move(defaults), "",
                            out);
}

auto key_and_argument_scorer() {
  return make_scorer([](const FileBatch& b, Context& ctx) {
    std::vector<std::string> out;
    for (const auto& e : b)
      out.push_back(e.key + (ctx.arguments().empty() ? "" : " " + ctx.arguments()[0]));
    return out;
  });
}
}  // namespace

TEST_CASE("every flag sets its setting, in both spellings", "[command_line]") {
  TempDir t;
  test_support::write_file(t / "m.bin", "");
  for (bool service_spelling : {false, true}) {
    auto flag = [&](std::string dashed) {
      if (service_spelling) std::replace(dashed.begin() + 2, dashed.end(), '-', '_');
      return dashed;
    };
    CommandLine cl = parse({"--input",
                            "a",
                            "-i",
                            "b",
                            flag("--output-dir"),
                            "o",
                            "--name",
                            "my-job",
                            flag("--mini-batch-size"),
                            "7",
                            flag("--error-threshold"),
                            "5",
                            flag("--mini-batch-error-threshold"),
                            "2",
                            flag("--allowed-failed-percent"),
                            "12.5",
                            flag("--output-action"),
                            "summary_only",
                            flag("--append-row-file-name"),
                            "r.txt",
                            flag("--process-count-per-node"),
                            "3",
                            flag("--run-invocation-timeout"),
                            "2.5",
                            flag("--run-max-try"),
                            "4",
                            flag("--logging-level"),
                            "DEBUG",
                            flag("--side-input"),
                            "model=" + (t / "m.bin").string(),
                            "--backend",
                            "thread",
                            flag("--log-dir"),
                            "logs2",
                            flag("--key-column"),
                            "--delimiter",
                            ",",
                            flag("--node-count"),
                            "1",
                            "--limit",
                            "9",
                            flag("--follow-symlinks")});
    const Config& c = cl.config;
    CHECK(cl.inputs == std::vector<std::string>{"a", "b"});
    CHECK(c.output_dir == "o");
    CHECK(c.name == "my-job");
    CHECK(c.mini_batch_size == 7);
    CHECK(c.error_threshold == 5);
    CHECK(c.mini_batch_error_threshold == 2);
    CHECK(c.allowed_failed_percent == 12.5);
    CHECK(c.output_action == OutputAction::summary_only);
    CHECK(c.append_row_file_name == "r.txt");
    CHECK(c.process_count_per_node == 3);
    CHECK(c.run_invocation_timeout == 2.5);
    CHECK(c.run_max_try == 4);
    CHECK(c.logging_level == LoggingLevel::debug);
    CHECK(c.side_inputs.at("model") == t / "m.bin");
    CHECK(c.log_dir == "logs2");
    CHECK(c.key_column);
    CHECK(c.delimiter == ",");
    CHECK(c.node_count == 1);
    CHECK(c.limit == 9);
    CHECK(c.follow_symlinks);
    CHECK_NOTHROW(c.validate());
  }
}

TEST_CASE("the allow_reuse flag takes true or false or 1 or 0 or yes or no in any case",
          "[command_line]") {
  for (const char* yes : {"true", "TRUE", "1", "yes", "Yes"})
    CHECK(parse({"--input", "a", "--output", "o", "--allow-reuse", yes}).config.allow_reuse);
  for (const char* no : {"false", "False", "0", "no", "NO"})
    CHECK_FALSE(parse({"--input", "a", "--output", "o", "--allow-reuse", no}).config.allow_reuse);
  CHECK(parse({"--input", "a", "--output", "o"}).config.allow_reuse);  // the default
  try {
    parse({"--input", "a", "--output", "o", "--allow-reuse", "maybe"});
    FAIL("--allow-reuse maybe was accepted");
  } catch (const ConfigError& e) {
    CHECK(e.setting() == "allow_reuse");
    CHECK(std::string(e.what()) ==
          "[parallel_run.config.allow_reuse] allow_reuse must be true or false (also 1 or 0, "
          "yes or no); got 'maybe'");
  }
}

TEST_CASE("the command line overrides values set in code, and only those it gives",
          "[command_line]") {
  Config defaults;
  defaults.mini_batch_size = 25;
  defaults.run_max_try = 5;
  defaults.output_dir = "from-code";
  defaults.arguments = {"code-arg"};
  CommandLine cl = parse({"--input", "x", "--run_max_try", "2"}, defaults);
  CHECK(cl.config.mini_batch_size == 25);
  CHECK(cl.config.run_max_try == 2);
  CHECK(cl.config.output_dir == "from-code");
  CHECK(cl.config.arguments == std::vector<std::string>{"code-arg"});
  cl = parse({"--input", "x", "--", "--mini-batch-size", "3", "--", "z"}, defaults);
  CHECK(cl.config.mini_batch_size == 25);  // after "--": the scorer's, not ours
  CHECK(cl.config.arguments == std::vector<std::string>{"--mini-batch-size", "3", "--", "z"});
}

TEST_CASE("usage and configuration errors exit 2 with a one-line reason", "[command_line]") {
  TempDir t;
  make_numbered_files(t / "in", 3);
  const std::string in = (t / "in").string(), out = (t / "out").string();
  auto r = invoke_main({"--input", in, "--output", out, "--mini-batch-size", "0"},
                       key_and_argument_scorer());
  CHECK(r.status == 2);
  CHECK(r.err ==
        "parallel_run: [parallel_run.config.mini_batch_size] mini_batch_size must be an integer in "
        "[1, 2147483647], got 0\n");
  // Neither a count nor a size: what each kind of input takes; a size for a job of files: that
  // it counts files.
  r = invoke_main({"--input", in, "--output", out, "--mini-batch-size", "abc"},
                  key_and_argument_scorer());
  CHECK(r.status == 2);
  CHECK(r.err ==
        "parallel_run: [parallel_run.config.mini_batch_size] mini_batch_size must be a number of "
        "files for file inputs (an integer in [1, 2147483647]) or a size for tables, like 1024, "
        "1024KB, 10MB or 1GB (^\\d+([kKmMgG][bB])?$), got 'abc'\n");
  r = invoke_main({"--input", in, "--output", out, "--mini-batch-size", "10MB"},
                  key_and_argument_scorer());
  CHECK(r.status == 2);
  CHECK(r.err ==
        "parallel_run: [parallel_run.config.mini_batch_size] mini_batch_size counts files for "
        "file inputs and must be an integer in [1, 2147483647], got '10MB'\n");
  // An empty value (a shell variable that expanded to nothing) is not the default.
  r = invoke_main({"--input", in, "--output", out, "--mini-batch-size", ""},
                  key_and_argument_scorer());
  CHECK(r.status == 2);
  CHECK(r.err ==
        "parallel_run: [parallel_run.config.mini_batch_size] --mini-batch-size is empty: give a "
        "number of files (10) or, for tables, a size (1MB), or leave the flag out for the "
        "default\n");
  r = invoke_main({"--input", in, "--output", out, "--log-dir", ""}, key_and_argument_scorer());
  CHECK(r.status == 2);
  CHECK(r.err ==
        "parallel_run: [parallel_run.config.log_dir] --log-dir is empty: give a folder, or leave "
        "the flag out for <output>/logs\n");
  // A value that is not a number: the setting and its range, as for one out of range.
  r = invoke_main({"--input", in, "--output", out, "--run-max-try", "many"},
                  key_and_argument_scorer());
  CHECK(r.status == 2);
  CHECK(r.err ==
        "parallel_run: [parallel_run.config.run_max_try] run_max_try must be an integer in "
        "[1, 2147483647], got 'many'\n");
  r = invoke_main({"--input", in, "--output", out, "--run-invocation-timeout", "abc"},
                  key_and_argument_scorer());
  CHECK(r.err ==
        "parallel_run: [parallel_run.config.run_invocation_timeout] run_invocation_timeout must "
        "be a number of seconds in (0, 31536000], got 'abc'\n");
  r = invoke_main({"--input", in, "--output", out, "--limit", "1.5"}, key_and_argument_scorer());
  CHECK(r.err ==
        "parallel_run: [parallel_run.config.limit] limit must be an integer in "
        "[0, 9223372036854775807], got '1.5'\n");
  r = invoke_main({"--input", in, "--output", out, "--error-threshold", "99999999999999999999"},
                  key_and_argument_scorer());
  CHECK(r.err ==
        "parallel_run: [parallel_run.config.error_threshold] error_threshold must be an integer "
        "in [-1, 2147483647], got '99999999999999999999'\n");
  r = invoke_main({"--input", in, "--output", out, "--resource-monitor-interval", "5s"},
                  key_and_argument_scorer());
  CHECK(r.err ==
        "parallel_run: [parallel_run.config.resource_monitor_interval] resource_monitor_interval "
        "must be 0 (off) or a number of seconds in [0.01, 31536000], got '5s'\n");
  // One that parses but is out of range: validate() says it, in the same words.
  r = invoke_main({"--input", in, "--output", out, "--allowed-failed-percent", "101"},
                  key_and_argument_scorer());
  CHECK(r.err ==
        "parallel_run: [parallel_run.config.allowed_failed_percent] allowed_failed_percent must "
        "be a number in [0, 100], got 101\n");
  r = invoke_main({"--input", in, "--output", out, "--run-max-try"}, key_and_argument_scorer());
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::StartsWith("parallel_run: [parallel_run.usage] "));
  CHECK_THAT(r.err, Catch::Contains("--run-max-try"));
  CHECK_THAT(r.err, Catch::EndsWith(" (see --help)\n"));
  r = invoke_main({"--input", in, "--output", out, "--no-such-flag"}, key_and_argument_scorer());
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::Contains("--no-such-flag"));
  r = invoke_main({"--output", out}, key_and_argument_scorer());
  CHECK(r.status == 2);
  CHECK(r.err ==
        "parallel_run: [parallel_run.usage] --input is required (a folder, glob, @list file or "
        "file)\n");
  r = invoke_main({"--input", (t / "none").string(), "--output", out}, key_and_argument_scorer());
  CHECK(r.status == 2);
  CHECK(r.err == "parallel_run: [parallel_run.input] input '" + (t / "none").string() +
                     "' does not exist (not a file, folder, glob match or @list file)\n");
  r = invoke_main({"--input", in, "--output", out, "--side-input", "model"},
                  key_and_argument_scorer());
  CHECK(r.status == 2);
  CHECK(r.err ==
        "parallel_run: [parallel_run.config.side_inputs] --side-input must be NAME=PATH, got "
        "'model'\n");
  r = invoke_main({"--input", in, "--output", out, "--logging-level", "loud"},
                  key_and_argument_scorer());
  CHECK(r.status == 2);
  CHECK(r.err ==
        "parallel_run: [parallel_run.config.logging_level] logging_level must be one of WARNING, "
        "INFO, DEBUG; got 'loud'\n");
  // Table flags for a scorer of files: refused, not ignored; the first one in --help's order
  // is named.
  r = invoke_main({"--input", in, "--output", out, "--partition-keys", "a", "--format", "csv"},
                  key_and_argument_scorer());
  CHECK(r.status == 2);
  CHECK(r.err ==
        "parallel_run: [parallel_run.config.table_format] --format is an option of table jobs, "
        "and this program's scorer takes files (a FileBatch): it would be ignored; leave it out\n");
  r = invoke_main({"--input", in, "--output", out, "--no-header"}, key_and_argument_scorer());
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::StartsWith("parallel_run: [parallel_run.config.header] --no-header is "
                                      "an option of table jobs"));
  r = invoke_main({"--input", in, "--output", out, "--allow-different-headers"},
                  key_and_argument_scorer());
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::StartsWith("parallel_run: [parallel_run.config.allow_different_headers] "
                                      "--allow-different-headers is an option of table jobs"));
  r = invoke_main({"--input", in, "--output", out, "--input-delimiter", ";"},
                  key_and_argument_scorer());
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::StartsWith("parallel_run: [parallel_run.config.input_delimiter] "
                                      "--input-delimiter is an option of table jobs"));
  r = invoke_main({"--input", in, "--output", out, "--partition-keys", "a"},
                  key_and_argument_scorer());
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::StartsWith("parallel_run: [parallel_run.config.partition_keys] "
                                      "--partition-keys is an option of table jobs"));
  CHECK_FALSE(std::filesystem::exists(t / "out"));  // nothing written for a usage error
}

TEST_CASE("a job that succeeds exits 0 with a summary line - one that fails exits 1",
          "[command_line]") {
  TempDir t;
  make_numbered_files(t / "in", 12);
  const std::string in = (t / "in").string(), out = (t / "out").string();
  auto r = invoke_main({"--input", in, "--output", out, "--mini_batch_size", "5", "--", "tag"},
                       key_and_argument_scorer());
  CHECK(r.status == 0);
  CHECK(r.err.empty());
  CHECK_THAT(r.out, Catch::StartsWith(
                        "parallel_run: succeeded: items 12/12 succeeded, 0 failed, 0 "
                        "not processed; mini-batches 3/3 succeeded, 0 failed, 0 not processed; "
                        "attempts 3, retries 0, timeouts 0; "));
  CHECK_THAT(r.out, Catch::EndsWith(" s; output: " + out + "/parallel_run_step.txt\n"));
  std::string expected;
  for (int i = 0; i < 12; ++i)
    expected += fmt::format("f{:03}.txt tag\n", i);
  CHECK(read_file(t / "out/parallel_run_step.txt") == expected);

  auto failing = make_scorer([](const FileBatch& b) -> std::vector<std::string> {
    if (b.mini_batch_index() == 1) throw std::runtime_error("cannot score");
    return std::vector<std::string>(b.size(), "ok");
  });
  r = invoke_main(
      {"--input", in, "--output", out, "--mini-batch-size", "5", "--run-max-try", "1",
       "--error-threshold", "0", "--process-count-per-node", "1", "--logging-level", "WARNING"},
      failing);
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Catch::Contains("parallel_run: job failed: error_threshold exceeded: 5 failed "
                                    "items > error_threshold 0\n"));
  // master.txt: one worker is singular, and the command line follows the settings.
  const std::string master = read_file(t / "out/logs/master.txt");
  CHECK_THAT(master, Catch::Contains(" files, 1 thread worker, output "));
  CHECK_THAT(master, Catch::Contains(" INFO command: prog --input " + in + " --output " + out +
                                     " --mini-batch-size 5 "));
  // The first screen: the cause, the first failed items, the files to open, and the command
  // that reruns the mini-batch of the first failed item alone.
  CHECK_THAT(r.err, Catch::Contains("\nparallel_run: failed: f005.txt (mini-batch 1): the only "
                                    "attempt failed: cannot score\n"));
  CHECK_THAT(r.err, Catch::Contains("parallel_run: failed items: " + out +
                                    "/logs/failed_items.csv; by category: " + out +
                                    "/logs/job_error.txt; log: " + out + "/logs/master.txt\n"));
  const std::string rerun_line =
      "parallel_run: to rerun the mini-batch of the first failed item alone: ";
  const auto at = r.err.find(rerun_line);
  REQUIRE(at != std::string::npos);
  const std::string command =
      r.err.substr(at + rerun_line.size(), r.err.find('\n', at) - at - rerun_line.size());
  CHECK(command == "prog --only-mini-batch 1 --input " + in + " --output " + out +
                       " --mini-batch-size 5 --run-max-try 1 --error-threshold 0 "
                       "--process-count-per-node 1 --logging-level WARNING");
  // Run that command: mini-batch 1 alone fails the same way, in its own folder; the job's
  // own output and logs are untouched.
  const std::string job_rows = read_file(t / "out/parallel_run_step.txt");
  std::vector<std::string> args;
  for (std::size_t b = command.find(' ') + 1, e; b < command.size(); b = e + 1) {
    e = command.find(' ', b);
    if (e == std::string::npos) e = command.size();
    args.push_back(command.substr(b, e - b));
  }
  const auto again = invoke_main(args, failing);
  CHECK(again.status == 1);
  CHECK_THAT(again.err,
             Catch::Contains("items 0/5 succeeded, 5 failed, 0 not processed; "
                             "mini-batches 0/1 succeeded, 1 failed, 0 not processed; attempts 1"));
  CHECK_THAT(read_file(t / "out/only-mini-batch-1/logs/failed_items.csv"),
             Catch::StartsWith("key,mini_batch,attempts,reason\nf005.txt,1,1,the only attempt "
                               "failed: cannot score\n"));
  CHECK(read_file(t / "out/only-mini-batch-1/logs/master.txt").find(" DEBUG ") !=
        std::string::npos);
  CHECK(read_file(t / "out/parallel_run_step.txt") == job_rows);
  CHECK(again.err.find("to rerun") == std::string::npos);

  // Failed items the thresholds tolerate: a warning on stderr, and the same in master.txt.
  r = invoke_main({"--input", in, "--output", (t / "tolerated").string(), "--mini-batch-size", "5",
                   "--run-max-try", "1", "--logging-level", "WARNING"},
                  failing);
  CHECK(r.status == 0);
  const std::string warning =
      "the job succeeded with 5 of 12 items failed (tolerated by "
      "error_threshold -1); they are listed in " +
      (t / "tolerated/logs/failed_items.csv").string();
  CHECK_THAT(r.err, Catch::StartsWith("parallel_run: warning: " + warning + "\n"));
  CHECK_THAT(read_file(t / "tolerated/logs/master.txt"),
             Catch::Contains(" WARNING " + warning + "\n"));
}

TEST_CASE("inputs that name no file are on the first screen with the failed items",
          "[command_line]") {
  TempDir t;
  make_numbered_files(t / "in", 2);
  std::filesystem::create_directories(t / "empty");
  test_support::write_file(t / "list.txt", "in/f000.txt\nin/gone.txt\n");
  const std::string out = (t / "out").string();
  const auto r =
      invoke_main({"--input", "@" + (t / "list.txt").string(), "--input", (t / "empty").string(),
                   "--output", out, "--logging-level", "WARNING", "--progress", "none"},
                  key_and_argument_scorer());
  CHECK(r.status == 0);  // tolerated: error_threshold -1
  CHECK_THAT(r.err,
             Catch::Contains("\nparallel_run: failed: list file '" + (t / "list.txt").string() +
                             "' line 2: 'in/gone.txt' is not a file (it does not exist)\n"
                             "parallel_run: failed: input folder '" +
                             (t / "empty").string() +
                             "' holds no files\n"
                             "parallel_run: failed items: " +
                             out + "/logs/failed_items.csv; by category: " + out +
                             "/logs/job_error.txt; log: " + out + "/logs/master.txt\n"));
  CHECK(r.err.find("to rerun") == std::string::npos);  // no mini-batch failed
}

TEST_CASE("a job stopped with nothing failed points at its log only", "[command_line]") {
  // A SIGTERM that came once every item had succeeded: no failed items to point at.
  JobResult r;
  r.succeeded = false;
  r.interrupted_by = 15;
  r.items_total = r.items_succeeded = 4;
  r.failed_items_file = "/o/logs/failed_items.csv";
  r.job_error_file = "/o/logs/job_error.txt";
  r.log_dir = "/o/logs";
  std::ostringstream err;
  parallel_run::detail::print_first_failures(err, r, Config{});
  CHECK(err.str() == "parallel_run: log: /o/logs/master.txt\n");
  r.items_not_processed = 1;
  r.items_total = 5;
  err.str("");
  parallel_run::detail::print_first_failures(err, r, Config{});
  CHECK(err.str() ==
        "parallel_run: failed items: /o/logs/failed_items.csv; log: "
        "/o/logs/master.txt\n");  // no job_error.txt on disk here
}

TEST_CASE("an init that rejects its configuration stops the job at once with exit 2",
          "[command_line]") {
  TempDir t;
  make_numbered_files(t / "in", 4);
  std::atomic<int> inits{0};
  auto scorer = make_scorer(
      [&inits](Context& ctx) {
        ++inits;
        ctx.side_input("model");
      },
      [](const FileBatch& b) { return std::vector<std::string>(b.size(), "x"); });
  auto r = invoke_main({"--input", (t / "in").string(), "--output", (t / "out").string(),
                        "--process-count-per-node", "2"},
                       scorer);
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::Contains("parallel_run: job failed: init failed: [parallel_run.context] "
                                    "no side input named 'model' (known: none)\n"));
  CHECK(inits <= 2);  // no restarts for an error no restart can fix
}

TEST_CASE("the help shows the defaults in effect", "[command_line]") {
  Config defaults;
  defaults.mini_batch_size = 32;
  defaults.run_max_try = 7;
  defaults.logging_level = LoggingLevel::debug;
  auto r = invoke_main({"--help"}, key_and_argument_scorer(), defaults);
  CHECK(r.status == 0);
  CHECK_THAT(r.out,
             Catch::Matches("[\\s\\S]*--mini-batch-size,--mini_batch_size SIZE=32[\\s\\S]*"));
  CHECK_THAT(r.out, Catch::Matches("[\\s\\S]*--run-max-try,--run_max_try INT=7[\\s\\S]*"));
  CHECK_THAT(r.out, Catch::Matches("[\\s\\S]*--logging-level,--logging_level TEXT=DEBUG[\\s\\S]*"));
}

TEST_CASE("help and version answer and exit 0", "[command_line]") {
  auto r = invoke_main({"--version"}, key_and_argument_scorer());
  CHECK(r.status == 0);
  CHECK(r.out == std::string("parallel_run ") + PARALLEL_RUN_VERSION_STRING + "\n");
  r = invoke_main({"--help"}, key_and_argument_scorer());
  CHECK(r.status == 0);
  CHECK_THAT(r.out, Catch::StartsWith("test program\nUsage: prog [OPTIONS]"));
  for (const char* flag :
       {"--input", "--output", "--mini-batch-size,--mini_batch_size",
        "--error-threshold,--error_threshold",
        "--mini-batch-error-threshold,--mini_batch_error_threshold",
        "--allowed-failed-percent,--allowed_failed_percent", "--output-action,--output_action",
        "--append-row-file-name,--append_row_file_name",
        "--process-count-per-node,--process_count_per_node",
        "--run-invocation-timeout,--run_invocation_timeout", "--run-max-try,--run_max_try",
        "--logging-level,--logging_level", "--side-input,--side_input", "--name", "--backend"})
    CHECK_THAT(r.out, Catch::Contains(flag));
}

TEST_CASE("the rerun command of one mini-batch leaves out what to do with an earlier run",
          "[command_line]") {
  using parallel_run::detail::rerun_command;
  CHECK(rerun_command("prog --input in --output out --resume", 3) ==
        "prog --only-mini-batch 3 --input in --output out");
  CHECK(rerun_command("./my\\ prog --retry-failed --input 'a b' --restart -- --resume x", 0) ==
        "./my\\ prog --only-mini-batch 0 --input 'a b' -- --resume x");
  CHECK(rerun_command("prog --name 'x --resume' --output o", 1) ==
        "prog --only-mini-batch 1 --name 'x --resume' --output o");
  CHECK(rerun_command("prog --retry_failed -o x", 4) == "prog --only-mini-batch 4 -o x");
  CHECK(rerun_command("prog", 2) == "prog --only-mini-batch 2");
  CHECK(rerun_command("", 2).empty());
}
