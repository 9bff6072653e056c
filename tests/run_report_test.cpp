// The run report: logs/report.html and logs/trace.json. Events fed to the observers directly
// (exact counts, escaping, the resumed part, the bound at 10^6 attempts), then real jobs
// (failures, retries and a timeout; a threshold stop; only_mini_batch) whose report must
// agree with job_result.txt. The page in a real browser: tests/report/browser_test.py.
#include <parallel_run/detail/run_report.hpp>

#include <parallel_run/parallel_run.hpp>
#include <parallel_run/detail/overview_file.hpp>
#include <parallel_run/detail/temp_names.hpp>
#include <parallel_run/detail/trace_file.hpp>

#include <catch2/catch.hpp>
#include <simdjson.h>

#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <memory>
#include <regex>
#include <stdexcept>
#include <thread>
#include <string>
#include <vector>

#include "report/report_jobs.hpp"
#include "support/temp_dir.hpp"

using namespace parallel_run;
using namespace std::chrono_literals;
using test_support::make_numbered_files;
using test_support::read_file;
using test_support::TempDir;
namespace fs = std::filesystem;

namespace {

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
    ++n;
  return n;
}

// The text of the element with this id (up to its closing tag).
std::string by_id(const std::string& page, const std::string& id) {
  const std::string open = "id=\"" + id + "\">";
  const std::size_t at = page.find(open);
  if (at == std::string::npos) return "<absent>";
  const std::size_t from = at + open.size();
  return page.substr(from, page.find('<', from) - from);
}

// trace.json parsed (simdjson's DOM: it validates the whole text), split into complete
// events ("ph":"X") and metadata events.
struct Trace {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  std::vector<simdjson::dom::element> complete, meta;

  explicit Trace(const std::string& text) {
    root = parser.parse(simdjson::padded_string(text));
    for (simdjson::dom::element e : root["traceEvents"].get_array())
      (std::string_view(e["ph"]) == "X" ? complete : meta).push_back(e);
  }
};

std::string str(simdjson::dom::element e) {
  return std::string(std::string_view(e));
}
std::int64_t num(simdjson::dom::element e) {
  return std::int64_t(e);
}

// The rows of the table with this id, its header included.
std::size_t table_rows(const std::string& page, const std::string& id) {
  const std::size_t at = page.find("id=\"" + id + "\"");
  if (at == std::string::npos) return 0;
  return count(page.substr(at, page.find("</table>", at) - at), "<tr>");
}

std::string unescape_html(std::string s) {
  for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
           {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&#39;", "'"}, {"&amp;", "&"}}) {
    for (std::size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + 1))
      s.replace(at, from.size(), to);
  }
  return s;
}

// A small job fed by hand: mini-batch 0 succeeds, 1 fails once then succeeds, 2 times out
// on both attempts; `from_journal` mini-batches 3 and 4 were kept from an earlier run.
struct FedJob {
  Config config;
  std::chrono::system_clock::time_point start =
      std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000));
  JobResult result;

  explicit FedJob(const fs::path& out) {
    config.output_dir = out;
    config.name = "fed-job";
    config.command_line = "prog --input 'a<b>&\"c\"' --output out";
    config.run_max_try = 2;
    fs::create_directories(config.effective_log_dir());
  }

  AttemptInfo attempt(std::size_t mb, std::int64_t n, std::size_t worker, double from, double to,
                      AttemptStatus status, bool last, std::string reason = "") const {
    AttemptInfo a;
    a.mini_batch.index = mb;
    a.mini_batch.items = 2;
    a.mini_batch.first_key = "k" + std::to_string(2 * mb) + "<&>";
    a.mini_batch.last_key = "k" + std::to_string(2 * mb + 1);
    a.attempt = n;
    a.worker = worker;
    a.pid = 4242;
    a.host = "node-a";
    a.start = start + std::chrono::duration_cast<std::chrono::system_clock::duration>(
                          std::chrono::duration<double>(from));
    a.end = start + std::chrono::duration_cast<std::chrono::system_clock::duration>(
                        std::chrono::duration<double>(to));
    a.items = 2;
    a.succeeded = status == AttemptStatus::succeeded ? 2 : 0;
    a.status = status;
    a.reason = std::move(reason);
    a.last = last;
    return a;
  }

  void feed(std::vector<JobObserver*> observers, bool resumed) {
    JobInfo info;
    info.config = &config;
    info.host = "node-a";
    info.pid = 4242;
    info.start = start;
    info.log_dir = config.effective_log_dir();
    auto all = [&](auto f) {
      for (JobObserver* o : observers)
        f(*o);
    };
    all([&](JobObserver& o) { o.job_started(info); });
    if (resumed) {
      for (std::size_t mb : {3, 4}) {
        MiniBatchFinal f;
        f.mini_batch.index = mb;
        f.mini_batch.items = 2;
        f.attempts = 1;
        f.succeeded = 2;
        f.from_journal = true;
        all([&](JobObserver& o) { o.mini_batch_final(f); });
      }
    }
    const std::vector<AttemptInfo> attempts = {
        attempt(0, 1, 0, 0.0, 1.0, AttemptStatus::succeeded, true),
        attempt(1, 1, 1, 0.0, 0.5, AttemptStatus::failed, false, "std::runtime_error: <b>bad</b>"),
        attempt(1, 2, 1, 0.5, 1.5, AttemptStatus::succeeded, true),
        attempt(2, 1, 0, 1.0, 2.0, AttemptStatus::timed_out, false, "late \"1 s\"\n"),
        attempt(2, 2, 1, 2.0, 3.0, AttemptStatus::timed_out, true, "late \"1 s\"\n")};
    for (const AttemptInfo& a : attempts) {
      all([&](JobObserver& o) { o.attempt_ended(a); });
      if (!a.last) continue;
      MiniBatchFinal f;
      f.mini_batch = a.mini_batch;
      f.attempts = a.attempt;
      f.status = a.status == AttemptStatus::succeeded ? MiniBatchStatus::succeeded
                                                      : MiniBatchStatus::failed;
      f.succeeded = a.succeeded;
      f.failed = 2 - a.succeeded;
      all([&](JobObserver& o) { o.mini_batch_final(f); });
    }
    result.succeeded = true;
    result.items_total = resumed ? 10 : 6;
    result.items_succeeded = resumed ? 8 : 4;
    result.items_failed = 2;
    result.mini_batches_total = resumed ? 5 : 3;
    result.mini_batches_succeeded = resumed ? 4 : 2;
    result.mini_batches_failed = 1;
    result.attempts = 5;
    result.retries = 2;
    result.timeouts = 2;
    result.wall_seconds = 3.25;
    result.log_dir = config.effective_log_dir();
    all([&](JobObserver& o) { o.job_ended(result); });
  }
};

}  // namespace

TEST_CASE("report.html of a fed job shows its numbers and a bar per attempt", "[report]") {
  TempDir t;
  FedJob job(t / "out");
  detail::RunReport report{detail::JobFiles(job.config)};
  job.feed({&report}, false);
  const std::string page = read_file(t / "out/logs/report.html");
  REQUIRE_FALSE(page.empty());
  CHECK(page.starts_with("<!DOCTYPE html>"));
  CHECK(page.ends_with("</html>\n"));
  CHECK(by_id(page, "job-name") == "fed-job");
  CHECK(by_id(page, "job-state") == "succeeded");
  CHECK(unescape_html(by_id(page, "result-line")) == job.result.summary());
  CHECK(by_id(page, "items_total") == "6");
  CHECK(by_id(page, "items_succeeded") == "4");
  CHECK(by_id(page, "items_failed") == "2");
  CHECK(by_id(page, "items_not_processed") == "0");
  CHECK(by_id(page, "mini_batches_total") == "3");
  CHECK(by_id(page, "mini_batches_succeeded") == "2");
  CHECK(by_id(page, "mini_batches_failed") == "1");
  CHECK(by_id(page, "attempts") == "5");
  CHECK(by_id(page, "retries") == "2");
  CHECK(by_id(page, "timeouts") == "2");
  CHECK(by_id(page, "wall_seconds") == "3.250 s");
  CHECK(by_id(page, "items_per_second") == "1.8");
  // One bar per attempt, coloured by outcome: 2 succeeded, 2 retried, 1 timed out.
  CHECK(count(page, "<rect class=\"bar ") == 5);
  CHECK(count(page, "<rect class=\"bar o-succeeded\"") == 2);
  CHECK(count(page, "<rect class=\"bar o-retried\"") == 2);
  CHECK(count(page, "<rect class=\"bar o-timed_out\"") == 1);
  CHECK(count(page, "class=\"lane-bg\"") == 2);
  CHECK(page.find("id=\"timeline-aggregated\"") == std::string::npos);
  // The tooltip of the failed attempt names its mini-batch, keys, times and reason.
  CHECK(page.find("<title>mini-batch 1, attempt 1: failed (retried)\nworker 1, pid 4242\n"
                  "first: k2&lt;&amp;&gt;\nlast: k3\n2027-01-15 08:00:00.000 to "
                  "2027-01-15 08:00:00.500 (500 ms)\nitems 2, succeeded 0, failed 0\nreason: "
                  "std::runtime_error: &lt;b&gt;bad&lt;/b&gt;</title>") != std::string::npos);
  // Everything written from the job is escaped; nothing is fetched.
  CHECK(page.find("<b>bad") == std::string::npos);
  CHECK(by_id(page, "command-line") ==
        "prog --input &#39;a&lt;b&gt;&amp;&quot;c&quot;&#39; --output out");
  CHECK(page.find("http://") == std::string::npos);
  CHECK(page.find("https://") == std::string::npos);
  CHECK(page.find("src=") == std::string::npos);
  CHECK(page.find("default-src 'none'") != std::string::npos);
  // The slowest attempts: 5 attempts, the 1-second ones first.
  CHECK(table_rows(page, "slowest-table") == 6);
  CHECK(page.find("id=\"resumed\"") == std::string::npos);
  // The log folder is not left with a temporary file.
  for (const auto& e : fs::directory_iterator(t / "out/logs"))
    CHECK_FALSE(e.path().filename().string().starts_with("."));
}

TEST_CASE("report.html marks the part kept from an earlier run", "[report][resume]") {
  TempDir t;
  FedJob job(t / "out");
  detail::RunReport report{detail::JobFiles(job.config)};
  job.feed({&report}, true);
  const std::string page = read_file(t / "out/logs/report.html");
  CHECK(page.find("<p id=\"resumed\">Resumed: <b>2</b> mini-batches (<b>4</b> items) were kept "
                  "from the earlier run and not run again;") != std::string::npos);
  CHECK(by_id(page, "items_total") == "10");
  CHECK(by_id(page, "mini_batches_succeeded") == "4");
  // Throughput counts what ran in this run only: 8 + 2 items finished, 4 of them resumed.
  CHECK(by_id(page, "items_per_second") == "1.8");
  CHECK(page.find("(starting at the 4 items kept from the earlier run)") != std::string::npos);
  CHECK(count(page, "<rect class=\"bar ") == 5);
}

TEST_CASE("report.html shows failures by category with the digest", "[report]") {
  TempDir t;
  FedJob job(t / "out");
  auto digest = std::make_shared<detail::ErrorDigest>(t / "out/logs/job_error.txt");
  detail::RunReport report{detail::JobFiles(job.config), digest};
  job.feed({digest.get(), &report}, false);
  const std::string page = read_file(t / "out/logs/report.html");
  CHECK(page.find("<tr><td>timeout</td><td class=\"n\">2</td>") != std::string::npos);
  CHECK(page.find("<tr><td>user_error</td><td class=\"n\">1</td>") != std::string::npos);
  CHECK(table_rows(page, "failure-categories") == 3);
  CHECK(page.find("<a href=\"failed_items.csv\">") != std::string::npos);
  CHECK(page.find("<a href=\"worker/node-a/process-1.txt\">") != std::string::npos);
}

TEST_CASE("a record that cannot be written at the end is named, and no page says running",
          "[report][trace][full_disk]") {
  // A file size limit stands in for a full log folder at the job's end: report.html (written
  // while the job ran), overview.txt and trace.json cannot be written. Each is named in a
  // warning; report.html and overview.txt, which said the job was running, are removed.
  struct Limit final : JobObserver {
    detail::RunReport* report = nullptr;
    ::rlimit before{};
    void (*handler)(int) = nullptr;
    void job_ended(const JobResult&) override {
      REQUIRE(report->write(nullptr));  // the page of a running job, as a refresh wrote it
      REQUIRE(::getrlimit(RLIMIT_FSIZE, &before) == 0);
      handler = std::signal(SIGXFSZ, SIG_IGN);
      ::rlimit small = before;
      small.rlim_cur = 100;
      REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
    }
  };
  // The warnings of a fed job whose files end after the limit when `all`, else report.html's
  // only (overview.txt and trace.json end before it).
  auto warnings_of = [](const fs::path& out, bool all) {
    FedJob job(out);
    std::vector<std::string> warnings;
    auto warn = [&](const std::string& w) { warnings.push_back(w); };
    detail::RunReport report{detail::JobFiles(job.config)};
    report.on_unwritten(warn);
    detail::OverviewFile overview(out / "logs/overview.txt", warn);
    detail::TraceFile trace(out / "logs/trace.json", warn);
    Limit limit;
    limit.report = &report;
    if (all)
      job.feed({&limit, &overview, &trace, &report}, false);
    else
      job.feed({&overview, &trace, &limit, &report}, false);
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &limit.before) == 0);
    std::signal(SIGXFSZ, limit.handler);
    for (const auto& e : fs::directory_iterator(out / "logs"))
      CHECK_FALSE(e.path().filename().string().starts_with("."));  // no temporary left
    return warnings;
  };
  TempDir t;
  std::vector<std::string> warnings = warnings_of(t / "one", false);
  CHECK(fs::exists(t / "one/logs/overview.txt"));
  CHECK(fs::exists(t / "one/logs/trace.json"));
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].starts_with((t / "one/logs/report.html").string() +
                                " could not be written: [parallel_run.output] cannot write '"));
  CHECK(warnings[0].ends_with(": File too large; the page written while the job ran is removed"));
  CHECK_FALSE(fs::exists(t / "one/logs/report.html"));

  warnings = warnings_of(t / "all", true);
  REQUIRE(warnings.size() == 3);
  CHECK(warnings[0] == (t / "all/logs/overview.txt").string() +
                           " could not be written ([parallel_run.output] cannot write '" +
                           (t / "all/logs").string() + "/.overview.txt.partial-" +
                           detail::process_tag() +
                           "': File too large); it is removed, since it said the job was "
                           "still running");
  CHECK(warnings[1].starts_with((t / "all/logs/trace.json").string() + " could not be written: "));
  CHECK(warnings[2].starts_with((t / "all/logs/report.html").string() + " could not be written"));
  for (const char* name : {"overview.txt", "trace.json", "report.html"})
    CHECK_FALSE(fs::exists(t / "all/logs" / name));
}

TEST_CASE("trace.json has one complete event per attempt and names the lanes", "[report][trace]") {
  TempDir t;
  FedJob job(t / "out");
  detail::TraceFile trace(t / "out/logs/trace.json");
  struct Before : JobObserver {
    fs::path file;
    bool existed = true;
    void attempt_ended(const AttemptInfo&) override { existed = fs::exists(file); }
  } before;
  before.file = t / "out/logs/trace.json";
  job.feed({&trace, &before}, false);
  CHECK_FALSE(before.existed);  // complete or absent: absent while the job runs
  const Trace trace_json(read_file(t / "out/logs/trace.json"));
  const auto& complete = trace_json.complete;
  const auto& meta = trace_json.meta;
  REQUIRE(complete.size() == 5);
  CHECK(trace.events() == 5);
  const auto failed = complete[1];
  CHECK(str(failed["name"]) == "mini-batch 1");
  CHECK(num(failed["ts"]) == 0);
  CHECK(num(failed["dur"]) == 500000);
  CHECK(num(failed["pid"]) == 4242);
  CHECK(num(failed["tid"]) == 1);
  CHECK(str(failed["args"]["status"]) == "failed");
  CHECK(num(failed["args"]["attempt"]) == 1);
  CHECK(bool(failed["args"]["last"]) == false);
  CHECK(str(failed["args"]["first_key"]) == "k2<&>");
  CHECK(str(failed["args"]["reason"]) == "std::runtime_error: <b>bad</b>");
  CHECK(num(complete[4]["ts"]) == 2000000);
  CHECK(str(complete[4]["args"]["reason"]) == "late \"1 s\"\n");
  // A timed-out attempt's worker could not say how long run() ran: null, not 0.
  CHECK(complete[4]["args"]["run_seconds"].is_null());
  CHECK(complete[4]["args"]["cpu_seconds"].is_null());
  CHECK(complete[0]["args"]["run_seconds"].is_double());
  CHECK(complete[0]["args"]["reason"].error() == simdjson::NO_SUCH_FIELD);
  // One process and two worker lanes, by name.
  REQUIRE(meta.size() == 3);
  CHECK(str(meta[0]["name"]) == "process_name");
  CHECK(str(meta[0]["args"]["name"]) == "node-a process 4242");
  CHECK(str(meta[1]["name"]) == "thread_name");
  CHECK(num(meta[1]["tid"]) == 0);
  CHECK(str(meta[1]["args"]["name"]) == "worker 0");
  CHECK(str(meta[2]["args"]["name"]) == "worker 1");
  CHECK(str(trace_json.root["otherData"]["job"]) == "fed-job");
  CHECK(num(trace_json.root["otherData"]["attempts"]) == 5);
  CHECK(str(trace_json.root["otherData"]["result"]) == job.result.summary());
}

TEST_CASE("JSON strings escape quotes and control characters", "[report][trace]") {
  std::string out;
  detail::append_json_string(out, std::string("a\"b\\c\n\t\x01\x1f\xc3\xa9", 11));
  CHECK(out == "\"a\\\"b\\\\c\\n\\t\\u0001\\u001f\xc3\xa9\"");
  simdjson::dom::parser parser;
  CHECK(std::string_view(parser.parse(simdjson::padded_string(out))) ==
        std::string("a\"b\\c\n\t\x01\x1f\xc3\xa9", 11));
}

TEST_CASE("a coarsening series keeps its totals as its cells widen", "[report]") {
  struct Cell {
    double v = 0;
    void merge(const Cell& o) { v += o.v; }
  };
  detail::CoarseningSeries<Cell> s(4, 1.0);
  for (int t = 0; t < 4; ++t)
    s.at(t).v += 1;
  CHECK(s.width() == 1.0);
  s.at(9.5).v += 10;  // past 4 cells of 1 s: twice coarser (8 s), then again (16 s)
  CHECK(s.width() == 4.0);
  REQUIRE(s.cells().size() == 4);
  CHECK(s.cells()[0].v == 4);
  CHECK(s.cells()[1].v == 0);
  CHECK(s.cells()[2].v == 10);
  CHECK(s.cells()[3].v == 0);
}

// The sanitizer builds feed 10^5 mini-batches: the same paths (past max_bars, coarsened
// cells), a tenth of the time; the normal build and the browser test feed 10^6.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr std::size_t synthetic_mini_batches = 100'000;
#else
constexpr std::size_t synthetic_mini_batches = 1'000'000;
#endif

TEST_CASE("a report of 10^6 attempts stays under 5 MB and draws time slices", "[report][size]") {
  TempDir t;
  Config config;
  config.output_dir = t / "out";
  config.name = "synthetic";
  fs::create_directories(config.effective_log_dir());
  auto digest = std::make_shared<detail::ErrorDigest>(detail::JobFiles(config).job_error());
  detail::RunReport report{detail::JobFiles(config), digest};
  test_support::FanOut both;
  both.to = {digest.get(), &report};
  const auto started = std::chrono::steady_clock::now();
  const JobResult r = test_support::feed_synthetic_job(both, config, synthetic_mini_batches);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const std::string page = read_file(t / "out/logs/report.html");
  INFO("fed and written in " << seconds << " s; " << page.size() << " bytes");
  CHECK(page.size() <= 5'000'000);
  // Every 1000th mini-batch has a second attempt; every 50,000th two timed-out ones.
  const std::size_t retried = synthetic_mini_batches / 1000;
  CHECK(r.attempts == synthetic_mini_batches + retried);
  CHECK(by_id(page, "attempts") == std::to_string(synthetic_mini_batches + retried));
  CHECK(by_id(page, "retries") == std::to_string(retried));
  CHECK(by_id(page, "timeouts") == std::to_string(2 * (synthetic_mini_batches / 50000)));
  CHECK(unescape_html(by_id(page, "result-line")) == r.summary());
  CHECK(page.find("id=\"timeline-aggregated\"") != std::string::npos);
  // The attempts that did not succeed one by one (at 10^6: 980 failed and retried, 20
  // mini-batches timed out twice; the first 1000 of those 1020), the rest as at most 200
  // slices on each of the 8 lanes.
  CHECK(count(page, "<rect class=\"bar ") == std::min<std::size_t>(1000, retried + retried / 50));
  const std::size_t slices = count(page, "<rect class=\"slice ");
  CHECK(slices > 8 * 100);
  CHECK(slices <= 8 * detail::RunReport::lane_cells);
  CHECK(table_rows(page, "slowest-table") == 11);
  CHECK(page.find(fmt::format("<tr><td>timeout</td><td class=\"n\">{}</td>",
                              2 * (synthetic_mini_batches / 50000))) != std::string::npos);
  CHECK(page.find(fmt::format("<tr><td>user_error</td><td class=\"n\">{}</td>",
                              retried - synthetic_mini_batches / 50000)) != std::string::npos);
}

namespace {

std::size_t trace_attempts(const fs::path& file) {
  return Trace(read_file(file)).complete.size();
}

}  // namespace

TEST_CASE(
    "a job with failures retries and a timeout writes a report that agrees with "
    "job_result.txt",
    "[report][job]") {
  TempDir t;
  make_numbered_files(t / "in", 12);
  JobResult r = run(test_support::report_job_config(t / "out"), FileDataset({(t / "in").string()}),
                    test_support::flaky_scorer());
  REQUIRE(r.succeeded);
  REQUIRE(r.retries == 3);
  REQUIRE(r.timeouts == 1);
  const fs::path logs = t / "out/logs";
  const std::string page = read_file(logs / "report.html");
  const std::string job_result = read_file(logs / "job_result.txt");
  REQUIRE_FALSE(page.empty());
  CHECK(unescape_html(by_id(page, "result-line")) + "\n" == job_result);
  CHECK(by_id(page, "items_succeeded") == std::to_string(r.items_succeeded));
  CHECK(by_id(page, "items_failed") == std::to_string(r.items_failed));
  CHECK(by_id(page, "mini_batches_failed") == "1");
  CHECK(by_id(page, "attempts") == std::to_string(r.attempts));
  CHECK(count(page, "<rect class=\"bar ") == r.attempts);
  CHECK(count(page, "<rect class=\"bar o-retried\"") == 3);
  CHECK(count(page, "<rect class=\"bar o-failed\"") == 1);
  CHECK(page.find("<tr><td>user_error</td><td class=\"n\">3</td>") != std::string::npos);
  CHECK(page.find("always &lt;fails&gt; &amp; &quot;quotes&quot;") != std::string::npos);
  // The resource monitor's samples are drawn: the node and the job's own process.
  CHECK(page.find("id=\"chart-cpu\"") != std::string::npos);
  CHECK(page.find(fmt::format("job process {}", ::getpid())) != std::string::npos);
  CHECK(trace_attempts(logs / "trace.json") == r.attempts);
}

TEST_CASE("a job stopped by a threshold and a run of one mini-batch have their report",
          "[report][job]") {
  TempDir t;
  make_numbered_files(t / "in", 12);
  SECTION("threshold") {
    Config c = test_support::report_job_config(t / "out");
    c.mini_batch_error_threshold = 0;
    c.process_count_per_node = 1;
    JobResult r = run(c, FileDataset({(t / "in").string()}), test_support::flaky_scorer());
    REQUIRE_FALSE(r.succeeded);
    const std::string page = read_file(t / "out/logs/report.html");
    CHECK(by_id(page, "job-state") == "failed");
    CHECK(unescape_html(by_id(page, "failure-reason")) == r.failure_reason);
    CHECK(by_id(page, "mini_batches_not_processed") ==
          std::to_string(r.mini_batches_not_processed));
    CHECK(trace_attempts(t / "out/logs/trace.json") == r.attempts);
  }
  SECTION("only_mini_batch") {
    Config c = test_support::report_job_config(t / "out");
    c.only_mini_batch = 4;
    JobResult r = run(c, FileDataset({(t / "in").string()}), test_support::flaky_scorer());
    REQUIRE(r.succeeded);
    const fs::path logs = t / "out/only-mini-batch-4/logs";
    const std::string page = read_file(logs / "report.html");
    CHECK(unescape_html(by_id(page, "result-line")) + "\n" == read_file(logs / "job_result.txt"));
    CHECK(count(page, "<rect class=\"bar ") == 1);
    CHECK(page.find("<tr><th>only_mini_batch</th><td>4</td></tr>") != std::string::npos);
    CHECK(trace_attempts(logs / "trace.json") == 1);
    CHECK_FALSE(fs::exists(t / "out/logs/report.html"));
  }
}

TEST_CASE("report.html is rewritten while the job runs and tells of an interruption",
          "[report][job][signals]") {
  TempDir t;
  make_numbered_files(t / "in", 12);
  Config c = test_support::report_job_config(t / "out");
  c.stop_on_signals = true;
  c.run_max_try = 1;
  c.run_invocation_timeout = 60;  // mini-batch 3 waits for the first refresh
  const fs::path page_file = t / "out/logs/report.html";
  auto seen_running = std::make_shared<std::atomic<bool>>(false);
  const fs::path log = t / "out/logs/master.txt";
  auto scorer = make_scorer([page_file, log, seen_running](const FileBatch& b) {
    if (b.mini_batch_index() == 3) {
      // The first progress event (2 s into the job) writes the page of a running job.
      const auto end = std::chrono::steady_clock::now() + 20s;
      while (!*seen_running && std::chrono::steady_clock::now() < end) {
        *seen_running =
            read_file(page_file).find("<body data-state=\"running\">") != std::string::npos;
        std::this_thread::sleep_for(20ms);
      }
      std::raise(SIGINT);
      // This attempt ends once the coordinator has heard the signal (else the job could end
      // first).
      while (read_file(log).find("stopping the job: interrupted by SIGINT") == std::string::npos &&
             std::chrono::steady_clock::now() < end)
        std::this_thread::sleep_for(20ms);
    }
    std::vector<std::string> keys;
    for (const auto& e : b)
      keys.push_back(e.key);
    return keys;
  });
  JobResult r = run(c, FileDataset({(t / "in").string()}), scorer);
  CHECK(*seen_running);
  REQUIRE(r.interrupted_by == SIGINT);
  const std::string page = read_file(page_file);
  CHECK(page.find("<body data-state=\"failed\">") != std::string::npos);
  CHECK(page.find("<p>Interrupted by signal 2.</p>") != std::string::npos);
  CHECK(unescape_html(by_id(page, "failure-reason")) == r.failure_reason);
  CHECK(unescape_html(by_id(page, "result-line")) + "\n" ==
        read_file(t / "out/logs/job_result.txt").substr(0, r.summary().size() + 1));
  CHECK(count(page, "<rect class=\"bar ") == r.attempts);
}
