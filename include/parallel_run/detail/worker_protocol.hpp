// The messages between the coordinator and a worker process, over one socketpair: frames of
// [u32 payload length][u8 type][payload]. Both ends are the same program (the worker is the
// host program started again), so the encoding is wire.hpp's native one. A task is encoded by
// its own encode()/decode() members when it has them (table slices), else by the overloads
// here (FileBatch).
//
//   coordinator -> worker: job (the whole Config), task (attempt + task), stop
//   worker -> coordinator: hello, init_ok, init_failed, result, run_failed, warning, misuse
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/config.hpp"
#include "parallel_run/errors.hpp"
#include "parallel_run/file_batch.hpp"
#include "parallel_run/detail/batch_outcome.hpp"
#include "parallel_run/detail/wire.hpp"

#include <fmt/format.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <optional>
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
  // worker -> coordinator
  hello = 10,
  init_ok = 11,
  init_failed = 12,
  result = 13,
  run_failed = 14,
  warning = 15,
  misuse = 16,
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

// --- the Config --------------------------------------------------------------------------

inline void encode(WireWriter& w, const std::vector<std::string>& v) {
  w.put<std::uint64_t>(v.size());
  for (const auto& s : v)
    w.put(s);
}
inline std::vector<std::string> decode_strings(WireReader& r) {
  std::vector<std::string> v(r.get<std::uint64_t>());
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
}

inline Config decode_config(WireReader& r) {
  Config c;
  c.name = r.get_string();
  c.mini_batch_size = MiniBatchSize(r.get_string());
  c.error_threshold = r.get<std::int64_t>();
  c.mini_batch_error_threshold = r.get<std::int64_t>();
  c.allowed_failed_percent = r.get<double>();
  c.output_action = r.get<OutputAction>();
  c.append_row_file_name = r.get_string();
  c.node_count = r.get<int>();
  c.process_count_per_node = r.get<int>();
  c.logging_level = r.get<LoggingLevel>();
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
  c.backend = r.get<Backend>();
  c.key_column = r.get<bool>();
  c.delimiter = r.get_string();
  c.output_header = decode_strings(r);
  c.max_buffered_output_bytes = r.get<std::int64_t>();
  c.limit = r.get<std::int64_t>();
  c.stop_on_signals = r.get<bool>();
  return c;
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
  std::vector<FileEntry> entries(static_cast<std::size_t>(r.get<std::uint64_t>()));
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

inline void encode(WireWriter& w, const BatchOutcome& o) {
  w.put(o.rows);
  w.put<std::uint64_t>(o.succeeded);
  w.put<std::uint64_t>(o.failed.size());
  for (const auto& f : o.failed) {
    w.put(f.key);
    w.put(f.reason);
  }
  encode(w, o.warnings);
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
  });
  return out;
}

inline BatchOutcome decode_outcome(WireReader& r) {
  BatchOutcome o;
  o.rows = r.get_string();
  o.succeeded = static_cast<std::size_t>(r.get<std::uint64_t>());
  o.failed.resize(static_cast<std::size_t>(r.get<std::uint64_t>()));
  for (auto& f : o.failed) {
    f.key = r.get_string();
    f.reason = r.get_string();
  }
  o.warnings = decode_strings(r);
  return o;
}

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
