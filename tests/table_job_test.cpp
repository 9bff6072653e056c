#include <parallel_run/executor.hpp>

#include <catch2/catch.hpp>

#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "parallel_run/command_line.hpp"
#include "parallel_run/detail/table_partitioner.hpp"
#include "support/invoke_main.hpp"
#include "support/temp_dir.hpp"

using namespace parallel_run;
using test_support::Invocation;
using test_support::invoke_main;
using test_support::read_file;
using test_support::TempDir;
using test_support::write_file;

namespace {

// "<id> <value * 2>" per row; a value that does not parse fails that row alone.
auto doubling_scorer() {
  return make_scorer([](const TableBatch& batch) {
    return map_items(batch, [](const Row& row) {
      return std::make_tuple(std::string(row["id"]), row.get<double>("value") * 2);
    });
  });
}

Config job_config(const TempDir& t, MiniBatchSize size) {
  Config c;
  c.output_dir = t / "out";
  c.mini_batch_size = std::move(size);
  c.process_count_per_node = 2;
  c.logging_level = LoggingLevel::warning;
  return c;
}

}  // namespace

TEST_CASE("a table job scores every row once, in order, and lists bad rows", "[table_job]") {
  TempDir t;
  std::string text = "id,value\n";
  std::string want;
  for (int i = 1; i <= 500; ++i) {
    if (i == 7) {
      text += "7,seven\n";
    } else if (i == 9) {
      text += "9,1,extra\n";
    } else {
      text += std::to_string(i) + "," + std::to_string(i) + ".5\n";
      want += fmt::format("{} {}\n", i, (i + 0.5) * 2);
    }
  }
  write_file(t / "in/data.csv", text);
  Config c = job_config(t, "256");
  c.key_column = false;
  const JobResult r = ParallelRun(c, doubling_scorer()).run(TabularDataset({(t / "in").string()}));
  CHECK(r.succeeded);
  CHECK(r.items_total == 500);
  CHECK(r.items_succeeded == 498);
  CHECK(r.items_failed == 2);
  CHECK(r.mini_batches_total > 10);
  CHECK(read_file(t / "out/parallel_run_step.txt") == want);
  const std::string failed = read_file(t / "out/logs/failed_items.csv");
  CHECK(failed.rfind("key,mini_batch,attempts,reason\n", 0) == 0);
  CHECK(failed.find("data.csv:8,0,1,[parallel_run.input] data.csv:8: column 'value': cannot "
                    "parse 'seven' as a number\n") != std::string::npos);
  CHECK(failed.find("data.csv:10,0,1,\"data.csv:10: malformed record: 3 fields, the header has "
                    "2\"\n") != std::string::npos);
  CHECK(std::count(failed.begin(), failed.end(), '\n') == 3);
}

TEST_CASE("a table mini-batch that fails as a whole lists each of its rows", "[table_job]") {
  TempDir t;
  write_file(t / "in/a.csv", "x\n1\n\"two\nlines\"\n3\n");
  Config c = job_config(t, "1MB");
  c.run_max_try = 2;
  auto scorer = make_scorer([](const TableBatch&) -> std::vector<std::string> {
    throw std::runtime_error("model not loaded");
  });
  const JobResult r = ParallelRun(c, scorer).run(TabularDataset({(t / "in").string()}));
  CHECK(r.items_failed == 3);
  CHECK(read_file(t / "out/logs/failed_items.csv") ==
        "key,mini_batch,attempts,reason\n"
        "a.csv:2,0,2,all 2 attempts failed; last: model not loaded\n"
        "a.csv:3,0,2,all 2 attempts failed; last: model not loaded\n"
        "a.csv:5,0,2,all 2 attempts failed; last: model not loaded\n");
}

TEST_CASE("a malformed record keeps its own reason when its mini-batch fails as a whole",
          "[table_job]") {
  TempDir t;
  write_file(t / "in/a.csv", "x\n1\n2,extra\n\"3\"x\n4\n");
  Config c = job_config(t, "1MB");
  c.run_max_try = 2;
  auto scorer = make_scorer([](const TableBatch&) -> std::vector<std::string> {
    throw std::runtime_error("model not loaded");
  });
  const JobResult r = ParallelRun(c, scorer).run(TabularDataset({(t / "in").string()}));
  CHECK(r.items_failed == 4);
  CHECK(read_file(t / "out/logs/failed_items.csv") ==
        "key,mini_batch,attempts,reason\n"
        "a.csv:2,0,2,all 2 attempts failed; last: model not loaded\n"
        "a.csv:3,0,2,\"a.csv:3: malformed record: 2 fields, the header has 1\"\n"
        "a.csv:4,0,2,a.csv:4: malformed record: field 1 has text after its closing quote\n"
        "a.csv:5,0,2,all 2 attempts failed; last: model not loaded\n");
}

TEST_CASE("a small file with an unclosed quote is one mini-batch, its record a failed item",
          "[table_job][unclosed]") {
  TempDir t;
  write_file(t / "in/a.csv", "id,text\n1,\"abc\n2,def\n3,ghi\n");
  Config c = job_config(t, "1MB");
  c.key_column = true;
  auto scorer = make_scorer([](const TableBatch& batch) {
    std::vector<std::string> texts;
    for (const Row& row : batch)
      texts.emplace_back(row["text"]);
    return texts;
  });
  const JobResult r = ParallelRun(c, scorer).run(TabularDataset({(t / "in").string()}));
  CHECK(r.succeeded);
  CHECK(r.mini_batches_total == 1);
  CHECK(r.mini_batches_succeeded == 1);
  CHECK(r.items_total == 3);
  CHECK(r.items_succeeded == 2);
  CHECK(r.items_failed == 1);
  CHECK(read_file(t / "out/parallel_run_step.txt") == "a.csv:3 def\na.csv:4 ghi\n");
  CHECK(read_file(t / "out/logs/failed_items.csv") ==
        "key,mini_batch,attempts,reason\n"
        "a.csv:2,0,1,a.csv:2: malformed record: a quoted field is not closed before the end of "
        "the file (the record is taken to end with the line where its quote opens)\n");
}

TEST_CASE("a mini-batch left with no row does not call run()", "[table_job][malformed]") {
  // Mini-batches of one record each: two of them hold only a malformed record.
  TempDir t;
  write_file(t / "in/a.csv", "id,text\n1,a\n2\n3,c\n\"4\"x,d\n");
  Config c = job_config(t, "1");
  c.process_count_per_node = 1;
  auto calls = std::make_shared<std::vector<std::size_t>>();  // rows given to each run()
  auto scorer = make_scorer([calls](const TableBatch& batch) {
    calls->push_back(batch.size());
    std::vector<std::string> texts;
    for (const Row& row : batch)
      texts.emplace_back(row["text"]);
    return texts;
  });
  const JobResult r = ParallelRun(c, scorer).run(TabularDataset({(t / "in").string()}));
  CHECK(*calls == std::vector<std::size_t>{1, 1});
  CHECK(r.mini_batches_total == 4);
  CHECK(r.mini_batches_succeeded == 4);
  CHECK(r.items_total == 4);
  CHECK(r.items_succeeded == 2);
  CHECK(r.items_failed == 2);
  CHECK(read_file(t / "out/parallel_run_step.txt") == "a\nc\n");
  const std::string failed = read_file(t / "out/logs/failed_items.csv");
  CHECK(std::count(failed.begin(), failed.end(), '\n') == 3);
  CHECK_THAT(failed, Catch::Contains("\na.csv:3,1,1,") && Catch::Contains("\na.csv:5,3,1,"));
}

TEST_CASE("a stopped table job lists what it did not read as ranges of lines, unread",
          "[table_job][stop]") {
  TempDir t;
  // a.csv is larger than what the partitioner reads ahead: its tail is never read.
  std::string a = "id,value\n";
  const int rows = 200000;
  for (int i = 1; i <= rows; ++i)
    a += fmt::format("{},{}\n", i, i);
  write_file(t / "in/a.csv", a);
  write_file(t / "in/b.csv", "id,value\n1,1\n");
  write_file(t / "in/c.csv", "not even a table \"\n");
  Config c = job_config(t, "64");
  c.process_count_per_node = 1;
  c.run_max_try = 1;
  c.error_threshold = 0;
  auto scorer = make_scorer(
      [](const TableBatch&) -> std::vector<std::string> { throw std::runtime_error("no"); });
  const JobResult r = ParallelRun(c, scorer).run(TabularDataset({(t / "in").string()}));
  CHECK(!r.succeeded);
  const std::string failed = read_file(t / "out/logs/failed_items.csv");
  // Every line of a.csv is listed once: a failed row alone, a not-processed slice as
  // "a.csv:<first>-<last>", the unread rest as "a.csv:<first>-"; b.csv and c.csv by name.
  std::istringstream in(failed);
  std::string line;
  std::getline(in, line);
  CHECK(line == "key,mini_batch,attempts,reason");
  int next = 2;  // the next line of a.csv to be listed
  std::size_t ranges = 0, range_lines = 0;
  std::vector<std::string> others;
  bool rest = false;
  while (std::getline(in, line)) {
    const std::string key = line.substr(0, line.find(','));
    if (key.rfind("a.csv:", 0) != 0) {
      others.push_back(line);
      continue;
    }
    REQUIRE(!rest);
    const std::string lines = key.substr(6);
    const auto dash = lines.find('-');
    CHECK(std::stoi(lines.substr(0, dash)) == next);
    if (dash == std::string::npos) {
      ++next;
      CHECK(line.find(",1,") != std::string::npos);
    } else if (dash + 1 == lines.size()) {
      rest = true;
      next = rows + 2;
      CHECK(line.find(",0,not processed: the job stopped (error_threshold exceeded") !=
            std::string::npos);
    } else {
      const int last = std::stoi(lines.substr(dash + 1));
      ++ranges;
      range_lines += static_cast<std::size_t>(last - next + 1);
      next = last + 1;
      CHECK(line.find(",0,not processed: the job stopped (error_threshold exceeded") !=
            std::string::npos);
    }
  }
  CHECK(rest);
  CHECK(ranges > 0);
  CHECK(r.items_not_processed == range_lines);
  REQUIRE(others.size() == 2);
  CHECK(others[0].rfind("b.csv,", 0) == 0);
  CHECK(others[1].rfind("c.csv,", 0) == 0);
}

TEST_CASE("table output round-trips through the table reader", "[table_job][output]") {
  for (const std::string delimiter : {",", " "}) {
    TempDir t;
    const std::vector<std::string> values{"plain",      "with,comma", "with space", "say \"hi\"",
                                          "two\nlines", "",           "cr\rhere",   "tail "};
    std::string text = "v\n";
    for (const auto& v : values) {
      text += '"';
      for (char ch : v) {
        if (ch == '"') text += '"';
        text += ch;
      }
      text += "\"\n";
    }
    write_file(t / "in/values.csv", text);
    Config c = job_config(t, "64");
    c.delimiter = delimiter;
    c.key_column = true;
    c.output_header = {"value", "size"};
    auto echo = make_scorer([](const TableBatch& batch) {
      std::vector<std::tuple<std::string, std::size_t>> rows;
      for (const Row& row : batch)
        rows.emplace_back(std::string(row["v"]), row["v"].size());
      return rows;
    });
    const JobResult r = ParallelRun(c, echo).run(TabularDataset({(t / "in").string()}));
    REQUIRE(r.succeeded);
    // Read the output back as a table with the same delimiter.
    std::filesystem::rename(t / "out/parallel_run_step.txt", t / "back.csv");
    TableOptions o;
    o.delimiter = delimiter[0];
    detail::TablePartitioner p(TabularDataset({(t / "back.csv").string()}, o), 1 << 20);
    auto slice = p.next();
    REQUIRE(slice);
    const TableBatch back = slice->materialize();
    CHECK(back.malformed().empty());
    REQUIRE(back.size() == values.size());
    CHECK(back[0].header().names() == std::vector<std::string>{"key", "value", "size"});
    for (std::size_t i = 0; i < values.size(); ++i) {
      CHECK(back[i]["value"] == values[i]);
      CHECK(back[i].get<std::size_t>("size") == values[i].size());
    }
    CHECK(back[5]["key"] == "values.csv:8");
  }
}

TEST_CASE("limit scores the first N records of a table", "[table_job][limit]") {
  TempDir t;
  write_file(t / "in/a.csv", "id,value\n1,1\n2,2\n3,3\n");
  write_file(t / "in/b.csv", "id,value\n4,4\n");
  Config c = job_config(t, "8");
  c.limit = 3;
  const JobResult r = ParallelRun(c, doubling_scorer()).run(TabularDataset({(t / "in").string()}));
  CHECK(r.succeeded);
  CHECK(r.items_total == 3);
  CHECK(read_file(t / "out/parallel_run_step.txt") == "1 2\n2 4\n3 6\n");
}

TEST_CASE("an input fault found part way stops a table job with what it named", "[table_job]") {
  TempDir t;
  write_file(t / "in/a.csv", "id,value\n1,1\n");
  write_file(t / "in/b.csv", "id,other\n2,2\n");
  write_file(t / "in/c.csv", "id,value\n3,3\n");
  const JobResult r = ParallelRun(job_config(t, "1MB"), doubling_scorer())
                          .run(TabularDataset({(t / "in").string()}));
  CHECK(!r.succeeded);
  CHECK(r.configuration_error);
  // a.csv's row was cut before the fault: scored, or listed as not processed when it was still
  // queued as the job stopped.
  CHECK(r.items_total == 1);
  CHECK(r.items_succeeded + r.items_not_processed == 1);
  CHECK(r.failure_reason ==
        "[parallel_run.input] the header of '" + (t / "in/b.csv").string() +
            "' (id, other) differs from the header of '" + (t / "in/a.csv").string() +
            "' (id, value); set allow_different_headers (--allow-different-headers) to read "
            "files with different headers");
  // The file at fault is listed, by name, as is the file never reached: none vanishes.
  const std::string failed = read_file(t / "out/logs/failed_items.csv");
  CHECK_THAT(failed, Catch::Contains("\nb.csv,1,0,"));
  CHECK_THAT(failed, Catch::Contains("\nc.csv,2,0,"));
  CHECK(static_cast<std::size_t>(std::count(failed.begin(), failed.end(), '\n')) ==
        3 + r.items_not_processed);
  CHECK(r.mini_batches_total == 3);
  CHECK_THROWS_WITH(
      ParallelRun(job_config(t, "1 MB"), doubling_scorer())
          .run(TabularDataset({(t / "in").string()})),
      "[parallel_run.config.mini_batch_size] mini_batch_size must be a number of files for "
      "file inputs (an integer in [1, 2147483647]) or a size for tables, like 1024, 1024KB, "
      "10MB or 1GB (^\\d+([kKmMgG][bB])?$), got '1 MB'");
}

namespace {
template <class Scorer>
test_support::Invocation invoke_with_two_workers(std::vector<std::string> args, Scorer scorer) {
  Config defaults;
  defaults.process_count_per_node = 2;
  return test_support::invoke_main(std::move(args), std::move(scorer), defaults);
}
}  // namespace

TEST_CASE("the command line reads tables for a TableBatch scorer", "[table_job][command_line]") {
  TempDir t;
  write_file(t / "in/a.txt", "7;x\n8;\"y;z\"\n");
  auto scorer = make_scorer([](const TableBatch& batch) {
    std::vector<std::string> rows;
    for (const Row& row : batch)
      rows.push_back(row.key() + "=" + std::string(row[1]));
    return rows;
  });
  Invocation r = invoke_with_two_workers(
      {"--input", (t / "in").string(), "--output", (t / "out").string(), "--format", "csv",
       "--no-header", "--input-delimiter", ";", "--mini-batch-size", "4"},
      scorer);
  CHECK(r.err.empty());
  CHECK(r.status == 0);
  CHECK(read_file(t / "out/parallel_run_step.txt") == "a.txt:1=x\na.txt:2=y;z\n");

  write_file(t / "tsv/a.tsv", "h\tk\n1\t2\n");
  r = invoke_with_two_workers({"--input", (t / "tsv").string(), "--output", (t / "out2").string()},
                              scorer);
  CHECK(r.status == 0);
  CHECK(read_file(t / "out2/parallel_run_step.txt") == "a.tsv:2=2\n");

  r = invoke_with_two_workers({"--input", (t / "in").string(), "--output", (t / "out3").string()},
                              scorer);
  CHECK(r.status == 2);
  CHECK(r.err.find("cannot tell the table format from its extension") != std::string::npos);

  r = invoke_with_two_workers(
      {"--input", (t / "in").string(), "--output", (t / "out4").string(), "--format", "xml"},
      scorer);
  CHECK(r.status == 2);
  CHECK(r.err ==
        "parallel_run: [parallel_run.config.table_format] table_format must be one of csv, tsv, "
        "jsonl; got 'xml'\n");
  r = invoke_with_two_workers({"--input", (t / "in").string(), "--output", (t / "out4").string(),
                               "--input-delimiter", "ab"},
                              scorer);
  CHECK(r.status == 2);
  CHECK(r.err ==
        "parallel_run: [parallel_run.config.input_delimiter] input_delimiter must be one "
        "character other than a line break, or 'tab'; got 'ab'\n");
}

TEST_CASE("a filter returns the rows it keeps and they are written as a valid table",
          "[table_job]") {
  TempDir t;
  write_file(t / "in/a.csv",
             "name,value,note\n"
             "keep,1,\"has, comma\"\n"
             "drop,2,plain\n"
             "keep,3,\"say \"\"hi\"\"\nsecond line\"\n");
  Config c = job_config(t, "1MB");
  c.delimiter = ",";
  c.output_header = {"name", "value", "note"};
  // A Row is a result element: its fields, quoted as needed.
  auto filter = make_scorer([](const TableBatch& batch) {
    return map_items(batch, [](const Row& row) {
      if (row["name"] != "keep") throw std::runtime_error("filtered out");
      return row;
    });
  });
  const JobResult r = ParallelRun(c, filter).run(TabularDataset({(t / "in").string()}));
  CHECK(r.items_succeeded == 2);
  CHECK(r.items_failed == 1);
  CHECK(read_file(t / "out/parallel_run_step.txt") ==
        "name,value,note\n"
        "keep,1,\"has, comma\"\n"
        "keep,3,\"say \"\"hi\"\"\nsecond line\"\n");
  // The output reads back with our own parser, field for field.
  TempDir u;
  write_file(u / "in/out.csv", read_file(t / "out/parallel_run_step.txt"));
  Config c2 = job_config(u, "1MB");
  auto collect = make_scorer([](const TableBatch& batch) {
    std::vector<std::string> notes;
    for (const Row& row : batch)
      notes.push_back(fmt::format("{}|{}", row["value"], row["note"]));
    return notes;
  });
  c2.output_dir = u / "out2";
  const JobResult r2 = ParallelRun(c2, collect).run(TabularDataset({(u / "in").string()}));
  CHECK(r2.items_succeeded == 2);
  CHECK(read_file(u / "out2/parallel_run_step.txt") == "1|has, comma\n3|say \"hi\"\nsecond line\n");
}
