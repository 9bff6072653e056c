#include <parallel_run/detail/journal.hpp>

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <random>
#include <string>
#include <vector>

#include "support/temp_dir.hpp"

using namespace parallel_run;
using namespace std::chrono_literals;
using test_support::TempDir;
namespace fs = std::filesystem;
using detail::JournalEntry;
using detail::JournalFiles;
using detail::JournalWriter;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
void spit(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << bytes;
}

detail::Fingerprint sample_fingerprint() {
  detail::Fingerprint f;
  f.add("program", "version 7");
  f.add("mini_batch_size", "10");
  f.add("arguments", "[a\nb] [c\\d]");
  return f;
}

JournalEntry entry(std::uint64_t index,
                   detail::JournalOutcome outcome = detail::JournalOutcome::succeeded) {
  JournalEntry e;
  e.index = index;
  e.outcome = outcome;
  e.attempts = static_cast<std::int64_t>(index % 3) + 1;
  e.items_succeeded = index * 10;
  e.items_failed = index % 2;
  e.input_hash = 0x1234 + index;
  return e;
}

std::vector<JournalEntry> read_entries(const JournalFiles& files,
                                       detail::JournalScan* scan = nullptr) {
  std::vector<JournalEntry> out;
  detail::JournalScan s =
      detail::read_journal(files, [&](const JournalEntry& e) { out.push_back(e); });
  if (scan) *scan = s;
  return out;
}

}  // namespace

TEST_CASE("an end record written before the result files' identities reads with none",
          "[journal]") {
  TempDir dir;
  const JournalFiles files{dir.path() / "j"};
  {
    JournalWriter w = JournalWriter::create(files, sample_fingerprint());
    w.add(entry(0), "row 0\n", "");
    w.commit();
  }
  // The end record as journals wrote it before: no identities after the failure reason.
  std::string payload, frame;
  namespace wire = detail::journal_wire;
  wire::put<std::uint8_t>(payload, wire::end);
  wire::put<std::uint8_t>(payload, 1);
  wire::put<std::uint8_t>(payload, 1);
  wire::put<std::int64_t>(payload, 1700000000);
  wire::put_string(payload, "items 1/1 succeeded");
  wire::put_string(payload, "");
  wire::frame(frame, payload);
  {
    std::ofstream out(files.journal(), std::ios::binary | std::ios::app);
    out << frame;
  }
  detail::JournalScan scan;
  CHECK(read_entries(files, &scan).size() == 1);
  REQUIRE(scan.end);
  CHECK(scan.end->succeeded);
  CHECK(scan.end->summary == "items 1/1 succeeded");
  CHECK(scan.end->output_identity.empty());  // not compared by a reuse
  CHECK(scan.end->failed_items_identity.empty());
  CHECK(scan.ignored_bytes == 0);
}

TEST_CASE("a journal reads back its fingerprint, its mini-batches and its end", "[journal]") {
  TempDir dir;
  const JournalFiles files{dir.path() / "j"};
  {
    JournalWriter w = JournalWriter::create(files, sample_fingerprint());
    w.add(entry(0), "row 0\nrow 1\n", "");
    w.add(entry(2, detail::JournalOutcome::failed), "", "k2,2,3,boom\n");
    w.add(entry(1), "row 2\n", "k1,1,1,bad item\n");
    w.end({true, true, "items 3/4 succeeded", 1700000000, "", "12 1700000000.000000005 77",
           "absent"});
  }
  detail::JournalScan scan;
  const auto entries = read_entries(files, &scan);
  CHECK(scan.found);
  CHECK(scan.fingerprint.text() == sample_fingerprint().text());
  CHECK(scan.fingerprint.differences(sample_fingerprint()).empty());
  REQUIRE(entries.size() == 3);
  CHECK(scan.entries == 3);
  CHECK(scan.ignored_bytes == 0);
  CHECK(scan.valid_journal_bytes == fs::file_size(files.journal()));
  CHECK(scan.valid_data_bytes == fs::file_size(files.data()));
  CHECK(entries[0].index == 0);
  CHECK(entries[1].index == 2);
  CHECK(entries[1].outcome == detail::JournalOutcome::failed);
  CHECK(entries[1].attempts == 3);
  CHECK(entries[2].index == 1);
  CHECK(entries[2].items_succeeded == 10);
  CHECK(entries[2].items_failed == 1);
  CHECK(entries[2].input_hash == 0x1235);
  CHECK(entries[2].data_offset == 12 + 12);
  REQUIRE(scan.end);
  CHECK(scan.end->succeeded);
  CHECK(scan.end->complete);
  CHECK(scan.end->failure_reason.empty());
  CHECK(scan.end->summary == "items 3/4 succeeded");
  CHECK(scan.end->ended_unix_seconds == 1700000000);
  CHECK(scan.end->output_identity == "12 1700000000.000000005 77");
  CHECK(scan.end->failed_items_identity == "absent");
  CHECK(detail::read_journal_data(files, entries[0]) ==
        std::pair<std::string, std::string>{"row 0\nrow 1\n", ""});
  CHECK(detail::read_journal_data(files, entries[1]) ==
        std::pair<std::string, std::string>{"", "k2,2,3,boom\n"});
  CHECK(detail::read_journal_data(files, entries[2]) ==
        std::pair<std::string, std::string>{"row 2\n", "k1,1,1,bad item\n"});
  CHECK(slurp(files.data()) == "row 0\nrow 1\nk2,2,3,boom\nrow 2\nk1,1,1,bad item\n");
}

TEST_CASE("journal records wait for their group's commit and their data is on disk first",
          "[journal]") {
  TempDir dir;
  const JournalFiles files{dir.path() / "j"};
  JournalWriter w = JournalWriter::create(files, sample_fingerprint());
  // The header is written at once (a reader finds the journal) and made durable by the first
  // commit, with the first group.
  CHECK(w.commits() == 0);
  CHECK(detail::read_journal(files, [](const JournalEntry&) {}).found);
  w.set_group(1h, 4);
  for (std::uint64_t i = 0; i < 3; ++i)
    w.add(entry(i), "r\n", "");
  CHECK(w.pending() == 3);
  CHECK(w.commits() == 0);
  // Neither the rows (buffered, one write per group) nor their records are written yet.
  CHECK(slurp(files.data()).empty());
  CHECK(read_entries(files).empty());
  w.add(entry(3), "r\n", "");
  CHECK(w.pending() == 0);
  CHECK(w.commits() == 1);
  CHECK(slurp(files.data()) == "r\nr\nr\nr\n");
  CHECK(read_entries(files).size() == 4);
  // A group also closes when its first record is old enough.
  w.set_group(0ms, 1000);
  w.add(entry(4), "r\n", "");
  CHECK(w.pending() == 0);
  CHECK(w.commits() == 2);
  CHECK(read_entries(files).size() == 5);
}

TEST_CASE("a full group waits for the gap after the last commit", "[journal]") {
  TempDir dir;
  const JournalFiles files{dir.path() / "j"};
  JournalWriter w = JournalWriter::create(files, sample_fingerprint());
  w.set_group(1h, 2, 1h);
  w.add(entry(0), "r\n", "");
  w.add(entry(1), "r\n", "");
  CHECK(w.commits() == 1);  // no commit yet: no gap to wait for
  w.add(entry(2), "r\n", "");
  w.add(entry(3), "r\n", "");
  w.poll();
  CHECK(w.pending() == 2);  // full, but the last commit was just now
  CHECK(w.commits() == 1);
  w.set_group(1h, 2, 0ms);
  w.poll();
  CHECK(w.pending() == 0);
  CHECK(w.commits() == 2);
  CHECK(read_entries(files).size() == 4);
}

TEST_CASE("a journal cut at any byte reads as its whole records and resumes after them",
          "[journal]") {
  TempDir dir;
  const JournalFiles full{dir.path() / "full"};
  std::vector<std::uint64_t> ends;  // the journal's size after each commit
  {
    JournalWriter w = JournalWriter::create(full, sample_fingerprint());
    ends.push_back(fs::file_size(full.journal()));
    w.set_group(1h, 1);
    for (std::uint64_t i = 0; i < 6; ++i) {
      w.add(entry(i), fmt::format("row {}\n", i), i % 2 ? fmt::format("k{},{},1,x\n", i, i) : "");
      ends.push_back(fs::file_size(full.journal()));
    }
    w.end({false, false, "failed", 5, "error_threshold exceeded", "none", "none"});
    ends.push_back(fs::file_size(full.journal()));
  }
  const std::string journal = slurp(full.journal());
  const std::string data = slurp(full.data());
  for (std::size_t cut = 0; cut <= journal.size(); ++cut) {
    const JournalFiles files{dir.path() / fmt::format("cut{}", cut)};
    fs::create_directories(files.dir);
    spit(files.journal(), journal.substr(0, cut));
    spit(files.data(), data);
    detail::JournalScan scan;
    std::vector<JournalEntry> entries;
    REQUIRE_NOTHROW(entries = read_entries(files, &scan));
    // Whole records before the cut are read; the torn one after them is ignored.
    std::size_t whole = 0;
    while (whole < ends.size() && ends[whole] <= cut)
      ++whole;
    INFO("cut at byte " << cut << " of " << journal.size());
    CHECK(scan.found == (whole >= 1));
    const std::size_t expected_entries = whole == 0 ? 0 : std::min<std::size_t>(whole - 1, 6);
    CHECK(entries.size() == expected_entries);
    CHECK(scan.end.has_value() == (whole == ends.size()));
    CHECK(scan.valid_journal_bytes == (whole == 0 ? 0 : ends[whole - 1]));
    CHECK(scan.ignored_bytes == cut - scan.valid_journal_bytes);
    if (cut % 7 == 0 && scan.found && !scan.end) {
      // A new process continues after the last whole record: nothing is lost or doubled.
      {
        JournalWriter w =
            JournalWriter::resume(files, scan.valid_journal_bytes, scan.valid_data_bytes);
        w.add(entry(100), "late row\n", "");
        w.commit();
      }
      detail::JournalScan again;
      const auto more = read_entries(files, &again);
      REQUIRE(more.size() == expected_entries + 1);
      CHECK(more.back().index == 100);
      CHECK(again.ignored_bytes == 0);
      for (const auto& e : more)
        CHECK_NOTHROW(detail::read_journal_data(files, e));
      CHECK(detail::read_journal_data(files, more.back()).first == "late row\n");
    }
  }
}

TEST_CASE("a corrupt journal record ends the reading there and corrupt data is refused",
          "[journal]") {
  TempDir dir;
  const JournalFiles files{dir.path() / "j"};
  std::uint64_t after_two = 0;
  {
    JournalWriter w = JournalWriter::create(files, sample_fingerprint());
    w.set_group(1h, 1);
    w.add(entry(0), "a\n", "");
    w.add(entry(1), "b\n", "");
    after_two = fs::file_size(files.journal());
    w.add(entry(2), "c\n", "");
    w.add(entry(3), "d\n", "");
  }
  std::string journal = slurp(files.journal());
  journal[after_two + 20] ^= 0x40;  // inside the third record's payload
  spit(files.journal(), journal);
  detail::JournalScan scan;
  auto entries = read_entries(files, &scan);
  CHECK(entries.size() == 2);
  CHECK(scan.valid_journal_bytes == after_two);
  CHECK(scan.ignored_bytes == journal.size() - after_two);

  std::string data = slurp(files.data());
  data[2] = 'X';  // mini-batch 1's "b"
  spit(files.data(), data);
  CHECK(detail::read_journal_data(files, entries[0]).first == "a\n");
  CHECK_THROWS_WITH(detail::read_journal_data(files, entries[1]),
                    Catch::Contains("the journal's data for mini-batch 1") &&
                        Catch::Contains("does not match its checksum"));

  // A record that points past the end of the data (the data file was cut) ends the reading.
  fs::resize_file(files.data(), 3);
  entries = read_entries(files);
  CHECK(entries.size() == 1);
}

TEST_CASE("no journal, or a file that is not one, is found == false", "[journal]") {
  TempDir dir;
  const JournalFiles files{dir.path() / "j"};
  CHECK_FALSE(detail::read_journal(files, [](const JournalEntry&) {}).found);
  fs::create_directories(files.dir);
  spit(files.journal(), "hello, this is not a journal\n");
  const auto scan = detail::read_journal(files, [](const JournalEntry&) {});
  CHECK_FALSE(scan.found);
  CHECK(scan.ignored_bytes == 29);
}

TEST_CASE(
    "the fingerprint names each part that changed and ignores settings that do not "
    "change results",
    "[journal]") {
  TempDir dir;
  spit(dir.path() / "side.txt", "reference");
  Config c;
  c.output_dir = dir.path() / "out";
  c.side_inputs["ref"] = dir.path() / "side.txt";
  const auto base = detail::run_fingerprint(c, nullptr, "version 1", FingerprintMode::metadata);
  CHECK(detail::Fingerprint::parse(base.text()).text() == base.text());

  auto changed = [&](auto&& edit, const TableOptions* table = nullptr,
                     std::string program = "version 1") {
    Config d = c;
    edit(d);
    return detail::run_fingerprint(d, table, program, FingerprintMode::metadata).differences(base);
  };
  using Diffs = std::vector<std::string>;
  CHECK(changed([](Config& d) { d.mini_batch_size = 20; }) ==
        Diffs{"mini_batch_size: default -> 20"});
  CHECK(changed([](Config& d) { d.output_action = OutputAction::summary_only; }) ==
        Diffs{"output_action: append_row -> summary_only"});
  // A space or tab delimiter is quoted, so that it shows.
  CHECK(changed([](Config& d) { d.delimiter = ","; }) == Diffs{"delimiter: ' ' -> ,"});
  CHECK(changed([](Config& d) { d.delimiter = "\t"; }) == Diffs{"delimiter: ' ' -> '\\t'"});
  CHECK(changed([](Config& d) { d.key_column = true; }) == Diffs{"key_column: false -> true"});
  CHECK(changed([](Config& d) {
          d.arguments = {"--x", "1"};
        }) == Diffs{"arguments: (none) -> [--x] [1]"});
  CHECK(changed([](Config& d) { d.limit = 5; }) == Diffs{"limit: 0 -> 5"});
  CHECK(changed([](Config& d) {
          d.output_header = {"a", "b"};
        }) == Diffs{"output_header: (none) -> a,b"});
  CHECK(changed([](Config&) {}, nullptr, "version 2") == Diffs{"program: version 1 -> version 2"});
  CHECK(changed([](Config& d) { d.side_inputs.clear(); }).size() == 1);
  TableOptions table;
  CHECK(changed([](Config&) {}, &table).front() == "inputs: files -> tables");
  // Settings that do not change results are no part of it.
  CHECK(changed([](Config& d) {
          d.process_count_per_node = 7;
          d.logging_level = LoggingLevel::debug;
          d.backend = Backend::process;
          d.progress = ProgressMode::none;
          d.resource_monitor_interval = 0;
        }).empty());
  // Those that decide the verdict are "verdict." parts: a resume may change them, a reuse not.
  CHECK(changed([](Config& d) {
          d.run_max_try = 9;
          d.run_invocation_timeout = 5;
          d.error_threshold = 3;
          d.mini_batch_error_threshold = 2;
          d.allowed_failed_percent = 50;
          d.worker_memory_limit = 1 << 30;
        }) == Diffs{"verdict.error_threshold: -1 -> 3",
                    "verdict.mini_batch_error_threshold: -1 -> 2",
                    "verdict.allowed_failed_percent: 100 -> 50", "verdict.run_max_try: 3 -> 9",
                    "verdict.run_invocation_timeout: 60 -> 5",
                    "verdict.worker_memory_limit: 0 -> 1073741824"});
  // A side input is known by its identity: a new size is a different run.
  spit(dir.path() / "side.txt", "reference, longer");
  const Diffs side = changed([](Config&) {});
  REQUIRE(side.size() == 1);
  CHECK(side[0].rfind("side_input.ref: ", 0) == 0);
}

TEST_CASE("inputs are identified by metadata, or by content with fingerprint content",
          "[journal]") {
  TempDir dir;
  const fs::path f = dir.path() / "a.txt";
  spit(f, "hello");
  auto identity = [&](FingerprintMode mode) {
    detail::InputIdentity id(mode);
    id.add("a.txt", f);
    return id.value();
  };
  const auto meta = identity(FingerprintMode::metadata);
  const auto content = identity(FingerprintMode::content);
  CHECK(identity(FingerprintMode::metadata) == meta);
  CHECK(meta != content);
  // The session's reading of the file system clock comes after the file was written.
  const JournalFiles files{dir.path() / "j"};
  JournalWriter w = JournalWriter::create(files, sample_fingerprint());
  const std::int64_t clock = w.session(1700000000);
  detail::ChangeCheck check;
  CHECK_FALSE(check.changed(f, "a.txt", clock));
  struct ::stat st {};
  REQUIRE(::stat(f.c_str(), &st) == 0);
  // Same size, same modification time, other bytes: metadata names the file only (no system
  // call), content sees the bytes, and ctime (which cannot be set back) sees the write.
  spit(f, "HELLO");
  const struct ::timespec times[2] = {st.st_atim, st.st_mtim};
  REQUIRE(::utimensat(AT_FDCWD, f.c_str(), times, 0) == 0);
  CHECK(identity(FingerprintMode::metadata) == meta);
  CHECK(identity(FingerprintMode::content) != content);
  CHECK(check.changed(f, "a.txt", clock));
  CHECK(check.changed(dir.path() / "gone.txt", "gone.txt", clock));  // missing: changed
  // The reading is kept in the session record, and each entry read back carries its session's.
  w.add(entry(0), "r\n", "");
  w.end({true, true, "items 1/1 succeeded", 1700000001, "", "none", "none"});
  const auto entries = read_entries(files);
  REQUIRE(entries.size() == 1);
  CHECK(entries[0].session_clock_ns == clock);
  // A slice of a table is known by its byte range too.
  detail::InputIdentity a(FingerprintMode::metadata), b(FingerprintMode::metadata);
  a.add("a.txt", f, 0, 3);
  b.add("a.txt", f, 3, 2);
  CHECK(a.value() != b.value());
  CHECK(detail::program_identity("") == detail::program_identity(""));
  CHECK(detail::program_identity("").rfind("executable xxh64:", 0) == 0);
  CHECK(detail::program_identity("2.1") == "version 2.1");
}

TEST_CASE("a FIFO is not fingerprinted by content, and does not block the job", "[journal]") {
  TempDir dir;
  const fs::path fifo = dir.path() / "b2";
  REQUIRE(::mkfifo(fifo.c_str(), 0644) == 0);
  auto hashed = std::async(std::launch::async, [&] {
    try {
      detail::hash_file(fifo);
      return std::string("hashed");
    } catch (const InputError& e) {
      return std::string(e.what());
    }
  });
  if (hashed.wait_for(10s) != std::future_status::ready) {
    // Blocked opening it: a writer lets it go, so that the test ends.
    const int w = ::open(fifo.c_str(), O_WRONLY);
    if (w >= 0) ::close(w);
    FAIL("hash_file blocked on a FIFO");
  }
  CHECK_THAT(hashed.get(), Catch::EndsWith("cannot fingerprint '" + fifo.string() +
                                           "': not a regular file (a FIFO, a device or a folder)"));
}

TEST_CASE("the executable's hash is kept beside its identity and used while that holds",
          "[journal]") {
  TempDir dir;
  const fs::path cache = dir.path() / "program";
  const std::uint64_t real = detail::hash_file("/proc/self/exe");
  CHECK(detail::executable_hash() == real);
  CHECK(detail::executable_hash(dir.path() / "absent" / "program") == real);
  CHECK_FALSE(fs::exists(dir.path() / "absent"));  // no folder is made for it
  CHECK(detail::executable_hash(cache) == real);   // computed, then kept
  const std::string kept = test_support::read_file(cache);
  CHECK(kept.starts_with("executable "));
  CHECK(kept.ends_with(fmt::format("xxh64:{:016x}\n", real)));
  // While the file's identity holds, the kept hash is the answer (here a planted one shows it).
  const std::string planted = kept.substr(0, kept.size() - 17) + "0123456789abcdef\n";
  test_support::write_file(cache, planted);
  CHECK(detail::executable_hash(cache) == 0x0123456789abcdefULL);
  // Another identity (a rebuilt program), a torn or a foreign file: hashed again, kept again.
  for (const std::string& other :
       {std::string("executable 1 2 3 4.000000000 5.000000000 xxh64:0123456789abcdef\n"),
        planted.substr(0, planted.size() - 5), std::string("garbage")}) {
    test_support::write_file(cache, other);
    CHECK(detail::executable_hash(cache) == real);
    CHECK(test_support::read_file(cache) == kept);
  }
  // The program's identity in the fingerprint is the same either way.
  CHECK(detail::program_identity("", "S", cache) == detail::program_identity("", "S"));
}

TEST_CASE("an input's metadata identity is its key, path and range, chained by xxh64",
          "[journal]") {
  // The value kept records hold: a different one would make every kept mini-batch of an
  // earlier run (with the same Config::scorer_version) look changed and run again.
  using parallel_run::FingerprintMode;
  using parallel_run::detail::hash_bytes;
  parallel_run::detail::InputIdentity id(FingerprintMode::metadata);
  id.add("data/a.csv", "/in/data/a.csv");
  id.add("data/b.csv", "/in/data/b.csv", 1048576, 18446744073709551615ULL);
  const std::uint64_t first = hash_bytes("data/a.csv\n/in/data/a.csv\n0 0\n", 0);
  CHECK(id.value() ==
        hash_bytes("data/b.csv\n/in/data/b.csv\n1048576 18446744073709551615\n", first));
}

TEST_CASE("an input is named by its real path whichever way its folder is spelled", "[journal]") {
  TempDir dir;
  test_support::write_file(dir.path() / "in" / "sub" / "a.txt", "a");
  test_support::write_file(dir.path() / "in" / "b.txt", "b");
  fs::create_directory_symlink(dir.path() / "in", dir.path() / "link");
  const fs::path real = fs::canonical(dir.path() / "in");
  detail::CanonicalFolders folders;
  auto identity = [&](const fs::path& path, detail::CanonicalFolders* f) {
    detail::InputIdentity id(FingerprintMode::metadata, f);
    id.add("sub/a.txt", path);
    return id.value();
  };
  const auto expected = identity(real / "sub" / "a.txt", nullptr);  // the real path as given
  const fs::path relative = fs::relative(dir.path() / "in", fs::current_path());
  // Folders interleaved: each is resolved once and remembered.
  for (const fs::path& p : {relative / "sub" / "a.txt", dir.path() / "in" / "." / "sub" / "a.txt",
                            dir.path() / "link" / "sub" / "a.txt",
                            real / "sub" / ".." / "sub" / "a.txt", relative / "sub" / "a.txt"}) {
    CAPTURE(p);
    CHECK(identity(p, &folders) == expected);
    CHECK(folders.of((p.parent_path().parent_path() / "b.txt").string()) ==
          (real / "b.txt").string());
  }
  CHECK(identity(relative / "sub" / "a.txt", nullptr) != expected);  // without: as given
  // A folder that cannot be resolved keeps its spelling; a bare name is in the working folder.
  CHECK(folders.of("missing/x.txt") == "missing/x.txt");
  CHECK(folders.of("x.txt") == (fs::current_path() / "x.txt").string());
}
