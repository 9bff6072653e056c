// The journal: what survives a run's process, so that a later process can rebuild the run's
// output without running its finished mini-batches again. Two append-only files in
// <output>/.parallel_run_journal/:
//   data     each finished mini-batch's bytes: its rows, then its lines of failed_items.csv;
//   journal  records: a header (the run's fingerprint); per process that works on the run
//            (the first, then each --resume) a session record, one record per finished
//            mini-batch (where its bytes are in data, their checksum, its outcome and the
//            hash of its inputs), and an end record (how that process's run ended). A
//            session without an end record died: the last mini-batch each worker that
//            shares the job's process (thread backend) had started, unless it finished, was
//            running when it did. Those starts are kept in a third file, running (see
//            running_slots.hpp), and the next session writes the dead one's to the journal
//            as started records, before its own session record (a worker without a slot
//            writes its started records itself).
// Each record is framed [u32 payload length][u64 xxh64 of the payload][payload], so a torn or
// truncated tail (a crash in the middle of a write) is found and ignored, never fatal: the
// reader stops at the first record that does not check.
// Durability comes in groups (not an fsync per mini-batch): records wait in memory until
// commit(), which makes data durable first and only then writes the records that point into
// it (synced in their turn at most a group time later). A record on disk therefore never
// points at bytes that are not. Session and
// started records point at nothing: they are written at once (not synced), so that they
// survive the death of the process (the kernel keeps what was written), if not a power cut.
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/errors.hpp"
#include "parallel_run/detail/fingerprint.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

PARALLEL_RUN_BEGIN_NAMESPACE
namespace detail {

// 2: a session record holds its file system clock reading (inputs changed after it are not
// the ones read).
inline constexpr std::uint32_t journal_format_version = 2;

/// What became of a mini-batch, as the journal keeps it.
enum class JournalOutcome : std::uint8_t { succeeded = 1, failed = 2 };

/// A finished mini-batch: enough to write its part of the output and of failed_items.csv
/// again, and to tell whether its inputs are still the ones it ran on.
struct JournalEntry {
  std::uint64_t index = 0;
  JournalOutcome outcome = JournalOutcome::succeeded;
  std::int64_t attempts = 0;
  std::uint64_t items_succeeded = 0;
  std::uint64_t items_failed = 0;
  std::uint64_t input_hash = 0;  // InputIdentity of its inputs
  std::uint64_t data_offset = 0;
  std::uint64_t rows_length = 0;
  std::uint64_t failed_length = 0;
  std::uint64_t data_hash = 0;  // xxh64 of its rows and failed lines
  /// Not in the record: the file system clock reading of the session that wrote it (an input
  /// whose ctime is later than this changed after that session read it).
  std::int64_t session_clock_ns = 0;

  friend bool operator==(const JournalEntry&, const JournalEntry&) = default;
};

/// How a run ended, when it did.
struct JournalEnd {
  bool succeeded = false;
  /// Every mini-batch was cut and ran (not stopped by a threshold, a signal or an error).
  bool complete = false;
  std::string summary;
  std::int64_t ended_unix_seconds = 0;
  std::string failure_reason;
  /// The output file and failed_items.csv as the run left them (RunJournal::result_identity):
  /// a reuse compares them. Empty in a journal written before they were recorded: not compared.
  std::string output_identity, failed_items_identity;
};

/// The files of a journal.
struct JournalFiles {
  std::filesystem::path dir;
  std::filesystem::path journal() const { return dir / "journal"; }
  std::filesystem::path data() const { return dir / "data"; }
  /// What each worker of the job's process runs (see running_slots.hpp).
  std::filesystem::path running() const { return dir / "running"; }
  /// The program's hash and the identity of the file it was read from (executable_hash()).
  std::filesystem::path program() const { return dir / "program"; }
};

namespace journal_wire {
enum Type : std::uint8_t { header = 1, entry = 2, end = 3, session = 4, started = 5 };
inline constexpr std::size_t frame_header = 4 + 8;
/// The largest record a reader accepts: a header holds the fingerprint text, the rest are
/// small; anything larger is a torn length, not a record.
inline constexpr std::uint32_t max_payload = 16u << 20;

template <class T>
void put(std::string& out, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  out.append(b, sizeof(T));
}
inline void put_string(std::string& out, std::string_view s) {
  put<std::uint32_t>(out, static_cast<std::uint32_t>(s.size()));
  out.append(s);
}

/// Reads a payload; any overrun makes ok() false.
class Reader {
 public:
  explicit Reader(std::string_view payload) : p_(payload) {}
  template <class T>
  T get() {
    T v{};
    if (p_.size() < sizeof(T)) {
      ok_ = false;
      p_ = {};
      return v;
    }
    std::memcpy(&v, p_.data(), sizeof(T));
    p_.remove_prefix(sizeof(T));
    return v;
  }
  std::string get_string() {
    const auto n = get<std::uint32_t>();
    if (p_.size() < n) {
      ok_ = false;
      p_ = {};
      return {};
    }
    std::string s(p_.substr(0, n));
    p_.remove_prefix(n);
    return s;
  }
  bool ok() const noexcept { return ok_ && p_.empty(); }
  bool more() const noexcept { return !p_.empty(); }

 private:
  std::string_view p_;
  bool ok_ = true;
};

inline void frame(std::string& out, const std::string& payload) {
  put<std::uint32_t>(out, static_cast<std::uint32_t>(payload.size()));
  put<std::uint64_t>(out, hash_bytes(payload));
  out += payload;
}
}  // namespace journal_wire

/// Appends to a journal. Not thread-safe: the coordinator's thread owns it.
class JournalWriter {
 public:
  /// Records wait for commit() at most this long (checked by add() and poll()).
  static constexpr std::chrono::milliseconds default_group_time{1000};
  /// ... and at most this many of them (what a kill -9 loses, beside what runs), unless the
  /// last commit was less than default_commit_gap ago: two fdatasyncs per commit are then at
  /// most 200 a second, which a coordinator taking 30,000 outcomes a second can afford (with
  /// commits every 64 records it ran a third slower); 16 would cost the small-files run a
  /// quarter more time.
  static constexpr std::size_t default_group_size = 64;
  static constexpr std::chrono::milliseconds default_commit_gap{10};

  /// Starts a new journal in `files.dir` (an earlier one there is replaced), its header
  /// written at once and made durable by the first commit (a journal torn before that is no
  /// journal: the next run starts over). Throws OutputError when the folder cannot be
  /// written.
  static JournalWriter create(const JournalFiles& files, const Fingerprint& fingerprint) {
    std::error_code ec;
    std::filesystem::create_directories(files.dir, ec);
    std::filesystem::remove(files.journal(), ec);
    std::filesystem::remove(files.data(), ec);
    JournalWriter w(files, 0, 0);
    std::string payload;
    journal_wire::put<std::uint8_t>(payload, journal_wire::header);
    journal_wire::put<std::uint32_t>(payload, journal_format_version);
    journal_wire::put_string(payload, fingerprint.text());
    w.write_now(payload);
    return w;
  }

  /// Continues the journal read by read_journal(): appends after its last valid record and
  /// after the data that record points to (a torn tail of either file is cut off).
  static JournalWriter resume(const JournalFiles& files, std::uint64_t valid_journal_bytes,
                              std::uint64_t valid_data_bytes) {
    return JournalWriter(files, valid_journal_bytes, valid_data_bytes);
  }

  JournalWriter(JournalWriter&& o) noexcept
      : files_(std::move(o.files_)),
        journal_fd_(std::exchange(o.journal_fd_, -1)),
        data_fd_(std::exchange(o.data_fd_, -1)),
        data_end_(o.data_end_),
        data_synced_(o.data_synced_),
        data_pending_(std::move(o.data_pending_)),
        pending_(std::move(o.pending_)),
        pending_count_(o.pending_count_),
        oldest_pending_(o.oldest_pending_),
        group_time_(o.group_time_),
        group_size_(o.group_size_),
        commit_gap_(o.commit_gap_),
        last_commit_(o.last_commit_),
        commits_(o.commits_),
        records_synced_(o.records_synced_),
        records_unsynced_(o.records_unsynced_) {}
  JournalWriter& operator=(JournalWriter&&) = delete;
  ~JournalWriter() {
    if (journal_fd_ >= 0) ::close(journal_fd_);
    if (data_fd_ >= 0) ::close(data_fd_);
  }

  void set_group(std::chrono::milliseconds time, std::size_t size,
                 std::chrono::milliseconds gap = std::chrono::milliseconds(0)) {
    group_time_ = time;
    group_size_ = size == 0 ? 1 : size;
    commit_gap_ = gap;
  }

  /// A finished mini-batch: its bytes go to data now, its record at the next commit.
  void add(JournalEntry e, std::string_view rows, std::string_view failed) {
    e.data_offset = data_end_;
    e.rows_length = rows.size();
    e.failed_length = failed.size();
    e.data_hash = hash_bytes(failed, hash_bytes(rows));
    // Buffered: one write(2) per group (or per 4 MB), not two per mini-batch.
    data_pending_.append(rows);
    data_pending_.append(failed);
    if (data_pending_.size() >= (4u << 20)) flush_data();
    data_end_ += rows.size() + failed.size();
    std::string payload;
    journal_wire::put<std::uint8_t>(payload, journal_wire::entry);
    for (std::uint64_t v :
         {e.index, static_cast<std::uint64_t>(e.outcome), static_cast<std::uint64_t>(e.attempts),
          e.items_succeeded, e.items_failed, e.input_hash, e.data_offset, e.rows_length,
          e.failed_length, e.data_hash})
      journal_wire::put<std::uint64_t>(payload, v);
    if (pending_count_++ == 0) oldest_pending_ = std::chrono::steady_clock::now();
    journal_wire::frame(pending_, payload);
    poll();
  }

  /// Commits when the group is full or old enough; call it now and then (a timer).
  void poll() {
    if (pending_count_ == 0 && !records_unsynced_) return;
    const auto now = std::chrono::steady_clock::now();
    // No gap before the first commit (last_commit_ is then the clock's epoch, which is the
    // machine's boot: a gap measured from it would depend on the uptime).
    if (pending_count_ > 0 &&
        ((pending_count_ >= group_size_ && (commits_ == 0 || now - last_commit_ >= commit_gap_)) ||
         now - oldest_pending_ >= group_time_))
      commit();
    if (records_unsynced_ && now - records_synced_ >= group_time_) sync_records();
  }

  /// The run's end, committed at once with whatever waits.
  void end(const JournalEnd& e) {
    std::string payload;
    journal_wire::put<std::uint8_t>(payload, journal_wire::end);
    journal_wire::put<std::uint8_t>(payload, e.succeeded ? 1 : 0);
    journal_wire::put<std::uint8_t>(payload, e.complete ? 1 : 0);
    journal_wire::put<std::int64_t>(payload, e.ended_unix_seconds);
    journal_wire::put_string(payload, e.summary);
    journal_wire::put_string(payload, e.failure_reason);
    journal_wire::put_string(payload, e.output_identity);
    journal_wire::put_string(payload, e.failed_items_identity);
    journal_wire::frame(pending_, payload);
    ++pending_count_;
    commit();
    sync_records();
  }

  /// A process starts working on the run (the first one, or a --resume): written at once,
  /// with a reading of the file system's clock taken before the session reads any input (see
  /// file_system_clock()), which it returns.
  std::int64_t session(std::int64_t started_unix_seconds) {
    const std::int64_t clock = file_system_clock();
    std::string payload;
    journal_wire::put<std::uint8_t>(payload, journal_wire::session);
    journal_wire::put<std::int64_t>(payload, started_unix_seconds);
    journal_wire::put<std::int64_t>(payload, clock);
    write_now(payload);
    return clock;
  }

  /// An attempt of mini-batch `index` starts on `worker` (its previous one has ended): written
  /// at once, so that a death of the process while it runs is known to the next session.
  /// Thread-safe with every other call (one write(2) to a file opened for appending).
  void started(std::uint64_t index, std::int64_t attempt, std::uint64_t worker) const {
    std::string payload;
    journal_wire::put<std::uint8_t>(payload, journal_wire::started);
    journal_wire::put<std::uint64_t>(payload, index);
    journal_wire::put<std::int64_t>(payload, attempt);
    journal_wire::put<std::uint64_t>(payload, worker);
    write_now(payload);
  }

  /// Makes data durable, then writes the waiting records after it. The records themselves
  /// are synced at the first commit, then at most once per group time (and at the end): a
  /// killed process loses nothing written, and a power cut at most the last group time's
  /// records, whose mini-batches run again. One fdatasync per commit instead of two: each
  /// flushes the disk's cache, and the job's reads that miss the page cache wait behind it.
  void commit() {
    if (pending_.empty()) return;
    flush_data();
    if (data_synced_ != data_end_) {  // not for records without data (the end)
      sync(data_fd_, files_.data());
      data_synced_ = data_end_;
    }
    write_all(journal_fd_, pending_, files_.journal());
    pending_.clear();
    pending_count_ = 0;
    ++commits_;
    last_commit_ = std::chrono::steady_clock::now();
    records_unsynced_ = true;
    if (commits_ == 1 || last_commit_ - records_synced_ >= group_time_) sync_records();
  }

  /// Makes the written records durable now (commit() does it at most once per group time).
  void sync_records() {
    if (!records_unsynced_) return;
    sync(journal_fd_, files_.journal());
    records_unsynced_ = false;
    records_synced_ = std::chrono::steady_clock::now();
  }

  /// Commits done (each one an fsync of each file).
  std::size_t commits() const noexcept { return commits_; }
  /// Records waiting for the next commit.
  std::size_t pending() const noexcept { return pending_count_; }

 private:
  JournalWriter(JournalFiles files, std::uint64_t journal_bytes, std::uint64_t data_bytes)
      : files_(std::move(files)) {
    // Appending: started records come from other threads than commits (each one write(2)).
    journal_fd_ = open_at(files_.journal(), journal_bytes, O_APPEND);
    data_fd_ = open_at(files_.data(), data_bytes);
    data_end_ = data_bytes;
    data_synced_ = data_bytes;  // the earlier session synced it before the records after it
  }

  // The clock that stamps files' ctime, read through the journal file (setting its times to now
  // sets its ctime to that clock's now); then waits until that clock has moved on, so that any
  // change to an input from here on is stamped later than the reading: file systems stamp
  // with a coarse clock (a tick of 1 to 10 ms), and a file changed in the reading's tick, before
  // it, is one this session reads as it is. Should the clock not move within 20 ms, the
  // reading is taken one nanosecond earlier: a file stamped in that tick counts as changed.
  std::int64_t file_system_clock() const {
    auto now = [&]() -> std::int64_t {
      struct ::stat st {};
      if (::futimens(journal_fd_, nullptr) != 0 || ::fstat(journal_fd_, &st) != 0)
        throw OutputError(fmt::format("cannot set the times of the journal file '{}': {}",
                                      files_.journal().string(), std::strerror(errno)));
      return ctime_ns(st);
    };
    const std::int64_t reading = now();
    for (int i = 0; i < 100; ++i) {
      if (now() > reading) return reading;
      ::usleep(200);
    }
    return reading - 1;
  }

  void flush_data() {
    write_all(data_fd_, data_pending_, files_.data());
    data_pending_.clear();
  }

  void write_now(const std::string& payload) const {
    std::string framed;
    journal_wire::frame(framed, payload);
    write_all(journal_fd_, framed, files_.journal());
  }

  // Opens for appending after `valid` bytes, cutting off what follows them (a torn tail).
  static int open_at(const std::filesystem::path& path, std::uint64_t valid, int flags = 0) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | flags, 0644);
    if (fd < 0)
      throw OutputError(fmt::format("cannot write the journal file '{}': {}", path.string(),
                                    std::strerror(errno)));
    if (::ftruncate(fd, static_cast<off_t>(valid)) != 0 ||
        ::lseek(fd, static_cast<off_t>(valid), SEEK_SET) < 0) {
      const int error = errno;
      ::close(fd);
      throw OutputError(fmt::format("cannot write the journal file '{}': {}", path.string(),
                                    std::strerror(error)));
    }
    return fd;
  }
  static void write_all(int fd, std::string_view bytes, const std::filesystem::path& path) {
    while (!bytes.empty()) {
      const ssize_t n = ::write(fd, bytes.data(), bytes.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0)
        throw OutputError(fmt::format("cannot write the journal file '{}': {}", path.string(),
                                      std::strerror(n < 0 ? errno : ENOSPC)));
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
  }
  static void sync(int fd, const std::filesystem::path& path) {
    if (::fdatasync(fd) != 0)
      throw OutputError(fmt::format("cannot sync the journal file '{}': {}", path.string(),
                                    std::strerror(errno)));
  }

  JournalFiles files_;
  int journal_fd_ = -1, data_fd_ = -1;
  std::uint64_t data_end_ = 0;
  std::uint64_t data_synced_ = 0;  // data_end_ at the data's last fdatasync
  std::string data_pending_;       // data not written yet (written before any commit)
  std::string pending_;
  std::size_t pending_count_ = 0;
  std::chrono::steady_clock::time_point oldest_pending_{};
  std::chrono::milliseconds group_time_ = default_group_time;
  std::size_t group_size_ = default_group_size;
  std::chrono::milliseconds commit_gap_ = default_commit_gap;
  std::chrono::steady_clock::time_point last_commit_{};
  std::size_t commits_ = 0;
  std::chrono::steady_clock::time_point records_synced_{};
  bool records_unsynced_ = false;  // records written since the journal's last fdatasync
};

/// What read_journal() reports as it reads, record by record, in the order written.
struct JournalVisitor {
  std::function<void(const JournalEntry&)> entry;
  std::function<void(std::int64_t started_unix_seconds, std::int64_t clock_ns)> session;
  std::function<void(std::uint64_t index, std::int64_t attempt, std::uint64_t worker)> started;
  std::function<void(const JournalEnd&)> end;
};

/// What read_journal() found.
struct JournalScan {
  bool found = false;  // a journal with a valid header
  Fingerprint fingerprint;
  /// The end record of the last session, if it has one (none: that session's process died).
  std::optional<JournalEnd> end;
  std::size_t entries = 0;
  std::size_t sessions = 0;
  /// Where the valid records end, and where the data they point to ends: a writer resumes
  /// there (anything after is a torn tail).
  std::uint64_t valid_journal_bytes = 0;
  std::uint64_t valid_data_bytes = 0;
  /// Bytes after the last valid record: a torn or corrupt tail, ignored.
  std::uint64_t ignored_bytes = 0;
};

/// Reads the journal in `files`, streaming it (memory does not grow with its length), and
/// calls `on_entry` for each valid mini-batch record, in the order written. Reading stops at
/// the first record that does not check (short, too long, wrong checksum, unknown type) or
/// that points at data beyond the data file's end. A missing or headerless journal is
/// found == false, not an error.
inline JournalScan read_journal(const JournalFiles& files, const JournalVisitor& visit) {
  JournalScan scan;
  const int fd = ::open(files.journal().c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return scan;
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct ::stat st {};
  const std::uint64_t size = ::fstat(fd, &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
  std::uint64_t data_size = 0;
  if (::stat(files.data().c_str(), &st) == 0) data_size = static_cast<std::uint64_t>(st.st_size);

  // A buffered reader over the file: refills keep at most one record and one chunk.
  std::string buffer;
  std::size_t start = 0;
  std::uint64_t consumed = 0;  // file offset of buffer[start]
  bool eof = false;
  auto need = [&](std::size_t n) {
    while (buffer.size() - start < n && !eof) {
      if (start > 0) {
        buffer.erase(0, start);
        start = 0;
      }
      const std::size_t old = buffer.size();
      buffer.resize(old + std::max<std::size_t>(n, 1 << 16));
      const ssize_t got = ::read(fd, buffer.data() + old, buffer.size() - old);
      if (got < 0 && errno == EINTR) {
        buffer.resize(old);
        continue;
      }
      buffer.resize(old + static_cast<std::size_t>(std::max<ssize_t>(got, 0)));
      if (got <= 0) eof = true;
    }
    return buffer.size() - start >= n;
  };

  std::int64_t session_clock = 0;  // of the session whose records are being read
  for (;;) {
    if (!need(journal_wire::frame_header)) break;
    std::uint32_t length = 0;
    std::uint64_t checksum = 0;
    std::memcpy(&length, buffer.data() + start, 4);
    std::memcpy(&checksum, buffer.data() + start + 4, 8);
    if (length == 0 || length > journal_wire::max_payload) break;
    if (!need(journal_wire::frame_header + length)) break;
    const std::string_view payload(buffer.data() + start + journal_wire::frame_header, length);
    if (hash_bytes(payload) != checksum) break;
    journal_wire::Reader r(payload);
    const auto type = r.get<std::uint8_t>();
    if (!scan.found) {
      if (type != journal_wire::header) break;
      const auto version = r.get<std::uint32_t>();
      std::string text = r.get_string();
      if (!r.ok() || version != journal_format_version) break;
      scan.found = true;
      scan.fingerprint = Fingerprint::parse(text);
    } else if (type == journal_wire::entry) {
      std::uint64_t v[10];
      for (auto& x : v)
        x = r.get<std::uint64_t>();
      if (!r.ok() || (v[1] != 1 && v[1] != 2)) break;
      JournalEntry e{v[0],
                     static_cast<JournalOutcome>(v[1]),
                     static_cast<std::int64_t>(v[2]),
                     v[3],
                     v[4],
                     v[5],
                     v[6],
                     v[7],
                     v[8],
                     v[9],
                     session_clock};
      if (e.data_offset + e.rows_length + e.failed_length > data_size) break;
      ++scan.entries;
      scan.valid_data_bytes =
          std::max(scan.valid_data_bytes, e.data_offset + e.rows_length + e.failed_length);
      if (visit.entry) visit.entry(e);
    } else if (type == journal_wire::end) {
      JournalEnd end;
      end.succeeded = r.get<std::uint8_t>() != 0;
      end.complete = r.get<std::uint8_t>() != 0;
      end.ended_unix_seconds = r.get<std::int64_t>();
      end.summary = r.get_string();
      end.failure_reason = r.get_string();
      if (r.more()) {  // absent from journals written before they were recorded
        end.output_identity = r.get_string();
        end.failed_items_identity = r.get_string();
      }
      if (!r.ok()) break;
      if (visit.end) visit.end(end);
      scan.end = std::move(end);
    } else if (type == journal_wire::session) {
      const auto at = r.get<std::int64_t>();
      session_clock = r.get<std::int64_t>();
      if (!r.ok()) break;
      ++scan.sessions;
      scan.end.reset();  // a new session: the earlier end is not this one's
      if (visit.session) visit.session(at, session_clock);
    } else if (type == journal_wire::started) {
      const auto index = r.get<std::uint64_t>();
      const auto attempt = r.get<std::int64_t>();
      const auto worker = r.get<std::uint64_t>();
      if (!r.ok()) break;
      if (visit.started) visit.started(index, attempt, worker);
    } else {
      break;
    }
    start += journal_wire::frame_header + length;
    consumed += journal_wire::frame_header + length;
    scan.valid_journal_bytes = consumed;
  }
  scan.ignored_bytes = size - scan.valid_journal_bytes;
  return scan;
}

/// read_journal() for the mini-batch records only.
inline JournalScan read_journal(const JournalFiles& files,
                                const std::function<void(const JournalEntry&)>& on_entry) {
  JournalVisitor visit;
  visit.entry = on_entry;
  return read_journal(files, visit);
}

/// Reads a finished mini-batch's bytes back from data (open as `fd`), checking them against
/// the record. Throws InputError when they do not check (data changed after the record was
/// written).
inline std::pair<std::string, std::string> read_journal_data(const JournalFiles& files,
                                                             const JournalEntry& e, int fd) {
  std::string bytes(e.rows_length + e.failed_length, '\0');
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::pread(fd, bytes.data() + done, bytes.size() - done,
                              static_cast<off_t>(e.data_offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  if (done != bytes.size() ||
      hash_bytes(std::string_view(bytes).substr(e.rows_length),
                 hash_bytes(std::string_view(bytes).substr(0, e.rows_length))) != e.data_hash)
    throw InputError(fmt::format(
        "the journal's data for mini-batch {} ({} bytes at {} in '{}') does not match its "
        "checksum",
        e.index, bytes.size(), e.data_offset, files.data().string()));
  std::string failed = bytes.substr(e.rows_length);
  bytes.resize(e.rows_length);
  return {std::move(bytes), std::move(failed)};
}

/// As above, opening the data file for this one read.
inline std::pair<std::string, std::string> read_journal_data(const JournalFiles& files,
                                                             const JournalEntry& e) {
  const int fd = ::open(files.data().c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    throw InputError(fmt::format("cannot read the journal's data '{}': {}", files.data().string(),
                                 std::strerror(errno)));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  return read_journal_data(files, e, fd);
}

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
