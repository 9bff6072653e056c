#include <parallel_run/detail/ordered_output.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <numeric>
#include <random>

#include "support/temp_dir.hpp"

using parallel_run::detail::AtomicFile;
using parallel_run::detail::OrderedOutput;
using test_support::read_file;
using test_support::TempDir;

namespace {
std::vector<std::size_t> shuffled(std::size_t n, unsigned seed) {
  std::vector<std::size_t> v(n);
  std::iota(v.begin(), v.end(), 0);
  std::shuffle(v.begin(), v.end(), std::mt19937(seed));
  return v;
}
std::string rows_of(std::size_t i) {
  return "row " + std::to_string(i) + "\n";
}
std::string failed_of(std::size_t i) {
  return i % 3 == 0 ? "f" + std::to_string(i) + "\n" : "";
}
}  // namespace

TEST_CASE("output comes out in mini-batch order whatever the arrival order", "[ordered_output]") {
  for (std::uint64_t budget : {std::uint64_t{1} << 20, std::uint64_t{0}, std::uint64_t{40}}) {
    TempDir t;
    std::string expected_rows, expected_failed;
    {
      AtomicFile rows(t / "out.txt");
      AtomicFile failed(t / "failed.csv");
      OrderedOutput out(&rows, &failed, t.path(), budget);
      for (std::size_t i : shuffled(200, 7))
        out.submit(i, rows_of(i), failed_of(i));
      CHECK(out.next_index() == 200);
      CHECK(out.waiting() == 0);
      CHECK(out.buffered_bytes() == 0);
      if (budget == 0) CHECK(out.spilled_chunks() > 100);
      if (budget == (std::uint64_t{1} << 20)) CHECK(out.spilled_chunks() == 0);
      CHECK_FALSE(std::filesystem::exists(t / "out.txt"));  // not before commit
      rows.commit();
      failed.commit();
    }
    for (std::size_t i = 0; i < 200; ++i) {
      expected_rows += rows_of(i);
      expected_failed += failed_of(i);
    }
    CHECK(read_file(t / "out.txt") == expected_rows);
    CHECK(read_file(t / "failed.csv") == expected_failed);
    // Only the two outputs remain: no temp or spill file.
    std::size_t files = 0;
    for (auto& e : std::filesystem::directory_iterator(t.path()))
      files += e.is_regular_file();
    CHECK(files == 2);
  }
}

TEST_CASE("memory waits within the budget and spills beyond it", "[ordered_output]") {
  TempDir t;
  AtomicFile rows(t / "out.txt");
  AtomicFile failed(t / "failed.csv");
  OrderedOutput out(&rows, &failed, t.path(), 100);
  const std::string big(60, 'x');
  out.submit(1, big + "\n", "");
  CHECK(out.buffered_bytes() == 61);
  CHECK(out.spilled_chunks() == 0);
  out.submit(2, big + "\n", "");  // 122 > 100: spilled
  CHECK(out.buffered_bytes() == 61);
  CHECK(out.spilled_chunks() == 1);
  CHECK(out.waiting() == 2);
  out.submit(0, "first\n", "");
  CHECK(out.waiting() == 0);
  CHECK(out.buffered_bytes() == 0);
  rows.commit();
  failed.commit();
  CHECK(read_file(t / "out.txt") == "first\n" + big + "\n" + big + "\n");
}

TEST_CASE("an atomic file is absent unless committed", "[ordered_output][atomic_file]") {
  TempDir t;
  {
    AtomicFile f(t / "never.txt");
    f.write("partial");
  }
  CHECK(std::filesystem::is_empty(t.path()));
  {
    AtomicFile f(t / "done.txt");
    f.write("whole");
    CHECK(f.bytes_written() == 5);
    f.commit();
  }
  CHECK(read_file(t / "done.txt") == "whole");
  CHECK_THROWS_WITH(AtomicFile(t / "no/such/folder/x.txt"),
                    Catch::StartsWith("[parallel_run.output] cannot create '" +
                                      (t / "no/such/folder/.x.txt.partial-").string()));
}

TEST_CASE("CSV fields are quoted only when needed", "[ordered_output][csv]") {
  std::string s;
  parallel_run::detail::append_csv_field(s, "plain");
  s += '|';
  parallel_run::detail::append_csv_field(s, "a,b");
  s += '|';
  parallel_run::detail::append_csv_field(s, "say \"hi\"\nthere");
  CHECK(s == "plain|\"a,b\"|\"say \"\"hi\"\"\nthere\"");
}
