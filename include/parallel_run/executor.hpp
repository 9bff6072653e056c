// ParallelRun<Scorer>: the executor. Give it a Config and a scorer (copied once per worker,
// or made by a factory), then run() it over a FileDataset.
//
//   parallel_run::Config config;
//   config.output_dir = "out";
//   parallel_run::ParallelRun job(config, MyScorer{});
//   parallel_run::JobResult result = job.run(parallel_run::FileDataset({"images/"}));
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/config.hpp"
#include "parallel_run/file_batch.hpp"
#include "parallel_run/file_dataset.hpp"
#include "parallel_run/job_result.hpp"
#include "parallel_run/observer.hpp"
#include "parallel_run/scorer.hpp"
#include "parallel_run/table_batch.hpp"
#include "parallel_run/tabular_dataset.hpp"
#include "parallel_run/detail/job_runner.hpp"
#include "parallel_run/detail/scorer_lifecycle.hpp"

#include <concepts>
#include <functional>
#include <memory>
#include <optional>
#include <typeinfo>
#include <vector>

PARALLEL_RUN_BEGIN_NAMESPACE

template <class Scorer>
class ParallelRun {
 public:
  /// Each worker runs its own copy of `prototype`, made before its init().
  explicit ParallelRun(Config config,
                       Scorer prototype = Scorer{}) requires std::copy_constructible<Scorer>
      : config_(std::move(config)), factory_([p = std::move(prototype)] { return p; }) {}

  /// Each worker runs the scorer `factory()` returns (for scorers that cannot be copied).
  ParallelRun(Config config, std::function<Scorer()> factory)
      : config_(std::move(config)), factory_(std::move(factory)) {}

  /// The settings; change them before run().
  Config& config() noexcept { return config_; }
  const Config& config() const noexcept { return config_; }

  /// Calls `observer` with the events of each job run() runs (see observer.hpp), after the
  /// log folder's own observers. Only the coordinating process calls it.
  ParallelRun& add_observer(std::shared_ptr<JobObserver> observer) {
    if (observer) observers_.push_back(std::move(observer));
    return *this;
  }

  /// Runs the job over `inputs`, blocking until it ends. Throws ConfigError for an invalid
  /// setting or an output or log folder that cannot be made or written, and InputError for a
  /// missing input, all before any scorer code runs. A failed job is a JobResult, not an
  /// exception: a threshold exceeded, no item succeeded, an output that could not be written
  /// (JobResult::output_error; the logs still record the end). An input found faulty as the
  /// listing reaches it (an empty folder, a glob that matches nothing, a list line that names
  /// no file) is a failed item, and the job goes on.
  JobResult run(const FileDataset& inputs) const {
    static_assert(detail::check_scorer<Scorer, FileBatch>());
    if constexpr (ScorerFor<Scorer, FileBatch>) {
      config_.validate();
      // From here on the scorer's type is erased: the job machinery is compiled once per
      // batch type, whatever the number of scorer types in the program.
      return detail::run_file_job(config_, inputs, detail::erase_scorer<FileBatch>(factory_),
                                  observers_, typeid(Scorer).name());
    } else {
      return {};
    }
  }

  /// Runs the job over table files (CSV, TSV, JSON Lines): mini-batches of mini_batch_size
  /// bytes (default 1MB) cut on record boundaries, never across files; with
  /// options().partition_keys, rows with equal key values share their mini-batches. Throws as
  /// run(const FileDataset&) does.
  JobResult run(const TabularDataset& inputs) const {
    static_assert(detail::check_scorer<Scorer, TableBatch>());
    if constexpr (ScorerFor<Scorer, TableBatch>) {
      config_.validate();
      return detail::run_table_job(config_, inputs, detail::erase_scorer<TableBatch>(factory_),
                                   observers_, typeid(Scorer).name());
    } else {
      return {};
    }
  }

 private:
  Config config_;
  std::function<Scorer()> factory_;
  std::vector<std::shared_ptr<JobObserver>> observers_;
};

template <class Scorer>
ParallelRun(Config, Scorer) -> ParallelRun<Scorer>;

/// One call: runs `scorer` over `inputs` with `config`.
template <class Scorer>
JobResult run(const Config& config, const FileDataset& inputs, Scorer scorer) {
  return ParallelRun<Scorer>(config, std::move(scorer)).run(inputs);
}
/// One call: runs `scorer` over the table files `inputs` with `config`.
template <class Scorer>
JobResult run(const Config& config, const TabularDataset& inputs, Scorer scorer) {
  return ParallelRun<Scorer>(config, std::move(scorer)).run(inputs);
}

PARALLEL_RUN_END_NAMESPACE
