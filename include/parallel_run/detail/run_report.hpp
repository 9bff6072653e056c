// logs/report.html: the run as a picture, one self-contained page (inline CSS and SVG, a few
// lines of script, nothing fetched: a Content-Security-Policy forbids it) that opens from
// disk, reads on a laptop screen and prints:
//   - the summary: the job, its result and reason (JobResult's numbers, as in job_result.txt),
//     items and mini-batches, wall time, throughput, what an earlier run kept (resumed);
//   - the timeline: a lane per worker, a bar per attempt coloured by outcome, with a tooltip
//     (mini-batch, first and last keys, times, reason);
//   - throughput and cumulative progress over time; CPU and memory of each process and of
//     the machine, from logs/performance/<host>/;
//   - failures by category, the first failed items and the files to open; the slowest
//     attempts; the settings and the command line.
// Rewritten whole (AtomicFile: complete or absent) at the job's end and, while it runs, with
// the progress events, at most every refresh_interval and never more often than 20 times
// its own writing time, so the coordinator loses at most 5% to it.
//
// Bounded, whatever the job's size: individual bars for the first max_bars attempts; past
// that the timeline is drawn from time slices per lane (a fixed number of cells whose width
// doubles when the job outlasts them), with the first max_marked failed attempts still drawn
// one by one; the slowest attempts are a fixed top-K; the series are fixed-size buckets too.
// Neither the observer's memory nor the page's size grows with the number of mini-batches.
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/config.hpp"
#include "parallel_run/job_result.hpp"
#include "parallel_run/observer.hpp"
#include "parallel_run/detail/atomic_file.hpp"
#include "parallel_run/detail/clock.hpp"
#include "parallel_run/detail/error_digest.hpp"
#include "parallel_run/detail/job_files.hpp"
#include "parallel_run/detail/overview_file.hpp"

#include <fmt/format.h>

#include <time.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <string_view>
#include <utility>
#include <vector>

PARALLEL_RUN_BEGIN_NAMESPACE
namespace detail {

/// Appends `text` escaped for HTML text and attribute values (& < > " ').
inline void append_html(std::string& out, std::string_view text) {
  for (const char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out.push_back(c);
    }
  }
}

inline std::string html(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  append_html(out, text);
  return out;
}

/// At most `limit` bytes of `text`, cut at a UTF-8 character boundary, "..." marking a cut.
inline std::string shortened(std::string_view text, std::size_t limit) {
  if (text.size() <= limit) return std::string(text);
  std::size_t end = limit;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80)
    --end;
  return std::string(text.substr(0, end)) + "...";
}

/// A series over time in a fixed number of cells: the first covers [0, width), the next
/// [width, 2 width), ...; when a time falls past the last cell, neighbouring cells are merged
/// (Cell::merge) and the width doubles. Memory is fixed; resolution coarsens as the job
/// goes on. Times are seconds since the job's start.
template <class Cell>
class CoarseningSeries {
 public:
  explicit CoarseningSeries(std::size_t cells, double width) : cells_(cells), width_(width) {}

  /// The cell of time t (clamped at 0), coarsening first if it lies past the end.
  Cell& at(double t) {
    reach(t);
    return cells_[index(t)];
  }
  /// Makes the series cover t (coarsening if needed).
  void reach(double t) {
    while (t >= width_ * static_cast<double>(cells_.size()))
      coarsen();
  }
  std::size_t index(double t) const {
    if (!(t > 0)) return 0;
    return std::min(cells_.size() - 1, static_cast<std::size_t>(t / width_));
  }
  double width() const noexcept { return width_; }
  const std::vector<Cell>& cells() const noexcept { return cells_; }
  std::vector<Cell>& cells() noexcept { return cells_; }

 private:
  void coarsen() {
    const std::size_t n = cells_.size();
    for (std::size_t i = 0; i < n; ++i) {
      if (2 * i >= n) {
        cells_[i] = Cell{};
        continue;
      }
      Cell merged = cells_[2 * i];
      if (2 * i + 1 < n) merged.merge(cells_[2 * i + 1]);
      cells_[i] = merged;
    }
    width_ *= 2;
  }

  std::vector<Cell> cells_;
  double width_;
};

/// How an attempt is drawn: succeeded, retried (it failed, timed out or crashed and another
/// attempt followed), or the last attempt's failure by kind.
enum class AttemptOutcome : std::uint8_t { succeeded, retried, failed, timed_out, crashed };
inline constexpr std::size_t attempt_outcomes = 5;
inline constexpr std::array<const char*, attempt_outcomes> attempt_outcome_names = {
    "succeeded", "retried", "failed", "timed_out", "crashed"};

inline AttemptOutcome outcome_of(const AttemptInfo& a) {
  if (a.status == AttemptStatus::succeeded || a.status == AttemptStatus::running)
    return AttemptOutcome::succeeded;
  if (!a.last) return AttemptOutcome::retried;
  if (a.status == AttemptStatus::timed_out) return AttemptOutcome::timed_out;
  if (a.status == AttemptStatus::crashed) return AttemptOutcome::crashed;
  return AttemptOutcome::failed;
}

class RunReport final : public JobObserver {
 public:
  /// Attempts drawn one by one; past this the timeline is drawn from time slices.
  static constexpr std::size_t max_bars = 4000;
  /// Failed, timed-out, crashed and retried attempts still drawn one by one past max_bars.
  static constexpr std::size_t max_marked = 1000;
  /// Worker lanes drawn; the attempts of later workers share one last lane.
  static constexpr std::size_t max_lanes = 48;
  /// Time slices per lane, and cells of the throughput series.
  static constexpr std::size_t lane_cells = 200;
  static constexpr std::size_t series_cells = 240;
  /// Slowest attempts listed.
  static constexpr std::size_t slowest_kept = 10;
  /// Processes drawn in the CPU and memory charts (the job's own and its workers).
  static constexpr std::size_t max_processes = 16;
  /// Characters of a key or a reason kept for a bar's tooltip.
  static constexpr std::size_t key_chars = 160;
  static constexpr std::size_t reason_chars = 400;
  /// The width of a time cell at first (seconds): a job of a second gets a curve too.
  static constexpr double first_cell_width = 0.01;

  /// `digest` (failures by category, the first failed items) is an observer of the same job
  /// called before this one; null: no failure details.
  explicit RunReport(JobFiles files, std::shared_ptr<const ErrorDigest> digest = nullptr,
                     std::chrono::milliseconds refresh_interval = std::chrono::seconds(5))
      : files_(std::move(files)), digest_(std::move(digest)), refresh_interval_(refresh_interval) {}

  void job_started(const JobInfo& job) override;
  void attempt_ended(const AttemptInfo& a) override;
  void mini_batch_final(const MiniBatchFinal& m) override;
  void progress(const JobProgress& p) override;
  void job_ended(const JobResult& r) override;

  /// The page as it stands: `result` is the job's end, null while it runs.
  std::string render(const JobResult* result) const;
  /// Writes report.html (complete or absent); false when it could not be written.
  bool write(const JobResult* result);
  /// `warn` is told when the page cannot be written at the job's end (a full disk).
  void on_unwritten(std::function<void(const std::string&)> warn) { warn_ = std::move(warn); }

 private:
  struct Bar {
    std::size_t lane = 0;
    std::size_t mini_batch = 0;
    std::int64_t attempt = 0;
    std::size_t worker = 0;
    std::int64_t pid = 0;
    double start = 0, end = 0;  // seconds since the job's start
    AttemptStatus status = AttemptStatus::succeeded;
    AttemptOutcome outcome = AttemptOutcome::succeeded;
    std::size_t items = 0, succeeded = 0, failed = 0;
    std::string first_key, last_key, reason;
  };
  struct LaneCell {
    std::array<double, attempt_outcomes> busy{};  // seconds of attempts, by outcome
    std::array<std::uint32_t, attempt_outcomes> count{};
    void merge(const LaneCell& o) {
      for (std::size_t i = 0; i < attempt_outcomes; ++i) {
        busy[i] += o.busy[i];
        count[i] += o.count[i];
      }
    }
  };
  struct Lane {
    std::string label;
    std::int64_t pid = 0;
    std::size_t attempts = 0;
  };
  struct DoneCell {
    double items = 0, mini_batches = 0, failed_items = 0;
    void merge(const DoneCell& o) {
      items += o.items;
      mini_batches += o.mini_batches;
      failed_items += o.failed_items;
    }
  };
  struct Sample {
    double cpu = 0, memory = 0;  // cpu summed over n, memory the largest
    std::uint32_t n = 0;
    void merge(const Sample& o) {
      cpu += o.cpu;
      memory = std::max(memory, o.memory);
      n += o.n;
    }
  };
  struct ProcessSeries {
    std::string label;
    CoarseningSeries<Sample> series{series_cells, first_cell_width};
  };

  double since_start(std::chrono::system_clock::time_point t) const {
    return std::chrono::duration<double>(t - start_).count();
  }
  std::size_t lane_of(const AttemptInfo& a);
  Bar bar_of(const AttemptInfo& a, std::size_t lane) const;
  void add_to_cells(std::size_t lane, double start, double end, AttemptOutcome o);
  std::vector<ProcessSeries> read_performance(double& horizon) const;

  void summary(std::string& out, const JobResult* r) const;
  void timeline(std::string& out, double horizon) const;
  void throughput(std::string& out, double horizon) const;
  void resources(std::string& out, double horizon) const;
  void failures(std::string& out, const JobResult* r) const;
  void slowest(std::string& out) const;
  void settings(std::string& out) const;

  JobFiles files_;
  std::shared_ptr<const ErrorDigest> digest_;
  std::chrono::milliseconds refresh_interval_;
  std::function<void(const std::string&)> warn_;  // see on_unwritten()
  std::string write_error_;                       // why the last write failed

  // The job.
  std::string name_, host_, command_line_;
  std::vector<std::pair<std::string, std::string>> settings_;
  std::int64_t pid_ = 0;
  std::chrono::system_clock::time_point start_;
  double latest_ = 0;  // the latest time heard of, seconds since the start
  std::optional<JobProgress> progress_;

  // Attempts.
  std::map<std::size_t, std::size_t> lane_index_;  // worker -> lane
  std::vector<Lane> lanes_;
  std::vector<CoarseningSeries<LaneCell>> cells_;  // per lane
  std::vector<Bar> bars_;                          // the first max_bars attempts
  std::vector<Bar> marked_;                        // the first max_marked not succeeded
  std::vector<Bar> slowest_;                       // a min-heap by duration
  std::size_t attempts_ = 0, timeouts_ = 0;
  std::array<std::size_t, attempt_outcomes> outcomes_{};

  // Mini-batches as they end.
  CoarseningSeries<DoneCell> done_{series_cells, first_cell_width};
  std::size_t resumed_mini_batches_ = 0, resumed_items_ = 0;
  std::size_t final_succeeded_ = 0, final_failed_ = 0, final_not_processed_ = 0;

  // Refreshes.
  std::chrono::steady_clock::time_point next_refresh_{};
  std::chrono::steady_clock::duration last_cost_{};
};

// ---------------------------------------------------------------------------------------
// Implementation.

inline void RunReport::job_started(const JobInfo& job) {
  start_ = job.start;
  // No page before the first periodic progress event (2 s): a short job's page is written
  // once, at its end, not also by the progress event that closes its work (on small_files,
  // 2,000 mini-batches in 0.15 s, that second page cost a quarter of the run).
  next_refresh_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(1500);
  host_ = job.host;
  pid_ = job.pid;
  if (job.config == nullptr) return;
  const Config& c = *job.config;
  name_ = c.name;
  command_line_ = c.command_line;
  auto set = [this](std::string key, std::string value) {
    settings_.emplace_back(std::move(key), std::move(value));
  };
  set("name", c.name);
  set("backend", std::string(to_string(c.backend)));
  set("process_count_per_node", std::to_string(c.process_count_per_node));
  set("node_count", std::to_string(c.node_count));
  set("mini_batch_size",
      c.mini_batch_size.is_default() ? "default (10 files or 1MB)" : c.mini_batch_size.text());
  set("run_max_try", std::to_string(c.run_max_try));
  set("run_invocation_timeout", fmt::format("{} s", c.run_invocation_timeout));
  set("init_timeout", fmt::format("{} s", c.init_timeout));
  set("error_threshold", std::to_string(c.error_threshold));
  set("mini_batch_error_threshold", std::to_string(c.mini_batch_error_threshold));
  set("allowed_failed_percent", fmt::format("{}", c.allowed_failed_percent));
  set("worker_memory_limit",
      c.worker_memory_limit == 0 ? "none" : fmt::format("{} bytes", c.worker_memory_limit));
  set("output_action", std::string(to_string(c.output_action)));
  set("output_dir", c.output_dir.string());
  set("log_dir", job.log_dir.string());
  if (c.limit != 0) set("limit", std::to_string(c.limit));
  if (c.only_mini_batch >= 0) set("only_mini_batch", std::to_string(c.only_mini_batch));
  set("logging_level", std::string(to_string(c.logging_level)));
  set("resource_monitor_interval", fmt::format("{} s", c.resource_monitor_interval));
  std::string arguments;
  for (const std::string& a : c.arguments)
    arguments += (arguments.empty() ? "" : " ") + a;
  if (!arguments.empty()) set("arguments", arguments);
  for (const auto& [name, path] : c.side_inputs)
    set("side_input " + name, path.string());
}

inline std::size_t RunReport::lane_of(const AttemptInfo& a) {
  auto it = lane_index_.find(a.worker);
  if (it != lane_index_.end()) {
    lanes_[it->second].pid = a.pid;
    return it->second;
  }
  auto add_lane = [this](std::string label, std::int64_t pid) {
    lanes_.push_back({std::move(label), pid, 0});
    cells_.emplace_back(lane_cells, first_cell_width);
    cells_.back().reach(latest_);
    return lanes_.size() - 1;
  };
  if (lane_index_.size() + 1 < max_lanes) {
    const std::size_t lane = add_lane(fmt::format("worker {} ({})", a.worker, a.pid), a.pid);
    lane_index_.emplace(a.worker, lane);
    return lane;
  }
  // Later workers share one last lane (the map of workers to lanes stays bounded).
  if (lanes_.size() < max_lanes) return add_lane("later workers", 0);
  return max_lanes - 1;
}

inline RunReport::Bar RunReport::bar_of(const AttemptInfo& a, std::size_t lane) const {
  Bar b;
  b.lane = lane;
  b.mini_batch = a.mini_batch.index;
  b.attempt = a.attempt;
  b.worker = a.worker;
  b.pid = a.pid;
  b.start = since_start(a.start);
  b.end = std::max(b.start, since_start(a.end));
  b.status = a.status;
  b.outcome = outcome_of(a);
  b.items = a.items;
  b.succeeded = a.succeeded;
  b.failed = a.failed;
  b.first_key = shortened(a.mini_batch.first_key, key_chars);
  b.last_key = shortened(a.mini_batch.last_key, key_chars);
  b.reason = shortened(a.reason, reason_chars);
  return b;
}

inline void RunReport::add_to_cells(std::size_t lane, double start, double end, AttemptOutcome o) {
  CoarseningSeries<LaneCell>& s = cells_[lane];
  s.reach(end);
  const auto k = static_cast<std::size_t>(o);
  s.at(start).count[k] += 1;
  // Busy time spread over the cells the attempt covers (at most all of them).
  for (std::size_t i = s.index(start); i <= s.index(end); ++i) {
    const double lo = std::max(start, static_cast<double>(i) * s.width());
    const double hi = std::min(end, static_cast<double>(i + 1) * s.width());
    if (hi > lo) s.cells()[i].busy[k] += hi - lo;
  }
}

inline void RunReport::attempt_ended(const AttemptInfo& a) {
  const std::size_t lane = lane_of(a);
  ++lanes_[lane].attempts;
  ++attempts_;
  const AttemptOutcome o = outcome_of(a);
  ++outcomes_[static_cast<std::size_t>(o)];
  if (a.status == AttemptStatus::timed_out) ++timeouts_;
  const double start = since_start(a.start);
  const double end = std::max(start, since_start(a.end));
  latest_ = std::max(latest_, end);
  // Every lane covers the same time, so that their cells line up.
  for (auto& s : cells_)
    s.reach(latest_);
  add_to_cells(lane, start, end, o);

  const bool keep_bar = bars_.size() < max_bars && attempts_ <= max_bars;
  const bool keep_marked = o != AttemptOutcome::succeeded && marked_.size() < max_marked;
  auto by_duration = [](const Bar& x, const Bar& y) { return x.end - x.start > y.end - y.start; };
  const bool keep_slow =
      slowest_.size() < slowest_kept || end - start > slowest_.front().end - slowest_.front().start;
  if (!keep_bar && !keep_marked && !keep_slow) return;
  Bar b = bar_of(a, lane);
  if (keep_marked) marked_.push_back(b);
  if (keep_slow) {
    if (slowest_.size() == slowest_kept) {
      std::pop_heap(slowest_.begin(), slowest_.end(), by_duration);
      slowest_.pop_back();
    }
    slowest_.push_back(b);
    std::push_heap(slowest_.begin(), slowest_.end(), by_duration);
  }
  if (keep_bar) {
    bars_.push_back(std::move(b));
  } else if (!bars_.empty()) {
    // Past max_bars: the timeline is drawn from the cells; the bars' memory goes back.
    bars_.clear();
    bars_.shrink_to_fit();
  }
}

inline void RunReport::mini_batch_final(const MiniBatchFinal& m) {
  if (m.from_journal) {
    ++resumed_mini_batches_;
    resumed_items_ += m.succeeded + m.failed;
    return;
  }
  if (m.status == MiniBatchStatus::not_processed) {
    ++final_not_processed_;
    return;
  }
  (m.status == MiniBatchStatus::succeeded ? final_succeeded_ : final_failed_) += 1;
  DoneCell& c = done_.at(latest_);
  c.items += static_cast<double>(m.succeeded + m.failed);
  c.failed_items += static_cast<double>(m.failed);
  c.mini_batches += 1;
}

inline void RunReport::progress(const JobProgress& p) {
  progress_ = p;
  latest_ = std::max(latest_, p.elapsed_seconds);
  const auto now = std::chrono::steady_clock::now();
  if (now < next_refresh_) return;
  write(nullptr);
  last_cost_ = std::chrono::steady_clock::now() - now;
  next_refresh_ =
      now + std::max<std::chrono::steady_clock::duration>(refresh_interval_, 20 * last_cost_);
}

inline void RunReport::job_ended(const JobResult& r) {
  latest_ = std::max(latest_, r.wall_seconds);
  if (write(&r)) return;
  // A page that shows the job running after its end is worse than none.
  std::error_code ec;
  const bool removed = std::filesystem::remove(files_.report(), ec);
  if (warn_)
    warn_(fmt::format("{} could not be written: {}{}", files_.report().string(), write_error_,
                      removed ? "; the page written while the job ran is removed" : ""));
}

inline bool RunReport::write(const JobResult* result) {
  try {
    AtomicFile f(files_.report());
    f.write(render(result));
    f.commit(false);
    return true;
  } catch (const std::exception& e) {
    write_error_ = e.what();  // a full disk: the next refresh retries; the job's end says so
    return false;
  }
}

// --- Reading the resource monitor's files.

/// Seconds since the epoch of "2026-11-21 22:10:00.123" (UTC), or nothing.
inline std::optional<double> parse_timestamp(std::string_view t) {
  std::tm tm{};
  int ms = 0;
  if (t.size() < 19) return std::nullopt;
  const std::string s(t);
  if (std::sscanf(s.c_str(), "%4d-%2d-%2d %2d:%2d:%2d.%3d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) < 6)
    return std::nullopt;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<double>(timegm(&tm)) + ms / 1000.0;
}

/// Field `i` of a CSV line without quotes (the resource monitor's), as a number.
inline std::optional<double> csv_number(std::string_view line, std::size_t i) {
  for (std::size_t k = 0; k < i; ++k) {
    const std::size_t comma = line.find(',');
    if (comma == std::string_view::npos) return std::nullopt;
    line.remove_prefix(comma + 1);
  }
  line = line.substr(0, line.find(','));
  double v = 0;
  auto [end, ec] = std::from_chars(line.data(), line.data() + line.size(), v);
  if (ec != std::errc() || end == line.data()) return std::nullopt;
  return v;
}

inline std::vector<RunReport::ProcessSeries> RunReport::read_performance(double& horizon) const {
  namespace fs = std::filesystem;
  std::vector<ProcessSeries> out;
  const fs::path dir = files_.performance_dir(host_);
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  const double epoch_start = std::chrono::duration<double>(start_.time_since_epoch()).count();
  // The machine first, then the job's own process, then its workers by pid.
  std::vector<std::pair<std::string, fs::path>> sources;
  const fs::path node = files_.sys_resource_monitor(host_);
  if (fs::exists(node, ec)) sources.emplace_back("node " + host_ + " (all cores)", node);
  std::vector<std::pair<long long, fs::path>> processes;
  const std::string prefix = "process_resource_monitor_" + host_ + "_";
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (!name.starts_with(prefix) || !name.ends_with(".csv")) continue;
    const std::string pid = name.substr(prefix.size(), name.size() - prefix.size() - 4);
    long long p = 0;
    auto [end, err] = std::from_chars(pid.data(), pid.data() + pid.size(), p);
    if (err == std::errc() && end == pid.data() + pid.size())
      processes.emplace_back(p, entry.path());
  }
  std::sort(processes.begin(), processes.end(), [this](const auto& x, const auto& y) {
    return std::pair(x.first != pid_, x.first) < std::pair(y.first != pid_, y.first);
  });
  for (const auto& [p, path] : processes) {
    if (sources.size() >= max_processes) break;
    sources.emplace_back(
        p == pid_ ? fmt::format("job process {}", p) : fmt::format("worker process {}", p), path);
  }
  for (const auto& [label, path] : sources) {
    const bool is_node = path == node;
    // Columns: node cpu_percent 1, memory_used_bytes 4; process cpu_percent 2, rss_bytes 3.
    const std::size_t cpu_col = is_node ? 1 : 2, mem_col = is_node ? 4 : 3;
    ProcessSeries s{label, CoarseningSeries<Sample>(series_cells, first_cell_width)};
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);  // the header
    while (std::getline(in, line)) {
      const auto t = parse_timestamp(std::string_view(line).substr(0, line.find(',')));
      if (!t) continue;
      const double at = std::max(0.0, *t - epoch_start);
      horizon = std::max(horizon, at);
      Sample& cell = s.series.at(at);
      const auto cpu = csv_number(line, cpu_col);
      const auto mem = csv_number(line, mem_col);
      if (!cpu && !mem) continue;
      cell.cpu += cpu.value_or(0);
      cell.memory = std::max(cell.memory, mem.value_or(0));
      ++cell.n;
    }
    out.push_back(std::move(s));
  }
  return out;
}

// --- Rendering.

namespace report_page {

inline constexpr std::string_view style = R"(
:root{--ok:#2e7d32;--retried:#f0a020;--failed:#c62828;--timed_out:#6a1b9a;--crashed:#212121}
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1200px;
padding:0 16px 32px;color:#1b1b1b;background:#fff}
h1{font-size:22px;margin:16px 0 4px}h2{font-size:17px;margin:24px 0 6px;border-bottom:1px solid #ddd}
.state{padding:1px 8px;border-radius:4px;color:#fff;font-size:15px}
.state.succeeded{background:var(--ok)}.state.failed{background:var(--failed)}
.state.running{background:#1565c0}
table{border-collapse:collapse;margin:4px 0}td,th{padding:2px 10px 2px 0;text-align:left;
vertical-align:top}th{font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(260px,1fr));gap:0 24px}
code,.mono{font:12px/1.4 ui-monospace,Menlo,Consolas,monospace;word-break:break-all}
.note{color:#555;font-size:13px}svg{display:block;max-width:100%;height:auto}
svg text{font:11px system-ui,sans-serif;fill:#333}.axis{stroke:#999;stroke-width:1}
.grid-line{stroke:#eee}.lane-bg{fill:#f6f6f6}
.o-succeeded{fill:var(--ok)}.o-retried{fill:var(--retried)}.o-failed{fill:var(--failed)}
.o-timed_out{fill:var(--timed_out)}.o-crashed{fill:var(--crashed)}
.legend span{display:inline-block;margin-right:14px}.legend i{display:inline-block;width:12px;
height:12px;margin-right:4px;vertical-align:-2px}
.reason{max-width:700px}
@media print{body{max-width:none;font-size:11px}h2{break-after:avoid}section{break-inside:avoid}
.noprint{display:none}a{color:inherit;text-decoration:none}}
)";

inline constexpr std::array<const char*, 8> palette = {"#1565c0", "#ef6c00", "#2e7d32", "#6a1b9a",
                                                       "#00838f", "#ad1457", "#5d4037", "#9e9d24"};

/// "15 ms", "1.50 s", "2 min 3 s", as the axis and the tables show a time.
inline std::string seconds_text(double s) {
  if (s < 1) return fmt::format("{:.0f} ms", s * 1000);
  if (s < 10) return fmt::format("{:.2f} s", s);
  if (s < 60) return fmt::format("{:.1f} s", s);
  return duration_text(s);
}

inline std::string bytes_text(double b) {
  if (b >= 1e9) return fmt::format("{:.2f} GB", b / 1e9);
  if (b >= 1e6) return fmt::format("{:.1f} MB", b / 1e6);
  if (b >= 1e3) return fmt::format("{:.1f} KB", b / 1e3);
  return fmt::format("{:.0f} B", b);
}

/// A "nice" step for about `ticks` ticks over [0, span].
inline double tick_step(double span, int ticks) {
  if (!(span > 0)) return 1;
  const double raw = span / ticks;
  for (double base = 1e-3; base < 1e12; base *= 10)
    for (double m : {1.0, 2.0, 5.0})
      if (base * m >= raw) return base * m;
  return raw;
}

/// The x axis of a chart over [0, span] seconds: ticks and labels at the bottom.
inline void time_axis(std::string& out, double span, double x0, double width, double y) {
  const double step = tick_step(span, 8);
  fmt::format_to(std::back_inserter(out),
                 "<line class=\"axis\" x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\"/>",
                 x0, y, x0 + width, y);
  for (double t = 0; t <= span * 1.0001; t += step) {
    const double x = x0 + width * t / span;
    fmt::format_to(std::back_inserter(out),
                   "<line class=\"axis\" x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" "
                   "y2=\"{2:.1f}\"/><text x=\"{0:.1f}\" y=\"{3:.1f}\" "
                   "text-anchor=\"middle\">{4}</text>",
                   x, y, y + 4, y + 16, seconds_text(t));
  }
}

/// A line chart: `lines` of (label, points (t, v)); values scaled to [0, top].
inline void line_chart(
    std::string& out, const std::string& id, const std::string& unit_label,
    const std::vector<std::pair<std::string, std::vector<std::pair<double, double>>>>& lines,
    double span, double top, const std::function<std::string(double)>& value_text) {
  const double x0 = 70, w = 1000, h = 180, y0 = 10;
  if (!(top > 0)) top = 1;
  fmt::format_to(std::back_inserter(out),
                 "<svg id=\"{}\" viewBox=\"0 0 1100 {}\" role=\"img\" aria-label=\"{}\">", id,
                 h + 50, html(unit_label));
  for (int k = 0; k <= 4; ++k) {
    const double y = y0 + h - h * k / 4.0;
    fmt::format_to(std::back_inserter(out),
                   "<line class=\"grid-line\" x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" "
                   "y2=\"{:.1f}\"/><text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\">{}</text>",
                   x0, y, x0 + w, y, x0 - 6, y + 4, html(value_text(top * k / 4.0)));
  }
  time_axis(out, span, x0, w, y0 + h);
  std::size_t i = 0;
  for (const auto& [label, points] : lines) {
    const char* colour = palette[i++ % palette.size()];
    out += "<polyline fill=\"none\" stroke-width=\"1.5\" stroke=\"";
    out += colour;
    out += "\" points=\"";
    for (const auto& [t, v] : points)
      fmt::format_to(std::back_inserter(out), "{:.1f},{:.1f} ", x0 + w * t / span,
                     y0 + h - h * std::min(v, top) / top);
    out += "\"><title>";
    append_html(out, label);
    out += "</title></polyline>";
  }
  out += "</svg><div class=\"legend\">";
  i = 0;
  for (const auto& line : lines) {
    fmt::format_to(std::back_inserter(out), "<span><i style=\"background:{}\"></i>{}</span>",
                   palette[i++ % palette.size()], html(line.first));
  }
  out += "</div>";
}

inline void row(std::string& out, std::string_view name, std::string_view id,
                const std::string& value) {
  out += "<tr><th>";
  append_html(out, name);
  out += "</th><td class=\"n\"";
  if (!id.empty()) fmt::format_to(std::back_inserter(out), " id=\"{}\"", id);
  out += ">";
  append_html(out, value);
  out += "</td></tr>";
}

}  // namespace report_page

inline std::string RunReport::render(const JobResult* r) const {
  using namespace report_page;
  double horizon = latest_;
  if (r != nullptr) horizon = std::max(horizon, r->wall_seconds);
  std::string out;
  out.reserve(256 << 10);
  const std::string state = r == nullptr ? "running" : r->succeeded ? "succeeded" : "failed";
  out +=
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
      "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  // While the job runs the page reloads itself, as report.html is rewritten.
  if (r == nullptr) out += "<meta http-equiv=\"refresh\" content=\"10\">\n";
  fmt::format_to(std::back_inserter(out), "<title>{} {}: parallel_run report</title>\n",
                 html(name_), state);
  out += "<style>";
  out += style;
  out += "</style></head>\n<body data-state=\"";
  out += state;
  out += "\">\n";
  summary(out, r);
  timeline(out, horizon);
  throughput(out, horizon);
  resources(out, horizon);
  failures(out, r);
  slowest(out);
  settings(out);
  fmt::format_to(std::back_inserter(out),
                 "<p class=\"note\">Written by parallel_run {} at {} UTC{}. The attempts are also "
                 "in <a href=\"trace.json\">trace.json</a> (open it in Perfetto or "
                 "chrome://tracing).</p>\n",
                 version_string, timestamp(),
                 r == nullptr ? "; rewritten every few seconds while the job runs" : "");
  // The page checks itself: what it draws, errors, and whether anything was fetched (the
  // browser test reads these attributes from the DOM).
  out +=
      "<div id=\"page-check\" hidden></div>\n<script>\n"
      "(function(){var c=document.getElementById('page-check');var errors=[];\n"
      "window.addEventListener('error',function(e){errors.push(String(e.message));"
      "c.setAttribute('data-errors',errors.join(' | '));});\n"
      "c.setAttribute('data-errors','');\n"
      "c.setAttribute('data-bars',document.querySelectorAll('#timeline rect.bar').length);\n"
      "c.setAttribute('data-slices',document.querySelectorAll('#timeline rect.slice')."
      "length);\n"
      "c.setAttribute('data-resources',performance.getEntriesByType('resource').length);\n"
      "c.setAttribute('data-ready','yes');})();\n</script>\n</body></html>\n";
  return out;
}

inline void RunReport::summary(std::string& out, const JobResult* r) const {
  using report_page::row;
  const std::string state = r == nullptr ? "running" : r->succeeded ? "succeeded" : "failed";
  fmt::format_to(std::back_inserter(out),
                 "<h1>Job <span id=\"job-name\">{}</span> <span class=\"state {}\" "
                 "id=\"job-state\">{}</span></h1>\n",
                 html(name_), state, state);
  fmt::format_to(std::back_inserter(out), "<p class=\"note\">on {} (process {}), started {} UTC",
                 html(host_), pid_, timestamp(start_));
  if (r != nullptr)
    fmt::format_to(std::back_inserter(out), ", ended after {}",
                   report_page::seconds_text(r->wall_seconds));
  out += "</p>\n<section id=\"summary\"><h2>Summary</h2>\n";
  if (r != nullptr) {
    out += "<p>Result: <code id=\"result-line\">";
    append_html(out, r->summary());
    out += "</code></p>\n";
    if (!r->succeeded) {
      out += "<p>Reason: <code id=\"failure-reason\">";
      append_html(out, r->failure_reason);
      out += "</code></p>\n";
    }
    if (r->interrupted_by != 0)
      fmt::format_to(std::back_inserter(out), "<p>Interrupted by signal {}.</p>\n",
                     r->interrupted_by);
  }
  // The numbers: the JobResult's at the end (they equal job_result.txt), the last progress
  // event's while the job runs.
  JobProgress p = progress_.value_or(JobProgress{});
  std::size_t items_total = p.items_succeeded + p.items_failed + p.items_not_processed;
  std::size_t mb_total = p.mini_batches_created;
  std::size_t retries = outcomes_[static_cast<std::size_t>(AttemptOutcome::retried)];
  std::size_t attempts = attempts_, timeouts = 0;
  double wall = latest_;
  if (r != nullptr) {
    p.items_succeeded = r->items_succeeded;
    p.items_failed = r->items_failed;
    p.items_not_processed = r->items_not_processed;
    p.mini_batches_succeeded = r->mini_batches_succeeded;
    p.mini_batches_failed = r->mini_batches_failed;
    p.mini_batches_not_processed = r->mini_batches_not_processed;
    items_total = r->items_total;
    mb_total = r->mini_batches_total;
    attempts = r->attempts;
    retries = r->retries;
    timeouts = r->timeouts;
    wall = r->wall_seconds;
  } else {
    timeouts = timeouts_;
  }
  out += "<div class=\"grid\"><table><tr><th colspan=\"2\">Items</th></tr>";
  row(out, "total", "items_total", std::to_string(items_total));
  row(out, "succeeded", "items_succeeded", std::to_string(p.items_succeeded));
  row(out, "failed", "items_failed", std::to_string(p.items_failed));
  row(out, "not processed", "items_not_processed", std::to_string(p.items_not_processed));
  out += "</table><table><tr><th colspan=\"2\">Mini-batches</th></tr>";
  row(out, "total", "mini_batches_total", std::to_string(mb_total));
  row(out, "succeeded", "mini_batches_succeeded", std::to_string(p.mini_batches_succeeded));
  row(out, "failed", "mini_batches_failed", std::to_string(p.mini_batches_failed));
  row(out, "not processed", "mini_batches_not_processed",
      std::to_string(p.mini_batches_not_processed));
  out += "</table><table><tr><th colspan=\"2\">Attempts</th></tr>";
  row(out, "attempts", "attempts", std::to_string(attempts));
  row(out, "retries", "retries", std::to_string(retries));
  row(out, "timeouts", "timeouts", std::to_string(timeouts));
  if (r != nullptr) row(out, "init failures", "init_failures", std::to_string(r->init_failures));
  out += "</table><table><tr><th colspan=\"2\">Time</th></tr>";
  row(out, "wall time", "wall_seconds", fmt::format("{:.3f} s", wall));
  const std::size_t items_done = p.items_succeeded + p.items_failed;
  const std::size_t mb_done = p.mini_batches_succeeded + p.mini_batches_failed;
  if (wall > 0) {
    row(out, "items per second", "items_per_second",
        fmt::format("{:.1f}",
                    static_cast<double>(items_done - std::min(items_done, resumed_items_)) / wall));
    row(out, "mini-batches per second", "mini_batches_per_second",
        fmt::format(
            "{:.2f}",
            static_cast<double>(mb_done - std::min(mb_done, resumed_mini_batches_)) / wall));
  }
  out += "</table></div>\n";
  if (resumed_mini_batches_ > 0)
    fmt::format_to(std::back_inserter(out),
                   "<p id=\"resumed\">Resumed: <b>{}</b> mini-batches (<b>{}</b> items) were kept "
                   "from the earlier run and not run again; they count in the numbers above but "
                   "have no bars in the timeline.</p>\n",
                   resumed_mini_batches_, resumed_items_);
  out += "</section>\n";
}

inline void RunReport::timeline(std::string& out, double horizon) const {
  using namespace report_page;
  out += "<section id=\"timeline\"><h2>Timeline</h2>\n<div class=\"legend\">";
  for (std::size_t i = 0; i < attempt_outcomes; ++i)
    fmt::format_to(std::back_inserter(out),
                   "<span><i class=\"o-{0}\" style=\"background:var(--{1})\"></i>{0} "
                   "({2})</span>",
                   attempt_outcome_names[i], i == 0 ? "ok" : attempt_outcome_names[i],
                   outcomes_[i]);
  out +=
      "<span class=\"note\">retried: the attempt failed, timed out or crashed and its "
      "mini-batch was tried again; the others are the last attempt of theirs</span></div>\n";
  if (lanes_.empty()) {
    out += "<p class=\"note\">No attempt has ended yet.</p></section>\n";
    return;
  }
  const bool aggregated = attempts_ > bars_.size();
  if (aggregated)
    fmt::format_to(std::back_inserter(out),
                   "<p class=\"note\" id=\"timeline-aggregated\">{} attempts: more than a "
                   "screen can show one by one, so each lane is drawn in {} time slices of "
                   "{} (height: how busy the worker was; colour: the outcome that took most of "
                   "its time). The first {} attempts that did not succeed are drawn one by one "
                   "over them; every attempt is in trace.json.</p>\n",
                   attempts_, lane_cells, seconds_text(cells_.front().width()), max_marked);
  const double span = std::max(horizon, 1e-3);
  const double x0 = 170, w = 900, lane_h = 18, top = 4;
  const double height = top + lane_h * static_cast<double>(lanes_.size()) + 24;
  fmt::format_to(std::back_inserter(out),
                 "<svg viewBox=\"0 0 1100 {:.0f}\" role=\"img\" aria-label=\"timeline\">", height);
  for (std::size_t l = 0; l < lanes_.size(); ++l) {
    const double y = top + lane_h * static_cast<double>(l);
    fmt::format_to(std::back_inserter(out),
                   "<rect class=\"lane-bg\" x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" "
                   "height=\"{:.1f}\"/><text x=\"{:.1f}\" y=\"{:.1f}\" "
                   "text-anchor=\"end\">{}</text>",
                   x0, y + 1, w, lane_h - 2, x0 - 6, y + 13, html(lanes_[l].label));
  }
  time_axis(out, span, x0, w, top + lane_h * static_cast<double>(lanes_.size()) + 2);
  // Over the slices, a failed attempt is drawn at least 2 units wide, so that it shows.
  const double min_width = aggregated ? 2.0 : 0.5;
  auto draw = [&](const Bar& b) {
    const double x = x0 + w * b.start / span;
    const double bw = std::max(min_width, w * (b.end - b.start) / span);
    const double y = top + lane_h * static_cast<double>(b.lane) + 2;
    const char* o = attempt_outcome_names[static_cast<std::size_t>(b.outcome)];
    fmt::format_to(std::back_inserter(out),
                   "<rect class=\"bar o-{}\" x=\"{:.2f}\" y=\"{:.1f}\" width=\"{:.2f}\" "
                   "height=\"{:.1f}\" data-mini-batch=\"{}\" data-attempt=\"{}\"><title>",
                   o, x, y, bw, lane_h - 6, b.mini_batch, b.attempt);
    fmt::format_to(
        std::back_inserter(out),
        "mini-batch {}, attempt {}: {}{}\nworker {}, pid {}\nfirst: {}\nlast: {}\n"
        "{} to {} ({})\nitems {}, succeeded {}, failed {}",
        b.mini_batch, b.attempt, to_string(b.status),
        b.outcome == AttemptOutcome::retried ? " (retried)" : "", b.worker, b.pid,
        html(b.first_key), html(b.last_key),
        timestamp(start_ + std::chrono::duration_cast<std::chrono::system_clock::duration>(
                               std::chrono::duration<double>(b.start))),
        timestamp(start_ + std::chrono::duration_cast<std::chrono::system_clock::duration>(
                               std::chrono::duration<double>(b.end))),
        seconds_text(b.end - b.start), b.items, b.succeeded, b.failed);
    if (!b.reason.empty()) {
      out += "\nreason: ";
      append_html(out, b.reason);
    }
    out += "</title></rect>";
  };
  if (!aggregated) {
    for (const Bar& b : bars_)
      draw(b);
  } else {
    for (std::size_t l = 0; l < lanes_.size(); ++l) {
      const auto& s = cells_[l];
      const double cw = s.width();
      for (std::size_t i = 0; i < s.cells().size(); ++i) {
        const LaneCell& c = s.cells()[i];
        double busy = 0;
        std::uint32_t n = 0;
        std::size_t most = 0;  // the outcome that took most of the slice's time
        for (std::size_t k = 0; k < attempt_outcomes; ++k) {
          busy += c.busy[k];
          n += c.count[k];
          if (c.busy[k] > c.busy[most]) most = k;
        }
        if (busy <= 0 && n == 0) continue;
        const double t0 = static_cast<double>(i) * cw;
        if (t0 >= span) break;
        const double frac = std::min(1.0, busy / cw);
        const double full = lane_h - 6;
        const double bh = std::max(1.5, full * frac);
        const double y = top + lane_h * static_cast<double>(l) + 2 + (full - bh);
        fmt::format_to(std::back_inserter(out),
                       "<rect class=\"slice o-{}\" x=\"{:.2f}\" y=\"{:.2f}\" width=\"{:.2f}\" "
                       "height=\"{:.2f}\"><title>{}, {} to {}: {} attempts started",
                       attempt_outcome_names[most], x0 + w * t0 / span, y,
                       std::max(0.5, w * std::min(cw, span - t0) / span), bh, html(lanes_[l].label),
                       seconds_text(t0), seconds_text(t0 + cw), n);
        for (std::size_t k = 0; k < attempt_outcomes; ++k)
          if (c.count[k] > 0)
            fmt::format_to(std::back_inserter(out), ", {} {}", c.count[k],
                           attempt_outcome_names[k]);
        fmt::format_to(std::back_inserter(out), "; busy {:.0f}%</title></rect>", 100 * frac);
      }
    }
    for (const Bar& b : marked_)
      draw(b);
  }
  out += "</svg></section>\n";
}

inline void RunReport::throughput(std::string& out, double horizon) const {
  using namespace report_page;
  out += "<section id=\"progress\"><h2>Throughput and progress</h2>\n";
  const double span = std::max(horizon, 1e-3);
  const double cw = done_.width();
  std::vector<std::pair<double, double>> rate, cumulative;
  double sum = static_cast<double>(resumed_items_), top_rate = 0;
  cumulative.emplace_back(0, sum);
  for (std::size_t i = 0; i < done_.cells().size(); ++i) {
    const double t0 = static_cast<double>(i) * cw;
    if (t0 > span) break;
    // The last cell may be only partly over: its rate is over the part that is.
    const double r = done_.cells()[i].items / std::max(1e-9, std::min(cw, span - t0));
    rate.emplace_back(std::min(span, t0 + cw / 2), r);
    top_rate = std::max(top_rate, r);
    sum += done_.cells()[i].items;
    cumulative.emplace_back(std::min(span, t0 + cw), sum);
  }
  fmt::format_to(std::back_inserter(out),
                 "<p class=\"note\">Items finished (succeeded or failed) per second, averaged "
                 "over {}; then all items finished so far{}.</p>\n",
                 seconds_text(cw),
                 resumed_items_ > 0 ? fmt::format(" (starting at the {} items kept from the "
                                                  "earlier run)",
                                                  resumed_items_)
                                    : std::string());
  auto number = [](double v) { return fmt::format("{:.4g}", v); };
  line_chart(out, "chart-throughput", "items per second", {{"items per second", rate}}, span,
             top_rate * 1.1, number);
  line_chart(out, "chart-progress", "items finished", {{"items finished", cumulative}}, span,
             std::max(1.0, sum) * 1.05, number);
  out += "</section>\n";
}

inline void RunReport::resources(std::string& out, double horizon) const {
  using namespace report_page;
  out += "<section id=\"resources\"><h2>CPU and memory</h2>\n";
  const std::vector<ProcessSeries> perf = read_performance(horizon);
  if (perf.empty()) {
    fmt::format_to(std::back_inserter(out),
                   "<p class=\"note\">No samples in {} (resource_monitor_interval 0, or a job "
                   "shorter than one sample).</p></section>\n",
                   html(files_.performance_dir(host_).string()));
    return;
  }
  const double span = std::max(horizon, 1e-3);
  std::vector<std::pair<std::string, std::vector<std::pair<double, double>>>> cpu, memory;
  double top_cpu = 100, top_memory = 0;
  for (const ProcessSeries& p : perf) {
    std::vector<std::pair<double, double>> c, m;
    const double cw = p.series.width();
    for (std::size_t i = 0; i < p.series.cells().size(); ++i) {
      const Sample& s = p.series.cells()[i];
      if (s.n == 0) continue;
      const double t = std::min(span, (static_cast<double>(i) + 0.5) * cw);
      c.emplace_back(t, s.cpu / s.n);
      m.emplace_back(t, s.memory);
      top_cpu = std::max(top_cpu, s.cpu / s.n);
      top_memory = std::max(top_memory, s.memory);
    }
    cpu.emplace_back(p.label, std::move(c));
    memory.emplace_back(p.label, std::move(m));
  }
  fmt::format_to(std::back_inserter(out),
                 "<p class=\"note\">From {} : CPU in percent of one core for a process, of all "
                 "cores for the node; memory: resident (RSS) for a process, used for the "
                 "node.</p>\n",
                 html(files_.performance_dir(host_).string()));
  line_chart(out, "chart-cpu", "CPU percent", cpu, span, top_cpu * 1.05,
             [](double v) { return fmt::format("{:.0f}%", v); });
  line_chart(out, "chart-memory", "memory", memory, span, top_memory * 1.05,
             [](double v) { return bytes_text(v); });
  out += "</section>\n";
}

inline void RunReport::failures(std::string& out, const JobResult* r) const {
  out += "<section id=\"failures\"><h2>Failures</h2>\n";
  std::size_t categories = 0;
  if (digest_ != nullptr) {
    out +=
        "<table id=\"failure-categories\"><tr><th>category</th><th>count</th><th>first "
        "examples</th></tr>";
    digest_->for_each_category(
        [&](const std::string& name, std::size_t count, const std::vector<std::string>& examples) {
          ++categories;
          fmt::format_to(std::back_inserter(out),
                         "<tr><td>{}</td><td class=\"n\">{}</td><td "
                         "class=\"mono reason\">",
                         html(name), count);
          for (const std::string& e : examples) {
            append_html(out, shortened(e, reason_chars));
            out += "<br>";
          }
          out += "</td></tr>";
        });
    out += "</table>\n";
  }
  if (digest_ != nullptr && categories == 0) out += "<p>Nothing failed.</p>\n";
  const std::vector<FailedItemRecord>* first = r != nullptr         ? &r->first_failures
                                               : digest_ != nullptr ? &digest_->first_failures()
                                                                    : nullptr;
  if (first != nullptr && !first->empty()) {
    out +=
        "<h3>First failed items</h3><table id=\"first-failures\"><tr><th>item</th>"
        "<th>mini-batch</th><th>reason</th></tr>";
    for (const FailedItemRecord& f : *first)
      fmt::format_to(std::back_inserter(out),
                     "<tr><td class=\"mono\">{}</td><td class=\"n\">{}</td><td class=\"mono "
                     "reason\">{}</td></tr>",
                     html(shortened(f.key, key_chars)), f.mini_batch,
                     html(shortened(f.reason, reason_chars)));
    out += "</table>\n";
  }
  if (categories > 0 || (r != nullptr && !r->succeeded)) {
    // Links relative to this page: the files lie beside it.
    out +=
        "<p>Files to open: <a href=\"failed_items.csv\">failed_items.csv</a> (every failed "
        "item and its reason), <a href=\"job_error.txt\">job_error.txt</a> (by category), "
        "<a href=\"processed_mini-batches.csv\">processed_mini-batches.csv</a> (every "
        "attempt), <a href=\"master.txt\">master.txt</a> (the job's log)";
    if (!marked_.empty()) {
      const Bar& b = marked_.front();
      fmt::format_to(std::back_inserter(out),
                     "; the first failed attempt's worker: <a href=\"worker/{0}/process-{1}.txt\">"
                     "worker/{0}/process-{1}.txt</a> and its own log <a "
                     "href=\"user/{0}/worker-{1}.txt\">user/{0}/worker-{1}.txt</a>",
                     html(host_), b.worker);
      // A worker process: what it printed (a crash's last words) is in a file of its own.
      if (b.pid != pid_)
        fmt::format_to(std::back_inserter(out),
                       ", what it printed <a href=\"user/stdout/{0}/process-{1}.txt\">"
                       "user/stdout/{0}/process-{1}.txt</a>",
                       html(host_), b.worker);
    }
    out += ".</p>\n";
    if (r != nullptr && !r->first_failures.empty() && !command_line_.empty()) {
      out += "<p>To rerun the mini-batch of the first failed item alone: <code>";
      append_html(out, rerun_command(command_line_, r->first_failures.front().mini_batch));
      out += "</code></p>\n";
    }
  }
  out += "</section>\n";
}

inline void RunReport::slowest(std::string& out) const {
  out += "<section id=\"slowest\"><h2>Slowest attempts</h2>\n";
  if (slowest_.empty()) {
    out += "<p class=\"note\">None yet.</p></section>\n";
    return;
  }
  std::vector<Bar> sorted = slowest_;
  std::sort(sorted.begin(), sorted.end(),
            [](const Bar& x, const Bar& y) { return x.end - x.start > y.end - y.start; });
  out +=
      "<table id=\"slowest-table\"><tr><th>mini-batch</th><th>attempt</th><th>time</th>"
      "<th>status</th><th>worker</th><th>items</th><th>first key</th><th>last key</th></tr>";
  for (const Bar& b : sorted)
    fmt::format_to(std::back_inserter(out),
                   "<tr><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>"
                   "<td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td "
                   "class=\"mono\">{}</td><td class=\"mono\">{}</td></tr>",
                   b.mini_batch, b.attempt, report_page::seconds_text(b.end - b.start),
                   to_string(b.status), b.worker, b.items, html(b.first_key), html(b.last_key));
  out += "</table></section>\n";
}

inline void RunReport::settings(std::string& out) const {
  out += "<section id=\"settings\"><h2>Settings</h2>\n";
  if (!command_line_.empty()) {
    out += "<p>Command line: <code id=\"command-line\">";
    append_html(out, command_line_);
    out += "</code></p>\n";
  }
  out += "<table class=\"mono\">";
  for (const auto& [key, value] : settings_) {
    out += "<tr><th>";
    append_html(out, key);
    out += "</th><td>";
    append_html(out, value);
    out += "</td></tr>";
  }
  out += "</table></section>\n";
}

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
