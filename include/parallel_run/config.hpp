// Config: every setting of a job, with the service's names and defaults, and validate(),
// which throws a ConfigError naming the setting, the value and the allowed range.
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/errors.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

PARALLEL_RUN_BEGIN_NAMESPACE

/// What append_row does with the results: one output file, or counts only.
enum class OutputAction { append_row, summary_only };
/// Verbosity of the job logs (logs/master.txt) and of the scorer's log.
enum class LoggingLevel { warning, info, debug };
/// Where the workers run. Threads share the process: timeouts are cooperative. Processes
/// isolate crashes, and a timeout kills the worker (see docs/design.md).
enum class Backend { thread, process };
/// How the job shows its progress on stderr: `automatic` is a live line on a terminal and a
/// plain line every few seconds otherwise (also in master.txt); `none` shows nothing.
enum class ProgressMode { automatic, bar, lines, none };
/// What a run does with the journal an earlier run left in the output folder (see
/// docs/design.md, "The journal"):
///   fresh         a new run; an earlier run that ended is replaced, one whose process died
///                 (killed, crashed) is kept: the job refuses to start and says how to go on;
///   resume        continue the earlier run: its finished mini-batches are not run again;
///   retry_failed  as resume, and every mini-batch holding a failed item runs again too;
///   restart       a new run, whatever the earlier one left.
enum class ResumeMode { fresh, resume, retry_failed, restart };
/// How the journal knows an input again: metadata (unchanged when its ctime, stamped by any
/// change, is not after the start of the run that read it; no system call while the job runs;
/// a side input by size and modification time), or content (a hash of its bytes: reads every
/// input once more).
enum class FingerprintMode { metadata, content };

namespace detail {
/// Parses a size as the service writes it: `^\d+([kKmMgG][bB])?$`, KB = 1024. Throws
/// ConfigError naming `setting` and the text.
inline std::int64_t parse_byte_size(const char* setting, std::string_view text) {
  auto bad = [&] {
    return ConfigError(setting, fmt::format("{} must be a size like 1024, 1024KB, 10MB or 1GB "
                                            "(^\\d+([kKmMgG][bB])?$), got '{}'",
                                            setting, text));
  };
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9')
    ++digits;
  if (digits == 0 || digits > 15) throw bad();
  std::int64_t value = 0;
  for (std::size_t i = 0; i < digits; ++i)
    value = value * 10 + (text[i] - '0');
  std::string_view unit = text.substr(digits);
  int shift = 0;
  if (!unit.empty()) {
    if (unit.size() != 2 || (unit[1] != 'b' && unit[1] != 'B')) throw bad();
    switch (unit[0]) {
      case 'k':
      case 'K':
        shift = 10;
        break;
      case 'm':
      case 'M':
        shift = 20;
        break;
      case 'g':
      case 'G':
        shift = 30;
        break;
      default:
        throw bad();
    }
  }
  if (value > (std::int64_t{1} << 40) >> shift)
    throw ConfigError(setting, fmt::format("{} must be at most 1024GB, got '{}'", setting, text));
  return value << shift;
}
}  // namespace detail

/// mini_batch_size: a count of files (file inputs) or a size in bytes (tables), set from a
/// number (`= 20`) or from text as the service writes it (`= "10MB"`). Unset, it is the
/// service's default: 10 files, or 1MB of a table.
class MiniBatchSize {
 public:
  MiniBatchSize() = default;
  MiniBatchSize(std::int64_t count) : text_(std::to_string(count)), count_(count) {}  // NOLINT
  MiniBatchSize(int count) : MiniBatchSize(static_cast<std::int64_t>(count)) {}       // NOLINT
  MiniBatchSize(std::string text) : text_(std::move(text)) {                          // NOLINT
    if (!text_.empty() && text_.find_first_not_of("0123456789") == std::string::npos &&
        text_.size() <= 18)
      count_ = std::stoll(text_);
  }
  MiniBatchSize(const char* text) : MiniBatchSize(std::string(text)) {}  // NOLINT

  /// Not set: the default for the input kind applies.
  bool is_default() const noexcept { return text_.empty(); }
  /// As given ("10MB", "20"), or "" when not set.
  const std::string& text() const noexcept { return text_; }

  /// The number of files per mini-batch. Throws ConfigError unless it is a count in
  /// [1, INT_MAX].
  std::int64_t files() const {
    if (is_default()) return 10;
    if (!count_)
      throw ConfigError("mini_batch_size",
                        fmt::format("mini_batch_size counts files for file inputs and must be an "
                                    "integer in [1, 2147483647], got '{}'",
                                    text_));
    if (*count_ < 1 || *count_ > INT_MAX)
      throw ConfigError(
          "mini_batch_size",
          fmt::format("mini_batch_size must be an integer in [1, 2147483647], got {}", *count_));
    return *count_;
  }
  /// The bytes per mini-batch of a table. Throws ConfigError naming the value.
  std::int64_t bytes() const {
    if (is_default()) return std::int64_t{1} << 20;
    std::int64_t b = detail::parse_byte_size("mini_batch_size", text_);
    if (b < 1)
      throw ConfigError("mini_batch_size",
                        fmt::format("mini_batch_size must be at least 1 byte, got '{}'", text_));
    return b;
  }
  /// Valid for one kind of input or the other (the kind is not known yet: text that fits
  /// neither is told what each kind takes).
  void check() const {
    if (is_default()) return;
    if (count_) {
      files();
      return;
    }
    if (!text_.empty() && text_.find_first_not_of("0123456789kKmMgGbB") == std::string::npos &&
        text_.find_first_of("0123456789") == 0) {
      bytes();  // a size (or one too large: that message says so)
      return;
    }
    throw ConfigError("mini_batch_size",
                      fmt::format("mini_batch_size must be a number of files for file inputs "
                                  "(an integer in [1, 2147483647]) or a size for tables, like "
                                  "1024, 1024KB, 10MB or 1GB (^\\d+([kKmMgG][bB])?$), got '{}'",
                                  text_));
  }

  friend bool operator==(const MiniBatchSize& a, std::int64_t b) {
    return a.is_default() ? b == 10 : a.count_ == b;
  }
  friend bool operator==(const MiniBatchSize& a, std::string_view b) { return a.text_ == b; }

 private:
  std::string text_;
  std::optional<std::int64_t> count_;
};

/// The number of workers a node runs when process_count_per_node is not set: its cores.
inline int default_process_count() noexcept {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(std::min(n, 1024u));
}

/// Every setting of a job. Plain data: set the fields, then ParallelRun validates them.
struct Config {
  /// Job name: 3 to 32 characters, lower-case letters, digits and '-', starting with a letter, not
  /// ending with '-'.
  std::string name = "parallel-run";
  /// Files per mini-batch (file inputs, default 10), or bytes per mini-batch of a table
  /// ("1024", "64KB", "10MB", "1GB"; default 1MB).
  MiniBatchSize mini_batch_size;
  /// Failed items tolerated over the whole job; -1 tolerates all.
  std::int64_t error_threshold = -1;
  /// Failed mini-batches tolerated over the whole job; -1 tolerates all.
  std::int64_t mini_batch_error_threshold = -1;
  /// Failed mini-batches tolerated, as a percentage of all mini-batches (0 to 100).
  double allowed_failed_percent = 100.0;
  OutputAction output_action = OutputAction::append_row;
  /// The file append_row writes inside the output folder: a plain file name.
  std::string append_row_file_name = "parallel_run_step.txt";
  /// Nodes that run workers: 0 (the default) takes the number the job was launched on, one
  /// without a launcher, the MPI ranks under mpirun or srun (see <parallel_run/mpi.hpp>); any
  /// other value must equal that number.
  int node_count = 0;
  /// Workers per node. Default: the number of cores.
  int process_count_per_node = default_process_count();
  LoggingLevel logging_level = LoggingLevel::info;
  /// Seconds one run() may take before its attempt counts as timed out.
  double run_invocation_timeout = 60.0;
  /// Seconds one init() may take; past it, an init failure. The process backend kills the
  /// worker; a thread cannot be killed, so the thread backend sets the worker's stop token
  /// and abandons its thread.
  double init_timeout = 600.0;
  /// Process backend: a worker whose resident memory exceeds this many bytes is killed and
  /// its attempt fails as "out of memory" (0: no limit). From text: parse_byte_size.
  std::int64_t worker_memory_limit = 0;
  /// Process backend: environment variables set in each worker process, "NAME=VALUE", to
  /// place workers on devices (e.g. "CUDA_VISIBLE_DEVICES={local_worker}"). In VALUE,
  /// {node} is this node's index, {local_worker} the worker's slot on its node in
  /// [0, process_count_per_node) (a replacement takes the slot of the worker it replaces),
  /// {worker} is node * process_count_per_node + local_worker; {{ and }} are literal braces.
  /// A NAME may appear once; PARALLEL_RUN_ names are the library's own. It places work and
  /// does not change results: not part of the run's fingerprint.
  std::vector<std::string> worker_env;
  /// Attempts per mini-batch, the first one included.
  std::int64_t run_max_try = 3;
  /// Reference data every worker can read through Context::side_input(name).
  std::map<std::string, std::filesystem::path> side_inputs;
  /// Extra arguments for the scorer, read through Context::arguments().
  std::vector<std::string> arguments;
  /// Runs mini-batch N (0-based) of these inputs and settings alone, to debug it: in this
  /// process on the thread backend, one worker, DEBUG logging, one attempt and no timeout
  /// (so it can run under gdb), written to <output_dir>/only-mini-batch-N/ (the job's own
  /// output is untouched). -1: the whole job.
  std::int64_t only_mini_batch = -1;
  /// How the job was started, as one shell command (parallel_run::main sets it): overview.txt
  /// and the lines printed on failure show it, with --only-mini-batch N to rerun one
  /// mini-batch. Informational; empty when unknown.
  std::string command_line;
  /// The output folder, created when missing. Required.
  std::filesystem::path output_dir;
  /// The log folder. Empty means <output_dir>/logs.
  std::filesystem::path log_dir;
  Backend backend = Backend::thread;
  /// Progress on stderr: a live line (bar) on a terminal, plain lines (lines) otherwise.
  ProgressMode progress = ProgressMode::automatic;
  /// The job's warnings and errors on stderr too ("parallel_run: warning: ..."), besides
  /// logs/master.txt. Off for a host program that keeps its stderr to itself (with progress
  /// none, the job then writes nothing on stderr).
  bool echo_to_stderr = true;
  /// Write each row's item key (path relative to its input root) as the first column.
  bool key_column = false;
  /// Separates the key column and the fields of tuple or aggregate results.
  std::string delimiter = " ";
  /// Column names written as the output's first line (empty: none); with key_column, "key"
  /// comes first.
  std::vector<std::string> output_header;
  /// Out-of-order output held in memory before it spills to a file in the output folder.
  std::int64_t max_buffered_output_bytes = 64LL << 20;
  /// Score only the first `limit` items (0: all): a quick trial of the same program on a
  /// small sample before the real run.
  std::int64_t limit = 0;
  /// Enter symbolic links to folders found in input folders and globs (a link back to a
  /// folder on the current path is a loop: reported, not entered). Off: such links are
  /// listed in logs/skipped_inputs.csv, not read.
  bool follow_symlinks = false;
  /// Stop gracefully on the first SIGINT or SIGTERM while the job runs (parallel_run::main
  /// turns it on; a library should not take signals from its host program unasked).
  bool stop_on_signals = false;
  /// Seconds between two samples of the resource monitor (logs/performance/<host>/: CPU,
  /// memory and I/O of the job's processes and of the machine); 0: off. Results are the same
  /// whatever it is.
  double resource_monitor_interval = 10.0;
  /// Keep a journal of the run in <output_dir>/.parallel_run_journal (see ResumeMode). Off:
  /// the run can be neither resumed nor reused (an earlier run's journal there is removed).
  bool journal = true;
  /// What to do with the journal of an earlier run in the output folder (see ResumeMode).
  ResumeMode resume = ResumeMode::fresh;
  /// A run whose program, settings that change results and inputs are those of the finished
  /// run in the output folder is not run again: its output and logs are left as they are and
  /// the job returns that run's result (JobResult::reused). false: always run.
  bool allow_reuse = true;
  /// How the journal identifies the inputs (and side inputs) of a run.
  FingerprintMode fingerprint = FingerprintMode::metadata;
  /// The scorer's version, for the journal: a run of the same version is the same program
  /// (a rebuild does not stop a resume). Empty: the program is the executable's bytes and the
  /// scorer's type.
  std::string scorer_version;

  /// The log folder in effect.
  std::filesystem::path effective_log_dir() const {
    return log_dir.empty() ? output_dir / "logs" : log_dir;
  }

  /// Throws ConfigError for the first invalid setting.
  void validate() const;
};

/// Names of enum values as the service spells them.
inline std::string_view to_string(OutputAction a) {
  return a == OutputAction::append_row ? "append_row" : "summary_only";
}
inline std::string_view to_string(LoggingLevel l) {
  switch (l) {
    case LoggingLevel::warning:
      return "WARNING";
    case LoggingLevel::info:
      return "INFO";
    case LoggingLevel::debug:
      return "DEBUG";
  }
  return "INFO";
}
inline std::string_view to_string(Backend b) {
  return b == Backend::process ? "process" : "thread";
}
inline std::string_view to_string(ProgressMode m) {
  switch (m) {
    case ProgressMode::bar:
      return "bar";
    case ProgressMode::lines:
      return "lines";
    case ProgressMode::none:
      return "none";
    case ProgressMode::automatic:
      break;
  }
  return "auto";
}

namespace detail {
inline std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}
}  // namespace detail

/// Parses "append_row" / "summary_only" (case-insensitive, '-' accepted for '_').
inline OutputAction parse_output_action(std::string_view text) {
  std::string s = detail::lower(text);
  std::replace(s.begin(), s.end(), '-', '_');
  if (s == "append_row") return OutputAction::append_row;
  if (s == "summary_only") return OutputAction::summary_only;
  throw ConfigError(
      "output_action",
      fmt::format("output_action must be one of append_row, summary_only; got '{}'", text));
}

/// Parses "WARNING" / "INFO" / "DEBUG" (case-insensitive).
inline LoggingLevel parse_logging_level(std::string_view text) {
  std::string s = detail::lower(text);
  if (s == "warning") return LoggingLevel::warning;
  if (s == "info") return LoggingLevel::info;
  if (s == "debug") return LoggingLevel::debug;
  throw ConfigError(
      "logging_level",
      fmt::format("logging_level must be one of WARNING, INFO, DEBUG; got '{}'", text));
}

/// Parses a backend name: "thread" or "process".
inline Backend parse_backend(std::string_view text) {
  if (detail::lower(text) == "thread") return Backend::thread;
  if (detail::lower(text) == "process") return Backend::process;
  throw ConfigError("backend",
                    fmt::format("backend must be one of thread, process; got '{}'", text));
}

inline std::string_view to_string(ResumeMode m) {
  switch (m) {
    case ResumeMode::resume:
      return "resume";
    case ResumeMode::retry_failed:
      return "retry_failed";
    case ResumeMode::restart:
      return "restart";
    case ResumeMode::fresh:
      break;
  }
  return "fresh";
}
inline std::string_view to_string(FingerprintMode m) {
  return m == FingerprintMode::content ? "content" : "metadata";
}

/// Parses a fingerprint mode: "metadata" or "content".
inline FingerprintMode parse_fingerprint_mode(std::string_view text) {
  const std::string s = detail::lower(text);
  if (s == "metadata") return FingerprintMode::metadata;
  if (s == "content") return FingerprintMode::content;
  throw ConfigError("fingerprint",
                    fmt::format("fingerprint must be one of metadata, content; got '{}'", text));
}

/// Parses a progress mode: "auto", "bar", "lines" or "none".
inline ProgressMode parse_progress_mode(std::string_view text) {
  const std::string s = detail::lower(text);
  if (s == "auto") return ProgressMode::automatic;
  if (s == "bar") return ProgressMode::bar;
  if (s == "lines") return ProgressMode::lines;
  if (s == "none") return ProgressMode::none;
  throw ConfigError("progress",
                    fmt::format("progress must be one of auto, bar, lines, none; got '{}'", text));
}

namespace detail {
inline bool valid_job_name(std::string_view n) {
  if (n.size() < 3 || n.size() > 32) return false;
  if (!(n.front() >= 'a' && n.front() <= 'z')) return false;
  char last = n.back();
  if (!((last >= 'a' && last <= 'z') || (last >= '0' && last <= '9'))) return false;
  return std::all_of(n.begin(), n.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

/// The NAME of a worker_env entry "NAME=VALUE" (all of it when there is no '=').
inline std::string_view worker_env_entry_name(std::string_view entry) {
  return entry.substr(0, std::min(entry.find('='), entry.size()));
}

/// The VALUE of a worker_env entry with its placeholders replaced: {node}, {local_worker},
/// {worker}; {{ and }} are literal braces. Throws ConfigError("worker_env") for any other
/// text in braces or a lone brace, quoting the entry.
inline std::string expand_worker_env_value(std::string_view entry, std::size_t node,
                                           std::size_t local_worker, std::size_t worker) {
  const std::size_t eq = entry.find('=');
  const std::string_view value = eq == std::string_view::npos ? "" : entry.substr(eq + 1);
  std::string out;
  for (std::size_t i = 0; i < value.size(); ++i) {
    const char ch = value[i];
    if (ch == '}') {
      if (i + 1 < value.size() && value[i + 1] == '}') {
        out += '}';
        ++i;
        continue;
      }
      throw ConfigError("worker_env",
                        fmt::format("worker_env has a lone '}}' (write }}}} for a literal brace), "
                                    "got '{}'",
                                    entry));
    }
    if (ch != '{') {
      out += ch;
      continue;
    }
    if (i + 1 < value.size() && value[i + 1] == '{') {
      out += '{';
      ++i;
      continue;
    }
    const std::size_t close = value.find('}', i + 1);
    if (close == std::string_view::npos)
      throw ConfigError("worker_env",
                        fmt::format("worker_env has a lone '{{' (write {{{{ for a literal brace), "
                                    "got '{}'",
                                    entry));
    const std::string_view name = value.substr(i + 1, close - i - 1);
    if (name == "node")
      out += std::to_string(node);
    else if (name == "local_worker")
      out += std::to_string(local_worker);
    else if (name == "worker")
      out += std::to_string(worker);
    else
      throw ConfigError("worker_env",
                        fmt::format("worker_env placeholder '{{{}}}' is unknown (known: {{node}}, "
                                    "{{local_worker}}, {{worker}}; {{{{ and }}}} for braces), "
                                    "got '{}'",
                                    name, entry));
    i = close;
  }
  return out;
}

/// Checks one worker_env entry: NAME=VALUE, NAME a variable name not of the library's own,
/// VALUE's placeholders known.
inline void check_worker_env_entry(std::string_view entry) {
  const std::size_t eq = entry.find('=');
  if (eq == std::string_view::npos)
    throw ConfigError("worker_env",
                      fmt::format("worker_env entries must be NAME=VALUE, got '{}'", entry));
  const std::string_view name = entry.substr(0, eq);
  const auto letter = [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
  };
  if (name.empty() || !letter(name.front()) || !std::all_of(name.begin(), name.end(), [&](char c) {
        return letter(c) || (c >= '0' && c <= '9');
      }))
    throw ConfigError(
        "worker_env",
        fmt::format("worker_env NAME must match [A-Za-z_][A-Za-z0-9_]*, got '{}'", entry));
  if (name.substr(0, 13) == "PARALLEL_RUN_")
    throw ConfigError("worker_env",
                      fmt::format("worker_env may not set PARALLEL_RUN_ variables (the "
                                  "library's own), got '{}'",
                                  entry));
  expand_worker_env_value(entry, 0, 0, 0);
}

/// What a numeric setting accepts: checked by validate() and worded the same in every error
/// about it, also when the command line's value is not a number at all.
struct NumberRule {
  std::string_view setting;
  bool integer = true;       // else any number
  double lo = 0, hi = 0;     // [lo, hi], or (lo, hi] when lo_open
  bool lo_open = false;      // lo itself is refused
  bool zero_is_off = false;  // 0 is accepted too, as "off"
  bool seconds = false;      // said in errors: "a number of seconds"

  bool accepts(double v) const {
    return (zero_is_off && v == 0.0) || ((lo_open ? v > lo : v >= lo) && v <= hi);
  }
  /// "an integer in [1, 2147483647]", "0 (off) or a number of seconds in [0.01, 31536000]".
  std::string text() const {
    auto bound = [&](double b) {
      if (!integer) return fmt::format("{}", b);
      return b >= 9223372036854775807.0 ? std::string("9223372036854775807")  // 2^63 - 1
                                        : fmt::format("{}", static_cast<std::int64_t>(b));
    };
    return fmt::format("{}{}{} in {}{}, {}]", zero_is_off ? "0 (off) or " : "",
                       integer ? "an integer" : "a number", seconds ? " of seconds" : "",
                       lo_open ? "(" : "[", bound(lo), bound(hi));
  }
};

inline constexpr double int64_top = 9223372036854775807.0;  // INT64_MAX, rounded to 2^63
inline constexpr NumberRule number_rules[] = {
    {.setting = "error_threshold", .lo = -1, .hi = INT_MAX},
    {.setting = "mini_batch_error_threshold", .lo = -1, .hi = INT_MAX},
    {.setting = "allowed_failed_percent", .integer = false, .lo = 0, .hi = 100},
    {.setting = "node_count", .lo = 0, .hi = 65536},
    {.setting = "process_count_per_node", .lo = 1, .hi = 1024},
    {.setting = "run_invocation_timeout",
     .integer = false,
     .lo = 0,
     .hi = 31536000,
     .lo_open = true,
     .seconds = true},
    {.setting = "run_max_try", .lo = 1, .hi = INT_MAX},
    {.setting = "only_mini_batch", .lo = -1, .hi = int64_top},
    {.setting = "init_timeout",
     .integer = false,
     .lo = 0,
     .hi = 31536000,
     .lo_open = true,
     .seconds = true},
    {.setting = "worker_memory_limit", .lo = 0, .hi = double(std::int64_t{1} << 50)},
    {.setting = "max_buffered_output_bytes", .lo = 0, .hi = int64_top},
    {.setting = "limit", .lo = 0, .hi = int64_top},
    {.setting = "resource_monitor_interval",
     .integer = false,
     .lo = 0.01,
     .hi = 31536000,
     .zero_is_off = true,
     .seconds = true},
};

inline const NumberRule& number_rule(std::string_view setting) {
  for (const auto& r : number_rules)
    if (r.setting == setting) return r;
  throw std::logic_error(fmt::format("no number rule for setting '{}'", setting));
}

/// Throws ConfigError(setting) unless its rule accepts `value`.
template <class T>
void check_number(std::string_view setting, T value) {
  const NumberRule& rule = number_rule(setting);
  // Every bound but INT64_MAX is exact as a double, and that one rounds up to 2^63.
  if (!rule.accepts(static_cast<double>(value)))
    throw ConfigError(std::string(setting),
                      fmt::format("{} must be {}, got {}", setting, rule.text(), value));
}
}  // namespace detail

inline void Config::validate() const {
  using detail::check_number;
  if (!detail::valid_job_name(name))
    throw ConfigError("name", fmt::format("name must be 3 to 32 characters matching "
                                          "^[a-z]([-a-z0-9]*[a-z0-9])?$, got '{}'",
                                          name));
  mini_batch_size.check();
  check_number("error_threshold", error_threshold);
  check_number("mini_batch_error_threshold", mini_batch_error_threshold);
  check_number("allowed_failed_percent", allowed_failed_percent);
  if (append_row_file_name.empty() || append_row_file_name == "." || append_row_file_name == ".." ||
      append_row_file_name.find_first_of("~\"#%&*:<>?/\\{|}") != std::string::npos)
    throw ConfigError("append_row_file_name",
                      fmt::format("append_row_file_name must be a plain file name without any of "
                                  "~\"#%&*:<>?/\\{{|}}, got '{}'",
                                  append_row_file_name));
  // Checked against the ranks the job was launched on when it starts (detail/cluster.hpp).
  check_number("node_count", node_count);
  check_number("process_count_per_node", process_count_per_node);
  check_number("run_invocation_timeout", run_invocation_timeout);
  check_number("run_max_try", run_max_try);
  check_number("only_mini_batch", only_mini_batch);
  check_number("init_timeout", init_timeout);
  check_number("worker_memory_limit", worker_memory_limit);
  if (worker_memory_limit > 0 && backend != Backend::process)
    throw ConfigError("worker_memory_limit",
                      "worker_memory_limit needs the process backend (--backend process): "
                      "threads share one process's memory");
  for (std::size_t i = 0; i < worker_env.size(); ++i) {
    detail::check_worker_env_entry(worker_env[i]);
    for (std::size_t j = 0; j < i; ++j)
      if (detail::worker_env_entry_name(worker_env[j]) ==
          detail::worker_env_entry_name(worker_env[i]))
        throw ConfigError("worker_env", fmt::format("worker_env sets {} twice, got '{}' and '{}'",
                                                    detail::worker_env_entry_name(worker_env[i]),
                                                    worker_env[j], worker_env[i]));
  }
  if (!worker_env.empty() && backend != Backend::process)
    throw ConfigError("worker_env",
                      "worker_env needs the process backend (--backend process): threads share "
                      "one process's environment");
  for (const auto& [input_name, path] : side_inputs) {
    if (input_name.empty() ||
        !std::all_of(input_name.begin(), input_name.end(), [](unsigned char c) {
          return std::isalnum(c) || c == '_' || c == '-' || c == '.';
        }))
      throw ConfigError("side_inputs",
                        fmt::format("side input name must be letters, digits, '_', '-' or '.', "
                                    "got '{}'",
                                    input_name));
    std::error_code ec;
    if (!std::filesystem::exists(path, ec))
      throw ConfigError("side_inputs", fmt::format("side input '{}' names '{}', which does not "
                                                   "exist",
                                                   input_name, path.string()));
  }
  if (output_dir.empty())
    throw ConfigError("output_dir", "output_dir must be set (the folder for results and logs)");
  for (const auto& column : output_header)
    if (column.find_first_of("\r\n") != std::string::npos)
      throw ConfigError(
          "output_header",
          fmt::format("output_header names must hold no line break, got '{}'", column));
  if (delimiter.empty() || delimiter.find_first_of("\r\n") != std::string::npos)
    throw ConfigError(
        "delimiter",
        fmt::format("delimiter must be non-empty and hold no line break, got '{}'", delimiter));
  check_number("max_buffered_output_bytes", max_buffered_output_bytes);
  check_number("limit", limit);
  check_number("resource_monitor_interval", resource_monitor_interval);
  if (output_action == OutputAction::append_row) {
    // Found now, not after hours of work when the final rename fails.
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path target = output_dir / append_row_file_name;
    const fs::path logs = effective_log_dir();
    if (fs::weakly_canonical(target, ec) == fs::weakly_canonical(logs, ec))
      throw ConfigError("append_row_file_name",
                        fmt::format("append_row_file_name '{}' is the log folder '{}'; choose "
                                    "another name or --log-dir",
                                    append_row_file_name, logs.string()));
    // The log folder's files (detail/job_files.hpp names them all).
    for (const char* log_file :
         {"failed_items.csv", "master.txt", "job_result.txt", "metrics.csv", "skipped_inputs.csv",
          "processed_mini-batches.csv", "overview.txt", "job_error.txt", "readme.txt"})
      if (fs::weakly_canonical(target, ec) == fs::weakly_canonical(logs / log_file, ec))
        throw ConfigError("append_row_file_name",
                          fmt::format("append_row_file_name '{}' is a log file in the log folder "
                                      "'{}'; choose another name",
                                      append_row_file_name, logs.string()));
    if (append_row_file_name == ".parallel_run_journal")
      throw ConfigError("append_row_file_name",
                        "append_row_file_name '.parallel_run_journal' is the job's journal folder; "
                        "choose another name");
    if (fs::is_directory(target, ec))
      throw ConfigError("append_row_file_name",
                        fmt::format("append_row_file_name '{}' names a folder in '{}'",
                                    append_row_file_name, output_dir.string()));
  }
}

PARALLEL_RUN_END_NAMESPACE
