// Progress on stderr, an observer of the job's events: on a terminal one live line, redrawn
// as mini-batches end (at most 4 times a second) and every time the coordinator reports
// progress; otherwise a plain line every few seconds on stderr (at INFO) and in master.txt.
// Tables are measured by bytes, files by mini-batches; while the input is still being listed
// the total is unknown, and the line says so instead of guessing, until the listing knows
// what is left (JobProgress::mini_batches_expected, for tables too).
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/config.hpp"
#include "parallel_run/job_result.hpp"
#include "parallel_run/observer.hpp"
#include "parallel_run/detail/counted.hpp"
#include "parallel_run/detail/leveled_log.hpp"

#include <fmt/format.h>

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <string_view>

PARALLEL_RUN_BEGIN_NAMESPACE
namespace detail {

/// The mode `configured` means here: automatic is a bar when stderr is a terminal that can
/// redraw a line, lines otherwise.
inline ProgressMode resolve_progress_mode(ProgressMode configured) {
  if (configured != ProgressMode::automatic) return configured;
  const char* term = std::getenv("TERM");
  const bool smart_terminal = term != nullptr && std::string_view(term) != "dumb";
  return ::isatty(STDERR_FILENO) == 1 && smart_terminal ? ProgressMode::bar : ProgressMode::lines;
}

/// "1.5 GB", "320.0 MB", "12 B".
inline std::string human_bytes(std::uint64_t n) {
  static constexpr const char* units[] = {"B", "KB", "MB", "GB", "TB"};
  double v = static_cast<double>(n);
  std::size_t u = 0;
  while (v >= 1024 && u + 1 < std::size(units)) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{} B", n) : fmt::format("{:.1f} {}", v, units[u]);
}

/// "45s", "12m05s", "3h07m".
inline std::string human_duration(double seconds) {
  const auto s = static_cast<std::int64_t>(seconds + 0.5);
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
}

/// Where a job stands, counted from its events.
struct ProgressCounts {
  std::size_t created = 0, done = 0, failed = 0, running = 0;
  std::size_t items_succeeded = 0, items_failed = 0;
  // Listed once the job stopped (a threshold, a signal): neither done nor failed.
  std::size_t not_processed = 0, items_not_processed = 0;
  std::uint64_t bytes_created = 0, bytes_done = 0;
  // Of the done ones, kept from the earlier run (a resume): they took none of this run's time.
  std::size_t resumed = 0, items_resumed = 0;
  std::uint64_t bytes_resumed = 0;
  bool listing_done = false;
  std::size_t expected = 0;  // while listing: the total, when known ahead (JobProgress)
  double elapsed = 0;

  /// Mini-batches in all: created once the listing is done, else the expected total (0:
  /// unknown).
  std::size_t total() const { return listing_done ? created : std::max(expected, created); }

  /// Done as a fraction of all the work, or a negative number while the total is unknown.
  /// A table's bytes are all known once every mini-batch is cut; before that, with the
  /// expected total, its mini-batches count (each is about mini_batch_size bytes).
  double fraction() const {
    if (!listing_done && expected == 0) return -1;
    if (listing_done && bytes_created > 0)
      return static_cast<double>(bytes_done) / static_cast<double>(bytes_created);
    return total() == 0 ? 1.0 : static_cast<double>(done) / static_cast<double>(total());
  }

  /// The part of fraction() that the earlier run did (kept by a resume).
  double resumed_fraction() const {
    if (listing_done && bytes_created > 0)
      return static_cast<double>(bytes_resumed) / static_cast<double>(bytes_created);
    return total() == 0 ? 0.0 : static_cast<double>(resumed) / static_cast<double>(total());
  }

  /// The progress line's text (without "parallel_run: progress: ").
  std::string text() const {
    std::string t;
    const double f = fraction();
    if (f < 0)
      t = fmt::format("{} of {} mini-batches so far (listing the input)", done, created);
    else
      t = fmt::format("{}/{} mini-batches ({:.1f}%)", done, total(), 100 * f);
    if (bytes_created > 0)
      t += !listing_done
               ? fmt::format(", {} of {} so far", human_bytes(bytes_done),
                             human_bytes(bytes_created))
               : fmt::format(", {} of {}", human_bytes(bytes_done), human_bytes(bytes_created));
    t += fmt::format(", {} items done", items_succeeded + items_failed);
    if (resumed > 0) t += fmt::format(" ({} kept from the earlier run)", items_resumed);
    if (items_failed > 0 || failed > 0)
      t += fmt::format(" ({} failed, {} failed)", counted(items_failed, "item"),
                       counted(failed, "mini-batch"));
    if (not_processed > 0)
      t += fmt::format(", {} not processed ({}: the job stopped)",
                       counted(items_not_processed, "item"), counted(not_processed, "mini-batch"));
    // Rates and the ETA are this run's own: kept mini-batches took none of its time.
    const std::size_t items = items_succeeded + items_failed;
    if (elapsed > 0)
      t += fmt::format(", {:.1f} items/s",
                       static_cast<double>(items - std::min(items, items_resumed)) / elapsed);
    t += fmt::format(", {} running, elapsed {}", running, human_duration(elapsed));
    const double ran = f - resumed_fraction();
    if (f > 0 && f < 1 && ran > 0 && not_processed == 0)
      t += fmt::format(", ETA {}", human_duration(elapsed * (1 - f) / ran));
    return t;
  }
};

class ProgressDisplay final : public JobObserver {
 public:
  /// `record` writes a line to master.txt (lines mode). Seconds between plain lines:
  /// `line_every`, a multiple of the coordinator's progress events (every 2 s), so that the
  /// lines come as often as it says.
  ProgressDisplay(ProgressMode mode, LoggingLevel level, std::function<void(std::string)> record,
                  double line_every = 6.0)
      : mode_(resolve_progress_mode(mode)),
        echo_lines_(level != LoggingLevel::warning),
        record_(std::move(record)),
        line_every_(line_every) {}

  ProgressMode mode() const noexcept { return mode_; }

  /// Before anything else writes to stderr: the live line is wiped (and redrawn later).
  void clear_line() {
    if (mode_ != ProgressMode::bar || !drawn_) return;
    std::fputs("\r\x1b[K", stderr);
    std::fflush(stderr);
    drawn_ = false;
  }

  void job_started(const JobInfo&) override { start_ = std::chrono::steady_clock::now(); }
  void mini_batch_created(const MiniBatchInfo& m) override {
    ++c_.created;
    c_.bytes_created += m.bytes;
  }
  void attempt_started(const AttemptInfo&) override { ++c_.running; }
  void attempt_ended(const AttemptInfo&) override {
    if (c_.running > 0) --c_.running;
  }
  void mini_batch_final(const MiniBatchFinal& f) override {
    if (f.status == MiniBatchStatus::not_processed) {
      ++c_.not_processed;
      c_.items_not_processed += f.failed + f.succeeded;
      return;
    }
    ++c_.done;
    c_.bytes_done += f.mini_batch.bytes;
    if (f.from_journal) {
      ++c_.resumed;
      c_.items_resumed += f.succeeded + f.failed;
      c_.bytes_resumed += f.mini_batch.bytes;
    }
    if (f.status != MiniBatchStatus::succeeded) ++c_.failed;
    c_.items_succeeded += f.succeeded;
    c_.items_failed += f.failed;
    if (mode_ == ProgressMode::bar && since(last_draw_) >= 0.25) draw();
  }
  void progress(const JobProgress& p) override {
    c_.listing_done = p.listing_done;
    c_.expected = p.mini_batches_expected;
    c_.running = p.attempts_running;
    if (mode_ == ProgressMode::bar) {
      draw();
    } else if (mode_ == ProgressMode::lines && since(last_line_) >= line_every_ - 0.5 &&
               since(start_) >= line_every_ - 0.5) {  // an event may come a little early
      last_line_ = std::chrono::steady_clock::now();
      const std::string line = "progress: " + update().text();
      if (record_) record_(line);
      if (echo_lines_) echo_to_stderr("parallel_run: " + line + "\n");
    }
  }
  void job_ended(const JobResult&) override {
    if (mode_ != ProgressMode::bar) return;
    // The last state stays on screen; what is printed next starts on a line of its own.
    c_.listing_done = true;
    c_.running = 0;
    draw();
    std::fputs("\n", stderr);
    std::fflush(stderr);
    drawn_ = false;
  }

  /// The current counts (for tests and the line).
  const ProgressCounts& counts() const noexcept { return c_; }

 private:
  double since(std::chrono::steady_clock::time_point t) const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
  }
  const ProgressCounts& update() {
    c_.elapsed = since(start_);
    return c_;
  }

  void draw() {
    last_draw_ = std::chrono::steady_clock::now();
    const ProgressCounts& c = update();
    const double f = c.fraction();
    constexpr int width = 20;
    std::string bar = "[";
    if (f < 0) {
      bar += "listing...";
      bar.append(width - 10, ' ');
    } else {
      const int filled = static_cast<int>(f * width + 1e-9);
      bar.append(static_cast<std::size_t>(filled), '#');
      bar.append(static_cast<std::size_t>(width - filled), '.');
    }
    bar += "] ";
    std::string line = bar + escape_control(c.text());
    // One line only: cut to the terminal's width, so the carriage return redraws all of it.
    winsize ws{};
    if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1 && line.size() >= ws.ws_col)
      line.resize(ws.ws_col - 1u);
    echo_to_stderr("\r" + line + "\x1b[K");
    std::fflush(stderr);
    drawn_ = true;
  }

  ProgressMode mode_;
  bool echo_lines_;
  std::function<void(std::string)> record_;
  double line_every_;
  ProgressCounts c_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_draw_{}, last_line_{};
  bool drawn_ = false;
};

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
