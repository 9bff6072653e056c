// ResultElement: what one element returned by run() may be, and how it becomes an output
// line. Strings are written as they are; fmt-formattable values through "{}"; tuples, pairs
// and plain aggregates field by field, joined by Config::delimiter, each field quoted when
// it holds the delimiter, a quote or a line break; rows of text fields (std::vector of
// strings, a table Row) the same way.
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/detail/aggregate.hpp"
#include "parallel_run/detail/quote.hpp"

#include <fmt/format.h>

#include <concepts>
#include <cstddef>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>

PARALLEL_RUN_BEGIN_NAMESPACE

namespace detail {
template <class T>
concept TupleLike = requires {
  std::tuple_size<std::remove_cvref_t<T>>::value;
};

template <class T>
concept StringLike = std::is_convertible_v<const T&, std::string_view>;
}  // namespace detail

/// One field of a tuple or aggregate element: a string or an fmt-formattable value.
template <class T>
concept ResultField = detail::StringLike<T> || fmt::is_formattable<std::remove_cvref_t<T>>::value;

namespace detail {
template <class Tuple, std::size_t... I>
constexpr bool all_fields(std::index_sequence<I...>) {
  return (ResultField<std::tuple_element_t<I, Tuple>> && ...);
}
template <class T>
concept TupleOfFields = TupleLike<T> && all_fields<std::remove_cvref_t<T>>(
    std::make_index_sequence<std::tuple_size_v<std::remove_cvref_t<T>>>{});

template <class T>
concept AggregateOfFields = TieableAggregate<T> && !TupleLike<T> && requires(const T& t) {
  { tie_fields(t) } -> TupleOfFields;
};
}  // namespace detail

namespace detail {
/// A row of text fields known only at run time: std::vector<std::string>, or a table Row
/// (a filter can return the rows it keeps).
template <class T>
concept FieldRow = !StringLike<T> && requires(const T& r, std::size_t i) {
  { r.size() } -> std::convertible_to<std::size_t>;
  { r[i] } -> std::convertible_to<std::string_view>;
};
}  // namespace detail

/// A value run() may return per item: string, formattable, tuple or aggregate of fields, or
/// a row of text fields.
template <class T>
concept ResultElement = detail::FieldRow<T> || ResultField<T> || detail::TupleOfFields<T> ||
    detail::AggregateOfFields<T>;

namespace detail {
template <class T>
void append_field(std::string& out, const T& v) {
  if constexpr (StringLike<T>)
    out.append(std::string_view(v));
  else
    fmt::format_to(std::back_inserter(out), "{}", v);
}

template <class T>
void append_table_field(std::string& out, const T& v, std::string_view delimiter) {
  const std::size_t start = out.size();
  append_field(out, v);
  // Most fields need no quotes: format in place, and requote only when needed.
  std::string_view text(out.data() + start, out.size() - start);
  if (text.find_first_of("\"\r\n") == std::string_view::npos &&
      text.find(delimiter) == std::string_view::npos)
    return;
  std::string raw(text);
  out.resize(start);
  append_table_text(out, raw, delimiter);
}

template <class Tuple>
void append_tuple(std::string& out, const Tuple& t, std::string_view delimiter) {
  std::apply(
      [&](const auto&... f) {
        bool first = true;
        ((out.append(first ? std::string_view{} : delimiter), first = false,
          append_table_field(out, f, delimiter)),
         ...);
      },
      t);
}

/// Appends `e` as one line body (no newline).
template <ResultElement E>
void append_element(std::string& out, const E& e, std::string_view delimiter) {
  if constexpr (FieldRow<E>) {
    for (std::size_t i = 0; i < e.size(); ++i) {
      if (i != 0) out.append(delimiter);
      append_table_text(out, std::string_view(e[i]), delimiter);
    }
  } else if constexpr (ResultField<E>)
    append_field(out, e);
  else if constexpr (TupleOfFields<E>)
    append_tuple(out, e, delimiter);
  else
    append_tuple(out, tie_fields(e), delimiter);
}
}  // namespace detail

PARALLEL_RUN_END_NAMESPACE
