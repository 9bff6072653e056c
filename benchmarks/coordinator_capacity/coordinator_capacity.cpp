// coordinator_capacity: a file scorer that does nothing (one short row per item), built with
// <parallel_run/mpi.hpp>, so that under `mpirun -np N ... --mini-batch-size 1` the job's pace
// is that of rank 0 handling mini-batch outcomes: dispatch, the rows' return, the journal, the
// ordered output and the logs.
//
//   mpirun -np 3 coordinator_capacity --input DATA_DIR --output OUT_DIR --mini-batch-size 1
#include <parallel_run/parallel_run.hpp>
#include <parallel_run/mpi.hpp>  // the job runs on every rank mpirun starts

#include <string>
#include <utility>
#include <vector>

int main(int argc, char** argv) {
  parallel_run::Config defaults;
  defaults.name = "coordinator-capacity";
  defaults.mini_batch_size = 1;
  defaults.process_count_per_node = 1;
  defaults.error_threshold = 0;
  defaults.run_max_try = 1;

  auto scorer = parallel_run::make_scorer([](const parallel_run::FileBatch& batch) {
    return std::vector<std::string>(batch.size(), std::string("ok"));
  });
  return parallel_run::main(argc, argv, std::move(scorer), std::move(defaults),
                            "coordinator_capacity benchmark: a scorer that does nothing.");
}
