// The progress of table jobs: the total is known once the listing knows the files left, long
// before the last mini-batch is cut (TablePartitioner::expected_mini_batches), and the
// progress line shows it instead of "listing the input".
#include <parallel_run/detail/progress_display.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "parallel_run/detail/table_partitioner.hpp"
#include "parallel_run/executor.hpp"
#include "parallel_run/observer.hpp"
#include "support/temp_dir.hpp"

using namespace parallel_run;
using detail::ProgressCounts;
using detail::TablePartitioner;
using test_support::TempDir;
using test_support::write_file;

namespace {

// A header and `rows` records of 16 bytes: 4 records in each slice of 64 bytes.
std::string table_of(int rows) {
  std::string text = "id,text\n";
  for (int i = 0; i < rows; ++i)
    text += fmt::format("{:04},0123456789\n", i);
  return text;
}

}  // namespace

TEST_CASE("a table partitioner knows its mini-batches once the files left are listed",
          "[table_progress]") {
  TempDir t;
  for (const char* name : {"a.csv", "b.csv", "c.csv"})
    write_file(t / "in" / name, table_of(80));  // 20 slices each
  TablePartitioner p(TabularDataset({(t / "in").string()}), 64);
  CHECK_FALSE(p.expected_mini_batches());  // the folder is not read yet
  for (std::size_t cut = 1; cut <= 60; ++cut) {
    INFO("slice " << cut);
    REQUIRE(p.next());
    // From the first slice on, b.csv and c.csv not opened yet: their sizes give the total.
    CHECK(p.expected_mini_batches().value_or(0) == 60);
  }
  CHECK_FALSE(p.next());
  CHECK(p.expected_mini_batches().value_or(0) == 60);

  // A record limit ends the input at a record, not a byte: the total stays unknown.
  TablePartitioner limited(TabularDataset({(t / "in").string()}), 64, 100);
  REQUIRE(limited.next());
  CHECK_FALSE(limited.expected_mini_batches());
}

TEST_CASE("files taken ahead for the total are still cut in order, and listed when stopped",
          "[table_progress]") {
  TempDir t;
  write_file(t / "in/a.csv", table_of(8));
  write_file(t / "in/b.csv", table_of(4));
  write_file(t / "in/c.csv", table_of(4));
  TablePartitioner p(TabularDataset({(t / "in").string()}), 64);
  std::optional<detail::TableSlice> s = p.next();
  REQUIRE(s);
  CHECK(s->sources()[0]->key == "a.csv");
  CHECK(p.expected_mini_batches().value_or(0) == 4);  // b and c taken ahead
  p.stop_reading();
  std::vector<std::string> keys;
  while (auto rest = p.next())
    rest->for_each_range_key([&](std::string k) { keys.push_back(std::move(k)); });
  CHECK(keys == std::vector<std::string>{"a.csv:6-9", "b.csv", "c.csv"});

  TablePartitioner all(TabularDataset({(t / "in").string()}), 64);
  std::vector<std::string> cut;
  while (auto slice = all.next()) {
    (void)all.expected_mini_batches();
    slice->for_each_range_key([&](std::string k) { cut.push_back(std::move(k)); });
  }
  CHECK(cut == std::vector<std::string>{"a.csv:2-5", "a.csv:6-9", "b.csv:2-5", "c.csv:2-5"});
}

TEST_CASE("the progress line of a table shows its progress once the total is known",
          "[table_progress]") {
  ProgressCounts c;
  c.created = 12;
  c.done = 10;
  c.expected = 40;
  c.bytes_created = 12 * 1024 * 1024;
  c.bytes_done = 10 * 1024 * 1024;
  c.items_succeeded = 100;
  c.elapsed = 20;
  CHECK(c.fraction() == Approx(0.25));
  CHECK(c.text() ==
        "10/40 mini-batches (25.0%), 10.0 MB of 12.0 MB so far, 100 items done, 5.0 items/s, 0 "
        "running, elapsed 20s, ETA 1m00s");
  c.expected = 0;  // not known yet
  CHECK(c.fraction() < 0);
  CHECK(c.text() ==
        "10 of 12 mini-batches so far (listing the input), 10.0 MB of 12.0 MB so far, 100 items "
        "done, 5.0 items/s, 0 running, elapsed 20s");
}

TEST_CASE("a table job's progress events carry the total before the last mini-batch is cut",
          "[table_progress]") {
  TempDir t;
  write_file(t / "in/a.csv", table_of(240));  // 60 mini-batches of 64 bytes
  struct Events : JobObserver {
    std::vector<JobProgress> seen;
    void progress(const JobProgress& p) override { seen.push_back(p); }
  };
  auto events = std::make_shared<Events>();
  Config c;
  c.output_dir = t / "out";
  c.mini_batch_size = "64";
  c.process_count_per_node = 1;  // 16 mini-batches in flight: the first event comes before
  c.logging_level = LoggingLevel::warning;  // the last one is handed out
  c.progress = ProgressMode::none;
  auto scorer = make_scorer([](const TableBatch& batch) {
    std::this_thread::sleep_for(std::chrono::milliseconds(60));  // 3.6 s in all
    std::vector<std::string> ids;
    for (const Row& row : batch)
      ids.emplace_back(row["id"]);
    return ids;
  });
  ParallelRun job(c, scorer);
  job.add_observer(events);
  const JobResult r = job.run(TabularDataset({(t / "in").string()}));
  CHECK(r.succeeded);
  CHECK(r.mini_batches_total == 60);
  CHECK(r.items_succeeded == 240);
  REQUIRE_FALSE(events->seen.empty());
  const JobProgress& first = events->seen.front();
  CHECK_FALSE(first.listing_done);
  CHECK(first.mini_batches_created < 60);
  CHECK(first.mini_batches_expected == 60);
}
