// Must not compile: the init lambda takes something the library cannot give.
#include <parallel_run/parallel_run.hpp>
int main() {
  auto s = parallel_run::make_scorer(
      [](int) {}, [](const parallel_run::FileBatch&) { return std::vector<std::string>{}; });
  return parallel_run::run({}, {}, s).succeeded ? 0 : 1;
}
