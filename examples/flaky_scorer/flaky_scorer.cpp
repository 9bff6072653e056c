// flaky_scorer: a scorer that misbehaves on request, to see retries (--run-max-try), timeouts
// (--run-invocation-timeout) and thresholds (--error-threshold, --mini-batch-error-threshold)
// at work. It is told what to do by the arguments after "--" (Context::arguments()):
//
//   --throw-first-attempt=LIST  these mini-batches throw on their first attempt only
//   --throw-always=LIST         these mini-batches throw on every attempt
//   --hang-first-attempt=LIST   these mini-batches sleep on their first attempt until stopped
//   --hang-seconds=S            the longest a hanging attempt sleeps (default 30)
//   --fail-items=LIST           these items (0-based positions in the input) fail alone
//
// LIST is comma-separated 0-based indices. Every item that succeeds writes the row
// "<key> ok: mini-batch <m>, attempt <n>". See README.md for runs and what they print.
#include <parallel_run/parallel_run.hpp>

#include <fmt/format.h>

#include <chrono>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

/// What to do wrong, and where.
struct Misbehaviour {
  std::set<std::size_t> throw_first_attempt;
  std::set<std::size_t> throw_always;
  std::set<std::size_t> hang_first_attempt;
  double hang_seconds = 30;
  std::set<std::size_t> fail_items;
};

std::set<std::size_t> parse_indices(std::string_view option, std::string_view list) {
  std::set<std::size_t> indices;
  while (!list.empty()) {
    const auto comma = list.find(',');
    const std::string_view text = list.substr(0, comma);
    std::size_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || end != text.data() + text.size())
      throw std::invalid_argument(
          fmt::format("flaky_scorer: {}: '{}' is not a 0-based index", option, text));
    indices.insert(value);
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
  }
  return indices;
}

double parse_seconds(std::string_view option, std::string_view text) {
  double seconds = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), seconds);
  if (ec != std::errc{} || end != text.data() + text.size() || !(seconds >= 0))
    throw std::invalid_argument(
        fmt::format("flaky_scorer: {}: '{}' is not a number of seconds", option, text));
  return seconds;
}

Misbehaviour parse_arguments(const std::vector<std::string>& arguments) {
  Misbehaviour m;
  for (const std::string& argument : arguments) {
    const auto equals = argument.find('=');
    const std::string option = argument.substr(0, equals);
    const std::string value = equals == std::string::npos ? "" : argument.substr(equals + 1);
    if (option == "--throw-first-attempt")
      m.throw_first_attempt = parse_indices(option, value);
    else if (option == "--throw-always")
      m.throw_always = parse_indices(option, value);
    else if (option == "--hang-first-attempt")
      m.hang_first_attempt = parse_indices(option, value);
    else if (option == "--fail-items")
      m.fail_items = parse_indices(option, value);
    else if (option == "--hang-seconds")
      m.hang_seconds = parse_seconds(option, value);
    else
      // A UsageError tells the library no restart can help: the job stops at once, exit 2.
      throw parallel_run::UsageError(
          fmt::format("flaky_scorer: unknown argument '{}' (known: --throw-first-attempt=LIST, "
                      "--throw-always=LIST, --hang-first-attempt=LIST, --hang-seconds=S, "
                      "--fail-items=LIST)",
                      argument));
  }
  return m;
}

class FlakyScorer {
 public:
  void init(parallel_run::Context& ctx) { misbehaviour_ = parse_arguments(ctx.arguments()); }

  std::vector<parallel_run::ItemResult<std::string>> run(const parallel_run::FileBatch& batch,
                                                         parallel_run::Context& ctx) {
    const std::size_t mini_batch = batch.mini_batch_index();
    // 1 for the first attempt, 2 for the first retry, whichever worker runs it.
    const std::int64_t attempt = ctx.attempt();
    ctx.log().info("mini-batch {}: attempt {} on worker {}", mini_batch, attempt,
                   ctx.worker_index());

    if (misbehaviour_.throw_always.count(mini_batch) != 0 ||
        (attempt == 1 && misbehaviour_.throw_first_attempt.count(mini_batch) != 0))
      throw std::runtime_error(fmt::format(
          "flaky_scorer: mini-batch {} attempt {} throws, as asked", mini_batch, attempt));

    if (attempt == 1 && misbehaviour_.hang_first_attempt.count(mini_batch) != 0) {
      // A thread cannot be killed: the library asks a late run() to stop through the stop
      // token, and a well-behaved scorer checks it often and returns.
      const auto give_up = std::chrono::steady_clock::now() +
                           std::chrono::duration<double>(misbehaviour_.hang_seconds);
      while (!ctx.stop_requested() && std::chrono::steady_clock::now() < give_up)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      if (ctx.stop_requested()) {
        ctx.log().info("mini-batch {}: attempt {} stopped as asked", mini_batch, attempt);
        return {};  // the library has already counted this attempt as timed out
      }
    }

    std::vector<parallel_run::ItemResult<std::string>> results;
    for (const parallel_run::FileEntry& entry : batch) {
      if (misbehaviour_.fail_items.count(entry.index) != 0)
        results.push_back(parallel_run::fail<std::string>(
            entry, fmt::format("item {} ('{}') fails, as asked", entry.index, entry.key)));
      else
        results.push_back(parallel_run::ok(entry, fmt::format("{} ok: mini-batch {}, attempt {}",
                                                              entry.key, mini_batch, attempt)));
    }
    return results;
  }

 private:
  Misbehaviour misbehaviour_;
};

}  // namespace

int main(int argc, char** argv) {
  parallel_run::Config defaults;
  defaults.name = "flaky-scorer";
  return parallel_run::main(argc, argv, FlakyScorer{}, defaults,
                            "Fails, hangs or throws on request (arguments after --) to show "
                            "retries, timeouts and thresholds.");
}
