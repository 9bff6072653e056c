// The README's example, compiled and run by CTest (the test also checks that the README
// shows exactly this code).
#include <parallel_run/parallel_run.hpp>

#include <charconv>
#include <fstream>
#include <string>
#include <vector>

// One scorer instance per worker: init() runs once per worker, run() once per mini-batch.
struct LongestLine {
  std::size_t limit = 80;

  void init(parallel_run::Context& ctx) {
    // Arguments after "--" on the command line reach the scorer here. A bad one is a
    // UsageError: the job stops at once with exit status 2 and this message.
    if (!ctx.arguments().empty()) {
      const std::string& arg = ctx.arguments().at(0);
      auto [end, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), limit);
      if (ec != std::errc() || end != arg.data() + arg.size() || limit == 0)
        throw parallel_run::UsageError(
            "quick_start: the line length limit must be a "
            "positive integer, got '" +
            arg + "'");
    }
    ctx.log().info("lines longer than {} characters are too long", limit);
  }

  // One result per file, in the mini-batch's order: "<key> <longest> <too long?>".
  std::vector<std::tuple<std::string, std::size_t, bool>> run(
      const parallel_run::FileBatch& batch) {
    std::vector<std::tuple<std::string, std::size_t, bool>> rows;
    for (const parallel_run::FileEntry& file : batch) {
      std::ifstream in(file.path);
      if (!in) throw std::runtime_error("cannot open " + file.path.string());
      std::size_t longest = 0;
      for (std::string line; std::getline(in, line);)
        longest = std::max(longest, line.size());
      rows.emplace_back(file.key, longest, longest > limit);
    }
    return rows;
  }
};

int main(int argc, char** argv) {
  parallel_run::Config defaults;  // the command line overrides these
  defaults.mini_batch_size = 20;
  return parallel_run::main(argc, argv, LongestLine{}, defaults);
}
