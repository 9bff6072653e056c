#include <parallel_run/detail/key_partitioner.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "parallel_run/executor.hpp"
#include "support/temp_dir.hpp"

using parallel_run::detail::GroupedRun;
using parallel_run::detail::KeyGrouper;
using parallel_run::detail::RecordOrigin;
using test_support::read_file;
using test_support::TempDir;

namespace {

struct Input {
  std::string key;
  std::string text;
};

struct Output {
  std::size_t run = 0;
  std::uint64_t index = 0;
  std::uint64_t line = 0;
  std::uint32_t source = 0;
  std::string text;
};

// Every record of every mini-batch, decoded from the output as TableSlice::of_spill reads it.
std::vector<Output> drain(KeyGrouper& g, std::vector<GroupedRun>* runs = nullptr) {
  std::vector<Output> out;
  std::size_t n = 0;
  std::ifstream in;  // every mini-batch is in the same output file
  while (auto r = g.next()) {
    std::string bytes(r->length, '\0');
    if (!in.is_open()) in.open(r->file, std::ios::binary);
    in.clear();  // past the end of what was written before
    in.seekg(static_cast<std::streamoff>(r->offset));
    in.read(bytes.data(), static_cast<std::streamsize>(r->length));
    REQUIRE(in.gcount() == static_cast<std::streamsize>(r->length));
    std::size_t at = 0;
    std::uint64_t records = 0;
    while (at < bytes.size()) {
      Output o;
      o.run = n;
      std::uint32_t len = 0;
      std::memcpy(&o.index, bytes.data() + at, 8);
      std::memcpy(&o.line, bytes.data() + at + 8, 8);
      std::uint32_t local = 0;
      std::memcpy(&local, bytes.data() + at + 16, 4);
      REQUIRE(local < r->sources.size());
      o.source = r->sources[local];
      std::memcpy(&len, bytes.data() + at + 20, 4);
      o.text = bytes.substr(at + 24, len);
      at += 24 + len;
      out.push_back(std::move(o));
      ++records;
    }
    REQUIRE(at == bytes.size());
    REQUIRE(std::set<std::uint32_t>(r->sources.begin(), r->sources.end()).size() ==
            r->sources.size());
    REQUIRE(records == r->records);
    if (runs) runs->push_back(*r);
    ++n;
  }
  return out;
}

std::vector<Output> group(const std::vector<Input>& in, const std::filesystem::path& dir,
                          std::uint64_t size, std::uint64_t budget, std::uint64_t* peak = nullptr,
                          KeyGrouper** keep = nullptr) {
  KeyGrouper g(dir, size, budget);
  for (std::size_t i = 0; i < in.size(); ++i)
    g.add(in[i].key, in[i].text, RecordOrigin{static_cast<std::uint32_t>(i % 3), 2 + i, i});
  g.finish();
  auto out = drain(g);
  if (peak) *peak = g.peak_memory();
  (void)keep;
  return out;
}

// The invariants of any grouping of `in` into mini-batches of `size` bytes.
void check_grouping(const std::vector<Input>& in, const std::vector<Output>& out,
                    std::uint64_t size) {
  REQUIRE(out.size() == in.size());
  // Every record exactly once, with its origin.
  // (Counted, then checked once: a CHECK per record makes the test slow.)
  std::vector<int> seen(in.size(), 0);
  std::size_t wrong_origin = 0;
  for (const auto& o : out) {
    REQUIRE(o.index < in.size());
    ++seen[o.index];
    wrong_origin += o.text != in[o.index].text || o.line != o.index + 2 || o.source != o.index % 3;
  }
  CHECK(wrong_origin == 0);
  CHECK(std::count(seen.begin(), seen.end(), 1) == static_cast<std::ptrdiff_t>(in.size()));
  // Per key: its weight, its records contiguous and in input order, the mini-batches it is in.
  std::map<std::string, std::uint64_t> weight;
  for (const auto& r : in)
    weight[r.key] += r.text.size() + 1;
  std::map<std::string, std::set<std::size_t>> runs_of;
  std::set<std::string> closed;
  std::string current;
  std::uint64_t last_index = 0;
  std::size_t reopened = 0, out_of_order = 0;
  for (const auto& o : out) {
    const std::string& key = in[o.index].key;
    if (key != current) {
      reopened += closed.count(key);  // a key's records are one block
      if (!current.empty()) closed.insert(current);
      current = key;
    } else {
      out_of_order += o.index < last_index;
    }
    last_index = o.index;
    runs_of[key].insert(o.run);
  }
  CHECK(reopened == 0);
  CHECK(out_of_order == 0);
  for (const auto& [key, runs] : runs_of) {
    if (weight[key] <= size) {
      INFO("key " << key << " weighs " << weight[key]);
      CHECK(runs.size() == 1);
    } else {
      CHECK(*runs.rbegin() - *runs.begin() + 1 == runs.size());  // consecutive
    }
  }
  // No mini-batch is over the size, unless it is one record.
  std::map<std::size_t, std::pair<std::uint64_t, std::size_t>> per_run;
  for (const auto& o : out) {
    per_run[o.run].first += o.text.size() + 1;
    ++per_run[o.run].second;
  }
  for (const auto& [run, w] : per_run)
    CHECK((w.first <= size || w.second == 1));
}

std::vector<Input> skewed_input(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<Input> in;
  for (std::size_t i = 0; i < n; ++i) {
    // One heavy key (a third of the rows), then a long tail of small ones.
    const auto r = rng() % 300;
    const std::string key = r < 100 ? "heavy" : "k" + std::to_string(r);
    std::string text = key + "," + std::to_string(i) + "," + std::string(rng() % 40, 'x');
    in.push_back({key, std::move(text)});
  }
  return in;
}

}  // namespace

TEST_CASE("groups fitting the budget: first appearance order, whole groups packed",
          "[key_partition]") {
  TempDir t;
  const std::vector<Input> in = {{"a", "a1"}, {"b", "b1"}, {"a", "a2"}, {"c", "c1"},
                                 {"b", "b2"}, {"a", "a3"}, {"d", "d1"}};
  // Each record weighs 3 (text and a line break): a = 9, b = 6, c = 3, d = 3.
  std::uint64_t peak = 0;
  const auto out = group(in, t / "spill", 9, 1 << 20, &peak);
  check_grouping(in, out, 9);
  std::vector<std::string> texts;
  std::vector<std::size_t> runs;
  for (const auto& o : out) {
    texts.push_back(o.text);
    runs.push_back(o.run);
  }
  CHECK(texts == std::vector<std::string>{"a1", "a2", "a3", "b1", "b2", "c1", "d1"});
  CHECK(runs == std::vector<std::size_t>{0, 0, 0, 1, 1, 1, 2});
  CHECK(peak > 0);
  CHECK(peak <= (1 << 20));
}

TEST_CASE("a group larger than the size is split over consecutive mini-batches",
          "[key_partition]") {
  TempDir t;
  std::vector<Input> in = {{"small", "s1"}};
  for (int i = 0; i < 10; ++i)
    in.push_back({"big", "b" + std::to_string(i)});  // 10 records of weight 3
  in.push_back({"tail", "t1"});
  const auto out = group(in, t / "spill", 9, 1 << 20);
  check_grouping(in, out, 9);
  // small alone (big does not fit beside it), big by threes, its last record joined by tail.
  std::vector<std::size_t> runs;
  for (const auto& o : out)
    runs.push_back(o.run);
  CHECK(runs == std::vector<std::size_t>{0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4});
}

TEST_CASE("an empty input makes no mini-batch", "[key_partition]") {
  TempDir t;
  KeyGrouper g(t / "spill", 100);
  g.finish();
  CHECK_FALSE(g.next());
  CHECK_FALSE(g.next());
}

TEST_CASE("a tiny budget spills, splits again and streams a one-key group, within the bound",
          "[key_partition]") {
  const auto in = skewed_input(4000, 11);
  std::uint64_t max_frame = 0, max_key = 0;
  for (const auto& r : in) {
    max_frame = std::max<std::uint64_t>(max_frame, 28 + r.key.size() + r.text.size());
    max_key = std::max<std::uint64_t>(max_key, r.key.size());
  }
  for (std::uint64_t size :
       {std::uint64_t{1}, std::uint64_t{64}, std::uint64_t{5000}, std::uint64_t{1} << 30}) {
    for (std::uint64_t budget : {std::uint64_t{2048}, std::uint64_t{16384}}) {
      INFO("size " << size << ", budget " << budget);
      TempDir t;
      std::vector<Output> first;
      std::vector<GroupedRun> runs_a, runs_b;
      {
        KeyGrouper g(t / "spill", size, budget);
        for (std::size_t i = 0; i < in.size(); ++i)
          g.add(in[i].key, in[i].text, RecordOrigin{static_cast<std::uint32_t>(i % 3), 2 + i, i});
        g.finish();
        first = drain(g, &runs_a);
        CHECK(g.spill_buckets() >= 2);
        CHECK(g.resplits() >= 1);
        // "heavy" alone outweighs either budget; with the smallest, so does every key.
        if (budget == 16384) CHECK(g.streamed_buckets() == 1);
        CHECK(g.streamed_buckets() >= 1);
        CHECK(g.peak_memory() <= budget + max_frame + max_key);
        CHECK(g.records_added() == in.size());
      }
      CHECK(std::filesystem::is_empty(t / "spill"));  // every spill file removed
      check_grouping(in, first, size);
      // The same input and settings make the same mini-batches.
      KeyGrouper again(t / "spill", size, budget);
      for (std::size_t i = 0; i < in.size(); ++i)
        again.add(in[i].key, in[i].text, RecordOrigin{static_cast<std::uint32_t>(i % 3), 2 + i, i});
      again.finish();
      const auto second = drain(again, &runs_b);
      REQUIRE(second.size() == first.size());
      std::size_t differ = 0;
      for (std::size_t i = 0; i < first.size(); ++i)
        differ += second[i].index != first[i].index || second[i].run != first[i].run;
      CHECK(differ == 0);
      REQUIRE(runs_a.size() == runs_b.size());
      for (std::size_t i = 0; i < runs_a.size(); ++i)
        differ += runs_a[i].offset != runs_b[i].offset || runs_a[i].length != runs_b[i].length;
      CHECK(differ == 0);
    }
  }
}

TEST_CASE("the expected input size spreads the spill over enough buckets", "[key_partition]") {
  std::vector<Input> in;
  for (int i = 0; i < 20000; ++i)
    in.push_back({"key" + std::to_string(i % 997), "row " + std::to_string(i)});
  std::uint64_t total = 0;
  for (const auto& r : in)
    total += r.text.size() + 1;
  TempDir t;
  KeyGrouper g(t / "spill", 1000, 64 << 10, total);
  for (std::size_t i = 0; i < in.size(); ++i)
    g.add(in[i].key, in[i].text, RecordOrigin{static_cast<std::uint32_t>(i % 3), 2 + i, i});
  g.finish();
  const auto out = drain(g);
  check_grouping(in, out, 1000);
  CHECK(g.spill_buckets() > 4);
  CHECK(g.resplits() == 0);
  CHECK(g.peak_memory() <= g.memory_budget() + 64);
}

// --- KeyPartitioner and whole jobs ---------------------------------------------------------

using namespace parallel_run;
using parallel_run::detail::KeyPartitioner;
using parallel_run::detail::TableSlice;
using test_support::write_file;

namespace {

// What a scorer saw: per row, its mini-batch, its key values joined by '|', and its item key.
struct Seen {
  std::mutex mutex;
  std::vector<std::tuple<std::size_t, std::string, std::string>> rows;
};

auto recording_scorer(std::shared_ptr<Seen> seen, std::vector<std::string> columns) {
  return make_scorer([seen, columns](const TableBatch& batch) {
    std::vector<std::string> out;
    std::lock_guard lock(seen->mutex);
    for (const Row& row : batch) {
      std::string key;
      for (const auto& c : columns)
        key += std::string(row[c]) + "|";
      seen->rows.emplace_back(batch.mini_batch_index(), key, row.key());
      out.push_back(row.key());
    }
    return out;
  });
}

Config key_config(const TempDir& t, MiniBatchSize size, int workers = 2) {
  Config c;
  c.output_dir = t / "out";
  c.mini_batch_size = std::move(size);
  c.process_count_per_node = workers;
  c.logging_level = LoggingLevel::warning;
  return c;
}

TabularDataset keyed(const TempDir& t, std::vector<std::string> keys) {
  TableOptions o;
  o.partition_keys = std::move(keys);
  return TabularDataset({(t / "in").string()}, o);
}

// Two CSV files whose users are interleaved; "whale" outweighs any mini-batch; some values are
// quoted with a delimiter or a line break in them; b.csv has CRLF line ends. Returns each
// user's weight (record text plus a line break) and the item keys of all rows.
std::map<std::string, std::uint64_t> write_interleaved(const TempDir& t,
                                                       std::set<std::string>& items) {
  std::map<std::string, std::uint64_t> weight;
  for (const std::string file : {"a.csv", "b.csv"}) {
    const std::string eol = file == "a.csv" ? "\n" : "\r\n";
    std::string text = "region,user,value" + eol;
    std::size_t line = 2;
    for (int i = 0; i < 300; ++i) {
      const std::string user = i % 4 == 0 ? "whale" : "u" + std::to_string((i * 7) % 23);
      std::string value = std::to_string(i);
      if (i % 10 == 3) value = "\"a, b\"";
      if (i % 10 == 5) value = "\"two\nlines\"";
      const std::string record = "r" + std::to_string(i % 3) + "," + user + "," + value;
      text += record + eol;
      weight[user] += record.size() + 1;
      items.insert(file + ":" + std::to_string(line));
      line += 1 + (i % 10 == 5);
    }
    write_file(t / "in" / file, text);
  }
  return weight;
}

}  // namespace

TEST_CASE("a job gives rows sharing a key the same mini-batch, split only when too large",
          "[key_partition][executor]") {
  TempDir t;
  std::set<std::string> items;
  const auto weight = write_interleaved(t, items);
  const std::uint64_t size = 512;
  REQUIRE(weight.at("whale") > size);

  auto seen = std::make_shared<Seen>();
  const JobResult r =
      ParallelRun(key_config(t, "512"), recording_scorer(seen, {"user"})).run(keyed(t, {"user"}));
  CHECK(r.succeeded);
  CHECK(r.items_total == 600);
  CHECK(r.items_succeeded == 600);
  CHECK(r.items_failed == 0);
  CHECK_FALSE(std::filesystem::exists(t / "out/.parallel_run_tmp"));

  REQUIRE(seen->rows.size() == 600);
  std::map<std::string, std::set<std::size_t>> batches_of;
  std::set<std::string> scored;
  for (const auto& [batch, key, item] : seen->rows) {
    batches_of[key].insert(batch);
    CHECK(scored.insert(item).second);
  }
  CHECK(scored == items);
  for (const auto& [key, batches] : batches_of) {
    INFO(key);
    const std::string user = key.substr(0, key.size() - 1);
    if (weight.at(user) <= size)
      CHECK(batches.size() == 1);
    else
      CHECK(*batches.rbegin() - *batches.begin() + 1 == batches.size());
  }
  CHECK(batches_of.at("whale|").size() > 1);
  // Every row once in the output, a key's rows together and in input order.
  const std::string out = read_file(t / "out/parallel_run_step.txt");
  CHECK(std::count(out.begin(), out.end(), '\n') == 600);

  // The same input and settings make the same mini-batches, whatever the worker count.
  TempDir t1;
  std::set<std::string> items1;
  write_interleaved(t1, items1);
  auto seen1 = std::make_shared<Seen>();
  const JobResult r1 = ParallelRun(key_config(t1, "512", 1), recording_scorer(seen1, {"user"}))
                           .run(keyed(t1, {"user"}));
  CHECK(r1.mini_batches_total == r.mini_batches_total);
  CHECK(read_file(t1 / "out/parallel_run_step.txt") == out);
  auto sorted = [](std::vector<std::tuple<std::size_t, std::string, std::string>> v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  CHECK(sorted(seen1->rows) == sorted(seen->rows));
}

TEST_CASE("key columns are joined unambiguously, in first appearance order", "[key_partition]") {
  TempDir t;
  write_file(t / "in/t.csv", "x,y,n\na,bc,1\nab,c,2\na,bc,3\nab,c,4\n\"a\",\"bc\",5\n");
  KeyPartitioner p(keyed(t, {"x", "y"}), 1 << 20, 0, {}, t / "spill");
  std::optional<TableSlice> s = p.next();
  REQUIRE(s);
  CHECK_FALSE(p.next());
  const TableBatch batch = s->materialize();
  std::vector<std::string> n;
  for (const Row& row : batch)
    n.emplace_back(row["n"]);
  CHECK(n == std::vector<std::string>{"1", "3", "5", "2", "4"});
  CHECK(p.describe_size() == "1048576 bytes, rows grouped by partition_keys x, y");
}

TEST_CASE("a missing key column is a configuration error naming it and the file",
          "[key_partition][executor]") {
  TempDir t;
  write_file(t / "in/a.csv", "id,user\n1,x\n");
  auto seen = std::make_shared<Seen>();
  CHECK_THROWS_WITH(ParallelRun(key_config(t, "1MB"), recording_scorer(seen, {}))
                        .run(keyed(t, {"user", "session"})),
                    "[parallel_run.config.partition_keys] partition_keys column 'session' is not "
                    "in the header of '" +
                        (t / "in/a.csv").string() + "' (columns: id, user)");
  CHECK(seen->rows.empty());
  CHECK_FALSE(std::filesystem::exists(t / "out/.parallel_run_tmp"));

  TableOptions no_header;
  no_header.header = false;
  no_header.partition_keys = {"user"};
  KeyPartitioner p(TabularDataset({(t / "in").string()}, no_header), 100, 0, {}, t / "spill");
  CHECK_THROWS_WITH(p.next(),
                    "[parallel_run.config.partition_keys] partition_keys names column "
                    "'user', but '" +
                        (t / "in/a.csv").string() + "' has no header row to find it in");
}

TEST_CASE("malformed records are reported, not lost, and limit counts records",
          "[key_partition][executor]") {
  TempDir t;
  write_file(t / "in/a.csv", "id,user\n1,x\n2,y\n3,x,extra\n4,y\n5,\"x\n6,y\n");
  auto seen = std::make_shared<Seen>();
  const JobResult r =
      ParallelRun(key_config(t, "1MB"), recording_scorer(seen, {"user"})).run(keyed(t, {"user"}));
  // The quote opened on line 6 never closes: line 6 alone is a malformed record, and line 7
  // is read (as the partitioner without partition_keys reads it).
  CHECK(r.succeeded);
  CHECK(r.items_total == 6);
  CHECK(r.items_succeeded == 4);
  CHECK(r.items_failed == 2);
  CHECK(read_file(t / "out/parallel_run_step.txt") == "a.csv:2\na.csv:3\na.csv:5\na.csv:7\n");
  CHECK(read_file(t / "out/logs/failed_items.csv") ==
        "key,mini_batch,attempts,reason\n"
        "a.csv:4,0,1,\"a.csv:4: malformed record: 3 fields, the header has 2\"\n"
        "a.csv:6,0,1,a.csv:6: malformed record: a quoted field is not closed before the end of "
        "the file (the record is taken to end with the line where its quote opens)\n");

  TempDir t2;
  write_file(t2 / "in/a.csv", "id,user\n1,x\n2,y\n3,x\n");
  write_file(t2 / "in/b.csv", "id,user\n4,y\n5,x\n");
  Config c = key_config(t2, "1MB");
  c.limit = 4;
  auto seen2 = std::make_shared<Seen>();
  const JobResult r2 = ParallelRun(c, recording_scorer(seen2, {"user"})).run(keyed(t2, {"user"}));
  CHECK(r2.items_total == 4);
  CHECK(read_file(t2 / "out/parallel_run_step.txt") == "a.csv:2\na.csv:4\na.csv:3\nb.csv:2\n");
}

TEST_CASE("grouped by key, a mini-batch lists its malformed records after the scorer's failures",
          "[key_partition][malformed]") {
  // Its rows are in key order, not input order: line 4 (malformed) cannot go "in its place".
  TempDir t;
  write_file(t / "in/a.csv", "v,user\nx,a\n1,b\n2,a,extra\ny,b\n3,a\n");
  const JobResult r = ParallelRun(key_config(t, "1MB"), make_scorer([](const TableBatch& batch) {
                                    return parallel_run::map_items(
                                        batch, [](const Row& row) { return row.get<int>("v"); });
                                  }))
                          .run(keyed(t, {"user"}));
  CHECK(r.items_succeeded == 2);
  CHECK(r.items_failed == 3);
  // Group a (lines 2 and 6), then group b (lines 3 and 5).
  CHECK(read_file(t / "out/parallel_run_step.txt") == "3\n1\n");
  CHECK(read_file(t / "out/logs/failed_items.csv") ==
        "key,mini_batch,attempts,reason\n"
        "a.csv:2,0,1,[parallel_run.input] a.csv:2: column 'v': cannot parse 'x' as an integer\n"
        "a.csv:5,0,1,[parallel_run.input] a.csv:5: column 'v': cannot parse 'y' as an integer\n"
        "a.csv:4,0,1,\"a.csv:4: malformed record: 3 fields, the header has 2\"\n");
}

TEST_CASE("JSON Lines rows are grouped by their members", "[key_partition]") {
  TempDir t;
  write_file(t / "in/a.jsonl",
             "{\"user\":\"x\",\"v\":1}\n{\"user\":\"y\",\"v\":2}\n{\"v\":3,\"user\":\"x\"}\n");
  KeyPartitioner p(keyed(t, {"user"}), 1 << 20, 0, {}, t / "spill");
  auto s = p.next();
  REQUIRE(s);
  const TableBatch batch = s->materialize();
  std::vector<std::string> v;
  for (const Row& row : batch)
    v.emplace_back(row["v"]);
  CHECK(v == std::vector<std::string>{"1", "3", "2"});
}

TEST_CASE("a table larger than the memory budget is grouped through spill files",
          "[key_partition]") {
  TempDir t;
  std::mt19937 rng(5);
  std::string text = "user,payload\n";
  std::map<std::string, std::vector<std::size_t>> lines_of;
  for (std::size_t i = 0; i < 3000; ++i) {
    const std::string user = "user" + std::to_string(rng() % 150);
    text += user + "," + std::string(rng() % 50, 'p') + "\n";
    lines_of[user].push_back(i + 2);
  }
  write_file(t / "in/big.csv", text);
  KeyPartitioner p(keyed(t, {"user"}), 4096, 0, {}, t / "spill", 16 << 10);
  std::map<std::string, std::vector<std::size_t>> got;
  std::map<std::string, std::set<std::size_t>> batches;
  std::size_t expected_index = 0;
  while (auto s = p.next()) {
    CHECK(s->mini_batch_index() == expected_index++);
    const TableBatch batch = s->materialize();
    CHECK(batch.size() == s->size());
    for (const Row& row : batch) {
      got[std::string(row["user"])].push_back(row.line());
      batches[std::string(row["user"])].insert(batch.mini_batch_index());
    }
  }
  CHECK(got == lines_of);  // every row once, each user's rows in input order
  for (const auto& [user, b] : batches)
    CHECK(b.size() == 1);  // no user's rows outweigh 4096 bytes
  REQUIRE(p.grouper());
  CHECK(p.grouper()->spill_buckets() >= 2);
  CHECK(p.grouper()->peak_memory() <= (16 << 10) + 128);
}

TEST_CASE("a quote that never closes ends its record with its line, even past the buffer",
          "[key_partition][malformed]") {
  TempDir t;
  // The unclosed quote is followed by more than the largest buffer (256 KB with this budget).
  std::string text = "id,user\n1,\"open\n";
  for (int i = 2; i <= 60000; ++i)
    text += fmt::format("{},{}\n", i, i % 2 ? "x" : "y");
  write_file(t / "in/a.csv", text);
  KeyPartitioner p(keyed(t, {"user"}), 1 << 20, 0, {}, t / "spill", 1);
  std::size_t rows = 0;
  std::vector<std::string> malformed;
  while (auto s = p.next()) {
    const TableBatch batch = s->materialize();
    rows += batch.size();
    for (const auto& m : batch.malformed())
      malformed.push_back(m.key);
  }
  CHECK(rows == 59999);
  CHECK(malformed == std::vector<std::string>{"a.csv:2"});
}
