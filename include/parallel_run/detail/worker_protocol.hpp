// The messages between the coordinator and a worker process, over one socketpair: frames of
// [u32 payload length][u8 type][payload]. Both ends are the same program (the worker is the
// host program started again), so the encoding is wire.hpp's native one. A task is encoded by
// its own encode()/decode() members when it has them (table slices), else by the overloads
// here (FileBatch).
//
//   coordinator -> worker: job (the whole Config), task (attempt + task), withdraw (a task
//                          sent but perhaps not started), stop
//   worker -> coordinator: hello, init_ok, init_failed, result, run_failed, warning, misuse,
//                          withdrawn (the task did not start and never will)
//
// Every count in a message is checked against the bytes left before anything is allocated
// for it, so a corrupt frame is an error, never an allocation it cannot back.
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/config.hpp"
#include "parallel_run/errors.hpp"
#include "parallel_run/file_batch.hpp"
#include "parallel_run/detail/batch_outcome.hpp"
#include "parallel_run/detail/process_spawn.hpp"
#include "parallel_run/detail/wire.hpp"

#include <fmt/format.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <optional>
#include <type_traits>
#include <string>
#include <string_view>
#include <vector>

PARALLEL_RUN_BEGIN_NAMESPACE
namespace detail {

enum class MessageType : std::uint8_t {
  // coordinator -> worker
  job = 1,
  task = 2,
  stop = 3,
  withdraw = 4,
  // worker -> coordinator
  hello = 10,
  init_ok = 11,
  init_failed = 12,
  result = 13,
  run_failed = 14,
  warning = 15,
  misuse = 16,
  withdrawn = 17,
};

inline constexpr std::size_t frame_header_size = 5;
// A frame above this is a corrupt stream, not a message (a mini-batch's rows stay far below).
inline constexpr std::uint32_t max_frame_size = 1u << 30;

/// Appends one frame to `out`; `fill(WireWriter&)` writes the payload.
template <class Fill>
void append_frame(std::string& out, MessageType type, Fill&& fill) {
  const std::size_t start = out.size();
  out.append(frame_header_size, '\0');
  WireWriter w(out);
  fill(w);
  const auto length = static_cast<std::uint32_t>(out.size() - start - frame_header_size);
  std::memcpy(out.data() + start, &length, sizeof length);
  out[start + 4] = static_cast<char>(type);
}

inline void append_frame(std::string& out, MessageType type) {
  append_frame(out, type, [](WireWriter&) {});
}

struct Frame {
  MessageType type;
  std::string_view payload;
};

/// Takes the next complete frame off the front of `buffer` (from `offset`), or nothing when
/// it is incomplete. Throws on a corrupt length.
inline std::optional<Frame> next_frame(std::string_view buffer, std::size_t& offset) {
  if (buffer.size() - offset < frame_header_size) return std::nullopt;
  std::uint32_t length = 0;
  std::memcpy(&length, buffer.data() + offset, sizeof length);
  if (length > max_frame_size)
    throw Error("parallel_run.internal",
                fmt::format("a message between the coordinator and a worker process claims "
                            "{} bytes: the stream is corrupt",
                            length));
  if (buffer.size() - offset - frame_header_size < length) return std::nullopt;
  Frame f{static_cast<MessageType>(buffer[offset + 4]),
          buffer.substr(offset + frame_header_size, length)};
  offset += frame_header_size + length;
  return f;
}

/// A string that held a large message keeps its capacity after clear(): a buffer that
/// carried one 1 GB result would hold 1 GB for the worker's life. Above `keep` bytes of
/// capacity it is released.
inline constexpr std::size_t buffer_capacity_kept = 1u << 20;
inline void release_if_large(std::string& s, std::size_t keep = buffer_capacity_kept) {
  if (s.capacity() <= keep) return;
  if (s.empty())
    std::string().swap(s);
  else if (s.capacity() > 4 * s.size())
    s.shrink_to_fit();
}

/// Bytes read from a channel, cut into frames. A frame's view is valid until the next
/// append() or compact().
class FrameBuffer {
 public:
  void append(const char* bytes, std::size_t n) { data_.append(bytes, n); }
  std::optional<Frame> next() { return next_frame(data_, consumed_); }
  /// Drops the frames taken; keeps no more capacity than what is left needs.
  void compact() {
    if (consumed_ == data_.size()) {
      data_.clear();
      consumed_ = 0;
    } else if (consumed_ > 65536 || data_.capacity() > buffer_capacity_kept) {
      data_.erase(0, consumed_);
      consumed_ = 0;
    }
    release_if_large(data_);
  }
  /// Bytes of a frame not complete yet are held.
  bool partial() const noexcept { return consumed_ < data_.size(); }
  std::size_t capacity() const noexcept { return data_.capacity(); }

 private:
  std::string data_;
  std::size_t consumed_ = 0;
};

// --- the Config --------------------------------------------------------------------------

inline void encode(WireWriter& w, const std::vector<std::string>& v) {
  w.put<std::uint64_t>(v.size());
  for (const auto& s : v)
    w.put(s);
}
inline std::vector<std::string> decode_strings(WireReader& r) {
  std::vector<std::string> v(r.get_count(sizeof(std::uint64_t), "strings"));
  for (auto& s : v)
    s = r.get_string();
  return v;
}

/// Every setting: a worker uses the coordinator's, not what its own code before run() made.
inline void encode(WireWriter& w, const Config& c) {
  w.put(c.name);
  w.put(c.mini_batch_size.text());
  w.put(c.error_threshold);
  w.put(c.mini_batch_error_threshold);
  w.put(c.allowed_failed_percent);
  w.put(c.output_action);
  w.put(c.append_row_file_name);
  w.put(c.node_count);
  w.put(c.process_count_per_node);
  w.put(c.logging_level);
  w.put(c.run_invocation_timeout);
  w.put(c.init_timeout);
  w.put(c.worker_memory_limit);
  w.put(c.run_max_try);
  w.put<std::uint64_t>(c.side_inputs.size());
  for (const auto& [name, path] : c.side_inputs) {
    w.put(name);
    w.put(path.native());
  }
  encode(w, c.arguments);
  w.put(c.output_dir.native());
  w.put(c.log_dir.native());
  w.put(c.backend);
  w.put(c.key_column);
  w.put(c.delimiter);
  encode(w, c.output_header);
  w.put(c.max_buffered_output_bytes);
  w.put(c.limit);
  w.put(c.stop_on_signals);
  encode(w, c.worker_env);
  w.put(c.resource_monitor_interval);
}

inline Config decode_config(WireReader& r) {
  Config c;
  c.name = r.get_string();
  c.mini_batch_size = MiniBatchSize(r.get_string());
  c.error_threshold = r.get<std::int64_t>();
  c.mini_batch_error_threshold = r.get<std::int64_t>();
  c.allowed_failed_percent = r.get<double>();
  c.output_action = r.get_enum(OutputAction::summary_only);
  c.append_row_file_name = r.get_string();
  c.node_count = r.get<int>();
  c.process_count_per_node = r.get<int>();
  c.logging_level = r.get_enum(LoggingLevel::debug);
  c.run_invocation_timeout = r.get<double>();
  c.init_timeout = r.get<double>();
  c.worker_memory_limit = r.get<std::int64_t>();
  c.run_max_try = r.get<std::int64_t>();
  for (auto n = r.get<std::uint64_t>(); n > 0; --n) {
    std::string name = r.get_string();
    c.side_inputs[std::move(name)] = r.get_string();
  }
  c.arguments = decode_strings(r);
  c.output_dir = r.get_string();
  c.log_dir = r.get_string();
  c.backend = r.get_enum(Backend::process);
  c.key_column = r.get<bool>();
  c.delimiter = r.get_string();
  c.output_header = decode_strings(r);
  c.max_buffered_output_bytes = r.get<std::int64_t>();
  c.limit = r.get<std::int64_t>();
  c.stop_on_signals = r.get<bool>();
  c.worker_env = decode_strings(r);
  c.resource_monitor_interval = r.get<double>();
  return c;
}

// --- the job frame -----------------------------------------------------------------------

/// What the coordinator sends a worker process first (MessageType::job): the job's settings,
/// where to write, and what each earlier run() of the coordinator's process returned or threw
/// (the worker replays them: worker_process.hpp).
struct WorkerJob {
  Config config;
  std::filesystem::path working_dir, metrics_file, record_path;
  std::vector<RunLog::Run> earlier_runs;
};

inline void encode_worker_job(WireWriter& w, const Config& config,
                              const std::filesystem::path& working_dir,
                              const std::filesystem::path& metrics_file,
                              const std::filesystem::path& record_path,
                              const std::vector<RunLog::Run>& earlier_runs) {
  encode(w, config);
  w.put(working_dir.native());
  w.put(metrics_file.native());
  w.put(record_path.native());
  w.put<std::uint64_t>(earlier_runs.size());
  for (const auto& run : earlier_runs) {
    w.put(run.name);
    w.put(run.end);
  }
}

inline WorkerJob decode_worker_job(WireReader& r) {
  WorkerJob j;
  j.config = decode_config(r);
  j.working_dir = r.get_string();
  j.metrics_file = r.get_string();
  j.record_path = r.get_string();
  for (auto runs = r.get<std::uint64_t>(); runs > 0; --runs) {
    RunLog::Run run;
    run.name = r.get_string();
    run.end = r.get_string();
    j.earlier_runs.push_back(std::move(run));
  }
  return j;
}

// --- tasks -------------------------------------------------------------------------------

inline void encode(WireWriter& w, const FileBatch& b) {
  w.put<std::uint64_t>(b.mini_batch_index());
  w.put<std::uint64_t>(b.size());
  for (const FileEntry& e : b) {
    w.put(e.path.native());
    w.put(e.key);
    w.put<std::uint64_t>(e.index);
  }
}

inline FileBatch decode_file_batch(WireReader& r) {
  const auto index = static_cast<std::size_t>(r.get<std::uint64_t>());
  // Each entry: a path and a key (a length each) and an index.
  std::vector<FileEntry> entries(r.get_count(3 * sizeof(std::uint64_t), "files"));
  for (auto& e : entries) {
    e.path = r.get_string();
    e.key = r.get_string();
    e.index = static_cast<std::size_t>(r.get<std::uint64_t>());
  }
  return FileBatch(index, std::move(entries));
}

/// A task type that carries its own encoding (a table slice).
template <class Task>
concept SelfEncodingTask = requires(const Task& t, WireWriter& w, WireReader& r) {
  t.encode(w);
  { Task::decode(r) } -> std::same_as<Task>;
};

template <class Task>
void encode_task(WireWriter& w, const Task& task) {
  if constexpr (SelfEncodingTask<Task>)
    task.encode(w);
  else
    encode(w, task);
}

template <class Task>
Task decode_task(WireReader& r) {
  if constexpr (SelfEncodingTask<Task>)
    return Task::decode(r);
  else if constexpr (std::is_same_v<Task, FileBatch>)
    return decode_file_batch(r);
  else
    static_assert(SelfEncodingTask<Task>,
                  "parallel_run: a task type for the process backend needs "
                  "`void encode(detail::WireWriter&) const` and `static Task "
                  "decode(detail::WireReader&)`");
}

// --- outcomes ----------------------------------------------------------------------------

inline void encode(WireWriter& w, const AttemptTimes& t) {
  w.put<std::uint64_t>(t.worker);
  w.put(t.pid);
  w.put(t.wall_start_ns);
  w.put(t.wall_end_ns);
  w.put(t.cpu_start);
  w.put(t.cpu_end);
  w.put(t.run_seconds);
  w.put<std::uint64_t>(t.items);
  w.put(t.output_end);
}

inline AttemptTimes decode_times(WireReader& r) {
  AttemptTimes t;
  t.worker = static_cast<std::size_t>(r.get<std::uint64_t>());
  t.pid = r.get<std::int64_t>();
  t.wall_start_ns = r.get<std::int64_t>();
  t.wall_end_ns = r.get<std::int64_t>();
  t.cpu_start = r.get<double>();
  t.cpu_end = r.get<double>();
  t.run_seconds = r.get<double>();
  t.items = static_cast<std::size_t>(r.get<std::uint64_t>());
  t.output_end = r.get<std::int64_t>();
  return t;
}

inline void encode(WireWriter& w, const BatchOutcome& o) {
  w.put(o.rows);
  w.put<std::uint64_t>(o.succeeded);
  w.put<std::uint64_t>(o.failed.size());
  for (const auto& f : o.failed) {
    w.put(f.key);
    w.put(f.reason);
  }
  encode(w, o.warnings);
  encode(w, o.times);
}

/// A worker's answer to attempt `id`: its outcome, or, when that does not fit in one frame
/// (`limit` bytes), the attempt's failure, which says why.
inline std::string result_frame(std::uint64_t id, const BatchOutcome& o,
                                std::size_t limit = max_frame_size) {
  std::string out;
  append_frame(out, MessageType::result, [&](WireWriter& w) {
    w.put(id);
    encode(w, o);
  });
  const std::size_t payload = out.size() - frame_header_size;
  if (payload <= limit) return out;
  out.clear();
  out.shrink_to_fit();
  append_frame(out, MessageType::run_failed, [&](WireWriter& w) {
    w.put(id);
    w.put(
        fmt::format("the mini-batch's result is {} bytes, above the {} bytes a worker process "
                    "can send back at once: use smaller mini-batches",
                    payload, limit));
    encode(w, o.times);
  });
  return out;
}

inline BatchOutcome decode_outcome(WireReader& r) {
  BatchOutcome o;
  o.rows = r.get_string();
  o.succeeded = static_cast<std::size_t>(r.get<std::uint64_t>());
  o.failed.resize(r.get_count(2 * sizeof(std::uint64_t), "failed items"));  // key, reason
  for (auto& f : o.failed) {
    f.key = r.get_string();
    f.reason = r.get_string();
  }
  o.warnings = decode_strings(r);
  o.times = decode_times(r);
  return o;
}

/// Checks an outcome against its mini-batch of `items` items: each item succeeded or failed,
/// once. A worker's answer that does not add up is a corrupt message, not a count to trust.
inline void check_outcome(const BatchOutcome& o, std::size_t items, std::size_t mini_batch) {
  if (o.succeeded > items || o.failed.size() != items - o.succeeded)
    throw Error("parallel_run.internal",
                fmt::format("the result of mini-batch {} counts {} succeeded and {} failed "
                            "items, but the mini-batch has {}",
                            mini_batch, o.succeeded, o.failed.size(), items));
}

/// A message from a worker, decoded (an unknown type, a truncated payload or trailing bytes
/// throw); the coordinator checks it against what the worker holds before acting on it.
struct WorkerMessage {
  MessageType type{};
  std::uint64_t id = 0;  // result, run_failed, withdrawn: the attempt
  BatchOutcome outcome;  // result
  std::string text;      // init_failed, run_failed, warning, misuse
  AttemptTimes times;    // run_failed
  bool misconfigured = false;
};

inline WorkerMessage decode_worker_message(const Frame& f) {
  WorkerMessage m;
  m.type = f.type;
  WireReader r(f.payload);
  switch (f.type) {
    case MessageType::hello:
      r.get<std::int64_t>();  // the worker's pid
      break;
    case MessageType::init_ok:
      break;
    case MessageType::init_failed:
      m.text = r.get_string();
      m.misconfigured = r.get<bool>();
      break;
    case MessageType::misuse:
    case MessageType::warning:
      m.text = r.get_string();
      break;
    case MessageType::result:
      m.id = r.get<std::uint64_t>();
      m.outcome = decode_outcome(r);
      break;
    case MessageType::run_failed:
      m.id = r.get<std::uint64_t>();
      m.text = r.get_string();
      m.times = decode_times(r);
      break;
    case MessageType::withdrawn:
      m.id = r.get<std::uint64_t>();
      break;
    default:
      throw Error(
          "parallel_run.internal",
          fmt::format("unknown message type {} from a worker process", static_cast<int>(f.type)));
  }
  if (!r.done())
    throw Error("parallel_run.internal",
                fmt::format("a message of type {} from a worker process has {} bytes too many",
                            static_cast<int>(f.type), r.remaining()));
  return m;
}

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
