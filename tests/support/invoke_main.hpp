// invoke_main: a program's main (parallel_run::main) called in the test's process, with what it
// printed kept apart from the test's own output.
#pragma once
#include <parallel_run/command_line.hpp>

#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace test_support {

struct Invocation {
  int status = -1;
  std::string out, err;
};

/// `args` without the program's name.
template <class Scorer>
Invocation invoke_main(std::vector<std::string> args, Scorer scorer,
                       parallel_run::Config defaults = {}) {
  args.insert(args.begin(), "prog");
  std::vector<const char*> argv;
  for (auto& a : args)
    argv.push_back(a.c_str());
  std::ostringstream out, err;
  Invocation r;
  r.status = parallel_run::main(static_cast<int>(argv.size()), argv.data(), std::move(scorer),
                                std::move(defaults), "test program", out, err);
  r.out = out.str();
  r.err = err.str();
  return r;
}

}  // namespace test_support
