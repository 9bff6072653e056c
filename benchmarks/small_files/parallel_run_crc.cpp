// small_files through the library: the CRC-32 of every file, one "<key> <crc>" row per file,
// in input order in <output>/parallel_run_step.txt. Defaults match the benchmark (mini-batches
// of 10 files, 2 workers); every parallel_run flag can override them.
//
//   parallel_run_crc --input DATA_DIR --output OUT_DIR
//   mpirun -np 2 parallel_run_crc_mpi --input DATA_DIR --output OUT_DIR
//   (parallel_run_crc_mpi: this file built with SMALL_FILES_MPI, which adds <parallel_run/mpi.hpp>)
#include "crc_file.hpp"

#include <parallel_run/parallel_run.hpp>
#ifdef SMALL_FILES_MPI
#include <parallel_run/mpi.hpp>  // the same job on every rank mpirun starts
#endif

#include <string>
#include <utility>
#include <vector>

int main(int argc, char** argv) {
  parallel_run::Config defaults;
  defaults.name = "small-files-crc";
  defaults.mini_batch_size = 10;
  defaults.process_count_per_node = 2;
  // An unreadable file must fail the run loudly, not leave a shorter output to compare.
  defaults.error_threshold = 0;
  defaults.run_max_try = 1;

  auto scorer = parallel_run::make_scorer([](const parallel_run::FileBatch& batch) {
    std::vector<std::string> rows;
    rows.reserve(batch.size());
    for (const parallel_run::FileEntry& e : batch) {
      std::string row;
      small_files::append_row(row, e.key, small_files::crc32_of_file(e.path.c_str()));
      rows.push_back(std::move(row));
    }
    return rows;
  });
  return parallel_run::main(argc, argv, std::move(scorer), std::move(defaults),
                            "small_files benchmark: the CRC-32 of every input file.");
}
