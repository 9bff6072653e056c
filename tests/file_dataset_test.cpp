#include <parallel_run/file_dataset.hpp>

#include <catch2/catch.hpp>
#include <range/v3/range/concepts.hpp>

#include <algorithm>
#include <ranges>

#include "parallel_run/detail/file_partitioner.hpp"
#include "support/temp_dir.hpp"

using parallel_run::FileBatch;
using parallel_run::FileDataset;
using parallel_run::FileEntry;
using parallel_run::InputError;
using test_support::TempDir;
using test_support::write_file;

static_assert(std::ranges::random_access_range<const FileBatch>);
static_assert(std::ranges::sized_range<const FileBatch>);
static_assert(ranges::random_access_range<const FileBatch>);
static_assert(ranges::sized_range<const FileBatch>);
static_assert(std::same_as<std::ranges::range_value_t<FileBatch>, FileEntry>);

namespace {
std::vector<std::string> keys(const FileDataset& d) {
  std::vector<std::string> out;
  for (const auto& e : d.entries())
    out.push_back(e.key);
  return out;
}
}  // namespace

TEST_CASE("a folder is walked recursively in sorted order with relative keys", "[file_dataset]") {
  TempDir t;
  write_file(t / "in/b.txt", "b");
  write_file(t / "in/a.txt", "a");
  write_file(t / "in/sub/c.txt", "c");
  write_file(t / "in/sub/deeper/d.txt", "d");
  write_file(t / "in/.hidden", "h");
  write_file(t / "in/Z.txt", "z");
  FileDataset d({(t / "in").string()});
  CHECK(keys(d) == std::vector<std::string>{".hidden", "Z.txt", "a.txt", "b.txt", "sub/c.txt",
                                            "sub/deeper/d.txt"});
  auto entries = d.entries();
  REQUIRE(entries.size() == 6);
  for (std::size_t i = 0; i < entries.size(); ++i)
    CHECK(entries[i].index == i);
  CHECK(entries[4].path == t / "in" / "sub" / "c.txt");
  CHECK(d.count() == 6);
}

TEST_CASE("a folder's names sort byte by byte, past their first 8 bytes and beyond ASCII",
          "[file_dataset]") {
  // The walk compares names by their first 8 bytes as a number first, then whole: the order
  // must be std::string's (unsigned bytes, a prefix before its extensions) in every case.
  TempDir t;
  const std::vector<std::string> names{
      "a",
      "ab",
      "abcdefgh",
      "abcdefgh.",
      "abcdefgh0",
      "abcdefghi",
      "abcdefgi",
      "b",
      "image_0001",
      "image_0002",
      "image_0010",
      "\xc3\xa9t\xc3\xa9",
      "\xc3\xa9t\xc3\xa9s",
      "\xff",
  };
  REQUIRE(std::is_sorted(names.begin(), names.end()));
  for (auto it = names.rbegin(); it != names.rend(); ++it)  // created in reverse
    write_file(t / "in" / *it, *it);
  FileDataset d({(t / "in").string()});
  CHECK(keys(d) == names);
}

TEST_CASE("globs match per component, ** spans folders, keys are relative to the fixed prefix",
          "[file_dataset]") {
  TempDir t;
  write_file(t / "data/x1.pgm", "");
  write_file(t / "data/x2.txt", "");
  write_file(t / "data/s/x3.pgm", "");
  write_file(t / "data/s/t/x4.pgm", "");
  write_file(t / "data/.x5.pgm", "");
  CHECK(keys(FileDataset({(t / "data/*.pgm").string()})) == std::vector<std::string>{"x1.pgm"});
  CHECK(keys(FileDataset({(t / "data/**/*.pgm").string()})) ==
        std::vector<std::string>{"s/t/x4.pgm", "s/x3.pgm", "x1.pgm"});
  CHECK(keys(FileDataset({(t / "data/**").string()})) ==
        std::vector<std::string>{"s/t/x4.pgm", "s/x3.pgm", "x1.pgm", "x2.txt"});
  CHECK(keys(FileDataset({(t / "data/s/**").string()})) ==
        std::vector<std::string>{"t/x4.pgm", "x3.pgm"});
  CHECK(keys(FileDataset({(t / "data/*/x?.pgm").string()})) ==
        std::vector<std::string>{"s/x3.pgm"});
  CHECK(keys(FileDataset({(t / "data/x[12].*").string()})) ==
        std::vector<std::string>{"x1.pgm", "x2.txt"});
  CHECK_THROWS_WITH(
      FileDataset({(t / "data/*.png").string()}).count(),
      "[parallel_run.input] no file matches the glob '" + (t / "data/*.png").string() + "'");
  CHECK_THROWS_WITH(FileDataset({(t / "nope/*.png").string()}).count(),
                    "[parallel_run.input] glob '" + (t / "nope/*.png").string() + "': folder '" +
                        (t / "nope").string() + "' does not exist");
}

TEST_CASE("a list file names files relative to itself, skipping blanks and comments",
          "[file_dataset]") {
  TempDir t;
  write_file(t / "d/one.txt", "1");
  write_file(t / "d/two.txt", "2");
  write_file(t / "abs.txt", "3");
  write_file(t / "d/list.txt",
             "# inputs\n two.txt\r\n\none.txt\n" + (t / "abs.txt").string() + "\n");
  FileDataset d({"@" + (t / "d/list.txt").string()});
  CHECK(keys(d) == std::vector<std::string>{"two.txt", "one.txt", (t / "abs.txt").string()});
  CHECK(d.entries()[0].path == t / "d" / "two.txt");

  write_file(t / "d/bad.txt", "one.txt\n\nmissing.txt\n");
  CHECK_THROWS_WITH(FileDataset({"@" + (t / "d/bad.txt").string()}).count(),
                    "[parallel_run.input] list file '" + (t / "d/bad.txt").string() +
                        "' line 3: 'missing.txt' is not a file (it does not exist)");
  write_file(t / "d/empty.txt", "# nothing\n");
  CHECK_THROWS_WITH(
      FileDataset({"@" + (t / "d/empty.txt").string()}).count(),
      "[parallel_run.input] list file '" + (t / "d/empty.txt").string() + "' names no files");
  CHECK_THROWS_WITH(FileDataset({"@" + (t / "nolist.txt").string()}).count(),
                    "[parallel_run.input] list file '" + (t / "nolist.txt").string() +
                        "' does not exist or cannot be read");
}

TEST_CASE("explicit paths, several inputs in order, and missing inputs", "[file_dataset]") {
  TempDir t;
  write_file(t / "a/z.txt", "");
  write_file(t / "b/y.txt", "");
  FileDataset d;
  d.add((t / "b").string()).add((t / "a/z.txt").string());
  auto e = d.entries();
  REQUIRE(e.size() == 2);
  CHECK(e[0].key == "y.txt");
  CHECK(e[0].index == 0);
  CHECK(e[1].key == "z.txt");
  CHECK(e[1].index == 1);
  CHECK(d.inputs()[0].kind == FileDataset::InputKind::folder);
  CHECK(d.inputs()[1].kind == FileDataset::InputKind::file);

  CHECK_THROWS_WITH(FileDataset({(t / "missing.txt").string()}).count(),
                    "[parallel_run.input] input '" + (t / "missing.txt").string() +
                        "' does not exist (not a file, folder, glob match or @list file)");
  std::filesystem::create_directories(t / "empty");
  CHECK_THROWS_WITH(
      FileDataset({(t / "empty").string()}).count(),
      "[parallel_run.input] input folder '" + (t / "empty").string() + "' holds no files");
  CHECK_THROWS_WITH(FileDataset().count(),
                    "[parallel_run.input] no input given (add a folder, glob, list file or path)");
}

TEST_CASE("the listing knows the files left once no folder is left to open", "[file_dataset]") {
  TempDir t;
  test_support::make_numbered_files(t / "flat", 25);
  parallel_run::detail::FilePartitioner flat(FileDataset({(t / "flat").string()}), 10);
  CHECK_FALSE(flat.expected_mini_batches());  // nothing opened yet
  REQUIRE(flat.next());
  CHECK(flat.expected_mini_batches() == 3);  // 1 cut, 15 files left
  REQUIRE(flat.next());
  REQUIRE(flat.next());
  CHECK(flat.expected_mini_batches() == 3);
  CHECK_FALSE(flat.next());
  CHECK(flat.expected_mini_batches() == 3);

  // A folder below: unknown until the walk has gone into it.
  write_file(t / "tree/a.txt", "");
  write_file(t / "tree/b.txt", "");
  write_file(t / "tree/sub/c.txt", "");
  write_file(t / "tree/sub/d.txt", "");
  write_file(t / "tree/z.txt", "");
  auto cursor = FileDataset({(t / "tree").string()}).cursor();
  CHECK_FALSE(cursor.known_left());
  REQUIRE(cursor.next()->key == "a.txt");
  CHECK_FALSE(cursor.known_left());  // sub/ is still to be read
  REQUIRE(cursor.next()->key == "b.txt");
  REQUIRE(cursor.next()->key == "sub/c.txt");
  CHECK(cursor.known_left() == 2);  // sub/d.txt and z.txt
  REQUIRE(cursor.next()->key == "sub/d.txt");
  CHECK(cursor.known_left() == 1);
  REQUIRE(cursor.next()->key == "z.txt");
  CHECK(cursor.known_left() == 0);
  CHECK_FALSE(cursor.next());

  // Several inputs: known only from the last one; a glob counts its matches only.
  write_file(t / "g/x.csv", "");
  write_file(t / "g/y.txt", "");
  write_file(t / "g/z.csv", "");
  auto two = FileDataset({(t / "tree/a.txt").string(), (t / "g/*.csv").string()}).cursor();
  REQUIRE(two.next());
  CHECK_FALSE(two.known_left());
  REQUIRE(two.next()->key == "x.csv");
  CHECK(two.known_left() == 1);
  // A limit caps the total.
  parallel_run::detail::FilePartitioner limited(FileDataset({(t / "flat").string()}), 10, 12);
  REQUIRE(limited.next());
  CHECK(limited.expected_mini_batches() == 2);
}

TEST_CASE("the partitioner cuts mini-batches of mini_batch_size files in order", "[file_dataset]") {
  TempDir t;
  test_support::make_numbered_files(t / "in", 25);
  FileDataset d({(t / "in").string()});
  parallel_run::detail::FilePartitioner p(d, 10);
  std::vector<std::size_t> sizes;
  std::size_t expected_index = 0, batch_index = 0;
  while (auto b = p.next()) {
    CHECK(b->mini_batch_index() == batch_index++);
    sizes.push_back(b->size());
    for (const auto& e : *b)
      CHECK(e.index == expected_index++);
  }
  CHECK(sizes == std::vector<std::size_t>{10, 10, 5});
  parallel_run::detail::FilePartitioner one(d, 1);
  std::size_t n = 0;
  while (auto b = one.next())
    n += (b->size() == 1);
  CHECK(n == 25);
  // An input error part way through a mini-batch comes after the files listed before it.
  test_support::write_file(t / "list.txt", "in/f000.txt\nin/f001.txt\nin/nope.txt\n");
  parallel_run::detail::FilePartitioner broken(FileDataset({"@" + (t / "list.txt").string()}), 5);
  auto partial = broken.next();
  REQUIRE(partial);
  CHECK(partial->size() == 2);
  CHECK_THROWS_AS(broken.next(), InputError);
  parallel_run::detail::FilePartitioner all(d, 100);
  auto b = all.next();
  REQUIRE(b);
  CHECK(b->size() == 25);
  CHECK_FALSE(all.next());
}

TEST_CASE("with a report, what is not read is reported once, even by a second cursor",
          "[file_dataset][report]") {
  TempDir t;
  write_file(t / "a/x.txt", "1");
  write_file(t / "b/x.txt", "2");
  std::filesystem::create_directories(t / "empty");
  std::filesystem::create_symlink(t / "gone", t / "a/dangling");
  write_file(t / "list.txt", "a/x.txt\nnope.txt\n");
  auto report = std::make_shared<parallel_run::detail::InputReport>();
  std::vector<std::string> events;
  report->on_skipped = [&](const std::filesystem::path& p, const std::string& why, bool own) {
    events.push_back("skipped " + p.filename().string() + ": " + why + (own ? " (own)" : ""));
  };
  report->on_failed = [&](const std::string& key, const std::string&) {
    events.push_back("failed " + key);
  };
  report->on_duplicate = [&](const std::string& key, const std::string&, const std::string&,
                             bool first) {
    events.push_back("duplicate " + key + (first ? "" : " again"));
  };
  FileDataset d({(t / "a").string(), (t / "b").string(), (t / "empty").string(),
                 "@" + (t / "list.txt").string()});
  d.set_listing({{}, false, report});
  for (int pass = 0; pass < 2; ++pass)  // the second cursor reports nothing new
    CHECK(keys(d) == std::vector<std::string>{"x.txt", "x.txt", "a/x.txt"});
  CHECK(events == std::vector<std::string>{
                      "skipped dangling: a dangling symbolic link (its target does not exist)",
                      "duplicate x.txt", "failed " + (t / "empty").string(), "failed nope.txt"});
  // Without a report, an input that names no file is an InputError, as before.
  CHECK_THROWS_AS(FileDataset({(t / "empty").string()}).entries(), InputError);
}

TEST_CASE("a symbolic link loop is named as one, not as a missing file or a dangling link",
          "[file_dataset][report]") {
  TempDir t;
  write_file(t / "in/x.txt", "1");
  std::filesystem::create_symlink(t / "in/loop_b", t / "in/loop_a");
  std::filesystem::create_symlink(t / "in/loop_a", t / "in/loop_b");
  const std::string loop = "a symbolic link loop (too many levels of symbolic links)";
  auto report = std::make_shared<parallel_run::detail::InputReport>();
  std::vector<std::string> events;
  report->on_skipped = [&](const std::filesystem::path& p, const std::string& why, bool) {
    events.push_back(p.filename().string() + ": " + why);
  };
  FileDataset folder({(t / "in").string()});
  folder.set_listing({{}, false, report});
  CHECK(keys(folder) == std::vector<std::string>{"x.txt"});
  CHECK(events == std::vector<std::string>{"loop_a: " + loop, "loop_b: " + loop});

  CHECK_THROWS_WITH(
      FileDataset({(t / "in/loop_a").string()}).count(),
      "[parallel_run.input] input '" + (t / "in/loop_a").string() + "' cannot be read: " + loop);
  write_file(t / "list.txt", "in/x.txt\nin/loop_b\n");
  CHECK_THROWS_WITH(FileDataset({"@" + (t / "list.txt").string()}).count(),
                    "[parallel_run.input] list file '" + (t / "list.txt").string() +
                        "' line 2: 'in/loop_b' cannot be read: " + loop);
}

TEST_CASE("temporary names carry the process id and start time", "[file_dataset][temporaries]") {
  using parallel_run::detail::temporary_tag;
  CHECK(temporary_tag(".out.txt.partial-12-345") == std::string_view("12-345"));
  CHECK(temporary_tag(".parallel_run_spill-12") == std::string_view("12"));
  CHECK_FALSE(temporary_tag(".out.txt.partial-x"));
  CHECK_FALSE(temporary_tag("out.txt.partial-12"));
  CHECK_FALSE(temporary_tag(".partial-12"));
  CHECK_FALSE(parallel_run::detail::tag_is_stale(parallel_run::detail::process_tag()));
  CHECK(parallel_run::detail::tag_is_stale(fmt::format("{}-1", ::getpid())));
}
