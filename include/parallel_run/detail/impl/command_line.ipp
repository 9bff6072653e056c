// The command line's machinery behind command_line.hpp (CLI11 is parsed here only): compiled
// in every program's translation units (header-only) or once, by <parallel_run/src.hpp>.
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/detail/cluster.hpp"
#include "parallel_run/detail/node_identity.hpp"
#include "parallel_run/command_line.hpp"
#include "parallel_run/detail/leveled_log.hpp"
#include "parallel_run/detail/overview_file.hpp"
#include "parallel_run/detail/quote.hpp"
#include "parallel_run/detail/stop_signals.hpp"
#include "parallel_run/detail/thread_backend.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ostream.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <functional>
#include <ostream>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <vector>

PARALLEL_RUN_BEGIN_NAMESPACE

namespace detail {
// Numbers are read as text and converted here, so that a value that is not a number gets
// the error of one out of range, naming the setting and its range (CLI11's own conversion
// says "Could not convert").
template <class T>
void parse_number_flag(std::string_view setting, const std::string& text, T& target) {
  T value{};
  const char* last = text.data() + text.size();
  const auto [end, error] = std::from_chars(text.data(), last, value);
  if (text.empty() || error != std::errc() || end != last)
    throw ConfigError(std::string(setting), fmt::format("{} must be {}, got '{}'", setting,
                                                        number_rule(setting).text(), text));
  target = value;
}

inline std::string program_name(const char* argv0) {
  std::string s = argv0 ? argv0 : "parallel_run";
  auto slash = s.find_last_of('/');
  return slash == std::string::npos ? s : s.substr(slash + 1);
}
}  // namespace detail

PARALLEL_RUN_DECL CommandLine parse_command_line(int argc, const char* const* argv, Config defaults,
                                                 const std::string& description,
                                                 std::ostream& out) {
  // Split at "--" ourselves: what follows belongs to the scorer, never to CLI11.
  std::vector<std::string> own, scorer_args;
  bool rest = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (!rest && a == "--") {
      rest = true;
      continue;
    }
    (rest ? scorer_args : own).push_back(std::move(a));
  }

  CommandLine cl;
  cl.config = std::move(defaults);
  Config& c = cl.config;
  CLI::App app{description.empty() ? "A parallel_run batch job." : description,
               detail::program_name(argc > 0 ? argv[0] : nullptr)};
  app.set_version_flag("--version", std::string("parallel_run ") + version_string);
  app.footer(
      "Arguments after -- are passed to the scorer (Context::arguments()).\n"
      "Exit status: 0 the job succeeded, 1 it failed, 2 usage or configuration error, 128 + n\n"
      "when signal n stopped it (the first SIGINT or SIGTERM stops it gracefully).\n");

  std::string output_dir, log_dir, output_action, logging_level, backend, mini_batch_size,
      memory_limit, progress;
  std::vector<std::string> side_inputs;
  std::deque<std::string> number_texts;  // stable addresses for CLI11
  std::vector<std::function<void()>> number_conversions;
  auto number = [&](const std::string& names, auto& target, std::string_view setting,
                    const std::string& help) {
    std::string& text = number_texts.emplace_back();
    CLI::Option* o =
        app.add_option(names, text, help)
            ->type_name(std::is_integral_v<std::remove_reference_t<decltype(target)>> ? "INT"
                                                                                      : "FLOAT")
            ->default_str(fmt::format("{}", target));
    number_conversions.push_back([o, &text, &target, setting] {
      if (o->count()) detail::parse_number_flag(setting, text, target);
    });
    return o;
  };
  app.add_option("-i,--input", cl.inputs,
                 "Input: a folder (recursive), a glob ('**' spans folders), @list-file, or a file; "
                 "repeatable")
      ->type_name("INPUT");
  auto* o_output = app.add_option("-o,--output,--output-dir,--output_dir", output_dir,
                                  "Output folder, created when missing");
  // Defaults shown by --help are the values in effect: those set in code, else ours.
  app.add_option("--name", c.name, "Job name (3-32 of a-z, 0-9, -)")->capture_default_str();
  auto* o_size =
      app.add_option("--mini-batch-size,--mini_batch_size", mini_batch_size,
                     "Files per mini-batch (default 10), or bytes per mini-batch of a table "
                     "(1024, 64KB, 10MB, 1GB; default 1MB)")
          ->type_name("SIZE")
          ->default_str(c.mini_batch_size.is_default() ? std::string("10 files or 1MB")
                                                       : c.mini_batch_size.text());
  number("--error-threshold,--error_threshold", c.error_threshold, "error_threshold",
         "Failed items tolerated; -1 tolerates all");
  number("--mini-batch-error-threshold,--mini_batch_error_threshold", c.mini_batch_error_threshold,
         "mini_batch_error_threshold", "Failed mini-batches tolerated; -1 tolerates all");
  number("--allowed-failed-percent,--allowed_failed_percent", c.allowed_failed_percent,
         "allowed_failed_percent", "Failed mini-batches tolerated, as a percentage");
  auto* o_action =
      app.add_option("--output-action,--output_action", output_action, "append_row or summary_only")
          ->default_str(std::string(to_string(c.output_action)));
  app.add_option("--append-row-file-name,--append_row_file_name", c.append_row_file_name,
                 "File append_row writes in the output folder")
      ->capture_default_str();
  number("--node-count,--node_count", c.node_count, "node_count",
         "Nodes: the MPI ranks the program was launched on (0: as many as there are)");
  number("--process-count-per-node,--process_count_per_node", c.process_count_per_node,
         "process_count_per_node", "Workers (default: the number of cores)");
  number("--run-invocation-timeout,--run_invocation_timeout", c.run_invocation_timeout,
         "run_invocation_timeout", "Seconds one run() may take");
  number("--run-max-try,--run_max_try", c.run_max_try, "run_max_try", "Attempts per mini-batch");
  auto* o_level =
      app.add_option("--logging-level,--logging_level", logging_level, "WARNING, INFO or DEBUG")
          ->default_str(std::string(to_string(c.logging_level)));
  auto* o_side = app.add_option("--side-input,--side_input", side_inputs,
                                "Reference data for every worker, NAME=PATH; repeatable")
                     ->type_name("NAME=PATH");
  auto* o_progress =
      app.add_option("--progress", progress,
                     "Progress on stderr: auto (a live line on a terminal, else a line every "
                     "few seconds, also in master.txt), bar, lines or none")
          ->default_str(std::string(to_string(c.progress)));
  auto* o_backend =
      app.add_option("--backend", backend,
                     "Where workers run: thread, or process (crash isolation, hard timeouts)")
          ->default_str(std::string(to_string(c.backend)));
  number("--init-timeout,--init_timeout", c.init_timeout, "init_timeout",
         "Seconds one init() may take (past it: an init failure; a process is killed, "
         "a thread abandoned)");
  auto* o_memory = app.add_option("--worker-memory-limit,--worker_memory_limit", memory_limit,
                                  "Kill a worker process above this resident memory (2GB, "
                                  "512MB; process backend)");
  app.add_option("--worker-env,--worker_env", c.worker_env,
                 "Set NAME to VALUE in each worker process; {node}, {local_worker} and {worker} "
                 "in VALUE are replaced (process backend); repeatable")
      ->type_name("NAME=VALUE");
  app.add_option("--output-header,--output_header", c.output_header,
                 "Column names written as the output's first line")
      ->delimiter(',')
      ->type_name("NAME,...");
  std::string table_format, input_delimiter;
  auto* o_format = app.add_option("--format,--table-format,--table_format", table_format,
                                  "Tables: csv, tsv or jsonl (default: from each file's "
                                  "extension)");
  bool no_header = false;
  app.add_flag("--no-header,--no_header", no_header,
               "Tables: the first record of a CSV or TSV file is data, not column names");
  auto* o_input_delimiter =
      app.add_option("--input-delimiter,--input_delimiter", input_delimiter,
                     "Tables: the field delimiter of the input (default ',' for CSV, tab for "
                     "TSV; 'tab' or '\\t' for a tab)");
  auto* o_different_headers = app.add_flag(
      "--allow-different-headers,--allow_different_headers", cl.table.allow_different_headers,
      "Tables: read files whose headers differ from the first file's");
  auto* o_partition_keys =
      app.add_option("--partition-keys,--partition_keys", cl.table.partition_keys,
                     "Tables: columns whose equal values go to the same mini-batches")
          ->delimiter(',')
          ->type_name("NAME,...");
  auto* o_log_dir =
      app.add_option("--log-dir,--log_dir", log_dir, "Log folder (default <output>/logs)");
  app.add_flag("--key-column,--key_column", c.key_column,
               "Write each row's item key as its first column");
  number("--limit", c.limit, "limit", "Score only the first N inputs, a quick trial run (0: all)");
  app.add_flag("--follow-symlinks,--follow_symlinks", c.follow_symlinks,
               "Enter symbolic links to folders in input folders and globs (loops are "
               "detected); otherwise they are listed in logs/skipped_inputs.csv");
  app.add_option("--delimiter", c.delimiter, "Separates the key and the fields (default a space)");
  number("--only-mini-batch,--only_mini_batch", c.only_mini_batch, "only_mini_batch",
         "Run mini-batch N alone to debug it: in this process, one thread, DEBUG "
         "logging, one attempt, no timeout; output in <output>/only-mini-batch-N");
  bool resume = false, retry_failed = false, restart = false;
  app.add_flag("--resume", resume,
               "Continue the run left in the output folder (killed, crashed, interrupted, "
               "stopped): its finished mini-batches are not run again");
  app.add_flag("--retry-failed,--retry_failed", retry_failed,
               "Run again the mini-batches of the run in the output folder that hold failed or "
               "not processed items (failed whole or in part), the others kept");
  bool no_journal = false;
  app.add_flag("--no-journal,--no_journal", no_journal,
               "Keep no journal: the run can be neither resumed nor reused");
  app.add_flag("--restart", restart,
               "Start a new run, even over a run in the output folder whose process died");
  std::string allow_reuse, fingerprint;
  auto* o_reuse =
      app.add_option("--allow-reuse,--allow_reuse", allow_reuse,
                     "true (or 1, yes): a run identical to the finished one in the output folder "
                     "(program, settings, inputs) is not run again; false (or 0, no): always run")
          ->default_str(c.allow_reuse ? "true" : "false");
  auto* o_fingerprint =
      app.add_option("--fingerprint", fingerprint,
                     "How the journal knows an input again: metadata (unchanged while its ctime "
                     "is not after the start of the run that read it) or content (a hash of "
                     "its bytes)")
          ->default_str(std::string(to_string(c.fingerprint)));
  app.add_option("--scorer-version,--scorer_version", c.scorer_version,
                 "The scorer's version: runs of the same version are the same program for "
                 "--resume and reuse (default: the executable's bytes)");
  number("--resource-monitor-interval,--resource_monitor_interval", c.resource_monitor_interval,
         "resource_monitor_interval",
         "Seconds between samples of CPU, memory, disk and network use in "
         "logs/performance (0: off)");

  try {
    std::vector<std::string> reversed(own.rbegin(), own.rend());
    app.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    out << app.help();
    cl.answered = true;
    return cl;
  } catch (const CLI::CallForAllHelp&) {
    out << app.help("", CLI::AppFormatMode::All);
    cl.answered = true;
    return cl;
  } catch (const CLI::CallForVersion&) {
    out << "parallel_run " << version_string << "\n";
    cl.answered = true;
    return cl;
  } catch (const CLI::ParseError& e) {
    throw UsageError(fmt::format("{} (see --help)", e.what()));
  }

  for (const auto& convert : number_conversions)
    convert();
  if (o_output->count()) c.output_dir = output_dir;
  // An empty value would mean the default silently (a variable that expanded to nothing).
  if (o_log_dir->count() && log_dir.empty())
    throw ConfigError("log_dir",
                      "--log-dir is empty: give a folder, or leave the flag out for <output>/logs");
  if (o_log_dir->count()) c.log_dir = log_dir;
  if (o_action->count()) c.output_action = parse_output_action(output_action);
  if (o_level->count()) c.logging_level = parse_logging_level(logging_level);
  if (o_backend->count()) c.backend = parse_backend(backend);
  if (o_progress->count()) c.progress = parse_progress_mode(progress);
  if (o_size->count() && mini_batch_size.empty())
    throw ConfigError("mini_batch_size",
                      "--mini-batch-size is empty: give a number of files (10) or, for tables, a "
                      "size (1MB), or leave the flag out for the default");
  if (o_size->count()) c.mini_batch_size = mini_batch_size;
  if (int(resume) + int(retry_failed) + int(restart) > 1)
    throw UsageError("--resume, --retry-failed and --restart exclude each other; give one");
  if (no_journal) c.journal = false;
  if (resume) c.resume = ResumeMode::resume;
  if (retry_failed) c.resume = ResumeMode::retry_failed;
  if (restart) c.resume = ResumeMode::restart;
  if (o_reuse->count()) {
    const std::string v = detail::lower(allow_reuse);
    if (v == "true" || v == "1" || v == "yes")
      c.allow_reuse = true;
    else if (v == "false" || v == "0" || v == "no")
      c.allow_reuse = false;
    else
      throw ConfigError(
          "allow_reuse",
          fmt::format("allow_reuse must be true or false (also 1 or 0, yes or no); got '{}'",
                      allow_reuse));
  }
  if (o_fingerprint->count()) c.fingerprint = parse_fingerprint_mode(fingerprint);
  // Table flags mean nothing to a scorer of files: main() refuses them there.
  if (o_format->count()) {
    cl.table.format = parse_table_format(table_format);
    cl.table_flags.push_back({"table_format", "--format"});
  }
  if (no_header) {
    cl.table.header = false;
    cl.table_flags.push_back({"header", "--no-header"});
  }
  if (o_input_delimiter->count()) {
    cl.table_flags.push_back({"input_delimiter", "--input-delimiter"});
    if (input_delimiter == "tab" || input_delimiter == "\\t")
      cl.table.delimiter = '\t';
    else if (input_delimiter.size() == 1 && input_delimiter != "\n" && input_delimiter != "\r")
      cl.table.delimiter = input_delimiter[0];
    else
      throw ConfigError("input_delimiter",
                        fmt::format("input_delimiter must be one character other than a line "
                                    "break, or 'tab'; got '{}'",
                                    input_delimiter));
  }
  if (o_different_headers->count())
    cl.table_flags.push_back({"allow_different_headers", "--allow-different-headers"});
  if (o_partition_keys->count()) cl.table_flags.push_back({"partition_keys", "--partition-keys"});
  if (o_memory->count())
    c.worker_memory_limit = detail::parse_byte_size("worker_memory_limit", memory_limit);
  if (o_side->count()) {
    for (const auto& s : side_inputs) {
      auto eq = s.find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == s.size())
        throw ConfigError("side_inputs",
                          fmt::format("--side-input must be NAME=PATH, got '{}'", s));
      c.side_inputs[s.substr(0, eq)] = s.substr(eq + 1);
    }
  }
  if (rest) c.arguments = std::move(scorer_args);
  if (cl.inputs.empty())
    throw UsageError("--input is required (a folder, glob, @list file or file)");
  return cl;
}

namespace detail {
PARALLEL_RUN_DECL std::string shell_command(int argc, const char* const* argv) {
  std::string cmd;
  for (int i = 0; i < argc; ++i) {
    if (i > 0) cmd.push_back(' ');
    append_shell_word(cmd, argv[i] ? argv[i] : "");
  }
  return cmd;
}

PARALLEL_RUN_DECL void print_first_failures(std::ostream& err, const JobResult& r,
                                            const Config& config) {
  auto text = [](std::string_view t) { return escape_control(t); };
  for (const auto& f : r.first_input_failures)
    err << fmt::format("parallel_run: failed: {}\n", text(f.reason));
  for (const auto& f : r.first_failures)
    err << fmt::format("parallel_run: failed: {} (mini-batch {}): {}\n", text(f.key), f.mini_batch,
                       text(f.reason));
  // A job stopped (a signal, a full disk) with nothing failed has only its log to point at.
  if (r.items_failed + r.items_not_processed > 0) {
    err << "parallel_run: failed items: " << text(r.failed_items_file.string());
    if (!r.job_error_file.empty() && std::filesystem::exists(r.job_error_file))
      err << "; by category: " << text(r.job_error_file.string());
    err << "; ";
  } else {
    err << "parallel_run: ";
  }
  err << "log: " << text((r.log_dir / "master.txt").string()) << "\n";
  if (!r.first_failures.empty() && config.only_mini_batch < 0) {
    const std::string rerun =
        rerun_command(config.command_line, r.first_failures.front().mini_batch);
    if (!rerun.empty())
      err << "parallel_run: to rerun the mini-batch of the first failed item alone: " << text(rerun)
          << "\n";
  }
}

PARALLEL_RUN_DECL int run_main(int argc, const char* const* argv, Config defaults,
                               const std::string& description, std::ostream& out, std::ostream& err,
                               const std::function<JobResult(const CommandLine&)>& run_job) {
  CommandLine cl;
  // The summary too: a job whose stderr is a closed pipe exits with its own status. The
  // streams are flushed before SIGPIPE's action comes back.
  struct Flushed {
    std::ostream& out;
    std::ostream& err;
    SigpipeIgnored sigpipe_ignored;
    ~Flushed() {
      out.flush();
      err.flush();
    }
  } flushed{out, err, {}};
  // A detached worker thread still inside the scorer would race with static destructors
  // at exit: end the process without them (the output is already complete on disk).
  auto finish = [&out, &err](int status) {
    if (detached_thread_count().load() == 0) return status;
    out.flush();
    err.flush();
    std::fflush(nullptr);
    // A multi-node job: the nodes still wait for what is queued for them, and MPI for its
    // finalize, which static destructors would have done.
    if (ClusterTransport* cluster = started_cluster()) cluster->shutdown();
    std::_Exit(status);
  };
  try {
    cl = parse_command_line(argc, argv, std::move(defaults), description, out);
    if (cl.answered) return exit_succeeded;
    cl.config.stop_on_signals = true;
    if (cl.config.command_line.empty()) cl.config.command_line = shell_command(argc, argv);
    const JobResult r = run_job(cl);
    // A node of a multi-node job exits as rank 0 does, which says what the job did.
    if (this_node().index != 0) {
      if (r.succeeded) return finish(exit_succeeded);
      if (r.interrupted_by != 0) return finish(128 + r.interrupted_by);
      return finish(r.configuration_error ? exit_usage_error : exit_job_failed);
    }
    // Keys and reasons may hold control characters: never raw on a terminal.
    auto text = [](std::string_view t) { return escape_control(t); };
    if (r.reused)
      err << "parallel_run: reused " << text(r.reused_run) << " in "
          << text(cl.config.output_dir.string())
          << ": same program, settings and inputs; its output and logs are left as they are "
             "(--allow-reuse false runs the job again)\n";
    if (!r.succeeded) {
      err << "parallel_run: job failed: " << text(r.failure_reason) << "\n";
      err << "parallel_run: " << text(r.summary()) << "\n";
      print_first_failures(err, r, cl.config);
      if (r.interrupted_by != 0) return finish(128 + r.interrupted_by);  // the shell's way
      return finish(r.configuration_error ? exit_usage_error : exit_job_failed);
    }
    out << "parallel_run: " << text(r.summary()) << "\n";
    if (r.items_failed > 0) {
      // Tolerated by the thresholds, but not to be missed.
      err << fmt::format(
          "parallel_run: warning: the job succeeded with {} of {} items failed (tolerated by "
          "error_threshold {}); they are listed in {}\n",
          r.items_failed, r.items_total, cl.config.error_threshold,
          text(r.failed_items_file.string()));
      print_first_failures(err, r, cl.config);
    }
    return finish(exit_succeeded);
  } catch (const UsageError& e) {
    if (this_node().index == 0) err << "parallel_run: " << escape_control(e.what()) << "\n";
    return exit_usage_error;
  } catch (const ConfigError& e) {
    if (this_node().index == 0) err << "parallel_run: " << escape_control(e.what()) << "\n";
    return exit_usage_error;
  } catch (const InputError& e) {
    if (this_node().index == 0) err << "parallel_run: " << escape_control(e.what()) << "\n";
    return exit_usage_error;
  } catch (const std::exception& e) {
    // The job could not finish (an internal error); its log folder says how far it got. (A
    // node says so only when the error is its own, not rank 0's.)
    if (this_node().index == 0 || std::string_view(e.what()).find("[parallel_run.cluster") == 0)
      err << "parallel_run: job failed: " << escape_control(e.what()) << "\n";
    return finish(exit_job_failed);
  }
}

}  // namespace detail

PARALLEL_RUN_END_NAMESPACE
