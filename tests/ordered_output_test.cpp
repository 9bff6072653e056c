#include <parallel_run/detail/ordered_output.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <numeric>
#include <random>
#include <vector>

#include <fmt/format.h>

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
// Longer than a string holds without an allocation: spilling them saves memory.
std::string rows_of(std::size_t i) {
  return "row " + std::to_string(i) + " of the output\n";
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

TEST_CASE("an atomic file whose folder was removed while it was written says so at commit",
          "[ordered_output][atomic_file]") {
  TempDir t;
  std::filesystem::create_directories(t / "out");
  {
    AtomicFile file(t / "out/rows.txt");
    file.write("rows\n");
    std::filesystem::remove_all(t / "out");
    try {
      file.commit();
      FAIL("the commit succeeded with its folder gone");
    } catch (const parallel_run::OutputError& e) {
      CHECK(std::string(e.what()) ==
            "[parallel_run.output] cannot write '" + (t / "out/rows.txt").string() +
                "': its folder '" + (t / "out").string() +
                "' was removed while the job ran, and the file written there with it (No such "
                "file or directory)");
    }
  }
  std::filesystem::create_directories(t / "out");
  AtomicFile file(t / "out/rows.txt");
  file.write("rows\n");
  for (const auto& e : std::filesystem::directory_iterator(t / "out"))
    std::filesystem::remove(e.path());  // the temporary file alone
  try {
    file.commit();
    FAIL("the commit succeeded with its temporary file gone");
  } catch (const parallel_run::OutputError& e) {
    CHECK_THAT(e.what(), Catch::Contains("': its temporary file '.rows.txt.partial-"));
    CHECK_THAT(e.what(),
               Catch::EndsWith("' was removed while the job ran, and the file written there with "
                               "it (No such file or directory)"));
  }
  CHECK_FALSE(std::filesystem::exists(t / "out/rows.txt"));
}

TEST_CASE("results' bytes wait in memory up to half the budget, then spill", "[ordered_output]") {
  TempDir t;
  AtomicFile rows(t / "out.txt");
  AtomicFile failed(t / "failed.csv");
  // 1000-byte results take a 1024-byte malloc chunk each: 5 fit in half of 10240.
  OrderedOutput out(&rows, &failed, t.path(), 10240);
  REQUIRE(parallel_run::detail::heap_cost(std::string(1000, 'x')) == 1024);
  std::string expected = "first\n";
  for (std::size_t i = 1; i <= 7; ++i) {
    out.submit(i, std::string(1000, 'x'), "");
    expected += std::string(1000, 'x');
  }
  CHECK(out.buffered_bytes() == 5 * 1024);
  CHECK(out.spilled_chunks() == 2);
  CHECK(out.waiting() == 7);
  // Bookkeeping counts too: the late mini-batch's slot and the 7 waiting ones.
  CHECK(out.memory_bytes() == 5 * 1024 + 8 * OrderedOutput::slot_bytes());
  CHECK(OrderedOutput::slot_bytes() <= 64);
  CHECK(out.spill_file_bytes() == 2000);
  out.submit(0, "first\n", "");
  CHECK(out.waiting() == 0);
  CHECK(out.buffered_bytes() == 0);
  CHECK(out.memory_bytes() == 0);
  // Nothing waits in the spill file: its space is given back at once.
  CHECK(out.spill_file_bytes() == 0);
  CHECK(std::filesystem::file_size(
            t / (".parallel_run_spill-" + parallel_run::detail::process_tag())) == 0);
  rows.commit();
  failed.commit();
  CHECK(read_file(t / "out.txt") == expected);
}

TEST_CASE("small results count their bookkeeping - full() holds back new mini-batches",
          "[ordered_output]") {
  TempDir t;
  AtomicFile rows(t / "out.txt");
  AtomicFile failed(t / "failed.csv");
  OrderedOutput out(&rows, &failed, t.path(), 0);
  CHECK_FALSE(out.full());
  // Rows short enough to live inside their string cost no allocation, only bookkeeping;
  // with a budget of 0 the bookkeeping still gets its minimum before full().
  std::size_t i = 1;
  while (!out.full()) {
    out.submit(i, "r" + std::to_string(i % 10) + "\n", "");
    ++i;
  }
  const std::size_t waiting = i - 1;
  CHECK(out.waiting() == waiting);
  CHECK(out.buffered_bytes() == 0);
  CHECK(out.memory_bytes() >= OrderedOutput::min_bookkeeping_bytes);
  CHECK(out.memory_bytes() < OrderedOutput::min_bookkeeping_bytes + 100);
  CHECK(waiting > 10000);  // about 64 bytes each
  CHECK(out.spilled_chunks() == 0);
  out.submit(0, "r0\n", "f0\n");
  CHECK_FALSE(out.full());
  CHECK(out.waiting() == 0);
  CHECK(out.memory_bytes() == 0);
  rows.commit();
  failed.commit();
  std::string expected = "r0\n";
  for (std::size_t k = 1; k <= waiting; ++k)
    expected += "r" + std::to_string(k % 10) + "\n";
  CHECK(read_file(t / "out.txt") == expected);
  CHECK(read_file(t / "failed.csv") == "f0\n");
}

TEST_CASE("the spill file gives back the space of results read back", "[ordered_output]") {
  TempDir t;
  AtomicFile rows(t / "out.txt");
  AtomicFile failed(t / "failed.csv");
  // A budget of 0 spills every early result; regions of 4 KiB are given back as they empty.
  OrderedOutput out(&rows, &failed, t.path(), 0, 4096);
  auto row = [](std::size_t i) { return fmt::format("{:0999}\n", i); };
  auto fail = [](std::size_t i) { return i % 7 == 0 ? fmt::format("f{}\n", i) : std::string(); };
  // Arrivals 2, 0, 4, 1, 6, 3, 8, 5, ...: a spilled result always waits, so the file is
  // never empty and never starts again from its beginning.
  const std::size_t n = 2000;
  std::vector<std::size_t> arrivals{2, 0};
  for (std::size_t j = 1; 2 * j - 1 < n; ++j) {
    if (2 * j + 2 < n) arrivals.push_back(2 * j + 2);
    arrivals.push_back(2 * j - 1);
  }
  REQUIRE(arrivals.size() == n);
  std::uint64_t most = 0;
  for (std::size_t i : arrivals) {
    out.submit(i, row(i), fail(i));
    CHECK(out.waiting() <= 2);
    most = std::max(most, out.spill_file_bytes());
  }
  CHECK(out.next_index() == n);
  CHECK(out.spilled_chunks() > n / 3);
  // About a megabyte went through the file; at most a few regions were held at a time.
  CHECK(most <= 4 * 4096);
  CHECK(out.spill_file_bytes() == 0);
  rows.commit();
  failed.commit();
  std::string expected_rows, expected_failed;
  for (std::size_t i = 0; i < n; ++i) {
    expected_rows += row(i);
    expected_failed += fail(i);
  }
  CHECK(read_file(t / "out.txt") == expected_rows);
  CHECK(read_file(t / "failed.csv") == expected_failed);
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
