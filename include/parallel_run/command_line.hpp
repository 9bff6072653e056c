// The standard command line: parallel_run::main(argc, argv, scorer) gives every program
// built on the library the same flags (parsed with CLI11), with the service's spellings
// (--mini_batch_size) accepted as aliases. Everything after "--" goes to the scorer.
// Exit status: 0 the job succeeded, 1 it failed, 2 a usage, configuration or input error,
// 128 + n when signal n (SIGINT, SIGTERM) stopped it.
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/config.hpp"
#include "parallel_run/errors.hpp"
#include "parallel_run/executor.hpp"
#include "parallel_run/file_dataset.hpp"
#include "parallel_run/table_batch.hpp"
#include "parallel_run/tabular_dataset.hpp"
#include "parallel_run/job_result.hpp"
#include "parallel_run/observer.hpp"
#include "parallel_run/scorer.hpp"

#include <functional>
#include <iostream>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

PARALLEL_RUN_BEGIN_NAMESPACE

/// Exit statuses of parallel_run::main.
enum ExitStatus : int { exit_succeeded = 0, exit_job_failed = 1, exit_usage_error = 2 };

/// What the command line asked for.
struct CommandLine {
  Config config;
  std::vector<std::string> inputs;
  /// How table inputs are read (--format, --no-header, --input-delimiter, ...); used when the
  /// scorer takes a TableBatch.
  TableOptions table;
  /// The table flags given (the setting's name and the flag as spelt in --help), in the
  /// order --help lists them: a scorer of files refuses them rather than ignore them.
  struct Flag {
    std::string setting, flag;
  };
  std::vector<Flag> table_flags;
  /// --help or --version was answered; nothing to run.
  bool answered = false;
};

/// Parses the flags over `defaults` (values given in code); only flags that appear change a
/// setting. Prints --help / --version to `out`. Throws UsageError or ConfigError.
PARALLEL_RUN_DECL CommandLine parse_command_line(int argc, const char* const* argv, Config defaults,
                                                 const std::string& description, std::ostream& out);

namespace detail {
/// The command that started this program, quoted for a POSIX shell.
PARALLEL_RUN_DECL std::string shell_command(int argc, const char* const* argv);

/// The last lines on stderr when items failed: the first failed items with their reasons,
/// where the rest are, and the command that reruns the mini-batch of the first failed item alone.
PARALLEL_RUN_DECL void print_first_failures(std::ostream& err, const JobResult& r,
                                            const Config& config);

/// parallel_run::main without the scorer's type: parses the command line, calls `run_job`
/// with it, reports the result and returns the exit status.
PARALLEL_RUN_DECL int run_main(int argc, const char* const* argv, Config defaults,
                               const std::string& description, std::ostream& out, std::ostream& err,
                               const std::function<JobResult(const CommandLine&)>& run_job);
}  // namespace detail

/// Runs a whole program: parses the command line over `defaults`, runs `scorer` over the
/// inputs, prints a one-line reason on failure and the summary line, returns the exit status.
/// `observers` hear the job's events (see observer.hpp).
template <class Scorer>
int main(int argc, const char* const* argv, Scorer scorer, Config defaults,
         const std::string& description, std::ostream& out, std::ostream& err,
         const std::vector<std::shared_ptr<JobObserver>>& observers = {}) {
  return detail::run_main(
      argc, argv, std::move(defaults), description, out, err,
      [&scorer, &observers](const CommandLine& cl) {
        ParallelRun<Scorer> job(cl.config, std::move(scorer));
        for (const auto& o : observers)
          job.add_observer(o);
        // A scorer of table batches (and not of file batches) reads its inputs as tables.
        if constexpr (ScorerFor<Scorer, TableBatch> && !ScorerFor<Scorer, FileBatch>) {
          return job.run(TabularDataset(cl.inputs, cl.table));
        } else {
          if (!cl.table_flags.empty())
            throw ConfigError(cl.table_flags.front().setting,
                              cl.table_flags.front().flag +
                                  " is an option of table jobs, and this program's scorer takes "
                                  "files (a FileBatch): it would be ignored; leave it out");
          return job.run(FileDataset(cl.inputs));
        }
      });
}

/// As above, with stdout and stderr.
template <class Scorer>
int main(int argc, const char* const* argv, Scorer scorer, Config defaults = {},
         const std::string& description = {}) {
  return main(argc, argv, std::move(scorer), std::move(defaults), description, std::cout,
              std::cerr);
}

/// As above, with observers of the job's events (see observer.hpp).
template <class Scorer>
int main(int argc, const char* const* argv, Scorer scorer,
         const std::vector<std::shared_ptr<JobObserver>>& observers, Config defaults = {},
         const std::string& description = {}) {
  return main(argc, argv, std::move(scorer), std::move(defaults), description, std::cout, std::cerr,
              observers);
}

PARALLEL_RUN_END_NAMESPACE

#if PARALLEL_RUN_HEADER_ONLY
#include "parallel_run/detail/impl/command_line.ipp"
#endif
