// The job machinery behind detail/job_runner.hpp: compiled in every program's translation
// units (header-only) or once, by <parallel_run/src.hpp> (separate compilation).
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/detail/job_runner.hpp"
#include "parallel_run/detail/coordinator.hpp"
#include "parallel_run/detail/file_partitioner.hpp"
#include "parallel_run/detail/input_report.hpp"
#include "parallel_run/detail/job_files.hpp"
#include "parallel_run/detail/key_partitioner.hpp"
#include "parallel_run/detail/process_backend.hpp"
#include "parallel_run/detail/run_journal.hpp"
#include "parallel_run/detail/table_partitioner.hpp"
#include "parallel_run/detail/thread_backend.hpp"
#include "parallel_run/detail/worker_process.hpp"

#include <fmt/format.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <type_traits>
#include <utility>

PARALLEL_RUN_BEGIN_NAMESPACE
namespace detail {

// With only_mini_batch, the settings of a debugging run of that one mini-batch: in this
// process, one worker, DEBUG logging, one attempt, no timeout, its own output folder.
inline Config effective_config(const Config& config) {
  if (config.only_mini_batch < 0) return config;
  Config c = config;
  c.output_dir = config.output_dir / fmt::format("only-mini-batch-{}", config.only_mini_batch);
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
inline InputListing job_listing(const Config& config, std::shared_ptr<InputReport> report) {
  InputListing l;
  l.job_files = JobFiles(config);
  l.follow_symlinks = config.follow_symlinks;
  l.report = std::move(report);
  return l;
}

// The journal of the run (none for a run of one mini-batch): decides what an earlier run in
// the output folder gives this one; throws ConfigError when this run may not start there.
inline std::shared_ptr<RunJournal> open_journal(const Config& config, const TableOptions* table,
                                                std::string_view scorer_type) {
  if (config.only_mini_batch >= 0) return nullptr;
  if (!config.journal) {
    if (config.resume == ResumeMode::resume || config.resume == ResumeMode::retry_failed)
      throw ConfigError(
          "journal",
          fmt::format("{} needs the journal: journal is off",
                      config.resume == ResumeMode::resume ? "--resume" : "--retry-failed"));
    // It would no longer describe the output this run writes.
    std::error_code ec;
    std::filesystem::remove_all(JobFiles(config).journal_dir(), ec);
    return nullptr;
  }
  const std::string program = program_identity(config.scorer_version, scorer_type);
  return std::make_shared<RunJournal>(config,
                                      run_fingerprint(config, table, program, config.fingerprint));
}

// `make_partitioner(report)` cuts the job's mini-batches, telling `report` what the listing
// does not read; called twice when the journal checks whether an earlier run can be reused
// (that check has a report of its own: the job's tells of the run).
template <class MakePartitioner>
JobResult run_partitioned_job(
    std::shared_ptr<const Config> config, MakePartitioner make_partitioner,
    ScorerFactory<materialized_t<
        typename std::invoke_result_t<MakePartitioner, std::shared_ptr<InputReport>>::batch_type>>
        factory,
    const ObserverPtrs& observers, const TableOptions* table, std::string_view scorer_type) {
  using Partitioner = std::invoke_result_t<MakePartitioner, std::shared_ptr<InputReport>>;
  using Task = typename Partitioner::batch_type;
  std::optional<std::size_t> job;
  if (config->backend == Backend::process) {
    // In a worker process (the program started again) this serves the job and never
    // returns; see detail/worker_process.hpp.
    job = ++process_job_counter();
    worker_run_job<Task>(*job, config->name, factory);
  } else {
    worker_run_job<Task>(std::nullopt, config->name, factory);
  }
  std::shared_ptr<RunJournal> journal = open_journal(*config, table, scorer_type);
  if (journal)
    if (auto reused = journal->reuse(make_partitioner(std::make_shared<InputReport>())))
      return std::move(*reused);
  auto report = std::make_shared<InputReport>();
  if (job) {
    Coordinator<Partitioner, ProcessBackend> coordinator(std::move(config), std::move(factory),
                                                         make_partitioner(report), report,
                                                         observers, std::move(journal));
    coordinator.set_process_job(*job);  // passed on, not read again: jobs on two threads
    return coordinator.run();
  }
  Coordinator<Partitioner, ThreadBackend> coordinator(std::move(config), std::move(factory),
                                                      make_partitioner(report), report, observers,
                                                      std::move(journal));
  return coordinator.run();
}

PARALLEL_RUN_DECL JobResult run_file_job(const Config& config, const FileDataset& inputs,
                                         ScorerFactory<FileBatch> factory,
                                         const ObserverPtrs& observers,
                                         std::string_view scorer_type) {
  // One walk only: the roots are checked now, the files listed as the job goes.
  inputs.check();
  auto effective = std::make_shared<const Config>(effective_config(config));
  const auto size = static_cast<std::size_t>(config.mini_batch_size.files());
  const auto limit = static_cast<std::size_t>(config.limit);
  auto make = [&](std::shared_ptr<InputReport> report) {
    FileDataset files = inputs;
    files.set_listing(job_listing(config, std::move(report)));
    return FilePartitioner(files, size, limit);
  };
  return run_partitioned_job(effective, make, std::move(factory), observers, nullptr, scorer_type);
}

PARALLEL_RUN_DECL JobResult run_table_job(const Config& config, const TabularDataset& inputs,
                                          ScorerFactory<TableBatch> factory,
                                          const ObserverPtrs& observers,
                                          std::string_view scorer_type) {
  static_assert(std::is_same_v<materialized_t<TablePartitioner::batch_type>, TableBatch> &&
                std::is_same_v<materialized_t<KeyPartitioner::batch_type>, TableBatch>);
  inputs.files().check();
  auto effective = std::make_shared<const Config>(effective_config(config));
  const auto size = static_cast<std::uint64_t>(config.mini_batch_size.bytes());
  const auto limit = static_cast<std::size_t>(config.limit);
  const TableOptions& options = inputs.options();
  auto tables = [&](std::shared_ptr<InputReport> report) {
    FileDataset files = inputs.files();
    files.set_listing(job_listing(config, std::move(report)));
    return TabularDataset(std::move(files), options);
  };
  if (!options.partition_keys.empty()) {
    const auto spill = JobFiles(*effective).partition_dir();
    return run_partitioned_job(
        effective,
        [&](std::shared_ptr<InputReport> report) {
          return KeyPartitioner(tables(std::move(report)), size, limit, {}, spill);
        },
        std::move(factory), observers, &options, scorer_type);
  }
  return run_partitioned_job(
      effective,
      [&](std::shared_ptr<InputReport> report) {
        return TablePartitioner(tables(std::move(report)), size, limit);
      },
      std::move(factory), observers, &options, scorer_type);
}

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
