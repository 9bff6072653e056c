// The scorer contract as concepts. A scorer is any type with
//   run(const Batch&) or run(const Batch&, Context&)  -> a range of result elements
// and optionally init(Context&) / init() once per worker before its first mini-batch and
// shutdown(Context&) / shutdown() once per worker at the end. make_scorer() turns lambdas
// into a scorer.
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/context.hpp"
#include "parallel_run/item_result.hpp"
#include "parallel_run/result_element.hpp"

#include <range/v3/range/access.hpp>
#include <range/v3/range/concepts.hpp>
#include <range/v3/range/traits.hpp>

#include <concepts>
#include <type_traits>
#include <utility>

PARALLEL_RUN_BEGIN_NAMESPACE

template <class S, class Batch>
concept RunsWithContext = requires(S& s, const Batch& b, Context& c) {
  s.run(b, c);
};
template <class S, class Batch>
concept RunsWithoutContext = requires(S& s, const Batch& b) {
  s.run(b);
};
/// The scorer has some run() that accepts the batch type.
template <class S, class Batch>
concept HasRunFor = RunsWithContext<S, Batch> || RunsWithoutContext<S, Batch>;

namespace detail {
template <class S, class Batch>
decltype(auto) call_run(S& s, const Batch& b, Context& c) {
  if constexpr (RunsWithContext<S, Batch>)
    return s.run(b, c);
  else
    return s.run(b);
}
}  // namespace detail

/// What run() returns.
template <class S, class Batch>
requires HasRunFor<S, Batch>
using run_result_t = decltype(detail::call_run(std::declval<S&>(), std::declval<const Batch&>(),
                                               std::declval<Context&>()));

/// A range (std::vector, a range-v3 view, ...) of result elements, or of ItemResult<T>.
template <class R>
concept ResultRange = ranges::input_range<R> &&
    (ResultElement<ranges::range_value_t<R>> ||
     (is_item_result_v<ranges::range_value_t<R>> &&
      ResultElement<typename std::remove_cvref_t<ranges::range_value_t<R>>::value_type>));

/// A complete scorer for mini-batches of type Batch.
template <class S, class Batch>
concept ScorerFor = HasRunFor<S, Batch> && ResultRange<std::remove_cvref_t<run_result_t<S, Batch>>>;

namespace detail {
/// Fails to compile with a plain-words message when S is no scorer for Batch.
template <class S, class Batch>
constexpr bool check_scorer() {
  static_assert(HasRunFor<S, Batch>,
                "parallel_run: the scorer has no usable run(): declare "
                "`auto run(const FileBatch& batch, parallel_run::Context& ctx)` or "
                "`auto run(const FileBatch& batch)` (non-const member, or use make_scorer for a "
                "lambda)");
  if constexpr (HasRunFor<S, Batch>) {
    using R = std::remove_cvref_t<run_result_t<S, Batch>>;
    static_assert(ranges::input_range<R>,
                  "parallel_run: run() must return a range, such as std::vector<std::string>, "
                  "with one element per succeeded item");
    if constexpr (ranges::input_range<R>) {
      static_assert(ResultRange<R>,
                    "parallel_run: the elements returned by run() must be strings, "
                    "fmt-formattable values, tuples or aggregates of those, or "
                    "parallel_run::ItemResult<T> of those");
    }
  }
  static_assert(std::is_move_constructible_v<S>, "parallel_run: the scorer must be movable");
  // An init or shutdown of another shape would be silently never called: say so instead.
  if constexpr (requires { &S::init; })
    static_assert(
        requires(S & s, Context & c) { s.init(c); } || requires(S & s) { s.init(); },
        "parallel_run: the scorer's init must be callable as init(parallel_run::Context&) "
        "or init(); take the Context by reference");
  if constexpr (requires { &S::shutdown; })
    static_assert(
        requires(S & s, Context & c) { s.shutdown(c); } || requires(S & s) { s.shutdown(); },
        "parallel_run: the scorer's shutdown must be callable as "
        "shutdown(parallel_run::Context&) or shutdown(); take the Context by reference");
  return true;
}

template <class S>
void call_init(S& s, Context& c) {
  if constexpr (requires { s.init(c); })
    s.init(c);
  else if constexpr (requires { s.init(); })
    s.init();
}
template <class S>
void call_shutdown(S& s, Context& c) {
  if constexpr (requires { s.shutdown(c); })
    s.shutdown(c);
  else if constexpr (requires { s.shutdown(); })
    s.shutdown();
}
}  // namespace detail

/// A scorer made of lambdas; see make_scorer(). Each worker gets its own copy.
template <class Init, class Run>
class LambdaScorer {
 public:
  LambdaScorer(Init init_fn, Run run_fn) : init_(std::move(init_fn)), run_(std::move(run_fn)) {
    static_assert(std::invocable<Init&, Context&> || std::invocable<Init&>,
                  "parallel_run::make_scorer: the init lambda must take (parallel_run::Context&) "
                  "or nothing");
  }

  void init(Context& c) {
    if constexpr (std::invocable<Init&, Context&>)
      init_(c);
    else if constexpr (std::invocable<Init&>)
      init_();
  }

  template <class Batch>
  requires std::invocable<Run&, const Batch&, Context&> || std::invocable<Run&, const Batch&>
  decltype(auto) run(const Batch& b, Context& c) {
    if constexpr (std::invocable<Run&, const Batch&, Context&>)
      return run_(b, c);
    else
      return run_(b);
  }

 private:
  Init init_;
  Run run_;
};

struct NoInit {
  void operator()(Context&) const noexcept {}
};

/// A scorer from a run lambda: `(const FileBatch&)` or `(const FileBatch&, Context&)`.
template <class Run>
LambdaScorer<NoInit, std::decay_t<Run>> make_scorer(Run&& run) {
  return {NoInit{}, std::forward<Run>(run)};
}
/// A scorer from an init lambda `(Context&)` and a run lambda. Both are copied per worker,
/// so state captured by value is per worker.
template <class Init, class Run>
LambdaScorer<std::decay_t<Init>, std::decay_t<Run>> make_scorer(Init&& init, Run&& run) {
  return {std::forward<Init>(init), std::forward<Run>(run)};
}

PARALLEL_RUN_END_NAMESPACE
