// A program whose worker processes do not do what the coordinator did before run(), as the
// variable DIVERGE says (in the worker only, which sees PARALLEL_RUN_WORKER):
//   exit3     the worker exits with status 3 before reaching run()
//   name      the worker reaches a run() of another job name
//   thread    the worker reaches a thread-backend run()
//   settings  the worker computes other settings (arguments, delimiter, key column): it must
//             use the coordinator's, so the rows say "coordinator"
//   linger    the worker reaches a run() of another job name, and when that fails it does not
//             exit: it sleeps (a host that catches the error and goes on)
// Each row is "<key><delimiter><first argument>".
#include <parallel_run/parallel_run.hpp>

#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  const char* diverge_env = std::getenv("DIVERGE");
  const std::string diverge = diverge_env ? diverge_env : "";
  const bool worker = std::getenv("PARALLEL_RUN_WORKER") != nullptr;
  parallel_run::Config defaults;
  defaults.name = "diverging";
  defaults.backend = parallel_run::Backend::process;
  defaults.arguments = {"coordinator"};
  if (worker) {
    if (diverge == "exit3") std::exit(3);
    if (diverge == "name" || diverge == "linger") defaults.name = "other-job";
    if (diverge == "thread") defaults.backend = parallel_run::Backend::thread;
    if (diverge == "settings") {
      defaults.arguments = {"worker"};
      defaults.delimiter = ";";
    }
  }
  auto scorer = parallel_run::make_scorer(
      [](const parallel_run::FileBatch& batch, parallel_run::Context& ctx) {
        std::vector<std::string> rows;
        for (const auto& e : batch)
          rows.push_back(e.key + ctx.config().delimiter + ctx.arguments().at(0));
        return rows;
      });
  const int status = parallel_run::main(argc, argv, scorer, defaults);
  if (worker && diverge == "linger")
    for (;;)
      ::pause();
  return status;
}
