// Must not compile: init takes the Context by value, so it could never be called.
#include <parallel_run/parallel_run.hpp>
struct Scorer {
  void init(parallel_run::Context) {}
  std::vector<std::string> run(const parallel_run::FileBatch&) { return {}; }
};
int main() {
  return parallel_run::ParallelRun<Scorer>({}).run({}).succeeded ? 0 : 1;
}
