// Must not compile: run() returns no range.
#include <parallel_run/parallel_run.hpp>
struct Scorer {
  int run(const parallel_run::FileBatch& b) { return static_cast<int>(b.size()); }
};
int main() {
  return parallel_run::ParallelRun<Scorer>({}).run({}).succeeded ? 0 : 1;
}
