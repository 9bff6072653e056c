// Three jobs one after another in one program (process_backend_test.cpp): a thread-backend
// job, then two process-backend ones, the code between them going by the results of the jobs
// before, as each worker process replays them. Arguments: INPUT OUTPUT. Each job writes to
// OUTPUT/<its name>; a row is "<key> <job name> <pid that scored it>", an input file whose
// first word is "fail" is a failed item. Prints the coordinator's pid, then each job's
// summary; exits 4 when the second job's failed items differ from the first's.
#include <parallel_run/parallel_run.hpp>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  using namespace parallel_run;
  if (argc != 3) return 2;
  const std::filesystem::path in = argv[1], out = argv[2];
  auto scorer = make_scorer([](const FileBatch& batch, Context& ctx) {
    std::vector<ItemResult<std::string>> rows;
    for (const FileEntry& e : batch) {
      std::ifstream file(e.path);
      std::string word;
      file >> word;
      if (word == "fail")
        rows.push_back(fail<std::string>(e, "asked to fail"));
      else
        rows.push_back(ok(e, e.key + " " + ctx.config().name + " " + std::to_string(::getpid())));
    }
    return rows;
  });
  Config c;
  c.mini_batch_size = 1;
  c.process_count_per_node = 2;
  c.progress = ProgressMode::none;
  c.logging_level = LoggingLevel::warning;
  c.resource_monitor_interval = 0;
  auto run = [&](const char* name, Backend backend) {
    c.name = name;
    c.backend = backend;
    c.output_dir = out / name;
    return ParallelRun(c, scorer).run(FileDataset({in.string()}));
  };
  const JobResult first = run("first", Backend::thread);
  const JobResult second = run("second", Backend::process);
  // In the workers of the third job, both earlier results are the coordinator's.
  if (second.items_failed != first.items_failed || !second.succeeded) return 4;
  const JobResult third = run("third", Backend::process);
  std::printf("pid %d\n%s\n%s\n%s\n", static_cast<int>(::getpid()), first.summary().c_str(),
              second.summary().c_str(), third.summary().c_str());
  return third.succeeded ? 0 : 1;
}
