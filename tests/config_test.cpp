#include <parallel_run/config.hpp>

#include <catch2/catch.hpp>

#include "support/temp_dir.hpp"

using parallel_run::Config;
using parallel_run::ConfigError;

namespace {
Config valid() {
  Config c;
  c.output_dir = "out";
  return c;
}
}  // namespace

TEST_CASE("defaults are the service's", "[config]") {
  Config c;
  CHECK(c.name == "parallel-run");
  CHECK(c.mini_batch_size == 10);
  CHECK(c.error_threshold == -1);
  CHECK(c.mini_batch_error_threshold == -1);
  CHECK(c.allowed_failed_percent == 100.0);
  CHECK(c.output_action == parallel_run::OutputAction::append_row);
  CHECK(c.append_row_file_name == "parallel_run_step.txt");
  CHECK(c.node_count == 0);  // as many nodes as the job was launched on
  CHECK(c.process_count_per_node == parallel_run::default_process_count());
  CHECK(c.logging_level == parallel_run::LoggingLevel::info);
  CHECK(c.run_invocation_timeout == 60.0);
  CHECK(c.run_max_try == 3);
  CHECK(c.delimiter == " ");
  CHECK_FALSE(c.key_column);
  CHECK(valid().effective_log_dir() == std::filesystem::path("out/logs"));
  CHECK_NOTHROW(valid().validate());
}

TEST_CASE("each invalid setting throws an error naming setting, value and range", "[config]") {
  Config c = valid();
  auto check = [&](const std::string& message, const std::string& setting) {
    try {
      c.validate();
      FAIL("no error for " << setting);
    } catch (const ConfigError& e) {
      CHECK(std::string(e.what()) == message);
      CHECK(e.setting() == setting);
      CHECK(e.id() == "parallel_run.config." + setting);
    }
    c = valid();
  };
  c.name = "ab";
  check(
      "[parallel_run.config.name] name must be 3 to 32 characters matching "
      "^[a-z]([-a-z0-9]*[a-z0-9])?$, got 'ab'",
      "name");
  c.name = "Job-1";
  check(
      "[parallel_run.config.name] name must be 3 to 32 characters matching "
      "^[a-z]([-a-z0-9]*[a-z0-9])?$, got 'Job-1'",
      "name");
  c.name = "job-";
  check(
      "[parallel_run.config.name] name must be 3 to 32 characters matching "
      "^[a-z]([-a-z0-9]*[a-z0-9])?$, got 'job-'",
      "name");
  c.mini_batch_size = 0;
  check(
      "[parallel_run.config.mini_batch_size] mini_batch_size must be an integer in "
      "[1, 2147483647], got 0",
      "mini_batch_size");
  c.error_threshold = -2;
  check(
      "[parallel_run.config.error_threshold] error_threshold must be an integer in "
      "[-1, 2147483647], got -2",
      "error_threshold");
  c.mini_batch_error_threshold = 3000000000;
  check(
      "[parallel_run.config.mini_batch_error_threshold] mini_batch_error_threshold must be an "
      "integer in [-1, 2147483647], got 3000000000",
      "mini_batch_error_threshold");
  c.allowed_failed_percent = 100.5;
  check(
      "[parallel_run.config.allowed_failed_percent] allowed_failed_percent must be a number in "
      "[0, 100], got 100.5",
      "allowed_failed_percent");
  c.append_row_file_name = "a/b.txt";
  check(
      "[parallel_run.config.append_row_file_name] append_row_file_name must be a plain file name "
      "without any of ~\"#%&*:<>?/\\{|}, got 'a/b.txt'",
      "append_row_file_name");
  c.node_count = -1;
  check("[parallel_run.config.node_count] node_count must be an integer in [0, 65536], got -1",
        "node_count");
  c.process_count_per_node = 0;
  check(
      "[parallel_run.config.process_count_per_node] process_count_per_node must be an integer in "
      "[1, 1024], got 0",
      "process_count_per_node");
  c.run_invocation_timeout = 0;
  check(
      "[parallel_run.config.run_invocation_timeout] run_invocation_timeout must be a number of "
      "seconds in (0, 31536000], got 0",
      "run_invocation_timeout");
  c.run_max_try = 0;
  check(
      "[parallel_run.config.run_max_try] run_max_try must be an integer in [1, 2147483647], got 0",
      "run_max_try");
  c.side_inputs["model"] = "/no/such/file";
  check(
      "[parallel_run.config.side_inputs] side input 'model' names '/no/such/file', which does "
      "not exist",
      "side_inputs");
  c.side_inputs["bad name"] = ".";
  check(
      "[parallel_run.config.side_inputs] side input name must be letters, digits, '_', '-' or "
      "'.', got 'bad name'",
      "side_inputs");
  c.output_dir.clear();
  check("[parallel_run.config.output_dir] output_dir must be set (the folder for results and logs)",
        "output_dir");
  c.limit = -1;
  check("[parallel_run.config.limit] limit must be an integer in [0, 9223372036854775807], got -1",
        "limit");
  c.append_row_file_name = "logs";
  check(
      "[parallel_run.config.append_row_file_name] append_row_file_name 'logs' is the log folder "
      "'out/logs'; choose another name or --log-dir",
      "append_row_file_name");
  c.log_dir = c.output_dir;
  c.append_row_file_name = "master.txt";
  check(
      "[parallel_run.config.append_row_file_name] append_row_file_name 'master.txt' is a log "
      "file in the log folder 'out'; choose another name",
      "append_row_file_name");
  c.delimiter = "";
  check(
      "[parallel_run.config.delimiter] delimiter must be non-empty and hold no line break, got ''",
      "delimiter");
}

TEST_CASE("boundary values are accepted", "[config]") {
  Config c = valid();
  c.name = "abc";
  c.mini_batch_size = 1;
  c.error_threshold = 0;
  c.mini_batch_error_threshold = 2147483647;
  c.allowed_failed_percent = 0;
  c.process_count_per_node = 1;
  c.run_max_try = 1;
  c.run_invocation_timeout = 0.001;
  c.side_inputs["model.v1"] = ".";
  CHECK_NOTHROW(c.validate());
  c.name = std::string(32, 'a');
  CHECK_NOTHROW(c.validate());
  c.name = std::string(33, 'a');
  CHECK_THROWS_AS(c.validate(), ConfigError);
}

TEST_CASE("enum settings parse the service's spellings", "[config]") {
  using namespace parallel_run;
  CHECK(parse_output_action("append_row") == OutputAction::append_row);
  CHECK(parse_output_action("SUMMARY_ONLY") == OutputAction::summary_only);
  CHECK(parse_output_action("summary-only") == OutputAction::summary_only);
  CHECK_THROWS_WITH(parse_output_action("rows"),
                    "[parallel_run.config.output_action] output_action must be one of append_row, "
                    "summary_only; got 'rows'");
  CHECK(parse_logging_level("debug") == LoggingLevel::debug);
  CHECK(parse_logging_level("WARNING") == LoggingLevel::warning);
  CHECK_THROWS_WITH(parse_logging_level("TRACE"),
                    "[parallel_run.config.logging_level] logging_level must be one of WARNING, "
                    "INFO, DEBUG; got 'TRACE'");
  CHECK(parse_backend("thread") == Backend::thread);
  CHECK_THROWS_WITH(
      parse_backend("gpu"),
      "[parallel_run.config.backend] backend must be one of thread, process; got 'gpu'");
}
