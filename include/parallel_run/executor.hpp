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
#include "parallel_run/detail/coordinator.hpp"
#include "parallel_run/detail/file_partitioner.hpp"
#include "parallel_run/detail/key_partitioner.hpp"
#include "parallel_run/detail/table_partitioner.hpp"
#include "parallel_run/detail/process_backend.hpp"
#include "parallel_run/detail/scorer_lifecycle.hpp"
#include "parallel_run/detail/worker_process.hpp"

#include <concepts>
#include <functional>
#include <memory>
#include <optional>
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
      // One walk only: the roots are checked now, the files listed as the job goes.
      inputs.check();
      auto config = std::make_shared<const Config>(effective_config());
      auto report = std::make_shared<detail::InputReport>();
      FileDataset files = inputs;
      files.set_listing(listing(report));
      return run_job(
          config,
          detail::FilePartitioner(files, static_cast<std::size_t>(config_.mini_batch_size.files()),
                                  static_cast<std::size_t>(config_.limit)),
          report);
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
      inputs.files().check();
      auto config = std::make_shared<const Config>(effective_config());
      const auto size = static_cast<std::uint64_t>(config_.mini_batch_size.bytes());
      const auto limit = static_cast<std::size_t>(config_.limit);
      auto report = std::make_shared<detail::InputReport>();
      FileDataset files = inputs.files();
      files.set_listing(listing(report));
      const TabularDataset tables(std::move(files), inputs.options());
      if (!inputs.options().partition_keys.empty())
        return run_job(config,
                       detail::KeyPartitioner(tables, size, limit, {},
                                              detail::JobFiles(*config).partition_dir()),
                       report);
      return run_job(config, detail::TablePartitioner(tables, size, limit), report);
    } else {
      return {};
    }
  }

 private:
  // With only_mini_batch, the settings of a debugging run of that one mini-batch: in this
  // process, one worker, DEBUG logging, one attempt, no timeout, its own output folder.
  Config effective_config() const {
    if (config_.only_mini_batch < 0) return config_;
    Config c = config_;
    c.output_dir = config_.output_dir / fmt::format("only-mini-batch-{}", config_.only_mini_batch);
    c.log_dir.clear();
    c.backend = Backend::thread;
    c.process_count_per_node = 1;
    c.logging_level = LoggingLevel::debug;
    c.run_max_try = 1;
    c.run_invocation_timeout = 31536000.0;  // the longest allowed: a year
    c.init_timeout = 31536000.0;
    c.error_threshold = -1;
    c.mini_batch_error_threshold = -1;
    c.allowed_failed_percent = 100;
    return c;
  }

  // The job's own files are never inputs; what the listing does not read is reported.
  InputListing listing(std::shared_ptr<detail::InputReport> report) const {
    InputListing l;
    l.job_files = detail::JobFiles(config_);
    l.follow_symlinks = config_.follow_symlinks;
    l.report = std::move(report);
    return l;
  }

  template <class Partitioner>
  JobResult run_job(std::shared_ptr<const Config> config, Partitioner partitioner,
                    std::shared_ptr<detail::InputReport> report) const {
    using Task = typename Partitioner::batch_type;
    // From here on the scorer's type is erased: the executor below is compiled once per
    // batch type, whatever the number of scorer types in the program.
    auto factory = detail::erase_scorer<detail::materialized_t<Task>>(factory_);
    if (config->backend == Backend::process) {
      // In a worker process (the program started again) this serves the job and never
      // returns; see detail/worker_process.hpp.
      const std::size_t job = ++detail::process_job_counter();
      detail::worker_run_job<Task>(job, config->name, factory);
      detail::Coordinator<Partitioner, detail::ProcessBackend> coordinator(
          std::move(config), std::move(factory), std::move(partitioner), std::move(report),
          observers_);
      coordinator.set_process_job(job);  // passed on, not read again: jobs on two threads
      return coordinator.run();
    }
    detail::worker_run_job<Task>(std::nullopt, config->name, factory);
    detail::Coordinator<Partitioner, detail::ThreadBackend> coordinator(
        std::move(config), std::move(factory), std::move(partitioner), std::move(report),
        observers_);
    return coordinator.run();
  }

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
