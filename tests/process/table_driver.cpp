// A table job (CSV rows "id,group,value") for the process backend's tests: each row becomes
// "<id> <group> <value * 2>"; a row whose value does not parse fails alone. The same program
// runs with --backend thread and --backend process, with or without --partition-keys, and the
// outputs are compared byte for byte.
//
// After the job it prints "leftover fds: <n>": the descriptors open now that were not open
// before the job (sockets, pidfds, files of the job), which must be none.
#include <parallel_run/parallel_run.hpp>
#ifdef TABLE_DRIVER_MPI  // the same program on many nodes (tests/mpi)
#include <parallel_run/mpi.hpp>
#endif

#include <dirent.h>

#include <iostream>
#include <set>
#include <string>
#include <tuple>

namespace {

std::set<int> open_fds() {
  std::set<int> fds;
  DIR* dir = ::opendir("/proc/self/fd");
  if (!dir) return fds;
  const int own = ::dirfd(dir);
  while (const dirent* e = ::readdir(dir))
    if (e->d_name[0] != '.' && std::stoi(e->d_name) != own) fds.insert(std::stoi(e->d_name));
  ::closedir(dir);
  return fds;
}

}  // namespace

int main(int argc, char** argv) {
  const std::set<int> before = open_fds();
  auto scorer = parallel_run::make_scorer([](const parallel_run::TableBatch& batch) {
    return parallel_run::map_items(batch, [](const parallel_run::Row& row) {
      return std::make_tuple(std::string(row["id"]), std::string(row["group"]),
                             row.get<double>("value") * 2);
    });
  });
  parallel_run::Config defaults;
  defaults.name = "table-driver";
  const int status = parallel_run::main(argc, argv, scorer, defaults);
  std::size_t leftover = 0;
  for (int fd : open_fds())
    if (!before.count(fd)) ++leftover;
  std::cout << "leftover fds: " << leftover << std::endl;
  return status;
}
