// The job machinery behind detail/job_runner.hpp: compiled in every program's translation
// units (header-only) or once, by <parallel_run/src.hpp> (separate compilation).
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/detail/job_runner.hpp"
#include "parallel_run/detail/cluster.hpp"
#include "parallel_run/detail/cluster_backend.hpp"
#include "parallel_run/detail/cluster_protocol.hpp"
#include "parallel_run/detail/coordinator.hpp"
#include "parallel_run/detail/file_partitioner.hpp"
#include "parallel_run/detail/folder_lock.hpp"
#include "parallel_run/detail/input_report.hpp"
#include "parallel_run/detail/job_files.hpp"
#include "parallel_run/detail/key_partitioner.hpp"
#include "parallel_run/detail/node_agent.hpp"
#include "parallel_run/detail/process_backend.hpp"
#include "parallel_run/detail/run_journal.hpp"
#include "parallel_run/detail/table_partitioner.hpp"
#include "parallel_run/detail/thread_backend.hpp"
#include "parallel_run/detail/worker_process.hpp"

#include <fmt/format.h>

#include <atomic>
#include <cstddef>
#include <exception>
#include <functional>
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
  const std::string program = program_identity(
      config.scorer_version, scorer_type, JournalFiles{JobFiles(config).journal_dir()}.program());
  return std::make_shared<RunJournal>(config,
                                      run_fingerprint(config, table, program, config.fingerprint));
}

// `make_partitioner(report)` cuts the job's mini-batches, telling `report` what the listing
// does not read; called twice when the journal checks whether an earlier run can be reused
// (that check has a report of its own: the job's tells of the run).
// The job on this process's coordinator: on `job`'s process backend or on threads, and with
// `cluster`, on every node of it.
template <class MakePartitioner, class Factory>
JobResult coordinate_job(std::shared_ptr<const Config> config, MakePartitioner& make_partitioner,
                         Factory factory, const ObserverPtrs& observers, const TableOptions* table,
                         std::string_view scorer_type, std::optional<std::size_t> job,
                         const ClusterJob* cluster) {
  using Partitioner = std::invoke_result_t<MakePartitioner, std::shared_ptr<InputReport>>;
  using Task = typename Partitioner::batch_type;
  // Held until the job ends, from before the journal is read: a second job on these folders
  // is refused while this one runs (folder_lock.hpp).
  const JobFolderLocks locks(config->output_dir, config->effective_log_dir());
  std::shared_ptr<RunJournal> journal = open_journal(*config, table, scorer_type);
  if (journal)
    if (auto reused = journal->reuse(make_partitioner(std::make_shared<InputReport>())))
      return std::move(*reused);
  auto report = std::make_shared<InputReport>();
  auto run = [&]<template <class> class BackendT>(std::function<void(BackendT<Task>&)> setup) {
    Coordinator<Partitioner, BackendT> coordinator(std::move(config), std::move(factory),
                                                   make_partitioner(report), report, observers,
                                                   std::move(journal));
    coordinator.set_backend_setup(std::move(setup));
    return coordinator.run();
  };
  if (cluster != nullptr) {
    if (job)
      return run.template operator()<ClusterOf<ProcessBackend>::template Nodes>(
          [c = *cluster, n = *job](auto& b) {
            b.set_cluster(c);
            b.local().set_job(n);  // passed on, not read again: jobs on two threads
          });
    return run.template operator()<ClusterOf<ThreadBackend>::template Nodes>(
        [c = *cluster](auto& b) { b.set_cluster(c); });
  }
  if (job)
    return run.template operator()<ProcessBackend>(
        [n = *job](ProcessBackend<Task>& b) { b.set_job(n); });
  return run.template operator()<ThreadBackend>({});
}

// Checks the inputs (`check` throws what is wrong). Every rank of a multi-node job checks
// them alike, before the job is numbered (so do the worker processes, which never join the
// cluster): a rank that finds them wrong ends the whole job, saying so, rather than leave the
// others waiting for it.
template <class Check>
void check_inputs(Check check) {
  try {
    check();
  } catch (const std::exception& e) {
    if (ClusterTransport* cluster = job_cluster(); cluster != nullptr && cluster->size() > 1)
      cluster->abort(2,  // exit_usage_error, as for bad inputs on one node
                     fmt::format("node {} ({}): {}", cluster->rank(), node_name(), e.what()));
    throw;
  }
}

// A multi-node job's number among this program's multi-node jobs: every rank counts alike.
inline std::uint64_t next_cluster_job() {
  static std::atomic<std::uint64_t> jobs{0};
  return ++jobs;
}

// node_count is the number of ranks the program was launched on (0: whatever that is).
inline void check_node_count(const Config& config, const ClusterTransport* cluster) {
  const std::size_t ranks = cluster ? cluster->size() : 1;
  if (config.node_count == 0 || static_cast<std::size_t>(config.node_count) == ranks) return;
  if (cluster == nullptr)
    throw ConfigError(
        "node_count",
        fmt::format("node_count is {} but the program was not launched on several nodes: start "
                    "it with mpirun -np {} (or srun -N {} --mpi=pmix), built with "
                    "<parallel_run/mpi.hpp> and the parallel_run::mpi target; or leave "
                    "node_count out",
                    config.node_count, config.node_count, config.node_count));
  throw ConfigError("node_count",
                    fmt::format("node_count is {} but {} launched the program on {} ranks: "
                                "leave node_count out, or launch as many ranks as nodes",
                                config.node_count, cluster->launcher(), ranks));
}

// run_partitioned_job, once the run() is numbered (`job`: its ordinal, for the process
// backend).
template <class MakePartitioner>
JobResult run_numbered_job(
    std::shared_ptr<const Config> config, MakePartitioner make_partitioner,
    ScorerFactory<materialized_t<
        typename std::invoke_result_t<MakePartitioner, std::shared_ptr<InputReport>>::batch_type>>
        factory,
    const ObserverPtrs& observers, const TableOptions* table, std::string_view scorer_type,
    std::optional<std::size_t> job);

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
  const std::size_t run = RunLog::instance().begin(config->name);
  const bool process_backend = config->backend == Backend::process;
  // In a worker process (the program started again) this replays an earlier run() or serves
  // the job and never returns; see detail/worker_process.hpp.
  if (auto replayed = worker_run_job<Task>(run, process_backend, config->name, factory))
    return std::move(*replayed);
  const std::optional<std::size_t> job =
      process_backend ? std::optional<std::size_t>(run) : std::nullopt;
  if (job) RunLog::instance().check_replayable(*job);  // refused before anything starts
  // What this run() returns or throws is logged for the worker processes of later ones.
  auto log_end = [run](const JobResult* result, std::exception_ptr error) {
    std::string end;
    WireWriter w(end);
    encode_job_end(w, result, error);
    RunLog::instance().end(run, std::move(end));
  };
  try {
    JobResult result = run_numbered_job(std::move(config), make_partitioner, std::move(factory),
                                        observers, table, scorer_type, job);
    log_end(&result, nullptr);
    return result;
  } catch (...) {
    log_end(nullptr, std::current_exception());
    throw;
  }
}

// run_partitioned_job, once the run() is numbered (`job`: its ordinal, for the process
// backend).
template <class MakePartitioner>
JobResult run_numbered_job(
    std::shared_ptr<const Config> config, MakePartitioner make_partitioner,
    ScorerFactory<materialized_t<
        typename std::invoke_result_t<MakePartitioner, std::shared_ptr<InputReport>>::batch_type>>
        factory,
    const ObserverPtrs& observers, const TableOptions* table, std::string_view scorer_type,
    std::optional<std::size_t> job) {
  using Partitioner = std::invoke_result_t<MakePartitioner, std::shared_ptr<InputReport>>;
  using Task = typename Partitioner::batch_type;
  // Many nodes: only now, so that a worker process never joins the cluster.
  ClusterTransport* cluster = job_cluster();
  check_node_count(*config, cluster);
  if (cluster != nullptr && cluster->size() > 1 && config->only_mini_batch >= 0)
    throw ConfigError("only_mini_batch",
                      "only_mini_batch runs one mini-batch in one process: start the program "
                      "without mpirun or srun");
  if (cluster != nullptr && cluster->size() > 1) {
    auto c = std::make_shared<Config>(*config);
    c->node_count = static_cast<int>(cluster->size());
    config = std::move(c);
    const ClusterJob cluster_job{cluster, next_cluster_job()};
    if (cluster->rank() != 0) {
      if (job)
        return NodeAgent<Task, ProcessBackend>(
                   cluster_job, std::move(factory),
                   [n = *job](ProcessBackend<Task>& b) { b.set_job(n); })
            .run();
      return NodeAgent<Task, ThreadBackend>(cluster_job, std::move(factory), {}).run();
    }
    // Rank 0: whatever becomes of the job, the nodes hear of it and return the same.
    auto end_nodes = [&](const JobResult* result, std::exception_ptr error) {
      for (std::size_t k = 1; k < cluster->size(); ++k)
        cluster->send(k, cluster_message(ClusterMessage::end, cluster_job.number,
                                         [&](WireWriter& w) { encode_job_end(w, result, error); }));
    };
    try {
      JobResult r = coordinate_job(config, make_partitioner, std::move(factory), observers, table,
                                   scorer_type, job, &cluster_job);
      end_nodes(&r, nullptr);
      return r;
    } catch (...) {
      end_nodes(nullptr, std::current_exception());
      throw;
    }
  }
  return coordinate_job(config, make_partitioner, std::move(factory), observers, table, scorer_type,
                        job, nullptr);
}

PARALLEL_RUN_DECL JobResult run_file_job(const Config& config, const FileDataset& inputs,
                                         ScorerFactory<FileBatch> factory,
                                         const ObserverPtrs& observers,
                                         std::string_view scorer_type) {
  // One walk only: the roots are checked now, the files listed as the job goes.
  check_inputs([&] { inputs.check(); });
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
  check_inputs([&] { inputs.files().check(); });
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
