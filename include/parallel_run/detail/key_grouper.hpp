// KeyGrouper: groups records by key (partition_keys) in memory bounded by a budget, not by
// the input. add() streams records in: while they fit the budget they stay in memory; past
// it they are spread over spill files ("buckets") by a hash of the key. finish() ends the
// input; next() then yields mini-batches, each a byte range of one output file framed as
// TableSlice::of_spill reads it: whole key groups packed up to `batch_bytes`, a group larger
// than that split over consecutive mini-batches. Buckets are grouped one at a time; one that
// does not fit the budget is split again with another hash seed, or streamed as it is when
// it holds a single key. See docs/design.md, "partition_keys", for the memory bound.
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/errors.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <deque>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

PARALLEL_RUN_BEGIN_NAMESPACE
namespace detail {

/// Where a record comes from: its TableSource (an index the caller defines), the 1-based line
/// it starts on, and its 0-based index in the dataset.
struct RecordOrigin {
  std::uint32_t source = 0;
  std::uint64_t line = 0;
  std::uint64_t index = 0;
};

/// One mini-batch of grouped records: bytes [offset, offset + length) of `file`. A record's
/// source there indexes `sources`, the RecordOrigin::source values of the mini-batch, so a
/// slice carries only the sources it uses.
struct GroupedRun {
  std::filesystem::path file;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
  std::uint64_t records = 0;
  std::vector<std::uint32_t> sources;
};

/// A fixed seeded hash (FNV-1a, then the splitmix64 finalizer, as FNV's low bits mix
/// poorly), so the same input always makes the same mini-batches.
inline std::uint64_t key_hash(std::string_view key, std::uint64_t seed) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ULL ^ (seed * 0x9e3779b97f4a7c15ULL);
  for (unsigned char c : key) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return h;
}

class KeyGrouper {
 public:
  static constexpr std::uint64_t default_memory_budget = std::uint64_t{64} << 20;
  /// Below this, the fixed costs (buffers of a few hundred bytes) would not fit.
  static constexpr std::uint64_t min_memory_budget = 1024;
  /// Bookkeeping bytes per record of a bucket loaded for grouping, at most: its offset (8),
  /// group id (4), hash table slots (up to 16: a power of two of at least twice the records,
  /// 4 bytes each) and, with one record per key, its group's first record, start and weight
  /// (16); the output order (4) replaces the table.
  static constexpr std::uint64_t bytes_per_loaded_record = 48;

  /// `dir`: where the spill and output files go (created when missing). `batch_bytes`: the
  /// mini-batch size, counting each record as its text plus a line break. `expected_bytes`:
  /// the input's total size if known (0: unknown), to choose how many buckets to spill to.
  KeyGrouper(std::filesystem::path dir, std::uint64_t batch_bytes,
             std::uint64_t memory_budget = default_memory_budget, std::uint64_t expected_bytes = 0)
      : dir_(std::move(dir)),
        batch_bytes_(std::max<std::uint64_t>(batch_bytes, 1)),
        budget_(std::max(memory_budget, min_memory_budget)),
        expected_bytes_(expected_bytes) {
    std::error_code ec;
    std::filesystem::create_directories(dir_, ec);
    if (ec || !std::filesystem::is_directory(dir_))
      throw OutputError(fmt::format("cannot create the folder '{}': {}", dir_.string(),
                                    ec ? ec.message() : "not a folder"));
    io_bytes_ = std::clamp<std::uint64_t>(budget_ / 8, 64, 1 << 20);
    load_limit_ = budget_ - io_bytes_;
    // Switching to spill files opens their write buffers (a quarter of the budget) before
    // the records in memory are released.
    memory_limit_ = load_limit_ - budget_ / 4;
  }
  ~KeyGrouper() {
    spilling_.clear();
    stream_.reset();
    out_.reset();
    std::error_code ec;
    for (const auto& p : created_)
      std::filesystem::remove(p, ec);
  }
  KeyGrouper(const KeyGrouper&) = delete;
  KeyGrouper& operator=(const KeyGrouper&) = delete;

  /// Adds one record; records of a key keep the order they are added in.
  void add(std::string_view key, std::string_view record, const RecordOrigin& origin) {
    if (finished_) throw Error("parallel_run.internal", "KeyGrouper::add called after finish");
    if (key.size() > UINT32_MAX || record.size() > UINT32_MAX)
      throw InputError(
          fmt::format("a record of {} bytes is too large to group (at most 4 GiB)", record.size()));
    ++records_in_;
    weight_in_ += record.size() + 1;
    if (spilling_.empty()) {
      const std::uint64_t need = mem_.size() + frame_header + key.size() + record.size();
      const std::uint64_t arrays = (mem_records_ + 1) * bytes_per_loaded_record;
      if (std::max<std::uint64_t>(need, mem_.capacity()) + arrays <= memory_limit_) {
        reserve_counted(mem_, need, memory_limit_ - arrays);
        const auto header = frame_header_of(origin, key.size(), record.size());
        mem_.append(header.data(), header.size());
        mem_.append(key);
        mem_.append(record);
        ++mem_records_;
        return;
      }
      start_spilling();
    }
    Writer& w = spilling_[bucket_of(key, 0, spilling_.size())];
    const auto header = frame_header_of(origin, key.size(), record.size());
    w.file.write(header.data(), header.size());
    w.file.write(key.data(), key.size());
    w.file.write(record.data(), record.size());
    w.bytes += frame_header + key.size() + record.size();
    w.weight += record.size() + 1;
    ++w.records;
  }

  /// Ends the input; next() may be called from now on.
  void finish() {
    if (finished_) return;
    finished_ = true;
    if (spilling_.empty()) {
      if (mem_records_ > 0) load_memory();
      return;
    }
    for (std::size_t i = 0; i < spilling_.size(); ++i) {
      Writer& w = spilling_[i];
      w.file.flush();
      release(w.file.buffer_capacity());
      w.file.close();
      if (w.records > 0)
        pending_.push_back(Bucket{w.file.path, w.bytes, w.records, w.weight, 1});
      else
        remove_file(w.file.path);
    }
    spilling_.clear();
  }

  /// The next mini-batch, or nothing when every record has been served. Its bytes are in the
  /// output file (written through to the OS) when it is returned.
  std::optional<GroupedRun> next() {
    if (!finished_) throw Error("parallel_run.internal", "KeyGrouper::next called before finish");
    if (!out_) open_output();
    const std::uint64_t start = out_->offset();
    std::uint64_t weight = 0;
    std::uint64_t records = 0;
    for (;;) {
      if (!group_open_ && !open_group()) break;
      if (group_left_ <= batch_bytes_ - weight) {
        // The rest of the group fits: all of it goes into this mini-batch.
        while (group_records_left_ > 0) {
          weight += emit_record();
          ++records;
        }
        group_open_ = false;
        continue;
      }
      if (records > 0) break;  // the group starts the next mini-batch instead
      // A group larger than the size: as many of its records as fit (at least one).
      while (group_records_left_ > 0 && (records == 0 || weight + peek_weight() <= batch_bytes_)) {
        weight += emit_record();
        ++records;
      }
      break;
    }
    if (records == 0) {
      out_->flush();
      return std::nullopt;
    }
    out_->flush();
    ++runs_;
    run_source_index_.clear();
    return GroupedRun{out_->path, start, out_->offset() - start, records,
                      std::exchange(run_sources_, {})};
  }

  /// The most bytes held in memory at once (buffers, loaded buckets, bookkeeping).
  std::uint64_t peak_memory() const noexcept { return peak_; }
  std::uint64_t memory_budget() const noexcept { return budget_; }
  /// Buckets the input was spilled to (0: it was grouped in memory).
  std::size_t spill_buckets() const noexcept { return spill_buckets_; }
  /// Buckets split again because they did not fit the budget.
  std::size_t resplits() const noexcept { return resplits_; }
  /// Buckets streamed as they were because they held one key and did not fit the budget.
  std::size_t streamed_buckets() const noexcept { return streamed_; }
  std::uint64_t records_added() const noexcept { return records_in_; }
  std::size_t mini_batches() const noexcept { return runs_; }

 private:
  // A record in a bucket: [u64 index][u64 line][u32 source][u32 text length][u32 key length]
  // [key][text]. In the output the key is dropped and the source renumbered for the
  // mini-batch: the first 24 bytes are TableSlice's frame.
  static constexpr std::uint64_t frame_header = 28;
  static constexpr std::size_t max_fan_out = 256;

  // An append-only file with a write buffer of a fixed capacity, read back with pread.
  class File {
   public:
    std::filesystem::path path;

    File() = default;
    File(File&& o) noexcept
        : path(std::move(o.path)),
          fd_(std::exchange(o.fd_, -1)),
          cap_(o.cap_),
          written_(o.written_),
          buf_(std::move(o.buf_)) {}
    File& operator=(File&& o) noexcept {
      if (this != &o) {
        close();
        path = std::move(o.path);
        fd_ = std::exchange(o.fd_, -1);
        cap_ = o.cap_;
        written_ = o.written_;
        buf_ = std::move(o.buf_);
      }
      return *this;
    }
    ~File() { close(); }

    void open_existing(std::filesystem::path p) {
      path = std::move(p);
      fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd_ < 0)
        throw OutputError(fmt::format("cannot open '{}': {}", path.string(), std::strerror(errno)));
    }
    void open(std::filesystem::path p, std::uint64_t buffer) {
      path = std::move(p);
      fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      if (fd_ < 0)
        throw OutputError(
            fmt::format("cannot create '{}': {}", path.string(), std::strerror(errno)));
      cap_ = buffer;
      buf_.reserve(static_cast<std::size_t>(cap_));
    }
    void close() noexcept {
      if (fd_ >= 0) ::close(fd_);
      fd_ = -1;
      std::string().swap(buf_);
    }
    std::uint64_t buffer_capacity() const noexcept { return cap_; }
    std::uint64_t offset() const noexcept { return written_ + buf_.size(); }

    // Writes `n` bytes through the buffer; bytes that cannot fit it go straight to the file.
    void write(const char* data, std::uint64_t n) {
      if (buf_.size() + n > cap_) flush();
      if (n > cap_) {
        write_all(data, n);
        return;
      }
      buf_.append(data, static_cast<std::size_t>(n));
    }
    void flush() {
      write_all(buf_.data(), buf_.size());
      buf_.clear();
    }
    void read(char* into, std::uint64_t n, std::uint64_t at) const {
      while (n > 0) {
        const ssize_t got = ::pread(fd_, into, static_cast<std::size_t>(n), static_cast<off_t>(at));
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0)
          throw OutputError(
              fmt::format("cannot read '{}': {}", path.string(),
                          got == 0 ? "unexpected end of file" : std::strerror(errno)));
        into += got;
        at += static_cast<std::uint64_t>(got);
        n -= static_cast<std::uint64_t>(got);
      }
    }

   private:
    void write_all(const char* data, std::uint64_t n) {
      while (n > 0) {
        const ssize_t put = ::write(fd_, data, static_cast<std::size_t>(n));
        if (put < 0 && errno == EINTR) continue;
        if (put < 0)
          throw OutputError(
              fmt::format("cannot write '{}': {}", path.string(), std::strerror(errno)));
        data += put;
        n -= static_cast<std::uint64_t>(put);
        written_ += static_cast<std::uint64_t>(put);
      }
    }
    int fd_ = -1;
    std::uint64_t cap_ = 0;
    std::uint64_t written_ = 0;
    std::string buf_;
  };

  // A spill file being written, and what it holds.
  struct Writer {
    File file;
    std::uint64_t bytes = 0;
    std::uint64_t records = 0;
    std::uint64_t weight = 0;  // text + line break of its records: what batch_bytes counts
  };

  // A spill file waiting to be grouped. `level` is the hash seed it was split with.
  struct Bucket {
    std::filesystem::path path;
    std::uint64_t bytes = 0;
    std::uint64_t records = 0;
    std::uint64_t weight = 0;
    std::uint64_t level = 0;
  };

  // A bucket's records read one frame at a time through a buffer.
  struct FrameReader {
    File file;
    std::uint64_t at = 0;
    std::uint64_t end = 0;
    std::string buf;  // holds bytes [buf_at, buf_at + buf.size()) of the file
    std::uint64_t buf_at = 0;

    // The next frame's bytes (into `frame`), or false at the end.
    bool next(std::string& frame) {
      if (at >= end) return false;
      char header[frame_header];
      take(header, frame_header);
      const std::uint64_t body = u32_at(header + 20) + std::uint64_t{u32_at(header + 24)};
      frame.assign(header, frame_header);
      frame.resize(static_cast<std::size_t>(frame_header + body));
      take(frame.data() + frame_header, body);
      return true;
    }

   private:
    void take(char* into, std::uint64_t n) {
      if (at + n > end)
        throw OutputError(
            fmt::format("cannot read '{}': a record is cut short", file.path.string()));
      while (n > 0) {
        if (at < buf_at || at >= buf_at + buf.size()) {
          const std::uint64_t len = std::min<std::uint64_t>(buf.capacity(), end - at);
          buf.resize(static_cast<std::size_t>(len));
          file.read(buf.data(), len, at);
          buf_at = at;
        }
        const std::uint64_t avail = std::min(n, buf_at + buf.size() - at);
        std::memcpy(into, buf.data() + (at - buf_at), static_cast<std::size_t>(avail));
        into += avail;
        at += avail;
        n -= avail;
      }
    }
  };

  static std::uint32_t u32_at(const char* p) noexcept {
    std::uint32_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
  }
  static std::uint64_t u64_at(const char* p) noexcept {
    std::uint64_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
  }
  static std::string_view frame_key(const char* f) noexcept {
    return {f + frame_header, u32_at(f + 24)};
  }
  static std::uint64_t frame_size(const char* f) noexcept {
    return frame_header + u32_at(f + 20) + std::uint64_t{u32_at(f + 24)};
  }
  static std::uint64_t frame_weight(const char* f) noexcept { return u32_at(f + 20) + 1; }

  static std::array<char, frame_header> frame_header_of(const RecordOrigin& o,
                                                        std::uint64_t key_size,
                                                        std::uint64_t text_size) {
    std::array<char, frame_header> h;
    const auto text_len = static_cast<std::uint32_t>(text_size);
    const auto key_len = static_cast<std::uint32_t>(key_size);
    std::memcpy(h.data(), &o.index, 8);
    std::memcpy(h.data() + 8, &o.line, 8);
    std::memcpy(h.data() + 16, &o.source, 4);
    std::memcpy(h.data() + 20, &text_len, 4);
    std::memcpy(h.data() + 24, &key_len, 4);
    return h;
  }

  void charge(std::uint64_t n) noexcept {
    held_ += n;
    peak_ = std::max(peak_, held_);
  }
  void release(std::uint64_t n) noexcept { held_ -= std::min(n, held_); }

  // Grows `s` to hold `need` bytes, doubling up to `cap`, and counts the capacity it adds.
  void reserve_counted(std::string& s, std::uint64_t need, std::uint64_t cap) {
    if (need <= s.capacity()) return;
    const std::uint64_t before = s.capacity();
    s.reserve(static_cast<std::size_t>(std::max(need, std::min<std::uint64_t>(2 * before, cap))));
    charge(s.capacity() - before);
  }

  std::filesystem::path new_file_path(std::string_view what) {
    auto p = dir_ / fmt::format("{}-{}-{}", what, ::getpid(), files_made_++);
    created_.push_back(p);
    return p;
  }
  void remove_file(const std::filesystem::path& p) {
    std::error_code ec;
    std::filesystem::remove(p, ec);
    created_.erase(std::remove(created_.begin(), created_.end(), p), created_.end());
  }

  // Opens `n` spill files whose write buffers together take a quarter of the budget (with a
  // tiny budget, none: every write goes straight to its file).
  std::vector<Writer> open_writers(std::size_t n) {
    const std::uint64_t buffer = budget_ / 4 / n;
    std::vector<Writer> ws(n);
    for (auto& w : ws) {
      w.file.open(new_file_path("bucket"), buffer);
      charge(buffer);
    }
    return ws;
  }

  // How many buckets make each about half of what can be loaded at once.
  std::size_t fan_out(std::uint64_t cost) const {
    const std::uint64_t target = std::max<std::uint64_t>(load_limit_ / 2, 1);
    return static_cast<std::size_t>(
        std::clamp<std::uint64_t>((cost + target - 1) / target, 2, max_fan_out));
  }

  // The records no longer fit in memory: from now on they go to spill files. Their number
  // comes from the expected input size, at the cost per byte seen so far.
  void start_spilling() {
    const std::uint64_t seen_cost = mem_.size() + mem_records_ * bytes_per_loaded_record;
    std::uint64_t expected_cost = 4 * std::max<std::uint64_t>(seen_cost, 1);
    if (expected_bytes_ > weight_in_ && weight_in_ > 0)
      expected_cost =
          std::max(expected_cost, static_cast<std::uint64_t>(static_cast<double>(seen_cost) *
                                                             (static_cast<double>(expected_bytes_) /
                                                              static_cast<double>(weight_in_))));
    spilling_ = open_writers(fan_out(expected_cost));
    spill_buckets_ = spilling_.size();
    for (std::uint64_t at = 0; at < mem_.size();) {
      const char* f = mem_.data() + at;
      const std::uint64_t size = frame_size(f);
      write_frame(spilling_, f, 0);
      at += size;
    }
    release(mem_.capacity());
    std::string().swap(mem_);
    mem_records_ = 0;
  }

  static std::size_t bucket_of(std::string_view key, std::uint64_t level, std::size_t n) {
    return static_cast<std::size_t>(((key_hash(key, level) >> 32) * n) >> 32);
  }

  static void write_frame(std::vector<Writer>& ws, const char* f, std::uint64_t level) {
    Writer& w = ws[bucket_of(frame_key(f), level, ws.size())];
    const std::uint64_t size = frame_size(f);
    w.file.write(f, size);
    w.bytes += size;
    w.weight += frame_weight(f);
    ++w.records;
  }

  void open_output() {
    out_ = std::make_unique<File>();
    out_->open(new_file_path("groups"), io_bytes_);
    charge(io_bytes_);
  }

  // --- Grouping one bucket -------------------------------------------------------------------

  // Makes the next group current, loading, streaming or splitting buckets as needed.
  bool open_group() {
    for (;;) {
      if (loaded_ && group_ < group_first_.size()) {
        group_left_ = group_weight_[group_];
        group_records_left_ =
            (group_ + 1 < group_first_.size() ? group_start_[group_ + 1] : order_.size()) -
            group_start_[group_];
        ++group_;
        group_open_ = true;
        return true;
      }
      if (loaded_) unload();
      if (stream_) {
        stream_.reset();
        release(io_bytes_);
        drop_scratch();
        remove_file(stream_path_);
      }
      if (pending_.empty()) return false;
      Bucket b = std::move(pending_.front());
      pending_.pop_front();
      const std::uint64_t cost = b.bytes + b.records * bytes_per_loaded_record;
      if (cost <= load_limit_) {
        load_bucket(b);
        continue;
      }
      if (single_key(b)) {
        start_stream(b);
        return true;
      }
      // Two keys that collide under 64 seeds in a row: the hash is broken, not the input.
      if (b.level > 64)
        throw Error(
            "parallel_run.internal",
            fmt::format("cannot split the partition_keys spill file '{}'", b.path.string()));
      split(b);
    }
  }

  // Reads a whole bucket into memory and groups it.
  void load_bucket(const Bucket& b) {
    File f;
    f.open_existing(b.path);
    mem_.resize(static_cast<std::size_t>(b.bytes));
    charge(mem_.capacity());
    f.read(mem_.data(), b.bytes, 0);
    f.close();
    remove_file(b.path);
    mem_records_ = b.records;
    load_memory();
  }

  // Groups the frames in mem_: each key's records in their order, keys in order of first
  // appearance. A counting sort over group ids, so the bookkeeping is a few flat arrays.
  void load_memory() {
    const std::size_t n = static_cast<std::size_t>(mem_records_);
    std::size_t slots = 4;
    while (slots < 2 * n)
      slots *= 2;
    offsets_.assign(n, 0);
    std::vector<std::uint32_t> gid(n);
    std::vector<std::uint32_t> table(slots, 0);  // group id + 1; 0: empty
    charge(8 * n + 4 * n + 4 * slots);
    // Not a splitting seed: the keys of a bucket share their splitting hash's high bits.
    const std::uint64_t seed = 0x5eed0000;
    std::uint64_t at = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const char* f = mem_.data() + at;
      offsets_[i] = at;
      const std::string_view key = frame_key(f);
      std::size_t s = static_cast<std::size_t>(key_hash(key, seed)) & (slots - 1);
      for (;;) {
        if (table[s] == 0) {
          if (group_first_.size() == group_first_.capacity()) {
            const std::uint64_t before = group_first_.capacity();
            const std::size_t grow = std::min(n, std::max<std::size_t>(16, 2 * before));
            group_first_.reserve(grow);
            group_weight_.reserve(grow);
            group_start_.reserve(grow);
            charge(16 * (group_first_.capacity() - before));
          }
          group_first_.push_back(static_cast<std::uint32_t>(i));
          group_weight_.push_back(0);
          group_start_.push_back(0);
          table[s] = static_cast<std::uint32_t>(group_first_.size());
          break;
        }
        if (frame_key(mem_.data() + offsets_[group_first_[table[s] - 1]]) == key) break;
        s = (s + 1) & (slots - 1);
      }
      gid[i] = table[s] - 1;
      group_weight_[gid[i]] += frame_weight(f);
      at += frame_size(f);
    }
    release(4 * slots);
    std::vector<std::uint32_t>().swap(table);
    // Counting sort: group_start_ holds where each group begins in order_.
    std::uint32_t sum = 0;
    for (std::size_t i = 0; i < n; ++i)
      ++group_start_[gid[i]];
    for (auto& s : group_start_)
      s = std::exchange(sum, sum + s);
    order_.assign(n, 0);
    charge(4 * n);
    std::vector<std::uint32_t> fill(group_start_);
    charge(4 * fill.size());
    for (std::size_t i = 0; i < n; ++i)
      order_[fill[gid[i]]++] = static_cast<std::uint32_t>(i);
    release(4 * fill.size() + 4 * n);  // fill and gid
    group_ = 0;
    next_in_order_ = 0;
    loaded_ = true;
  }

  void unload() {
    release(mem_.capacity() + 8 * offsets_.capacity() + 4 * order_.capacity() +
            16 * group_first_.capacity());
    std::string().swap(mem_);
    std::vector<std::uint64_t>().swap(offsets_);
    std::vector<std::uint32_t>().swap(order_);
    std::vector<std::uint32_t>().swap(group_first_);
    std::vector<std::uint32_t>().swap(group_start_);
    std::vector<std::uint64_t>().swap(group_weight_);
    mem_records_ = 0;
    loaded_ = false;
  }

  // Whether every record of `b` has the same key (read once, holding one key and one frame).
  bool single_key(const Bucket& b) {
    FrameReader r = reader(b);
    std::string first_key;
    bool single = true;
    if (r.next(frame_)) {
      track_frame();
      first_key.assign(frame_key(frame_.data()));
      charge(first_key.capacity());
    }
    while (single && r.next(frame_)) {
      track_frame();
      single = frame_key(frame_.data()) == first_key;
    }
    release(io_bytes_ + first_key.capacity());
    drop_scratch();
    return single;
  }

  // Streams a one-key bucket to the output as it is: its records are already in order.
  void start_stream(const Bucket& b) {
    stream_ = std::make_unique<FrameReader>(reader(b));
    stream_path_ = b.path;
    group_left_ = b.weight;
    group_records_left_ = b.records;
    group_open_ = true;
    ++streamed_;
  }

  // Spreads a bucket over new buckets with the next hash seed; they go first in the queue,
  // in order, so the order of groups does not depend on anything but the input.
  void split(const Bucket& b) {
    ++resplits_;
    FrameReader r = reader(b);
    std::vector<Writer> ws = open_writers(fan_out(b.bytes + b.records * bytes_per_loaded_record));
    while (r.next(frame_)) {
      track_frame();
      write_frame(ws, frame_.data(), b.level);
    }
    release(io_bytes_);
    drop_scratch();
    remove_file(b.path);
    for (auto it = ws.rbegin(); it != ws.rend(); ++it) {
      it->file.flush();
      release(it->file.buffer_capacity());
      it->file.close();
      if (it->records == 0) {
        remove_file(it->file.path);
        continue;
      }
      pending_.push_front(Bucket{it->file.path, it->bytes, it->records, it->weight, b.level + 1});
    }
  }

  FrameReader reader(const Bucket& b) {
    FrameReader r;
    r.file.open_existing(b.path);
    r.end = b.bytes;
    r.buf.reserve(static_cast<std::size_t>(io_bytes_));
    charge(io_bytes_);
    return r;
  }

  // Counts the frame buffer's growth (it holds the largest frame read so far).
  void track_frame() {
    if (frame_.capacity() > frame_counted_) {
      charge(frame_.capacity() - frame_counted_);
      frame_counted_ = frame_.capacity();
    }
  }
  void drop_scratch() {
    release(frame_counted_);
    frame_counted_ = 0;
    std::string().swap(frame_);
  }

  std::uint64_t peek_weight() {
    if (stream_) {
      // The stream's next frame is read by emit_record; a one-key group's records are
      // cut at the size one at a time, so peek reads ahead into frame_.
      if (!peeked_) {
        stream_->next(frame_);
        track_frame();
        peeked_ = true;
      }
      return frame_weight(frame_.data());
    }
    return frame_weight(mem_.data() + offsets_[order_[next_in_order_]]);
  }

  // Writes the current group's next record to the output; returns its weight.
  std::uint64_t emit_record() {
    const char* f;
    if (stream_) {
      if (!peeked_) {
        stream_->next(frame_);
        track_frame();
      }
      peeked_ = false;
      f = frame_.data();
    } else {
      f = mem_.data() + offsets_[order_[next_in_order_++]];
    }
    const std::uint64_t key_len = u32_at(f + 24);
    const std::uint32_t source = u32_at(f + 16);
    // Neighbouring records mostly come from one file: the map is asked only on a change.
    if (run_sources_.empty() || source != last_source_) {
      const auto [it, added] =
          run_source_index_.try_emplace(source, static_cast<std::uint32_t>(run_sources_.size()));
      if (added) run_sources_.push_back(source);
      last_source_ = source;
      last_local_ = it->second;
    }
    char header[24];
    std::memcpy(header, f, 16);
    std::memcpy(header + 16, &last_local_, 4);
    std::memcpy(header + 20, f + 20, 4);
    out_->write(header, sizeof header);
    out_->write(f + frame_header + key_len, u32_at(f + 20));
    const std::uint64_t w = frame_weight(f);
    group_left_ -= w;
    --group_records_left_;
    return w;
  }

  std::filesystem::path dir_;
  std::uint64_t batch_bytes_;
  std::uint64_t budget_;
  std::uint64_t expected_bytes_;
  std::uint64_t io_bytes_ = 0;      // each read or write buffer of the grouping phase
  std::uint64_t load_limit_ = 0;    // what a loaded bucket may cost, beside the output buffer
  std::uint64_t memory_limit_ = 0;  // what records held before any spilling may cost
  std::uint64_t held_ = 0;
  std::uint64_t peak_ = 0;
  bool finished_ = false;

  // Input
  std::string mem_;  // frames in memory, before spilling; later the loaded bucket
  std::uint64_t mem_records_ = 0;
  std::uint64_t records_in_ = 0;
  std::uint64_t weight_in_ = 0;
  std::vector<Writer> spilling_;
  std::size_t spill_buckets_ = 0;
  std::deque<Bucket> pending_;
  std::vector<std::filesystem::path> created_;
  std::size_t files_made_ = 0;

  // The loaded bucket: frame offsets, the output order, and per group its first record,
  // its start in order_ and its weight.
  bool loaded_ = false;
  std::vector<std::uint64_t> offsets_;
  std::vector<std::uint32_t> order_;
  std::vector<std::uint32_t> group_first_;
  std::vector<std::uint32_t> group_start_;
  std::vector<std::uint64_t> group_weight_;
  std::size_t group_ = 0;
  std::size_t next_in_order_ = 0;

  // A one-key bucket streamed to the output.
  std::unique_ptr<FrameReader> stream_;
  std::filesystem::path stream_path_;
  std::string frame_;
  std::uint64_t frame_counted_ = 0;
  bool peeked_ = false;

  // The group being written.
  bool group_open_ = false;
  std::uint64_t group_left_ = 0;
  std::uint64_t group_records_left_ = 0;

  std::unique_ptr<File> out_;
  std::vector<std::uint32_t> run_sources_;  // the sources of the mini-batch being written
  std::unordered_map<std::uint32_t, std::uint32_t> run_source_index_;
  std::uint32_t last_source_ = 0;
  std::uint32_t last_local_ = 0;
  std::size_t runs_ = 0;
  std::size_t resplits_ = 0;
  std::size_t streamed_ = 0;
};

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
