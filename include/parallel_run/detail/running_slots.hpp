// What each worker that shares the job's process is running, kept where a death of the
// process cannot take it: <output>/.parallel_run_journal/running, a small file mapped into
// memory with one slot per worker. A worker marks its slot before run() with a few stores
// and empties it when run() returns (no system call: the write(2) per attempt it replaces was a
// measurable part of the small-files run's CPU, docs/benchmarks.md, "2026-12-01, third session");
// the kernel keeps the page when the process is killed or crashes (not through a power cut, after
// which no mini-batch is blamed). The next session reads the slots of the session that died and
// writes them to the journal as started records (see run_journal.hpp), so the deaths a mini-batch
// was present at add up across sessions.
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/errors.hpp"
#include "parallel_run/detail/fingerprint.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

PARALLEL_RUN_BEGIN_NAMESPACE
namespace detail {

class RunningSlots {
 public:
  /// A worker's last start, as its slot holds it.
  struct Start {
    std::uint64_t index = 0;
    std::int64_t attempt = 0;
    std::uint64_t worker = 0;
  };

  /// Slots for `nodes` nodes of `per_node` workers each (worker ids as
  /// cluster_backend.hpp numbers them: node << 32 | worker on that node).
  static RunningSlots create(const std::filesystem::path& path, std::uint64_t session,
                             std::size_t nodes, std::size_t per_node) {
    RunningSlots s;
    // At most max_slots (2 MiB of file): workers past that record their starts otherwise.
    s.nodes_ = std::clamp<std::size_t>(nodes, 1, max_slots);
    s.per_node_ = std::clamp<std::size_t>(per_node, 1, max_slots / s.nodes_);
    s.size_ = header_bytes + s.nodes_ * s.per_node_ * slot_words * 8;
    s.session_ = session;
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) fail(path, "open");
    // Its blocks allocated now, not sparse: a store to a page of a hole on a disk that has
    // filled up since would end the process with SIGBUS.
    if (const int e = ::posix_fallocate(fd, 0, static_cast<off_t>(s.size_)); e != 0) {
      ::close(fd);
      fail(path, "size", e);
    }
    void* p = ::mmap(nullptr, s.size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    const int e = errno;
    ::close(fd);  // the mapping keeps the file
    if (p == MAP_FAILED) fail(path, "map", e);
    s.words_ = static_cast<std::uint64_t*>(p);
    s.words_[0] = magic;
    s.words_[1] = session;
    s.words_[2] = s.nodes_;
    s.words_[3] = s.per_node_;
    return s;
  }

  /// The valid slots of the file at `path` if it belongs to session `session` (else none: a
  /// missing, short or foreign file, one a later session has not written yet, or one whose
  /// session a stop signal ended).
  static std::vector<Start> read(const std::filesystem::path& path, std::uint64_t session) {
    std::vector<Start> starts;
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return starts;
    std::vector<std::uint64_t> w(header_bytes / 8);
    const auto got = ::pread(fd, w.data(), header_bytes, 0);
    if (got != static_cast<ssize_t>(header_bytes) || w[0] != magic || w[1] != session ||
        w[2] == 0 || w[3] == 0 || w[2] * w[3] > max_slots || w[stopped_word] != 0) {
      ::close(fd);
      return starts;
    }
    const std::size_t slots = w[2] * w[3];
    w.resize(header_bytes / 8 + slots * slot_words);
    const auto body = static_cast<ssize_t>(slots * slot_words * 8);
    const bool whole = ::pread(fd, w.data() + header_bytes / 8, static_cast<std::size_t>(body),
                               header_bytes) == body;
    ::close(fd);
    if (!whole) return starts;
    for (std::size_t i = 0; i < slots; ++i) {
      const std::uint64_t* slot = w.data() + header_bytes / 8 + i * slot_words;
      if (slot[0] == 0 || slot[3] != check(slot[0], slot[1], slot[2], session)) continue;
      starts.push_back({slot[0] - 1, static_cast<std::int64_t>(slot[1]), slot[2]});
    }
    return starts;
  }

  RunningSlots(RunningSlots&& o) noexcept
      : words_(std::exchange(o.words_, nullptr)),
        size_(o.size_),
        nodes_(o.nodes_),
        per_node_(o.per_node_),
        session_(o.session_) {}
  RunningSlots& operator=(RunningSlots&&) = delete;
  ~RunningSlots() {
    if (words_ != nullptr) ::munmap(words_, size_);
  }

  /// `worker` starts an attempt of mini-batch `index`. Thread-safe for distinct workers.
  /// False when the worker has no slot (more replacements than slots): the caller records
  /// the start otherwise.
  bool mark(std::uint64_t index, std::int64_t attempt, std::uint64_t worker) noexcept {
    std::uint64_t* slot = slot_of(worker);
    if (slot == nullptr) return false;
    // The check word last: a slot caught between the stores does not check and is skipped
    // (its attempt had not reached run()).
    store(slot[3], 0);
    store(slot[0], index + 1);
    store(slot[1], static_cast<std::uint64_t>(attempt));
    store(slot[2], worker);
    store(slot[3], check(index + 1, static_cast<std::uint64_t>(attempt), worker, session_));
    return true;
  }

  /// `worker`'s attempt ended: its slot is emptied (the worker's own thread, as mark()).
  void unmark(std::uint64_t worker) noexcept {
    if (std::uint64_t* slot = slot_of(worker)) store(slot[0], 0);
  }

  /// The session ends at once by a stop signal the user sent (a second Ctrl-C): its slots
  /// blame no mini-batch. One store: safe in a signal handler, while workers mark and unmark.
  void stopped_by_signal() noexcept { store(words_[stopped_word], 1); }

  /// Nothing runs now: every slot is emptied. Only while no worker can start an attempt.
  void clear() noexcept {
    for (std::size_t i = 0; i < nodes_ * per_node_; ++i)
      store(words_[header_bytes / 8 + i * slot_words], 0);
  }

 private:
  static constexpr std::uint64_t magic = 0x31534c4f54525250ull;  // "PRRTOLS1", little-endian
  static constexpr std::size_t header_bytes = 64;  // magic, session, nodes, per node, stopped
  static constexpr std::size_t stopped_word = 4;
  static constexpr std::size_t slot_words = 4;  // index + 1 (0: empty), attempt, worker, check
  static constexpr std::size_t max_slots = 1u << 16;

  RunningSlots() = default;

  std::uint64_t* slot_of(std::uint64_t worker) const noexcept {
    const std::uint64_t node = worker >> 32, local = worker & 0xffffffffu;
    if (node >= nodes_ || local >= per_node_) return nullptr;
    return words_ + header_bytes / 8 + (node * per_node_ + local) * slot_words;
  }
  static void store(std::uint64_t& word, std::uint64_t value) noexcept {
    std::atomic_ref<std::uint64_t>(word).store(value, std::memory_order_release);
  }
  static std::uint64_t check(std::uint64_t index_plus_one, std::uint64_t attempt,
                             std::uint64_t worker, std::uint64_t session) {
    const std::uint64_t words[4] = {index_plus_one, attempt, worker, session};
    return hash_bytes(std::string_view(reinterpret_cast<const char*>(words), sizeof words)) | 1;
  }
  [[noreturn]] static void fail(const std::filesystem::path& path, const char* what,
                                int error = errno) {
    throw OutputError(fmt::format("cannot {} the journal file '{}': {}", what, path.string(),
                                  std::strerror(error)));
  }

  std::uint64_t* words_ = nullptr;
  std::size_t size_ = 0;
  std::size_t nodes_ = 1, per_node_ = 1;
  std::uint64_t session_ = 0;
};

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
