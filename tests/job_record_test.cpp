// The job's record, heard through the observer seam: logs/processed_mini-batches.csv (one
// row per attempt), a user's JobObserver (every event once, in order; one that throws is
// dropped), logs/overview.txt while the job runs and at its end, logs/job_error.txt with
// JobResult::first_failures, logs/readme.txt, and a run of one mini-batch (only_mini_batch).
// Thread backend only: the process backend's record is tested with its own programs.
#include <parallel_run/observer.hpp>

#include <parallel_run/parallel_run.hpp>
#include <parallel_run/detail/job_files.hpp>
#include <parallel_run/detail/processed_log.hpp>
#include <parallel_run/detail/temp_names.hpp>

#include <catch2/catch.hpp>

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <time.h>
#include <unistd.h>

#include "support/gate.hpp"
#include "support/temp_dir.hpp"

using namespace parallel_run;
using namespace std::chrono_literals;
using test_support::make_numbered_files;
using test_support::numbered_keys;
using test_support::read_file;
using test_support::TempDir;
namespace fs = std::filesystem;

namespace {
Config record_config(const fs::path& out, std::int64_t mini_batch_size = 3, int workers = 2) {
  Config c;
  c.output_dir = out;
  c.mini_batch_size = mini_batch_size;
  c.process_count_per_node = workers;
  c.logging_level = LoggingLevel::warning;
  return c;
}

FileDataset inputs(const TempDir& t) {
  return FileDataset({(t / "in").string()});
}

std::vector<std::string> keys_of(const FileBatch& b) {
  std::vector<std::string> keys;
  for (const auto& e : b)
    keys.push_back(e.key);
  return keys;
}

using test_support::Gate;

// Waits until `done()` holds; false past `limit`.
template <class Done>
bool eventually_within(Done done, std::chrono::milliseconds limit = 30s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

// A CSV file's records, each a list of fields (quoted fields unquoted, "" as one quote).
std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> records;
  std::vector<std::string> fields;
  std::string field;
  bool quoted = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field.push_back('"');
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field.push_back(c);
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.push_back(std::move(field));
      field.clear();
    } else if (c == '\n') {
      fields.push_back(std::move(field));
      field.clear();
      records.push_back(std::move(fields));
      fields.clear();
    } else {
      field.push_back(c);
    }
  }
  if (!field.empty() || !fields.empty()) {
    fields.push_back(std::move(field));
    records.push_back(std::move(fields));
  }
  return records;
}

// "2026-11-21 22:10:00.123" (UTC) in milliseconds since the epoch; nothing if it does not
// parse.
std::optional<std::int64_t> parse_timestamp_ms(const std::string& s) {
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0, ms = 0, consumed = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2d %2d:%2d:%2d.%3d%n", &year, &month, &day, &hour, &minute,
                  &second, &ms, &consumed) != 7 ||
      static_cast<std::size_t>(consumed) != s.size() || s.size() != 23)
    return std::nullopt;
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60)
    return std::nullopt;
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  return static_cast<std::int64_t>(::timegm(&tm)) * 1000 + ms;
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// One row of processed_mini-batches.csv.
struct ProcessedRow {
  std::size_t mini_batch = 0;
  int picked = 0;
  std::string process, start;
  std::size_t total = 0, succeeded = 0, failed = 0;
  double elapsed = 0, cpu = 0, run = 0;
  std::string status, category, message, detail;
};

// The rows of a processed_mini-batches.csv whose first line is exactly the header, sorted
// by mini-batch and attempt.
std::vector<ProcessedRow> processed_rows(const fs::path& file) {
  const std::string text = read_file(file);
  const std::string header(detail::ProcessedLog::header);
  REQUIRE(text.substr(0, header.size()) == header);
  auto records = parse_csv(text.substr(header.size()));
  std::vector<ProcessedRow> rows;
  for (const auto& f : records) {
    REQUIRE(f.size() == 14);
    ProcessedRow r;
    r.mini_batch = std::stoul(f[0]);
    r.picked = std::stoi(f[1]);
    r.process = f[2];
    r.start = f[3];
    r.total = std::stoul(f[4]);
    r.succeeded = std::stoul(f[5]);
    r.failed = std::stoul(f[6]);
    r.elapsed = std::stod(f[7]);
    r.cpu = f[8].empty() ? -1 : std::stod(f[8]);  // empty: not measured
    r.run = f[9].empty() ? -1 : std::stod(f[9]);
    r.status = f[10];
    r.category = f[11];
    r.message = f[12];
    r.detail = f[13];
    rows.push_back(std::move(r));
  }
  std::sort(rows.begin(), rows.end(), [](const ProcessedRow& a, const ProcessedRow& b) {
    return std::pair(a.mini_batch, a.picked) < std::pair(b.mini_batch, b.picked);
  });
  return rows;
}

// What holds for every row of any job of this process: it ran here, its times are sane.
void check_row_basics(const ProcessedRow& r, std::int64_t job_start_ms, std::int64_t job_end_ms) {
  INFO("mini-batch " << r.mini_batch << " attempt " << r.picked);
  CHECK_THAT(r.process, Catch::StartsWith(detail::host_name() + "/process-") &&
                            Catch::EndsWith("/" + std::to_string(::getpid())));
  const auto start = parse_timestamp_ms(r.start);
  REQUIRE(start.has_value());
  CHECK(*start >= job_start_ms);
  CHECK(*start <= job_end_ms);
  CHECK(r.succeeded + r.failed == r.total);
  CHECK(r.elapsed >= r.run);
  if (r.status == "timed_out" || r.status == "crashed") {  // the worker could not say
    CHECK(r.run == -1);
    CHECK(r.cpu == -1);
  } else {
    CHECK(r.run >= 0);
    CHECK(r.cpu >= 0);
  }
}

// Every event a user observer hears, counted and listed in order.
struct Recorder : JobObserver {
  int job_started_calls = 0, created = 0, started = 0, ended = 0, finals = 0, progress_calls = 0,
      job_ended_calls = 0;
  std::size_t final_succeeded = 0, final_failed = 0, final_not_processed = 0;
  std::size_t final_items_succeeded = 0, final_items_failed = 0;
  std::set<std::size_t> created_indexes;
  std::vector<std::string> events;  // "started 1/1", "ended 1/1", ...
  std::vector<AttemptInfo> ended_attempts;
  std::optional<JobResult> result;
  fs::path log_dir;
  std::shared_ptr<std::atomic<bool>> saw_not_processed = std::make_shared<std::atomic<bool>>();

  static std::string attempt_name(const AttemptInfo& a) {
    return std::to_string(a.mini_batch.index) + "/" + std::to_string(a.attempt);
  }
  void job_started(const JobInfo& info) override {
    ++job_started_calls;
    log_dir = info.log_dir;
    events.push_back("job_started");
  }
  void mini_batch_created(const MiniBatchInfo& m) override {
    ++created;
    created_indexes.insert(m.index);
  }
  void attempt_started(const AttemptInfo& a) override {
    ++started;
    CHECK(a.status == AttemptStatus::running);
    CHECK(a.start == a.end);
    events.push_back("started " + attempt_name(a));
  }
  void attempt_ended(const AttemptInfo& a) override {
    ++ended;
    CHECK(a.start <= a.end);
    CHECK(a.status != AttemptStatus::running);
    events.push_back("ended " + attempt_name(a));
    ended_attempts.push_back(a);
  }
  void mini_batch_final(const MiniBatchFinal& m) override {
    ++finals;
    final_items_succeeded += m.succeeded;
    final_items_failed += m.failed;
    switch (m.status) {
      case MiniBatchStatus::succeeded:
        ++final_succeeded;
        break;
      case MiniBatchStatus::failed:
        ++final_failed;
        break;
      case MiniBatchStatus::not_processed:
        ++final_not_processed;
        saw_not_processed->store(true);
        break;
    }
  }
  void progress(const JobProgress&) override { ++progress_calls; }
  void job_ended(const JobResult& r) override {
    ++job_ended_calls;
    result = r;
    events.push_back("job_ended");
  }
};

// The events the recorder heard agree with the JobResult the job returned.
void check_recorder_matches(const Recorder& rec, const JobResult& r) {
  CHECK(rec.job_started_calls == 1);
  CHECK(rec.job_ended_calls == 1);
  CHECK(rec.progress_calls >= 1);  // once as the work ends, at least
  CHECK(static_cast<std::size_t>(rec.created) == r.mini_batches_total);
  CHECK(rec.created_indexes.size() == r.mini_batches_total);
  CHECK(static_cast<std::size_t>(rec.started) == r.attempts);
  CHECK(static_cast<std::size_t>(rec.ended) == r.attempts);
  CHECK(static_cast<std::size_t>(rec.finals) == r.mini_batches_total);
  CHECK(rec.final_succeeded == r.mini_batches_succeeded);
  CHECK(rec.final_failed == r.mini_batches_failed);
  CHECK(rec.final_not_processed == r.mini_batches_not_processed);
  CHECK(rec.final_items_succeeded == r.items_succeeded);
  CHECK(rec.final_items_failed == r.items_failed + r.items_not_processed);
  REQUIRE(rec.result.has_value());
  CHECK(rec.result->summary() == r.summary());
  CHECK(rec.result->succeeded == r.succeeded);
  CHECK(rec.result->items_total == r.items_total);
  CHECK(rec.result->mini_batches_not_processed == r.mini_batches_not_processed);
  CHECK(rec.result->attempts == r.attempts);
  // job_started first, job_ended last; each attempt starts before it ends, once each.
  REQUIRE(rec.events.size() == 2 * r.attempts + 2);
  CHECK(rec.events.front() == "job_started");
  CHECK(rec.events.back() == "job_ended");
  std::map<std::string, int> state;  // 1: started, 2: ended
  for (std::size_t i = 1; i + 1 < rec.events.size(); ++i) {
    const std::string& e = rec.events[i];
    INFO(e);
    if (e.starts_with("started ")) {
      CHECK(state[e.substr(8)] == 0);
      state[e.substr(8)] = 1;
    } else {
      REQUIRE(e.starts_with("ended "));
      CHECK(state[e.substr(6)] == 1);
      state[e.substr(6)] = 2;
    }
  }
  for (const auto& [attempt, s] : state) {
    INFO(attempt);
    CHECK(s == 2);
  }
}

double thread_cpu_seconds() {
  timespec t{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}
}  // namespace

TEST_CASE("processed_mini-batches.csv has one row per attempt with retries and item failures",
          "[record][processed]") {
  TempDir t;
  make_numbered_files(t / "in", 9);
  Config c = record_config(t / "out");
  c.run_max_try = 2;
  auto scorer = make_scorer([](const FileBatch& b, Context& ctx) {
    if (b.mini_batch_index() == 1 && ctx.attempt() == 1)
      throw std::runtime_error("flaky, first attempt");
    std::vector<ItemResult<std::string>> out;
    for (const auto& e : b)
      out.push_back(e.key == "f007.txt" ? fail<std::string>(e, "unreadable")
                                        : ok(e, std::string(e.key)));
    return out;
  });
  const std::int64_t before = now_ms();
  JobResult r = run(c, inputs(t), scorer);
  const std::int64_t after = now_ms();
  REQUIRE(r.succeeded);
  CHECK(r.attempts == 4);
  CHECK(r.retries == 1);
  CHECK(r.items_total == 9);
  CHECK(r.items_succeeded == 8);
  CHECK(r.items_failed == 1);

  const auto rows = processed_rows(t / "out/logs/processed_mini-batches.csv");
  REQUIRE(rows.size() == r.attempts);
  for (const auto& row : rows)
    check_row_basics(row, before, after);

  CHECK(rows[0].mini_batch == 0);
  CHECK(rows[0].picked == 1);
  CHECK(rows[0].total == 3);
  CHECK(rows[0].succeeded == 3);
  CHECK(rows[0].failed == 0);
  CHECK(rows[0].status == "succeeded");
  CHECK(rows[0].category.empty());
  CHECK(rows[0].message.empty());
  CHECK(rows[0].detail == "first: f000.txt; last: f002.txt");

  CHECK(rows[1].mini_batch == 1);
  CHECK(rows[1].picked == 1);
  CHECK(rows[1].total == 3);
  CHECK(rows[1].succeeded == 0);
  CHECK(rows[1].failed == 3);
  CHECK(rows[1].status == "failed");
  CHECK(rows[1].category == "user_error");
  CHECK(rows[1].message == "flaky, first attempt");
  CHECK(rows[1].detail == "first: f003.txt; last: f005.txt");

  CHECK(rows[2].mini_batch == 1);
  CHECK(rows[2].picked == 2);
  CHECK(rows[2].total == 3);
  CHECK(rows[2].succeeded == 3);
  CHECK(rows[2].failed == 0);
  CHECK(rows[2].status == "succeeded");
  CHECK(rows[2].category.empty());
  CHECK(rows[2].message.empty());
  CHECK(rows[2].detail == "first: f003.txt; last: f005.txt");

  // An item that failed on its own: the attempt succeeded, the row counts the item.
  CHECK(rows[3].mini_batch == 2);
  CHECK(rows[3].picked == 1);
  CHECK(rows[3].total == 3);
  CHECK(rows[3].succeeded == 2);
  CHECK(rows[3].failed == 1);
  CHECK(rows[3].status == "succeeded");
  CHECK(rows[3].category.empty());
  CHECK(rows[3].message.empty());
  CHECK(rows[3].detail == "first: f006.txt; last: f008.txt");

  // The last attempt of each mini-batch decides it: those rows add up to the result.
  std::map<std::size_t, const ProcessedRow*> last;
  for (const auto& row : rows)
    last[row.mini_batch] = &row;
  REQUIRE(last.size() == 3);
  std::size_t total = 0, succeeded = 0, failed = 0;
  for (const auto& [index, row] : last) {
    total += row->total;
    succeeded += row->succeeded;
    failed += row->failed;
  }
  CHECK(total == r.items_total);
  CHECK(succeeded == r.items_succeeded);
  CHECK(failed == r.items_failed);
}

TEST_CASE("processed_mini-batches.csv rows reach the file while the job runs and at its end",
          "[record][processed]") {
  // One worker, three mini-batches. Rows are written in groups: run() of mini-batch 1 waits
  // (at most 10 s) for the row of mini-batch 0 while no other attempt ends, which the next
  // progress event (every 2 s) writes; mini-batch 2's row is written by the job's end.
  TempDir t;
  make_numbered_files(t / "in", 9);
  Config c = record_config(t / "out", 3, 1);
  const fs::path file = t / "out/logs/processed_mini-batches.csv";
  bool row_0_seen = false;
  std::string before_row_0;
  auto scorer = make_scorer([&](const FileBatch& b, Context&) {
    if (b.mini_batch_index() == 1) {
      before_row_0 = read_file(file);
      for (int i = 0; i < 1000 && !row_0_seen; ++i) {
        row_0_seen = read_file(file).find("\n0,1,") != std::string::npos;
        if (!row_0_seen) std::this_thread::sleep_for(10ms);
      }
    }
    return keys_of(b);
  });
  REQUIRE(run(c, inputs(t), scorer).succeeded);
  CHECK(before_row_0 == std::string(detail::ProcessedLog::header));  // not yet: a group waits
  CHECK(row_0_seen);
  const auto rows = processed_rows(file);
  REQUIRE(rows.size() == 3);
}

TEST_CASE("a log write that does not fit is taken back whole, and the next one goes on",
          "[record][processed]") {
  // A file size limit stands in for a full disk: a write past it is cut short (EFBIG, the
  // signal ignored). The file must not end in the middle of a row.
  TempDir t;
  const fs::path file = t / "logs/log.csv";
  ::rlimit before{};
  REQUIRE(::getrlimit(RLIMIT_FSIZE, &before) == 0);
  // Runs `write` with room for files of `limit` bytes only.
  auto with_limit = [&](rlim_t limit, const std::function<void()>& write) {
    auto* const old_handler = std::signal(SIGXFSZ, SIG_IGN);
    ::rlimit small = before;
    small.rlim_cur = limit;
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
    write();
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &before) == 0);
    std::signal(SIGXFSZ, old_handler);
  };
  detail::LineFile log(file, "w");
  log.write("a,1\n");
  int error = 0;
  with_limit(10, [&] {
    log.write("b,a row longer than the room left\n");  // 4 bytes in, 6 bytes of room
    error = log.error();
  });
  CHECK(read_file(file) == "a,1\n");
  CHECK(log.lost() == 1);
  CHECK(error == EFBIG);
  log.write("c,3\n");
  CHECK(read_file(file) == "a,1\nc,3\n");
  // Appending ("a"), a write is taken back to the end of what an earlier session wrote.
  detail::LineFile again(file, "a");
  with_limit(12, [&] { again.write("d,a row longer than the room left\n"); });
  CHECK(read_file(file) == "a,1\nc,3\n");
  CHECK(again.lost() == 1);
  again.write("e,5\n");
  CHECK(read_file(file) == "a,1\nc,3\ne,5\n");
  CHECK(again.lost() == 1);
}

TEST_CASE("processed_mini-batches.csv - Process Seconds tell a spinning run() from a sleeping one",
          "[record][processed]") {
  TempDir t;
  make_numbered_files(t / "in", 2);
  Config c = record_config(t / "out", 1, 1);
  // What the spinning run() saw by its own clocks: its thread's CPU seconds and wall seconds.
  struct Spin {
    std::atomic<double> cpu{0}, wall{0};
  };
  auto spin = std::make_shared<Spin>();
  auto scorer = make_scorer([spin](const FileBatch& b) {
    if (b.mini_batch_index() == 0) {
      // 0.3 s of this thread's CPU, by its own clock.
      const double start = thread_cpu_seconds();
      const auto wall_start = std::chrono::steady_clock::now();
      volatile std::uint64_t spins = 0;
      double used = 0;
      while ((used = thread_cpu_seconds() - start) < 0.3)
        spins = spins + 1;
      spin->cpu = used;
      spin->wall =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
    } else {
      std::this_thread::sleep_for(300ms);
    }
    return keys_of(b);
  });
  const std::int64_t before = now_ms();
  JobResult r = run(c, inputs(t), scorer);
  const std::int64_t after = now_ms();
  REQUIRE(r.succeeded);
  CHECK(r.attempts == 2);
  const auto rows = processed_rows(t / "out/logs/processed_mini-batches.csv");
  REQUIRE(rows.size() == 2);
  for (const auto& row : rows)
    check_row_basics(row, before, after);
  // Relations within one row (and with what run() itself measured), not timing bounds.
  REQUIRE(spin->wall.load() > 0);
  const double share = spin->cpu.load() / spin->wall.load();  // of a core, as run() saw it
  INFO("the spinning run() got " << share << " of a core");
  CHECK(rows[0].detail == "f000.txt");
  CHECK(rows[0].cpu >= 0.3);                      // all the CPU run() measured, at least
  CHECK(rows[0].cpu <= rows[0].elapsed + 0.002);  // one thread: never more than the wall time
  // On an idle machine, share is about 1: more than half the row's time is CPU. A loaded
  // machine gives the spinning thread less of a core, and the row says so.
  CHECK(rows[0].cpu > 0.5 * share * rows[0].elapsed);
  CHECK(rows[1].detail == "f001.txt");
  CHECK(rows[1].cpu < 0.5 * rows[1].elapsed);
}

TEST_CASE("processed_mini-batches.csv - a timed-out attempt is timed_out in category timeout",
          "[record][processed][timeout]") {
  TempDir t;
  make_numbered_files(t / "in", 3);
  Config c = record_config(t / "out", 1, 2);
  c.run_invocation_timeout = 0.5;
  c.run_max_try = 1;
  auto scorer = make_scorer([](const FileBatch& b, Context& ctx) {
    if (b.mini_batch_index() == 1 && !eventually_within([&] { return ctx.stop_requested(); }))
      throw std::runtime_error("never asked to stop");
    return keys_of(b);
  });
  const std::int64_t before = now_ms();
  JobResult r = run(c, inputs(t), scorer);
  const std::int64_t after = now_ms();
  REQUIRE(r.succeeded);
  CHECK(r.timeouts == 1);
  CHECK(r.attempts == 3);
  CHECK(r.items_succeeded == 2);
  CHECK(r.items_failed == 1);
  CHECK(r.detached_workers == 0);
  const auto rows = processed_rows(t / "out/logs/processed_mini-batches.csv");
  REQUIRE(rows.size() == 3);
  for (const auto& row : rows)
    check_row_basics(row, before, after);
  const ProcessedRow& late = rows[1];
  CHECK(late.mini_batch == 1);
  CHECK(late.picked == 1);
  CHECK(late.status == "timed_out");
  CHECK(late.category == "timeout");
  CHECK_THAT(late.message, Catch::StartsWith("timed out after ") &&
                               Catch::EndsWith(" s (run_invocation_timeout 0.5 s)"));
  CHECK(late.total == 1);
  CHECK(late.succeeded == 0);
  CHECK(late.failed == 1);
  CHECK(late.detail == "f001.txt");
  for (std::size_t i : {0, 2}) {
    CHECK(rows[i].status == "succeeded");
    CHECK(rows[i].category.empty());
    CHECK(rows[i].succeeded == 1);
  }
}

TEST_CASE("a user observer hears every event once and in order", "[record][observer]") {
  TempDir t;
  make_numbered_files(t / "in", 12);
  Config c = record_config(t / "out");
  c.run_max_try = 2;
  auto scorer = make_scorer([](const FileBatch& b, Context& ctx) {
    if (b.mini_batch_index() == 1 && ctx.attempt() == 1) throw std::runtime_error("flaky");
    if (b.mini_batch_index() == 3) throw std::runtime_error("broken");
    return keys_of(b);
  });
  auto rec = std::make_shared<Recorder>();
  ParallelRun job(c, scorer);
  job.add_observer(rec);
  JobResult r = job.run(inputs(t));
  REQUIRE(r.succeeded);  // no threshold: the failed mini-batch is tolerated
  CHECK(r.mini_batches_total == 4);
  CHECK(r.mini_batches_succeeded == 3);
  CHECK(r.mini_batches_failed == 1);
  CHECK(r.mini_batches_not_processed == 0);
  CHECK(r.attempts == 6);
  CHECK(r.items_succeeded == 9);
  CHECK(r.items_failed == 3);
  check_recorder_matches(*rec, r);
  CHECK(rec->log_dir == t / "out/logs");
  CHECK(rec->created_indexes == std::set<std::size_t>{0, 1, 2, 3});
  REQUIRE(rec->ended_attempts.size() == 6);
  std::size_t last_attempts = 0;
  for (const AttemptInfo& a : rec->ended_attempts) {
    INFO(Recorder::attempt_name(a));
    CHECK(a.host == detail::host_name());
    CHECK(a.pid == ::getpid());
    CHECK(a.items == 3);
    if (a.last) ++last_attempts;
    if (a.mini_batch.index == 1 && a.attempt == 1) {
      CHECK(a.status == AttemptStatus::failed);
      CHECK(a.reason == "flaky");
      CHECK_FALSE(a.last);
    } else if (a.mini_batch.index == 3) {
      CHECK(a.status == AttemptStatus::failed);
      CHECK(a.reason == "broken");
      CHECK(a.last == (a.attempt == 2));
    } else {
      CHECK(a.status == AttemptStatus::succeeded);
      CHECK(a.succeeded == 3);
      CHECK(a.last);
    }
  }
  CHECK(last_attempts == 4);  // one per mini-batch
}

TEST_CASE("a worker's record has each end on disk by the next start or once it waits",
          "[record][worker_record]") {
  // One worker, two mini-batches. run() of mini-batch 1 reads the record: the end of 0 is
  // there (written with the start of 1). Then, with nothing left to run, the worker waits:
  // an observer of the last mini-batch's end holds the job (it cannot end meanwhile) until
  // the end of 1 is on disk too, at most 10 s.
  TempDir t;
  make_numbered_files(t / "in", 6);
  Config c = record_config(t / "out", 3, 1);
  const fs::path record = t / "out" / "logs" / "worker" / detail::host_name() / "process-0.txt";
  std::string seen_by_run_1;
  auto scorer = make_scorer([&](const FileBatch& b, Context&) {
    if (b.mini_batch_index() == 1) seen_by_run_1 = read_file(record);
    return keys_of(b);
  });
  struct EndOnDisk : JobObserver {
    fs::path record;
    std::string seen;
    void mini_batch_final(const MiniBatchFinal& m) override {
      if (m.mini_batch.index != 1) return;
      for (int i = 0; i < 1000; ++i) {
        seen = read_file(record);
        if (seen.find("mini-batch 1 attempt 1 succeeded") != std::string::npos) break;
        std::this_thread::sleep_for(10ms);
      }
    }
  };
  auto observer = std::make_shared<EndOnDisk>();
  observer->record = record;
  ParallelRun job(c, scorer);
  job.add_observer(observer);
  REQUIRE(job.run(inputs(t)).succeeded);
  CHECK(seen_by_run_1.find("mini-batch 0 attempt 1 succeeded") != std::string::npos);
  CHECK(seen_by_run_1.find("mini-batch 1 attempt 1 started") != std::string::npos);
  CHECK(seen_by_run_1.find("mini-batch 1 attempt 1 succeeded") == std::string::npos);
  CHECK(observer->seen.find("mini-batch 1 attempt 1 succeeded") != std::string::npos);
  // Every line once, in order.
  const std::string all = read_file(record);
  const auto s0 = all.find("mini-batch 0 attempt 1 started");
  const auto e0 = all.find("mini-batch 0 attempt 1 succeeded");
  const auto s1 = all.find("mini-batch 1 attempt 1 started");
  const auto e1 = all.find("mini-batch 1 attempt 1 succeeded");
  CHECK((s0 < e0 && e0 < s1 && s1 < e1 && e1 != std::string::npos));
  CHECK(std::count(all.begin(), all.end(), '\n') == 4);
}

TEST_CASE("a user observer hears the not processed mini-batches of a stopped job",
          "[record][observer]") {
  TempDir t;
  make_numbered_files(t / "in", 20);
  Config c = record_config(t / "out", 1, 1);
  c.run_max_try = 1;
  c.mini_batch_error_threshold = 0;
  auto rec = std::make_shared<Recorder>();
  // Mini-batch 0 fails and stops the job; the others wait until the queue has been dropped
  // (the observer heard a not processed mini-batch), so the stop finds them queued.
  auto scorer = make_scorer([dropped = rec->saw_not_processed](const FileBatch& b) {
    if (b.mini_batch_index() == 0) throw std::runtime_error("broken");
    if (!eventually_within([&] { return dropped->load(); }))
      throw std::runtime_error("the job never stopped");
    return keys_of(b);
  });
  ParallelRun job(c, scorer);
  job.add_observer(rec);
  JobResult r = job.run(inputs(t));
  CHECK_FALSE(r.succeeded);
  CHECK_THAT(r.failure_reason, Catch::StartsWith("mini_batch_error_threshold exceeded"));
  CHECK(r.mini_batches_total == 20);
  CHECK(r.mini_batches_failed == 1);
  // Mini-batch 1 may have been taken by the worker before the stop: it then finishes.
  CHECK(r.mini_batches_succeeded <= 1);
  CHECK(r.mini_batches_not_processed == 19 - r.mini_batches_succeeded);
  CHECK(r.attempts == 1 + r.mini_batches_succeeded);
  check_recorder_matches(*rec, r);
}

TEST_CASE("an attempt that times out while the coordinator is busy is heard starting first",
          "[record][observer][timeout]") {
  // One worker, mini-batches of one file: the coordinator is held inside an event (the
  // creation of mini-batch 19, cut as the result of mini-batch 3 is handled) while
  // mini-batch 5 starts and runs past its timeout. The watchdog then finds the timeout
  // before the coordinator has heard that the attempt started.
  struct Shared {
    std::atomic<bool> coordinator_busy{false};
    std::atomic<std::int64_t> late_started_ns{0};  // steady clock
  };
  struct Busy : Recorder {
    std::shared_ptr<Shared> shared = std::make_shared<Shared>();
    bool held = false;
    void mini_batch_created(const MiniBatchInfo& m) override {
      Recorder::mini_batch_created(m);
      if (m.index != 19) return;
      shared->coordinator_busy = true;
      held = eventually_within([&] { return shared->late_started_ns.load() != 0; });
      // Past mini-batch 5's run_invocation_timeout (1 s), by the clock the watchdog reads.
      eventually_within(
          [&] { return steady_ns() - shared->late_started_ns.load() > 1'000'000'000; });
    }
    static std::int64_t steady_ns() {
      return std::chrono::duration_cast<std::chrono::nanoseconds>(
                 std::chrono::steady_clock::now().time_since_epoch())
          .count();
    }
  };
  TempDir t;
  make_numbered_files(t / "in", 24);
  Config c = record_config(t / "out", 1, 1);
  c.run_invocation_timeout = 1;
  c.run_max_try = 1;
  auto rec = std::make_shared<Busy>();
  auto scorer = make_scorer([shared = rec->shared](const FileBatch& b, Context& ctx) {
    if (b.mini_batch_index() == 4 &&
        !eventually_within([&] { return shared->coordinator_busy.load(); }))
      throw std::runtime_error("the coordinator was never held");
    if (b.mini_batch_index() == 5) {
      shared->late_started_ns = Busy::steady_ns();
      if (!eventually_within([&] { return ctx.stop_requested(); }))
        throw std::runtime_error("never asked to stop");
    }
    return keys_of(b);
  });
  ParallelRun job(c, scorer);
  job.add_observer(rec);
  JobResult r = job.run(inputs(t));
  REQUIRE(rec->held);
  REQUIRE(r.succeeded);
  CHECK(r.timeouts == 1);
  CHECK(r.attempts == 24);
  CHECK(r.items_failed == 1);
  check_recorder_matches(*rec, r);
  const auto rows = processed_rows(t / "out/logs/processed_mini-batches.csv");
  REQUIRE(rows.size() == 24);
  CHECK(rows[5].status == "timed_out");
  // Its start is the worker's, not the moment the timeout was reported.
  CHECK(rows[5].elapsed > 0);
}

TEST_CASE("the first progress event comes half a second in, with the total", "[record][progress]") {
  // 4 mini-batches of 0.4 s on one worker: 1.6 s, less than the 2 s between later events.
  TempDir t;
  make_numbered_files(t / "in", 4);
  struct First final : JobObserver {
    std::mutex mutex;
    std::optional<JobProgress> first;
    void progress(const JobProgress& p) override {
      std::lock_guard lock(mutex);
      if (!first) first = p;
    }
  };
  auto first = std::make_shared<First>();
  Config c = record_config(t / "out", 1, 1);
  ParallelRun job(c, make_scorer([](const FileBatch& b) {
                    std::this_thread::sleep_for(std::chrono::milliseconds(400));
                    return keys_of(b);
                  }));
  job.add_observer(first);
  REQUIRE(job.run(inputs(t)).succeeded);
  REQUIRE(first->first);
  // Before the last mini-batch ends (the live bar says "listing" until an event comes).
  CHECK(first->first->elapsed_seconds < 1.5);
  CHECK(first->first->mini_batches_succeeded < 4);
  CHECK(first->first->listing_done);
  CHECK(first->first->mini_batches_created == 4);
}

TEST_CASE("an observer that throws is dropped with a warning and the job goes on",
          "[record][observer]") {
  struct Throwing : JobObserver {
    int attempt_ended_calls = 0;
    int calls_after_throw = 0;
    void count() {
      if (attempt_ended_calls > 0) ++calls_after_throw;
    }
    void mini_batch_created(const MiniBatchInfo&) override { count(); }
    void attempt_started(const AttemptInfo&) override { count(); }
    void attempt_ended(const AttemptInfo&) override {
      count();
      ++attempt_ended_calls;
      throw std::runtime_error("exporter down");
    }
    void mini_batch_final(const MiniBatchFinal&) override { count(); }
    void progress(const JobProgress&) override { count(); }
    void job_ended(const JobResult&) override { count(); }
  };
  TempDir t;
  make_numbered_files(t / "in", 9);
  Config c = record_config(t / "out");
  auto throwing = std::make_shared<Throwing>();
  auto rec = std::make_shared<Recorder>();  // after it: still hears everything
  ParallelRun job(c, make_scorer(keys_of));
  job.add_observer(throwing).add_observer(rec);
  JobResult r = job.run(inputs(t));
  REQUIRE(r.succeeded);
  CHECK(r.items_succeeded == 9);
  CHECK(r.attempts == 3);
  CHECK(r.warnings == 1);
  CHECK(throwing->attempt_ended_calls == 1);
  CHECK(throwing->calls_after_throw == 0);
  check_recorder_matches(*rec, r);
  CHECK(processed_rows(t / "out/logs/processed_mini-batches.csv").size() == 3);
  CHECK(read_file(t / "out/parallel_run_step.txt") == numbered_keys(9));
  const std::string master = read_file(t / "out/logs/master.txt");
  CHECK_THAT(master, Catch::Contains(" WARNING an observer of the job threw and is called no "
                                     "more: exporter down\n"));
  std::size_t warning_lines = 0;
  for (std::size_t at = master.find(" WARNING "); at != std::string::npos;
       at = master.find(" WARNING ", at + 1))
    ++warning_lines;
  CHECK(warning_lines == 1);
}

// overview.txt once it says the job is running (a progress event rewrites it every 2 s), or
// nothing after 20 s.
std::optional<std::string> running_overview(const fs::path& overview) {
  std::string text;
  const bool seen = eventually_within(
      [&] {
        if (!fs::exists(overview)) return false;
        text = read_file(overview);
        return text.find("state: running\n") != std::string::npos;
      },
      20s);
  return seen ? std::optional<std::string>(text) : std::nullopt;
}

TEST_CASE("a job on the output or log folder of a running job is refused, naming the setting",
          "[record][lock]") {
  TempDir t;
  make_numbered_files(t / "in", 9);
  Config c = record_config(t / "out");
  c.log_dir = t / "logs";  // elsewhere: it is held too
  Gate gate;
  std::atomic<int> started{0};
  auto scorer = make_scorer([&](const FileBatch& b) {
    ++started;
    if (!gate.wait()) throw std::runtime_error("gate never opened");
    return keys_of(b);
  });
  auto job = std::async(std::launch::async, [&] { return run(c, inputs(t), scorer); });
  for (int i = 0; i < 2000 && started == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  REQUIRE(started > 0);
  std::atomic<int> second_scored{0};
  auto second = make_scorer([&](const FileBatch& b) {
    ++second_scored;
    return keys_of(b);
  });
  auto refused = [&](Config other, const std::string& setting, const fs::path& folder) {
    try {
      run(other, inputs(t), second);
      FAIL("not refused: " << setting);
    } catch (const ConfigError& e) {
      CHECK(e.setting() == setting);
      CHECK(std::string(e.what()) ==
            "[parallel_run.config." + setting + "] " + setting + " '" + folder.string() +
                "' is in use by another job that is still running (a process, or a process it "
                "started, holds its lock): wait for that job to end, or give this one another " +
                setting);
    }
  };
  Config same_output = c;
  same_output.log_dir = t / "other_logs";
  refused(same_output, "output_dir", t / "out");
  same_output.resume = ResumeMode::resume;  // what the first job's "died" journal would ask
  refused(same_output, "output_dir", t / "out");
  Config same_logs = c;
  same_logs.output_dir = t / "out2";
  refused(same_logs, "log_dir", t / "logs");
  CHECK(second_scored == 0);
  gate.open();
  const JobResult r = job.get();
  CHECK(r.succeeded);
  CHECK(r.items_succeeded == 9);
  CHECK(read_file(t / "out/parallel_run_step.txt") == numbered_keys(9));
  // Once it has ended, the folders are free.
  Config after = same_logs;
  const JobResult r2 = run(after, inputs(t), second);
  CHECK(r2.succeeded);
  CHECK(second_scored == 3);
}

TEST_CASE("overview.txt says the job is running while it runs and how it ended",
          "[record][overview]") {
  TempDir t;
  make_numbered_files(t / "in", 9);
  Config c = record_config(t / "out");
  Gate gate;
  auto scorer = make_scorer([&gate](const FileBatch& b) {
    if (b.mini_batch_index() == 1 && !gate.wait()) throw std::runtime_error("gate never opened");
    return keys_of(b);
  });
  auto job = std::async(std::launch::async, [&] { return run(c, inputs(t), scorer); });
  const fs::path overview = t / "out/logs/overview.txt";
  const bool seen_running = running_overview(overview).has_value();
  gate.open();
  JobResult r = job.get();
  REQUIRE(seen_running);
  REQUIRE(r.succeeded);
  CHECK(r.mini_batches_total == 3);
  const std::string text = read_file(overview);
  CHECK_THAT(text, Catch::StartsWith("job '" + c.name + "' on " + detail::host_name() +
                                     " (process " + std::to_string(::getpid()) + "), started "));
  CHECK_THAT(text, Catch::Contains("\nstate: succeeded\n"));
  CHECK_THAT(text, Catch::Contains("\nmini-batches: 3 created (all), 3 started, 3 processed (3 "
                                   "succeeded, 0 failed), 0 not processed, 0 running\n"));
  CHECK_THAT(text, Catch::Contains("\nitems: 9 succeeded, 0 failed, 0 not processed\n"));
  CHECK_THAT(text, Catch::Contains("\nresult: " + r.summary() + "\n"));
  CHECK(text.find("state: running") == std::string::npos);
  CHECK(text.find("first failed items") == std::string::npos);
}

TEST_CASE("overview.txt knows the total once the folder is read, before it is all cut",
          "[record][overview][progress]") {
  TempDir t;
  make_numbered_files(t / "in", 300);
  Config c = record_config(t / "out", 1);
  Gate gate;
  // Every mini-batch after the first waits: the coordinator cuts only a window ahead.
  auto scorer = make_scorer([&gate](const FileBatch& b) {
    if (b.mini_batch_index() >= 1 && !gate.wait()) throw std::runtime_error("gate never opened");
    return keys_of(b);
  });
  auto job = std::async(std::launch::async, [&] { return run(c, inputs(t), scorer); });
  const fs::path overview = t / "out/logs/overview.txt";
  const std::optional<std::string> seen = running_overview(overview);
  gate.open();
  JobResult r = job.get();
  REQUIRE(seen);
  const std::string& running = *seen;
  REQUIRE(r.succeeded);
  CHECK(r.mini_batches_total == 300);
  CHECK_THAT(running, Catch::Contains(" created so far, of about 300 (the files are listed), "));
  CHECK_THAT(running, Catch::Contains("; time left: about "));
  CHECK_THAT(read_file(overview), Catch::Contains("\nmini-batches: 300 created (all), "));
}

TEST_CASE("job_error.txt is absent after a clean job", "[record][job_error]") {
  TempDir t;
  make_numbered_files(t / "in", 6);
  JobResult r = run(record_config(t / "out"), inputs(t), make_scorer(keys_of));
  REQUIRE(r.succeeded);
  CHECK_FALSE(fs::exists(t / "out/logs/job_error.txt"));
  CHECK(r.job_error_file.empty());
  CHECK(r.first_failures.empty());
}

TEST_CASE("job_error.txt groups failures by category and first_failures lists the first five",
          "[record][job_error]") {
  TempDir t;
  make_numbered_files(t / "in", 12);
  Config c = record_config(t / "out");
  c.run_max_try = 2;
  const std::set<std::string> bad = {"f000.txt", "f001.txt", "f004.txt", "f009.txt", "f011.txt"};
  auto scorer = make_scorer([bad](const FileBatch& b) {
    if (b.mini_batch_index() == 2) throw std::runtime_error("model rejects batch 2");
    std::vector<ItemResult<std::string>> out;
    for (const auto& e : b)
      out.push_back(bad.count(e.key) != 0 ? fail<std::string>(e, "bad item " + e.key)
                                          : ok(e, std::string(e.key)));
    return out;
  });
  JobResult r = run(c, inputs(t), scorer);
  REQUIRE(r.succeeded);  // no threshold: tolerated
  CHECK(r.items_failed == 8);
  CHECK(r.items_succeeded == 4);
  CHECK(r.mini_batches_failed == 1);
  CHECK(r.attempts == 5);
  CHECK(r.job_error_file == t / "out/logs/job_error.txt");

  // The first five by mini-batch, in item order within one; a mini-batch that failed as a
  // whole is named by its first item.
  REQUIRE(r.first_failures.size() == 5);
  const std::vector<std::tuple<std::string, std::size_t, std::string>> expected = {
      {"f000.txt", 0, "bad item f000.txt"},
      {"f001.txt", 0, "bad item f001.txt"},
      {"f004.txt", 1, "bad item f004.txt"},
      {"f006.txt", 2, "all 2 attempts failed; last: model rejects batch 2"},
      {"f009.txt", 3, "bad item f009.txt"}};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    INFO(i);
    CHECK(r.first_failures[i].key == std::get<0>(expected[i]));
    CHECK(r.first_failures[i].mini_batch == std::get<1>(expected[i]));
    CHECK(r.first_failures[i].reason == std::get<2>(expected[i]));
  }

  // The summary; item_failed: 5 with three examples (in arrival order) and the rest
  // counted; user_error: 2, one per attempt of mini-batch 2.
  const std::string text = read_file(t / "out/logs/job_error.txt");
  std::vector<std::string> lines;
  for (std::size_t at = 0; at < text.size();) {
    const std::size_t end = text.find('\n', at);
    REQUIRE(end != std::string::npos);
    lines.push_back(text.substr(at, end - at));
    at = end + 1;
  }
  REQUIRE(lines.size() == 11);
  CHECK(lines[0] == r.summary());
  CHECK(lines[1].empty());
  CHECK(lines[2] == "item_failed: 5");
  std::set<std::string> all_items;
  for (const std::string& key : bad) {
    const std::size_t index = static_cast<std::size_t>(std::stoi(key.substr(1, 3))) / 3;
    all_items.insert("  item '" + key + "' (mini-batch " + std::to_string(index) + "): bad item " +
                     key);
  }
  std::set<std::string> examples;
  for (std::size_t i = 3; i < 6; ++i) {
    INFO(lines[i]);
    CHECK(all_items.count(lines[i]) == 1);
    examples.insert(lines[i]);
  }
  CHECK(examples.size() == 3);
  CHECK(lines[6] == "  ... 2 more (see failed_items.csv and processed_mini-batches.csv)");
  CHECK(lines[7].empty());
  CHECK(lines[8] == "user_error: 2");
  for (int attempt = 1; attempt <= 2; ++attempt) {
    CHECK_THAT(lines[8 + attempt],
               Catch::StartsWith("  mini-batch 2 attempt " + std::to_string(attempt) +
                                 " (first: f006.txt; last: f008.txt) on " + detail::host_name() +
                                 "/process-") &&
                   Catch::EndsWith("/" + std::to_string(::getpid()) + ": model rejects batch 2"));
  }
}

TEST_CASE("readme.txt names every file of the log folder", "[record][readme]") {
  TempDir t;
  make_numbered_files(t / "in", 4);
  Config c = record_config(t / "out");
  // An item fails (job_error.txt) and a metric is logged (metrics.csv): every file is made.
  auto scorer = make_scorer([](const FileBatch& b, Context& ctx) {
    ctx.log_metric("items", static_cast<double>(b.size()));
    std::vector<ItemResult<std::string>> out;
    for (const auto& e : b)
      out.push_back(e.key == "f001.txt" ? fail<std::string>(e, "bad") : ok(e, std::string(e.key)));
    return out;
  });
  JobResult r = run(c, inputs(t), scorer);
  REQUIRE(r.succeeded);
  const fs::path logs = t / "out/logs";
  const std::string readme = read_file(logs / "readme.txt");
  REQUIRE_FALSE(readme.empty());
  std::size_t files = 0;
  for (const std::string& name : detail::JobFiles::per_run_log_entries()) {
    INFO(name);
    const fs::path entry = logs / name;
    // The entries named like files are files after this job; the others are folders, if any.
    if (name.find('.') == std::string::npos) {
      CHECK_FALSE(fs::is_regular_file(entry));
      continue;
    }
    REQUIRE(fs::is_regular_file(entry));
    ++files;
    // Named at the start of a line, as the entry it describes.
    const std::size_t at = readme.find("\n" + name);
    REQUIRE(at != std::string::npos);
    const std::size_t after = at + 1 + name.size();
    REQUIRE(after < readme.size());
    CHECK((readme[after] == ' ' || readme[after] == '\n'));
  }
  CHECK(files == 10);
  // The folders' files too: the README's table of the log folder names these.
  for (const char* entry : {"\nworker/<host>/process-<n>.txt\n", "\nuser/<host>/worker-<n>.txt\n",
                            "\nuser/stdout/<host>/process-<n>.txt\n"})
    CHECK_THAT(readme, Catch::Contains(entry));
}

TEST_CASE("only_mini_batch runs that one mini-batch into its own folder", "[record][only]") {
  TempDir t;
  make_numbered_files(t / "in", 12);
  Config c = record_config(t / "out");
  c.only_mini_batch = 2;
  struct Seen {
    std::mutex mutex;
    std::vector<std::string> keys;
  };
  auto seen = std::make_shared<Seen>();
  auto scorer = make_scorer([seen](const FileBatch& b) {
    std::lock_guard lock(seen->mutex);
    for (const auto& e : b)
      seen->keys.push_back(e.key);
    return keys_of(b);
  });
  JobResult r = run(c, inputs(t), scorer);
  REQUIRE(r.succeeded);
  CHECK(seen->keys == std::vector<std::string>{"f006.txt", "f007.txt", "f008.txt"});
  CHECK(r.items_total == 3);
  CHECK(r.items_succeeded == 3);
  CHECK(r.mini_batches_total == 1);
  CHECK(r.mini_batches_succeeded == 1);
  CHECK(r.attempts == 1);
  const fs::path own = t / "out/only-mini-batch-2";
  CHECK(r.output_file == own / "parallel_run_step.txt");
  CHECK(r.log_dir == own / "logs");
  CHECK(read_file(own / "parallel_run_step.txt") == "f006.txt\nf007.txt\nf008.txt\n");
  CHECK_FALSE(fs::exists(t / "out/parallel_run_step.txt"));
  const auto rows = processed_rows(own / "logs/processed_mini-batches.csv");
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].mini_batch == 2);
  CHECK(rows[0].total == 3);
  CHECK(rows[0].detail == "first: f006.txt; last: f008.txt");
  CHECK_THAT(read_file(own / "logs/master.txt"),
             Catch::Contains(", journal off (a run of one mini-batch keeps none), "));
}

TEST_CASE("only_mini_batch past the last mini-batch is a configuration error", "[record][only]") {
  TempDir t;
  make_numbered_files(t / "in", 12);
  Config c = record_config(t / "out");
  c.only_mini_batch = 9;
  auto calls = std::make_shared<std::atomic<int>>(0);
  auto scorer = make_scorer([calls](const FileBatch& b) {
    ++*calls;
    return keys_of(b);
  });
  JobResult r = run(c, inputs(t), scorer);
  CHECK_FALSE(r.succeeded);
  CHECK(r.configuration_error);
  CHECK(r.failure_reason ==
        "[parallel_run.config.only_mini_batch] only_mini_batch 9: the inputs hold only 4 "
        "mini-batches");
  CHECK(calls->load() == 0);
  CHECK(r.items_total == 0);
  CHECK(r.mini_batches_total == 0);
  CHECK(r.attempts == 0);
  CHECK_FALSE(fs::exists(t / "out/parallel_run_step.txt"));
}

TEST_CASE("a table mini-batch names the input bytes it covers and a file mini-batch none",
          "[record]") {
  TempDir t;
  fs::create_directories(t / "in");
  std::string csv = "a\n";
  for (int i = 0; i < 100; ++i)
    csv += "row" + std::to_string(i) + "\n";
  test_support::write_file(t / "in" / "t.csv", csv);
  struct Bytes : JobObserver {
    std::vector<std::uint64_t> bytes;
    void mini_batch_created(const MiniBatchInfo& m) override { bytes.push_back(m.bytes); }
  };
  auto observer = std::make_shared<Bytes>();
  Config c = record_config(t / "out");
  c.mini_batch_size = std::string("64");
  auto scorer =
      make_scorer([](const TableBatch& b) { return std::vector<std::string>(b.size(), "x"); });
  ParallelRun job(c, scorer);
  job.add_observer(observer);
  REQUIRE(job.run(TabularDataset({(t / "in").string()})).succeeded);
  REQUIRE(observer->bytes.size() > 1);
  std::uint64_t sum = 0;
  for (auto b : observer->bytes) {
    CHECK(b > 0);
    CHECK(b <= 64);
    sum += b;
  }
  CHECK(sum == csv.size() - 2);  // every record once; the header is not a mini-batch's

  auto files = std::make_shared<Bytes>();
  make_numbered_files(t / "files", 5);
  Config fc = record_config(t / "out2");
  ParallelRun file_job(fc, make_scorer([](const FileBatch& b) { return keys_of(b); }));
  file_job.add_observer(files);
  REQUIRE(file_job.run(FileDataset({(t / "files").string()})).succeeded);
  CHECK(files->bytes == std::vector<std::uint64_t>(2, 0));
}
