#include <parallel_run/scorer.hpp>

#include <catch2/catch.hpp>
#include <range/v3/view/transform.hpp>

#include <map>

#include "parallel_run/detail/batch_outcome.hpp"
#include "parallel_run/file_batch.hpp"

using namespace parallel_run;
using detail::RowFormat;

namespace {
struct WithContext {
  std::vector<std::string> run(const FileBatch&, Context&) { return {}; }
};
struct WithoutContext {
  std::vector<int> run(const FileBatch&) { return {}; }
};
struct ReturnsView {
  auto run(const FileBatch& b) {
    return b | ranges::views::transform([](const FileEntry& e) { return e.key; });
  }
};
struct NoRun {
  void init(Context&) {}
};
struct ReturnsInt {
  int run(const FileBatch&) { return 0; }
};
struct Unprintable {
  std::map<int, int> m;
};
struct ReturnsUnprintable {
  std::vector<Unprintable> run(const FileBatch&) { return {}; }
};
struct Scored {
  std::string name;
  int digit;
  double p;
};
struct ReturnsItems {
  std::vector<ItemResult<Scored>> run(const FileBatch&) { return {}; }
};

FileBatch batch_of(std::size_t mini_batch, std::size_t first_index, std::size_t n) {
  std::vector<FileEntry> e;
  for (std::size_t i = 0; i < n; ++i)
    e.push_back({std::string("p").append(std::to_string(first_index + i)),
                 std::string("k").append(std::to_string(first_index + i)), first_index + i});
  return FileBatch(mini_batch, std::move(e));
}
}  // namespace

TEST_CASE("the scorer concepts accept the documented shapes and reject the rest", "[scorer]") {
  STATIC_REQUIRE(ScorerFor<WithContext, FileBatch>);
  STATIC_REQUIRE(ScorerFor<WithoutContext, FileBatch>);
  STATIC_REQUIRE(ScorerFor<ReturnsView, FileBatch>);
  STATIC_REQUIRE(ScorerFor<ReturnsItems, FileBatch>);
  STATIC_REQUIRE_FALSE(HasRunFor<NoRun, FileBatch>);
  STATIC_REQUIRE_FALSE(ScorerFor<ReturnsInt, FileBatch>);
  STATIC_REQUIRE_FALSE(ScorerFor<ReturnsUnprintable, FileBatch>);
  STATIC_REQUIRE(RunsWithContext<WithContext, FileBatch>);
  STATIC_REQUIRE_FALSE(RunsWithContext<WithoutContext, FileBatch>);
  auto lambda = make_scorer([](const FileBatch& b) { return std::vector<std::size_t>{b.size()}; });
  STATIC_REQUIRE(ScorerFor<decltype(lambda), FileBatch>);
  auto with_init = make_scorer(
      [](Context&) {}, [](const FileBatch&, Context&) { return std::vector<std::string>{}; });
  STATIC_REQUIRE(ScorerFor<decltype(with_init), FileBatch>);
}

TEST_CASE("result elements are written as strings, formatted values, tuples and aggregates",
          "[scorer][result_element]") {
  auto line = [](const auto& e) {
    std::string s;
    detail::append_element(s, e, ",");
    return s;
  };
  CHECK(line(std::string("a b")) == "a b");
  CHECK(line("literal") == "literal");
  CHECK(line(std::string_view("view")) == "view");
  CHECK(line(42) == "42");
  CHECK(line(0.25) == "0.25");
  CHECK(line(std::make_tuple(std::string("x"), 7, 1.5)) == "x,7,1.5");
  CHECK(line(std::make_pair("k", 'c')) == "k,c");
  CHECK(line(Scored{"img.pgm", 3, 0.875}) == "img.pgm,3,0.875");
  STATIC_REQUIRE(detail::aggregate_field_count<Scored>() == 3);
}

TEST_CASE("fields that hold the delimiter, a quote or a line break are quoted",
          "[scorer][result_element]") {
  auto line = [](const auto& e, std::string_view delimiter) {
    std::string s;
    detail::append_element(s, e, delimiter);
    return s;
  };
  CHECK(line(std::make_tuple(std::string("a,b"), 1), ",") == "\"a,b\",1");
  CHECK(line(std::make_tuple(std::string("a,b"), 1), " ") == "a,b 1");
  CHECK(line(std::make_tuple(std::string("say \"hi\""), std::string("x y")), " ") ==
        "\"say \"\"hi\"\"\" \"x y\"");
  CHECK(line(std::make_tuple(std::string("two\nlines"), std::string("cr\r")), ";") ==
        "\"two\nlines\";\"cr\r\"");
  CHECK(line(Scored{"a::b", 3, 0.5}, "::") == "\"a::b\"::3::0.5");
  CHECK(line(std::make_tuple(std::string(""), 2), ",") == ",2");
  // A single string is a whole line: written as it is.
  CHECK(line(std::string("a,b \"c\""), ",") == "a,b \"c\"");
  // A row of text fields: each field quoted as needed.
  CHECK(line(std::vector<std::string>{"a", "b,c", ""}, ",") == "a,\"b,c\",");
  STATIC_REQUIRE(ResultElement<std::vector<std::string>>);
  STATIC_REQUIRE(ResultElement<std::vector<std::string_view>>);
}

TEST_CASE("plain results: succeeded is min(returned, items) - extras warn - key column",
          "[scorer][batch_outcome]") {
  const FileBatch b = batch_of(4, 40, 3);
  const RowFormat keyed{true, true, " "};
  SECTION("as many as items") {
    auto o = detail::collect(b, std::vector<std::string>{"a", "b", "c"}, keyed);
    CHECK(o.rows == "k40 a\nk41 b\nk42 c\n");
    CHECK(o.succeeded == 3);
    CHECK(o.failed.empty());
    CHECK(o.warnings.empty());
  }
  SECTION("fewer: the last items fail") {
    auto o = detail::collect(b, std::vector<int>{1}, keyed);
    CHECK(o.rows == "k40 1\n");
    CHECK(o.succeeded == 1);
    REQUIRE(o.failed.size() == 2);
    CHECK(o.failed[0].key == b[1].key);
    CHECK(o.failed[1].key == "k42");
    CHECK(o.failed[0].reason == "run returned 1 results for 3 items");
  }
  SECTION("more: capped with a warning, extra rows kept with key '-'") {
    auto o = detail::collect(b, std::vector<int>{1, 2, 3, 4}, keyed);
    CHECK(o.rows == "k40 1\nk41 2\nk42 3\n- 4\n");
    CHECK(o.succeeded == 3);
    CHECK(o.failed.empty());
    REQUIRE(o.warnings.size() == 1);
    CHECK(o.warnings[0] == "mini-batch 4 returned 4 results for 3 items; counted 3");
  }
  SECTION("summary_only counts without formatting") {
    auto o = detail::collect(b, std::vector<int>{1, 2}, RowFormat{false, true, " "});
    CHECK(o.rows.empty());
    CHECK(o.succeeded == 2);
    CHECK(o.failed.size() == 1);
  }
  SECTION("a range-v3 view works as a result") {
    ReturnsView s;
    auto o = detail::collect(b, s.run(b), RowFormat{true, false, " "});
    CHECK(o.rows == "k40\nk41\nk42\n");
  }
}

TEST_CASE("per-item results are matched to their items and written in item order",
          "[scorer][batch_outcome][item_result]") {
  const FileBatch b = batch_of(1, 10, 4);
  std::vector<ItemResult<Scored>> r;
  r.push_back(ok(b[2], Scored{"two", 2, 0.5}));
  r.push_back(fail<Scored>(b[1], "cannot decode 'p11'"));
  r.push_back(ok(b[0], Scored{"zero", 0, 1.0}));
  r.push_back(ok(b[0], Scored{"again", 0, 1.0}));
  r.push_back(ok(FileEntry{"x", "elsewhere", 99}, Scored{"x", 9, 0.0}));
  auto o = detail::collect(b, r, RowFormat{true, true, ";"});
  CHECK(o.rows == "k10;zero;0;1\nk12;two;2;0.5\n");
  CHECK(o.succeeded == 2);
  REQUIRE(o.failed.size() == 2);
  CHECK(o.failed[0].key == b[1].key);
  CHECK(o.failed[0].reason == "cannot decode 'p11'");
  CHECK(o.failed[1].key == "k13");
  CHECK(o.failed[1].reason == "run returned no result for this item");
  REQUIRE(o.warnings.size() == 2);
  CHECK(o.warnings[0] == "mini-batch 1: second result for item 'k10' was ignored");
  CHECK(o.warnings[1] ==
        "mini-batch 1: result for item 'elsewhere' (index 99) that is not in the mini-batch was "
        "ignored");
}

TEST_CASE("make_scorer calls init and run with or without the context", "[scorer]") {
  int inits = 0;
  auto s = make_scorer([&inits](Context&) { ++inits; },
                       [](const FileBatch& b, Context& c) {
                         return std::vector<std::string>{std::to_string(b.size()) + "@" +
                                                         std::to_string(c.worker_index())};
                       });
  Config cfg;
  cfg.output_dir = "unused";
  Context ctx(cfg, 5, nullptr);
  detail::call_init(s, ctx);
  CHECK(inits == 1);
  auto out = detail::call_run(s, batch_of(0, 0, 2), ctx);
  CHECK(out == std::vector<std::string>{"2@5"});
  auto plain = make_scorer([](const FileBatch& b) { return std::vector<std::size_t>{b.size()}; });
  detail::call_init(plain, ctx);  // no init: nothing happens
  CHECK(detail::call_run(plain, batch_of(0, 0, 3), ctx) == std::vector<std::size_t>{3});
}
