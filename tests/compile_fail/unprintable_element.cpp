// Must not compile: the elements cannot be written.
#include <parallel_run/parallel_run.hpp>
#include <map>
struct Opaque {
  std::map<int, int> m;
};
struct Scorer {
  std::vector<Opaque> run(const parallel_run::FileBatch&) { return {}; }
};
int main() {
  return parallel_run::ParallelRun<Scorer>({}).run({}).succeeded ? 0 : 1;
}
