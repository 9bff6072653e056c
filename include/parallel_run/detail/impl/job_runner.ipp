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
#include "parallel_run/detail/table_partitioner.hpp"
#include "parallel_run/detail/thread_backend.hpp"
#include "parallel_run/detail/worker_process.hpp"

#include <fmt/format.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
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

template <class Partitioner>
JobResult run_partitioned_job(
    std::shared_ptr<const Config> config, Partitioner partitioner,
    ScorerFactory<materialized_t<typename Partitioner::batch_type>> factory,
    std::shared_ptr<InputReport> report, const ObserverPtrs& observers) {
  using Task = typename Partitioner::batch_type;
  if (config->backend == Backend::process) {
    // In a worker process (the program started again) this serves the job and never
    // returns; see detail/worker_process.hpp.
    const std::size_t job = ++process_job_counter();
    worker_run_job<Task>(job, config->name, factory);
    Coordinator<Partitioner, ProcessBackend> coordinator(std::move(config), std::move(factory),
                                                         std::move(partitioner), std::move(report),
                                                         observers);
    coordinator.set_process_job(job);  // passed on, not read again: jobs on two threads
    return coordinator.run();
  }
  worker_run_job<Task>(std::nullopt, config->name, factory);
  Coordinator<Partitioner, ThreadBackend> coordinator(
      std::move(config), std::move(factory), std::move(partitioner), std::move(report), observers);
  return coordinator.run();
}

PARALLEL_RUN_DECL JobResult run_file_job(const Config& config, const FileDataset& inputs,
                                         ScorerFactory<FileBatch> factory,
                                         const ObserverPtrs& observers) {
  // One walk only: the roots are checked now, the files listed as the job goes.
  inputs.check();
  auto effective = std::make_shared<const Config>(effective_config(config));
  auto report = std::make_shared<InputReport>();
  FileDataset files = inputs;
  files.set_listing(job_listing(config, report));
  return run_partitioned_job(
      effective,
      FilePartitioner(files, static_cast<std::size_t>(config.mini_batch_size.files()),
                      static_cast<std::size_t>(config.limit)),
      std::move(factory), std::move(report), observers);
}

PARALLEL_RUN_DECL JobResult run_table_job(const Config& config, const TabularDataset& inputs,
                                          ScorerFactory<TableBatch> factory,
                                          const ObserverPtrs& observers) {
  static_assert(std::is_same_v<materialized_t<TablePartitioner::batch_type>, TableBatch> &&
                std::is_same_v<materialized_t<KeyPartitioner::batch_type>, TableBatch>);
  inputs.files().check();
  auto effective = std::make_shared<const Config>(effective_config(config));
  const auto size = static_cast<std::uint64_t>(config.mini_batch_size.bytes());
  const auto limit = static_cast<std::size_t>(config.limit);
  auto report = std::make_shared<InputReport>();
  FileDataset files = inputs.files();
  files.set_listing(job_listing(config, report));
  const TabularDataset tables(std::move(files), inputs.options());
  if (!inputs.options().partition_keys.empty())
    return run_partitioned_job(
        effective, KeyPartitioner(tables, size, limit, {}, JobFiles(*effective).partition_dir()),
        std::move(factory), std::move(report), observers);
  return run_partitioned_job(effective, TablePartitioner(tables, size, limit), std::move(factory),
                             std::move(report), observers);
}

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
