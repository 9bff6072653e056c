// Where a ParallelRun hands its job over once the scorer's type is erased: one function per
// kind of input, so the coordinator, the partitioners and both backends are compiled once per
// program (in separate compilation, once per build) and never in a scorer's translation unit.
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/config.hpp"
#include "parallel_run/file_batch.hpp"
#include "parallel_run/file_dataset.hpp"
#include "parallel_run/job_result.hpp"
#include "parallel_run/observer.hpp"
#include "parallel_run/table_batch.hpp"
#include "parallel_run/tabular_dataset.hpp"
#include "parallel_run/detail/scorer_lifecycle.hpp"

#include <memory>
#include <string_view>
#include <vector>

PARALLEL_RUN_BEGIN_NAMESPACE
namespace detail {

using ObserverPtrs = std::vector<std::shared_ptr<JobObserver>>;

/// Runs a job of files: `config` is valid (the caller validated it). Throws as
/// ParallelRun::run does. In a worker process of the process backend it serves the job and
/// never returns. `scorer_type` names the scorer's type for the journal's fingerprint.
PARALLEL_RUN_DECL JobResult run_file_job(const Config& config, const FileDataset& inputs,
                                         ScorerFactory<FileBatch> factory,
                                         const ObserverPtrs& observers,
                                         std::string_view scorer_type = {});

/// Runs a job of tables, as run_file_job does.
PARALLEL_RUN_DECL JobResult run_table_job(const Config& config, const TabularDataset& inputs,
                                          ScorerFactory<TableBatch> factory,
                                          const ObserverPtrs& observers,
                                          std::string_view scorer_type = {});

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE

#if PARALLEL_RUN_HEADER_ONLY
#include "parallel_run/detail/impl/job_runner.ipp"
#endif
