// Writes each mini-batch's rows (and failed-item lines) in mini-batch order, whatever the
// order results arrive in. A result that arrives early waits for the earlier ones, and what
// waiting costs in memory is counted whole: the bytes as allocated and the bookkeeping of
// every waiting entry. Within max_buffered_output_bytes, results' bytes stay in memory up to
// half of it; later ones go to a spill file in the output folder and are read back in their
// turn; and once the waiting results cost the whole budget, full() tells the coordinator to
// cut no new mini-batch until the late one arrives. So one slow mini-batch costs bounded
// memory and bounded disk, never memory that grows with the rest of the input.
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/errors.hpp"
#include "parallel_run/detail/atomic_file.hpp"
#include "parallel_run/detail/temp_names.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <deque>
#include <filesystem>
#include <string>
#include <vector>

PARALLEL_RUN_BEGIN_NAMESPACE
namespace detail {

/// What a string's characters take from the allocator: nothing when they fit inside the
/// string (the small-string buffer), else the capacity rounded up to a malloc chunk (16-byte
/// granules with an 8-byte header, 32 bytes at least).
inline std::uint64_t heap_cost(const std::string& s) noexcept {
  const char* data = s.data();
  const char* self = reinterpret_cast<const char*>(&s);
  if (data >= self && data < self + sizeof s) return 0;
  return std::max<std::uint64_t>(32, (s.capacity() + 1 + 8 + 15) / 16 * 16);
}

class OrderedOutput {
 public:
  /// Whatever the budget, the bookkeeping of this many bytes of waiting results (about
  /// 16,000 results) is allowed before the coordinator holds back: a budget of 0 spills
  /// every early result rather than stalling the workers at every late one.
  static constexpr std::uint64_t min_bookkeeping_bytes = 1 << 20;
  /// The spill file gives back its disk space by regions of this size, once nothing waiting
  /// lies in them.
  static constexpr std::uint64_t default_spill_region = 16 << 20;

  /// `rows` may be null (summary_only). The spill file is created only when needed.
  OrderedOutput(AtomicFile* rows, AtomicFile* failed, std::filesystem::path spill_dir,
                std::uint64_t max_buffered_bytes,
                std::uint64_t spill_region_bytes = default_spill_region)
      : rows_(rows),
        failed_(failed),
        spill_dir_(std::move(spill_dir)),
        budget_(max_buffered_bytes),
        region_(std::max<std::uint64_t>(spill_region_bytes, 4096)) {}
  ~OrderedOutput() {
    if (spill_fd_ >= 0) {
      ::close(spill_fd_);
      std::error_code ec;
      std::filesystem::remove(spill_path_, ec);
    }
  }
  OrderedOutput(const OrderedOutput&) = delete;
  OrderedOutput& operator=(const OrderedOutput&) = delete;

  /// The final output of mini-batch `index`; each index is submitted exactly once.
  void submit(std::size_t index, std::string rows, std::string failed) {
    if (index < next_ || (index - next_ < slots_.size() && slots_[index - next_].state != awaited))
      throw Error("parallel_run.internal",
                  fmt::format("mini-batch {} reached the output twice", index));
    if (index == next_) {
      write(rows, failed);
      advance();
      drain();
      return;
    }
    if (index - next_ >= slots_.size()) slots_.resize(index - next_ + 1);
    Slot& slot = slots_[index - next_];
    slot.rows_len = rows.size();
    slot.failed_len = failed.size();
    if (failed.empty()) {
      slot.bytes = std::move(rows);
    } else if (rows.empty()) {
      slot.bytes = std::move(failed);
    } else {
      slot.bytes = std::move(rows);
      slot.bytes += failed;
    }
    const std::uint64_t cost = heap_cost(slot.bytes);
    if (cost == 0 || heap_bytes_ + cost <= budget_ / 2) {
      slot.state = in_memory;
      heap_bytes_ += cost;
    } else {
      slot.state = spilled;
      slot.offset = spill(slot.bytes);
      std::string().swap(slot.bytes);
      ++spilled_chunks_;
      ++spilled_waiting_;
    }
    ++waiting_;
  }

  /// The next mini-batch index the output waits for.
  std::size_t next_index() const noexcept { return next_; }
  /// Mini-batches waiting for an earlier one.
  std::size_t waiting() const noexcept { return waiting_; }
  /// What the waiting results cost in memory: their bytes as allocated and the bookkeeping
  /// of every entry (also those spilled, and the gaps the late ones leave).
  std::uint64_t memory_bytes() const noexcept { return slots_.size() * sizeof(Slot) + heap_bytes_; }
  /// The part of memory_bytes() that is results' bytes.
  std::uint64_t buffered_bytes() const noexcept { return heap_bytes_; }
  /// Waiting results cost the whole budget: cut no new mini-batch until the late one arrives
  /// (it is in flight: everything at or after next_index() was cut).
  bool full() const noexcept {
    return waiting_ > 0 && memory_bytes() >= std::max(budget_, min_bookkeeping_bytes);
  }
  /// The bookkeeping of one mini-batch at or after next_index().
  static constexpr std::uint64_t slot_bytes() noexcept { return sizeof(Slot); }
  /// How many results went through the spill file.
  std::size_t spilled_chunks() const noexcept { return spilled_chunks_; }
  /// Disk the spill file holds now: written, not yet given back.
  std::uint64_t spill_file_bytes() const noexcept { return spill_end_ - released_bytes_; }

 private:
  enum State : std::uint8_t { awaited, in_memory, spilled };
  // One mini-batch at or after next_: its rows, then its failed lines, in `bytes` (in
  // memory) or at `offset` in the spill file.
  struct Slot {
    std::string bytes;
    std::uint64_t offset = 0;
    std::uint64_t rows_len = 0, failed_len = 0;
    State state = awaited;
  };

  void write(std::string_view rows, std::string_view failed) {
    if (rows_) rows_->write(rows);
    failed_->write(failed);
  }

  void advance() {
    if (!slots_.empty()) slots_.pop_front();
    ++next_;
  }

  void drain() {
    while (!slots_.empty() && slots_.front().state != awaited) {
      Slot& slot = slots_.front();
      if (slot.state == spilled) {
        read_back(slot);
        write(std::string_view(scratch_).substr(0, slot.rows_len),
              std::string_view(scratch_).substr(slot.rows_len));
        release(slot.offset, slot.rows_len + slot.failed_len);
        --spilled_waiting_;
        // A huge result read back does not keep its buffer for the rest of the job.
        if (scratch_.capacity() > (1 << 20)) std::string().swap(scratch_);
      } else {
        heap_bytes_ -= heap_cost(slot.bytes);
        write(std::string_view(slot.bytes).substr(0, slot.rows_len),
              std::string_view(slot.bytes).substr(slot.rows_len));
      }
      --waiting_;
      advance();
    }
    if (spilled_waiting_ == 0) rewind();
  }

  // Appends a result to the spill file (through a buffer: many results are small) and
  // returns its offset.
  std::uint64_t spill(const std::string& bytes) {
    if (spill_fd_ < 0) {
      spill_path_ = spill_dir_ / fmt::format(".parallel_run_spill-{}", process_tag());
      spill_fd_ = ::open(spill_path_.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      if (spill_fd_ < 0)
        throw OutputError(fmt::format("cannot create spill file '{}': {}", spill_path_.string(),
                                      std::strerror(errno)));
    }
    const std::uint64_t offset = spill_end_;
    if (pending_.size() + bytes.size() > (1 << 20)) flush();
    if (bytes.size() > (1 << 20))
      pwrite_all(bytes.data(), bytes.size(), offset);
    else
      pending_ += bytes;
    spill_end_ += bytes.size();
    for (std::uint64_t r = offset / region_; r * region_ < spill_end_; ++r) {
      if (r >= region_live_.size()) region_live_.resize(r + 1, 0);
      region_live_[r] += overlap(r, offset, bytes.size());
    }
    return offset;
  }

  void flush() {
    if (pending_.empty()) return;
    pwrite_all(pending_.data(), pending_.size(), spill_end_ - pending_.size());
    pending_.clear();
  }

  void pwrite_all(const char* data, std::size_t size, std::uint64_t offset) {
    while (size > 0) {
      const ssize_t n = ::pwrite(spill_fd_, data, size, static_cast<off_t>(offset));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0)
        throw OutputError(fmt::format("cannot write spill file '{}': {}", spill_path_.string(),
                                      std::strerror(n < 0 ? errno : ENOSPC)));
      data += n;
      size -= static_cast<std::size_t>(n);
      offset += static_cast<std::uint64_t>(n);
    }
  }

  void read_back(const Slot& slot) {
    flush();
    scratch_.resize(slot.rows_len + slot.failed_len);
    std::size_t done = 0;
    while (done < scratch_.size()) {
      const ssize_t n = ::pread(spill_fd_, scratch_.data() + done, scratch_.size() - done,
                                static_cast<off_t>(slot.offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0)
        throw OutputError(fmt::format("cannot read spill file '{}': {}", spill_path_.string(),
                                      n < 0 ? std::strerror(errno) : "it is shorter than written"));
      done += static_cast<std::size_t>(n);
    }
  }

  std::uint64_t overlap(std::uint64_t region, std::uint64_t offset, std::uint64_t size) const {
    const std::uint64_t begin = std::max(offset, region * region_);
    const std::uint64_t end = std::min(offset + size, (region + 1) * region_);
    return end > begin ? end - begin : 0;
  }

  // A result has been read back: a region of the file nothing waits in any more, and that
  // later results will not be written into, gives its disk space back (a hole).
  void release(std::uint64_t offset, std::uint64_t size) {
    if (size == 0) return;
    for (std::uint64_t r = offset / region_; r * region_ < offset + size; ++r) {
      region_live_[r] -= overlap(r, offset, size);
      if (region_live_[r] != 0 || (r + 1) * region_ > spill_end_ || !can_punch_) continue;
      if (::fallocate(spill_fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                      static_cast<off_t>(r * region_), static_cast<off_t>(region_)) == 0)
        released_bytes_ += region_;
      else
        can_punch_ = false;  // a file system without holes: the file is bounded by rewind()
    }
  }

  // Nothing spilled waits: the file starts again from its beginning.
  void rewind() {
    if (spill_end_ == 0) return;
    pending_.clear();
    if (::ftruncate(spill_fd_, 0) != 0)
      throw OutputError(fmt::format("cannot truncate spill file '{}': {}", spill_path_.string(),
                                    std::strerror(errno)));
    spill_end_ = 0;
    released_bytes_ = 0;
    region_live_.clear();
  }

  AtomicFile* rows_;
  AtomicFile* failed_;
  std::filesystem::path spill_dir_;
  std::uint64_t budget_;
  std::uint64_t region_;
  std::deque<Slot> slots_;  // mini-batches next_, next_ + 1, ...
  std::size_t next_ = 0;
  std::size_t waiting_ = 0;
  std::uint64_t heap_bytes_ = 0;
  std::size_t spilled_chunks_ = 0;
  std::size_t spilled_waiting_ = 0;
  int spill_fd_ = -1;
  std::filesystem::path spill_path_;
  std::uint64_t spill_end_ = 0;             // bytes appended since the last rewind
  std::string pending_;                     // the end of the file, not written yet
  std::string scratch_;                     // a result read back
  std::vector<std::uint64_t> region_live_;  // bytes still waiting, per region
  std::uint64_t released_bytes_ = 0;
  bool can_punch_ = true;
};

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
