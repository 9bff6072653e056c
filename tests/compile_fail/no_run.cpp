// Must not compile: the scorer has no run().
#include <parallel_run/parallel_run.hpp>
struct Scorer {
  void init(parallel_run::Context&) {}
};
int main() {
  return parallel_run::ParallelRun<Scorer>({}).run({}).succeeded ? 0 : 1;
}
