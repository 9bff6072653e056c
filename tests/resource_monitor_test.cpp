// The resource monitor (logs/performance/<host>/): its files, their columns and rows, the
// coordinating process and its worker processes (direct children), the machine; the setting
// resource_monitor_interval (0: off; validated; its flag); a sample that cannot be written.
// Every test case's name holds "resource monitor" (ctest -R monitor).
#include <parallel_run/detail/resource_monitor.hpp>

#include <parallel_run/parallel_run.hpp>
#include <parallel_run/detail/job_files.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/temp_dir.hpp"

using namespace parallel_run;
using namespace std::chrono_literals;
using test_support::make_numbered_files;
using test_support::read_file;
using test_support::TempDir;
namespace fs = std::filesystem;

namespace {

const std::string process_header =
    "timestamp,pid,cpu_percent,rss_bytes,threads,read_bytes,write_bytes";
const std::string system_header =
    "timestamp,cpu_percent,memory_total_bytes,memory_available_bytes,memory_used_bytes,"
    "disk_read_bytes,disk_written_bytes,network_received_bytes,network_sent_bytes";

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream in(text);
  while (std::getline(in, part, sep))
    parts.push_back(part);
  if (!text.empty() && text.back() == sep) parts.emplace_back();
  return parts;
}

// A CSV of the monitor: its header line and its rows split into fields (no field is quoted).
struct Csv {
  std::string header;
  std::vector<std::vector<std::string>> rows;
};

Csv read_csv(const fs::path& file) {
  const std::string text = read_file(file);
  INFO(file.string() << ":\n" << text);
  REQUIRE(!text.empty());
  REQUIRE(text.back() == '\n');  // whole rows only
  Csv csv;
  std::istringstream in(text);
  std::string line;
  std::getline(in, csv.header);
  while (std::getline(in, line))
    csv.rows.push_back(split(line, ','));
  return csv;
}

std::uint64_t number(const std::string& field) {
  INFO("field '" << field << "'");
  REQUIRE(!field.empty());
  REQUIRE(field.find_first_not_of("0123456789") == std::string::npos);
  return std::stoull(field);
}

std::optional<double> percent(const std::string& field) {
  if (field.empty()) return std::nullopt;
  std::size_t used = 0;
  const double v = std::stod(field, &used);
  REQUIRE(used == field.size());
  return v;
}

// MemTotal of /proc/meminfo, in bytes.
std::uint64_t mem_total_bytes() {
  std::istringstream in(read_file("/proc/meminfo"));
  std::string key;
  std::uint64_t kb = 0;
  while (in >> key >> kb) {
    if (key == "MemTotal:") return kb * 1024;
    std::string unit;
    std::getline(in, unit);
  }
  FAIL("no MemTotal in /proc/meminfo");
  return 0;
}

// The checks every file of the monitor passes: the exact header, at least `min_rows` rows,
// each with the header's field count, timestamps in the other files' format, non-decreasing.
void check_common(const Csv& csv, const std::string& header, std::size_t min_rows) {
  CHECK(csv.header == header);
  CHECK(csv.rows.size() >= min_rows);
  const std::size_t fields = split(header, ',').size();
  std::string previous;
  for (const auto& row : csv.rows) {
    REQUIRE(row.size() == fields);
    const std::string& t = row[0];
    // "2026-11-21 22:10:00.123", as detail::timestamp() writes it (fixed width: compares as text).
    CHECK(t.size() == 23);
    CHECK(t[4] == '-');
    CHECK(t[10] == ' ');
    CHECK(t[19] == '.');
    CHECK(t >= previous);
    previous = t;
  }
}

void check_system_file(const fs::path& file, std::size_t min_rows) {
  const Csv csv = read_csv(file);
  check_common(csv, system_header, min_rows);
  const std::uint64_t total = mem_total_bytes();
  std::uint64_t disk_read = 0, disk_written = 0, received = 0, sent = 0;
  for (std::size_t i = 0; i < csv.rows.size(); ++i) {
    const auto& r = csv.rows[i];
    const auto cpu = percent(r[1]);
    if (i == 0) CHECK_FALSE(cpu);  // no interval yet
    if (cpu) {
      CHECK(*cpu >= 0.0);
      CHECK(*cpu <= 100.0);
    }
    CHECK(number(r[2]) == total);
    CHECK(number(r[3]) <= total);
    CHECK(number(r[3]) > 0);
    CHECK(number(r[4]) == total - number(r[3]));
    // Counters since boot never go back.
    CHECK(number(r[5]) >= disk_read);
    CHECK(number(r[6]) >= disk_written);
    CHECK(number(r[7]) >= received);
    CHECK(number(r[8]) >= sent);
    disk_read = number(r[5]);
    disk_written = number(r[6]);
    received = number(r[7]);
    sent = number(r[8]);
  }
  // This machine has rows that are not all empty: at least one CPU figure past the first row.
  CHECK(std::any_of(csv.rows.begin() + 1, csv.rows.end(),
                    [](const auto& r) { return !r[1].empty(); }));
}

// A process file: every row names `pid`, has a resident set and a thread; returns the rows'
// highest CPU percentage.
double check_process_file(const fs::path& file, std::int64_t pid, std::size_t min_rows) {
  const Csv csv = read_csv(file);
  check_common(csv, process_header, min_rows);
  double max_cpu = 0;
  for (std::size_t i = 0; i < csv.rows.size(); ++i) {
    const auto& r = csv.rows[i];
    CHECK(r[1] == std::to_string(pid));
    const auto cpu = percent(r[2]);
    if (i == 0) CHECK_FALSE(cpu);
    if (cpu) {
      CHECK(*cpu >= 0.0);
      max_cpu = std::max(max_cpu, *cpu);
    }
    CHECK(number(r[3]) > 0);   // rss
    CHECK(number(r[4]) >= 1);  // threads
    // Disk I/O: both or neither (a /proc/<pid>/io that cannot be read).
    CHECK(r[5].empty() == r[6].empty());
    if (!r[5].empty()) {
      number(r[5]);
      number(r[6]);
    }
  }
  return max_cpu;
}

Config monitor_config(const TempDir& t, double interval) {
  Config c;
  c.output_dir = t / "out";
  c.mini_batch_size = 1;
  c.process_count_per_node = 2;
  c.logging_level = LoggingLevel::warning;
  c.resource_monitor_interval = interval;
  return c;
}

fs::path performance_dir(const TempDir& t) {
  return t / "out" / "logs" / "performance" / detail::host_name();
}

// Spins for `seconds` of wall time: CPU the monitor must see.
void burn(std::chrono::duration<double> seconds) {
  const auto end = std::chrono::steady_clock::now() + seconds;
  volatile std::uint64_t x = 0;
  while (std::chrono::steady_clock::now() < end)
    for (int i = 0; i < 1000; ++i)
      x = x + static_cast<std::uint64_t>(i);
}

// The files of a performance folder, by name.
std::set<std::string> names_in(const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(dir))
    names.insert(e.path().filename().string());
  return names;
}

}  // namespace

TEST_CASE("resource monitor: the job's process and the machine, sampled while it runs",
          "[monitor]") {
  TempDir t;
  make_numbered_files(t / "in", 6);
  const Config c = monitor_config(t, 0.05);
  const JobResult r =
      run(c, FileDataset({(t / "in").string()}), make_scorer([](const FileBatch& b) {
            burn(0.15s);  // CPU time for cpu_percent
            std::this_thread::sleep_for(50ms);
            return std::vector<std::string>(b.size(), "x");
          }));
  REQUIRE(r.succeeded);
  const std::string host = detail::host_name();
  const fs::path dir = performance_dir(t);
  const detail::JobFiles files(c);
  CHECK(files.performance_dir(host) == dir);
  const fs::path sys_file = dir / ("sys_resource_monitor_" + host + ".csv");
  const fs::path own_file =
      dir / ("process_resource_monitor_" + host + "_" + std::to_string(::getpid()) + ".csv");
  CHECK(files.sys_resource_monitor(host) == sys_file);
  CHECK(files.process_resource_monitor(host, ::getpid()) == own_file);
  REQUIRE(fs::exists(sys_file));
  REQUIRE(fs::exists(own_file));
  // Three mini-batches per worker of 0.2 s: about 0.6 s, a dozen samples; at least the one
  // at the start and the one at the end.
  check_system_file(sys_file, 3);
  const double max_cpu = check_process_file(own_file, ::getpid(), 3);
  CHECK(max_cpu > 5.0);  // two workers spin: the process used CPU
  // The thread backend starts no process: the job's own is the only process file.
  CHECK(names_in(dir) ==
        std::set<std::string>{sys_file.filename().string(), own_file.filename().string()});
  CHECK(read_file(t / "out" / "logs" / "master.txt").find("resource monitor") == std::string::npos);
  // The log folder's readme tells of both files.
  const std::string readme = read_file(t / "out" / "logs" / "readme.txt");
  CHECK(readme.find("performance/<host>/process_resource_monitor_<host>_<pid>.csv") !=
        std::string::npos);
  CHECK(readme.find("performance/<host>/sys_resource_monitor_<host>.csv") != std::string::npos);
}

TEST_CASE("resource monitor: a child process of the job is sampled while it lives", "[monitor]") {
  TempDir t;
  make_numbered_files(t / "in", 1);
  Config c = monitor_config(t, 0.05);
  c.process_count_per_node = 1;
  auto child = std::make_shared<pid_t>(0);
  const JobResult r =
      run(c, FileDataset({(t / "in").string()}), make_scorer([child](const FileBatch& b) {
            // A direct child of the job's process, as a process backend's worker is.
            char sleep[] = "sleep", seconds[] = "0.4";
            char* argv[] = {sleep, seconds, nullptr};
            pid_t pid = 0;
            if (::posix_spawnp(&pid, "sleep", nullptr, nullptr, argv, environ) != 0)
              throw std::runtime_error("cannot start sleep");
            *child = pid;
            int status = 0;
            ::waitpid(pid, &status, 0);
            std::this_thread::sleep_for(200ms);  // samples after it is gone
            return std::vector<std::string>(b.size(), "x");
          }));
  REQUIRE(r.succeeded);
  REQUIRE(*child > 0);
  const std::string host = detail::host_name();
  const fs::path child_file = performance_dir(t) / ("process_resource_monitor_" + host + "_" +
                                                    std::to_string(*child) + ".csv");
  const fs::path own_file = performance_dir(t) / ("process_resource_monitor_" + host + "_" +
                                                  std::to_string(::getpid()) + ".csv");
  REQUIRE(fs::exists(child_file));
  check_process_file(child_file, *child, 2);
  check_process_file(own_file, ::getpid(), 3);
  // Once gone, it is sampled no more: its last row is before the job's process's last ones.
  const Csv child_csv = read_csv(child_file), own_csv = read_csv(own_file);
  const std::string child_last = child_csv.rows.back()[0];
  const auto later = std::count_if(own_csv.rows.begin(), own_csv.rows.end(),
                                   [&](const auto& row) { return row[0] > child_last; });
  CHECK(later >= 2);
}

TEST_CASE(
    "resource monitor: interval 0 writes no performance folder, and a new run removes "
    "the previous run's",
    "[monitor]") {
  TempDir t;
  make_numbered_files(t / "in", 2);
  auto scorer = make_scorer([](const FileBatch& b) {
    std::this_thread::sleep_for(20ms);
    return std::vector<std::string>(b.size(), "x");
  });
  REQUIRE(run(monitor_config(t, 0.05), FileDataset({(t / "in").string()}), scorer).succeeded);
  REQUIRE(fs::exists(performance_dir(t)));
  Config again = monitor_config(t, 0);
  again.allow_reuse = false;  // a new run, not the reuse of the first
  const JobResult r = run(again, FileDataset({(t / "in").string()}), scorer);
  CHECK(r.succeeded);
  CHECK(fs::exists(t / "out" / "logs" / "master.txt"));
  CHECK_FALSE(fs::exists(t / "out" / "logs" / "performance"));
}

TEST_CASE("resource monitor: a long interval still stops at once, with a last sample",
          "[monitor]") {
  TempDir t;
  make_numbered_files(t / "in", 2);
  const auto start = std::chrono::steady_clock::now();
  const JobResult r = run(monitor_config(t, 3600), FileDataset({(t / "in").string()}),
                          make_scorer([](const FileBatch& b) {
                            std::this_thread::sleep_for(50ms);
                            return std::vector<std::string>(b.size(), "x");
                          }));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  REQUIRE(r.succeeded);
  CHECK(seconds < 20);  // not the hour of the interval
  const std::string host = detail::host_name();
  // The sample at the start and the last one at the end.
  const Csv sys = read_csv(performance_dir(t) / ("sys_resource_monitor_" + host + ".csv"));
  CHECK(sys.rows.size() == 2);
  const Csv own = read_csv(performance_dir(t) / ("process_resource_monitor_" + host + "_" +
                                                 std::to_string(::getpid()) + ".csv"));
  CHECK(own.rows.size() == 2);
}

TEST_CASE("resource monitor: resource_monitor_interval is validated", "[monitor]") {
  TempDir t;
  Config c;
  c.output_dir = t / "out";
  CHECK(c.resource_monitor_interval == 10.0);  // the default
  for (double good : {0.0, 0.01, 0.05, 10.0, 31536000.0}) {
    c.resource_monitor_interval = good;
    CHECK_NOTHROW(c.validate());
  }
  for (double bad : {-1.0, -0.05, 0.001, 31536001.0, std::numeric_limits<double>::quiet_NaN(),
                     std::numeric_limits<double>::infinity()}) {
    c.resource_monitor_interval = bad;
    INFO("resource_monitor_interval " << bad);
    try {
      c.validate();
      FAIL("no ConfigError");
    } catch (const ConfigError& e) {
      CHECK(e.setting() == "resource_monitor_interval");
      CHECK_THAT(e.what(), Catch::StartsWith("[parallel_run.config.resource_monitor_interval] "
                                             "resource_monitor_interval must be 0 (off) or a "
                                             "number of seconds in [0.01, 31536000], got "));
    }
  }
  // A job with it runs no scorer code.
  make_numbered_files(t / "in", 1);
  c.resource_monitor_interval = -1;
  bool ran = false;
  CHECK_THROWS_AS(run(c, FileDataset({(t / "in").string()}), make_scorer([&](const FileBatch& b) {
                        ran = true;
                        return std::vector<std::string>(b.size(), "x");
                      })),
                  ConfigError);
  CHECK_FALSE(ran);
}

TEST_CASE("resource monitor: --resource-monitor-interval sets it, in both spellings", "[monitor]") {
  auto parse = [](std::vector<std::string> args, Config defaults = {}) {
    args.insert(args.begin(), "prog");
    std::vector<const char*> argv;
    for (auto& a : args)
      argv.push_back(a.c_str());
    std::ostringstream out;
    return parse_command_line(static_cast<int>(argv.size()), argv.data(), std::move(defaults), "",
                              out);
  };
  CHECK(parse({"--input", "a", "--output", "o"}).config.resource_monitor_interval == 10.0);
  CHECK(parse({"--input", "a", "--output", "o", "--resource-monitor-interval", "0.5"})
            .config.resource_monitor_interval == 0.5);
  CHECK(parse({"--input", "a", "--output", "o", "--resource_monitor_interval", "0"})
            .config.resource_monitor_interval == 0.0);
  // Over a value set in code; absent, the code's value stays.
  Config defaults;
  defaults.resource_monitor_interval = 2;
  CHECK(parse({"--input", "a", "--output", "o"}, defaults).config.resource_monitor_interval == 2.0);
  CHECK(parse({"--input", "a", "--output", "o", "--resource-monitor-interval", "30"}, defaults)
            .config.resource_monitor_interval == 30.0);
  CHECK_THROWS_AS(parse({"--input", "a", "--output", "o", "--resource-monitor-interval", "x"}),
                  ConfigError);
  // --help tells of it, with the default in effect.
  {
    const char* argv[] = {"prog", "--help"};
    std::ostringstream out;
    parse_command_line(2, argv, defaults, "", out);
    CHECK_THAT(out.str(), Catch::Contains("--resource-monitor-interval") &&
                              Catch::Contains("logs/performance"));
  }
  // A bad value is a configuration error: exit 2, naming the setting.
  TempDir t;
  make_numbered_files(t / "in", 1);
  const std::vector<std::string> args = {"prog",
                                         "--input",
                                         (t / "in").string(),
                                         "--output",
                                         (t / "out").string(),
                                         "--resource-monitor-interval",
                                         "-3"};
  std::vector<const char*> argv;
  for (const auto& a : args)
    argv.push_back(a.c_str());
  std::ostringstream out, err;
  const int status = parallel_run::main(
      static_cast<int>(argv.size()), argv.data(),
      make_scorer([](const FileBatch& b) { return std::vector<std::string>(b.size(), "x"); }),
      Config{}, "test", out, err);
  CHECK(status == 2);
  CHECK_THAT(err.str(), Catch::Contains("resource_monitor_interval must be 0 (off)") &&
                            Catch::Contains("got -3"));
}

TEST_CASE("resource monitor: a sample that cannot be written stops it with one warning",
          "[monitor]") {
  // The observer on its own, as the coordinator drives it: job_started, progress, job_ended.
  TempDir t;
  const std::string host = detail::host_name();
  detail::JobFiles files;
  files.log_dir = t / "logs";
  fs::create_directories(files.performance_dir(host));
  // Every write to the machine's file fails as on a full disk.
  fs::create_symlink("/dev/full", files.sys_resource_monitor(host));
  Config c;
  c.resource_monitor_interval = 0.01;
  std::vector<std::string> warnings;
  const auto coordinator = std::this_thread::get_id();
  bool warned_elsewhere = false;
  {
    detail::ResourceMonitor monitor([&](const std::string& w) {
      if (std::this_thread::get_id() != coordinator) warned_elsewhere = true;
      warnings.push_back(w);
    });
    JobInfo info;
    info.config = &c;
    info.host = host;
    info.pid = ::getpid();
    info.log_dir = files.log_dir;
    monitor.job_started(info);
    for (int i = 0; i < 30; ++i) {
      std::this_thread::sleep_for(10ms);
      monitor.progress(JobProgress{});  // the failure is reported on this thread, once
    }
    CHECK(warnings.size() == 1);
    monitor.job_ended(JobResult{});
  }
  CHECK_FALSE(warned_elsewhere);
  REQUIRE(warnings.size() == 1);
  CHECK_THAT(warnings[0], Catch::StartsWith("the resource monitor stopped: cannot write '" +
                                            files.sys_resource_monitor(host).string() + "': ") &&
                              Catch::Contains("No space left on device") &&
                              Catch::Contains("no more samples are written to " +
                                              files.performance_dir(host).string()));
  // Sampling stopped at the first failure: no process file was started.
  CHECK_FALSE(fs::exists(files.process_resource_monitor(host, ::getpid())));
}

TEST_CASE("resource monitor: the observer alone samples until job_ended, then stops", "[monitor]") {
  TempDir t;
  const std::string host = detail::host_name();
  detail::JobFiles files;
  files.log_dir = t / "logs";
  Config c;
  c.resource_monitor_interval = 0.02;
  std::vector<std::string> warnings;
  detail::ResourceMonitor monitor([&](const std::string& w) { warnings.push_back(w); });
  JobInfo info;
  info.config = &c;
  info.host = host;
  info.pid = ::getpid();
  info.log_dir = files.log_dir;
  monitor.job_started(info);
  std::this_thread::sleep_for(200ms);
  monitor.job_ended(JobResult{});
  const std::string sys = read_file(files.sys_resource_monitor(host));
  const std::string own = read_file(files.process_resource_monitor(host, ::getpid()));
  CHECK(warnings.empty());
  check_system_file(files.sys_resource_monitor(host), 3);
  check_process_file(files.process_resource_monitor(host, ::getpid()), ::getpid(), 3);
  // Nothing is written after job_ended.
  std::this_thread::sleep_for(100ms);
  CHECK(read_file(files.sys_resource_monitor(host)) == sys);
  CHECK(read_file(files.process_resource_monitor(host, ::getpid())) == own);
}

TEST_CASE("resource monitor: /proc parsing", "[monitor]") {
  // A command with spaces and parentheses; priority and nice negative (a real-time process).
  const auto s = detail::proc::parse_stat(
      "1234 (a) b (c) S 77 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 -21 -5 7 0 98765 "
      "1000000 300 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0");
  REQUIRE(s);
  CHECK(s->state == 'S');
  CHECK(s->ppid == 77);
  CHECK(s->cpu_ticks == 300);
  CHECK(s->threads == 7);
  CHECK(s->start_time == 98765);
  CHECK_FALSE(detail::proc::parse_stat("garbage"));
  const auto own = detail::proc::process_stat(::getpid());
  REQUIRE(own);
  CHECK(own->ppid == ::getppid());
  CHECK(own->threads >= 1);
  CHECK(detail::proc::keyed_value("MemTotal:       24684092 kB\nMemFree: 3 kB\n", "MemFree") == 3u);
  CHECK_FALSE(detail::proc::keyed_value("MemTotalX: 5 kB\n", "MemTotal"));
  // Loop and RAM devices are never whole disks; partitions are not either (without /sys).
  CHECK_FALSE(detail::proc::whole_disk("loop0"));
  CHECK_FALSE(detail::proc::whole_disk("ram0"));
  CHECK_FALSE(detail::proc::whole_disk("zram0"));
  std::error_code ec;
  for (fs::directory_iterator it("/sys/block", ec), end; !ec && it != end; it.increment(ec)) {
    const auto& e = *it;
    const std::string name = e.path().filename().string();
    if (name.starts_with("loop") || name.starts_with("ram") || name.starts_with("zram")) continue;
    CHECK(detail::proc::whole_disk(name) == fs::exists(e.path() / "device"));
  }
}

TEST_CASE("resource monitor: one process file per worker process of the process backend",
          "[monitor]") {
  TempDir t;
  for (int i = 0; i < 6; ++i)
    test_support::write_file(t / "in" / ("f0" + std::to_string(i) + ".txt"), "slow\n");
  // fault_injection: each "slow" item sleeps 0.4 s; two worker processes, a mini-batch each.
  std::vector<std::string> args = {PARALLEL_RUN_FAULT_INJECTION,
                                   "--input",
                                   "in",
                                   "--output",
                                   "out",
                                   "--backend",
                                   "process",
                                   "--process-count-per-node",
                                   "2",
                                   "--mini-batch-size",
                                   "1",
                                   "--resource-monitor-interval",
                                   "0.05"};
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, (t / "stdout.txt").c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  posix_spawn_file_actions_addopen(&fa, 2, (t / "stderr.txt").c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  posix_spawn_file_actions_addchdir_np(&fa, t.path().c_str());
  pid_t coordinator = -1;
  const int rc = ::posix_spawn(&coordinator, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  REQUIRE(rc == 0);
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + 100s;
  pid_t done = 0;
  while ((done = ::waitpid(coordinator, &status, WNOHANG)) == 0 &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  if (done == 0) {
    ::kill(coordinator, SIGKILL);
    ::waitpid(coordinator, &status, 0);
    FAIL("the job did not end within 100 s");
  }
  INFO("stdout:\n" << read_file(t / "stdout.txt") << "stderr:\n" << read_file(t / "stderr.txt"));
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);

  // The worker processes, as processed_mini-batches.csv names them: <host>/process-<n>/<pid>.
  const std::string host = detail::host_name();
  std::set<std::int64_t> workers;
  const std::string processed = read_file(t / "out" / "logs" / "processed_mini-batches.csv");
  for (const auto& line : split(processed, '\n')) {
    const auto fields = split(line, ',');
    if (fields.size() < 3 || fields[0] == "Mini-batch Id") continue;
    const auto slash = fields[2].rfind('/');
    REQUIRE(slash != std::string::npos);
    workers.insert(std::stoll(fields[2].substr(slash + 1)));
  }
  REQUIRE(workers.size() == 2);
  CHECK(workers.count(coordinator) == 0);

  const fs::path dir = performance_dir(t);
  std::set<std::string> expected = {"sys_resource_monitor_" + host + ".csv"};
  for (std::int64_t pid : std::set<std::int64_t>{workers.begin(), workers.end()})
    expected.insert("process_resource_monitor_" + host + "_" + std::to_string(pid) + ".csv");
  expected.insert("process_resource_monitor_" + host + "_" + std::to_string(coordinator) + ".csv");
  // One file per process: the coordinating one and each worker, no other.
  CHECK(names_in(dir) == expected);
  check_system_file(dir / ("sys_resource_monitor_" + host + ".csv"), 3);
  check_process_file(
      dir / ("process_resource_monitor_" + host + "_" + std::to_string(coordinator) + ".csv"),
      coordinator, 3);
  for (std::int64_t pid : workers)
    check_process_file(
        dir / ("process_resource_monitor_" + host + "_" + std::to_string(pid) + ".csv"), pid, 2);
  CHECK(read_file(t / "out" / "logs" / "master.txt").find("resource monitor") == std::string::npos);
}
