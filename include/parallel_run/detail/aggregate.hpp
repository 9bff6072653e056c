// Field access for plain aggregates (struct { std::string name; double p; }) without
// Boost.PFR (Boost 1.74 predates it): count the fields by brace-initialization, then bind
// them with structured bindings. Aggregates of up to 16 scalar-like fields are supported.
#pragma once
#include "parallel_run/version.hpp"

#include <cstddef>
#include <tuple>
#include <type_traits>

PARALLEL_RUN_BEGIN_NAMESPACE
namespace detail {

// Converts to any field type; the lvalue-reference form avoids ambiguities with
// constructors such as std::string's.
struct AnyField {
  template <class T>
  constexpr operator T&() const&& noexcept;
};

template <class T, class... Fields>
constexpr std::size_t aggregate_field_count() {
  if constexpr (sizeof...(Fields) > 16)
    return 17;
  else if constexpr (requires { T{Fields{}..., AnyField{}}; })
    return aggregate_field_count<T, Fields..., AnyField>();
  else
    return sizeof...(Fields);
}

template <class T>
concept TieableAggregate = std::is_aggregate_v<T> && !std::is_array_v<T> && std::is_class_v<T> &&
                           aggregate_field_count<T>() >= 1 && aggregate_field_count<T>() <= 16;

/// A tuple of const references to the fields of an aggregate.
template <TieableAggregate T>
auto tie_fields(const T& t) {
  constexpr std::size_t n = aggregate_field_count<T>();
  // clang-format off
  if constexpr (n == 1) { const auto& [a] = t; return std::tie(a); }
  else if constexpr (n == 2) { const auto& [a, b] = t; return std::tie(a, b); }
  else if constexpr (n == 3) { const auto& [a, b, c] = t; return std::tie(a, b, c); }
  else if constexpr (n == 4) { const auto& [a, b, c, d] = t; return std::tie(a, b, c, d); }
  else if constexpr (n == 5) { const auto& [a, b, c, d, e] = t; return std::tie(a, b, c, d, e); }
  else if constexpr (n == 6) { const auto& [a, b, c, d, e, f] = t; return std::tie(a, b, c, d, e, f); }
  else if constexpr (n == 7) { const auto& [a, b, c, d, e, f, g] = t; return std::tie(a, b, c, d, e, f, g); }
  else if constexpr (n == 8) { const auto& [a, b, c, d, e, f, g, h] = t; return std::tie(a, b, c, d, e, f, g, h); }
  else if constexpr (n == 9) { const auto& [a, b, c, d, e, f, g, h, i] = t; return std::tie(a, b, c, d, e, f, g, h, i); }
  else if constexpr (n == 10) { const auto& [a, b, c, d, e, f, g, h, i, j] = t; return std::tie(a, b, c, d, e, f, g, h, i, j); }
  else if constexpr (n == 11) { const auto& [a, b, c, d, e, f, g, h, i, j, k] = t; return std::tie(a, b, c, d, e, f, g, h, i, j, k); }
  else if constexpr (n == 12) { const auto& [a, b, c, d, e, f, g, h, i, j, k, l] = t; return std::tie(a, b, c, d, e, f, g, h, i, j, k, l); }
  else if constexpr (n == 13) { const auto& [a, b, c, d, e, f, g, h, i, j, k, l, m] = t; return std::tie(a, b, c, d, e, f, g, h, i, j, k, l, m); }
  else if constexpr (n == 14) { const auto& [a, b, c, d, e, f, g, h, i, j, k, l, m, o] = t; return std::tie(a, b, c, d, e, f, g, h, i, j, k, l, m, o); }
  else if constexpr (n == 15) { const auto& [a, b, c, d, e, f, g, h, i, j, k, l, m, o, p] = t; return std::tie(a, b, c, d, e, f, g, h, i, j, k, l, m, o, p); }
  else { const auto& [a, b, c, d, e, f, g, h, i, j, k, l, m, o, p, q] = t; return std::tie(a, b, c, d, e, f, g, h, i, j, k, l, m, o, p, q); }
  // clang-format on
}

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
