// make_table: writes a CSV table of about N bytes (or R rows) for tests and benchmarks:
//
//   id,value,name,city,comment
//   1,5123.07,Ada Moreau,Lyon,plain words
//   2,-12.5,"Okafor, Lin",,"she wrote ""done"", twice"
//   3,880,,Oslo,"first line
//   second line"
//
// id counts from 1; value is a number with 0 to 2 decimals (some negative) whose exact sum is
// printed; name, city and comment are text, sometimes empty, and comment is often quoted
// around commas, doubled quotes and line breaks, so a reader that is not quote-aware gets
// the rows wrong. The same seed writes the same bytes. The last line of stdout is
//   make_table: <file> rows=<R> bytes=<B> value_sum=<S>
// with S exact (the values are whole cents), for a reader to check its own sum against.
//
//   make_table OUT.csv --bytes 1GB [--seed 1]
//   make_table OUT.csv --rows 1000
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

namespace {

namespace fs = std::filesystem;

constexpr std::array<std::string_view, 16> kFirst{
    "Ada",  "Lin",   "Noor",  "Mateo", "Sanna", "Kofi",  "Yuki", "Ines",
    "Omar", "Priya", "Jonas", "Aiko",  "Lucia", "Tariq", "Elif", "Bruno"};
constexpr std::array<std::string_view, 16> kLast{
    "Moreau", "Okafor", "Lindqvist", "Tanaka",  "Haddad", "Silva",  "Novak",    "Kowalski",
    "Mensah", "Rossi",  "Kaur",      "Fischer", "Petrov", "Duarte", "Nakamura", "Ortiz"};
constexpr std::array<std::string_view, 16> kCity{
    "Lyon",   "Oslo",  "Lagos", "Kyoto", "Porto",  "Quito", "Turku", "Accra",
    "Bergen", "Cusco", "Delft", "Hanoi", "Gdansk", "Malmo", "Izmir", "Recife"};
constexpr std::array<std::string_view, 32> kWords{
    "order", "late",   "shipped", "returned", "paid",  "again", "box",      "damaged",
    "call",  "back",   "urgent",  "note",     "price", "match", "refund",   "partial",
    "gift",  "wrap",   "address", "changed",  "fast",  "slow",  "ok",       "checked",
    "stock", "signed", "left",    "door",     "label", "torn",  "replaced", "thanks"};

/// splitmix64: tiny, fast, and its output is fixed by its definition, not by a library.
struct Random {
  std::uint64_t state;
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  std::uint64_t below(std::uint64_t n) { return next() % n; }
};

/// Appends to a fixed buffer and flushes it to the file when nearly full: one fwrite per
/// few megabytes keeps the generator at disk speed.
class Writer {
 public:
  explicit Writer(std::FILE* file) : file_(file), buffer_(kCapacity, '\0') {}
  void put(char c) { buffer_[size_++] = c; }
  void put(std::string_view s) {
    std::memcpy(buffer_.data() + size_, s.data(), s.size());
    size_ += s.size();
  }
  template <class Int>
  void put_int(Int v) {
    auto [end, ec] = std::to_chars(buffer_.data() + size_, buffer_.data() + kCapacity, v);
    size_ = static_cast<std::size_t>(end - buffer_.data());
  }
  /// Called between rows: a row is far shorter than the reserve.
  void flush_if_full() {
    if (size_ + kRowReserve > kCapacity) flush();
  }
  void flush() {
    if (size_ && std::fwrite(buffer_.data(), 1, size_, file_) != size_)
      throw std::runtime_error(std::strerror(errno));
    written_ += size_;
    size_ = 0;
  }
  std::uint64_t bytes() const noexcept { return written_ + size_; }

 private:
  static constexpr std::size_t kCapacity = 4 << 20;
  static constexpr std::size_t kRowReserve = 4096;
  std::FILE* file_;
  std::string buffer_;
  std::size_t size_ = 0;
  std::uint64_t written_ = 0;
};

/// A number of cents as text with 0 to 2 decimals, as a person would write it.
void put_cents(Writer& w, std::int64_t cents) {
  if (cents < 0) w.put('-');
  const std::uint64_t magnitude =
      cents < 0 ? static_cast<std::uint64_t>(-cents) : static_cast<std::uint64_t>(cents);
  w.put_int(magnitude / 100);
  const auto fraction = static_cast<unsigned>(magnitude % 100);
  if (fraction == 0) return;
  w.put('.');
  w.put(static_cast<char>('0' + fraction / 10));
  if (fraction % 10) w.put(static_cast<char>('0' + fraction % 10));
}

std::string cents_text(std::int64_t cents) {
  const std::uint64_t magnitude =
      cents < 0 ? static_cast<std::uint64_t>(-cents) : static_cast<std::uint64_t>(cents);
  return fmt::format("{}{}.{:02}", cents < 0 ? "-" : "", magnitude / 100, magnitude % 100);
}

template <std::size_t N>
std::string_view pick(Random& r, const std::array<std::string_view, N>& words) {
  return words[r.below(N)];
}

void put_words(Writer& w, Random& r, std::uint64_t count) {
  for (std::uint64_t i = 0; i < count; ++i) {
    if (i) w.put(' ');
    w.put(pick(r, kWords));
  }
}

void put_name(Writer& w, Random& r) {
  const std::uint64_t kind = r.below(8);
  if (kind == 0) return;  // empty
  if (kind <= 2) {        // "Last, First": quoted for its comma
    w.put('"');
    w.put(pick(r, kLast));
    w.put(", ");
    w.put(pick(r, kFirst));
    w.put('"');
    return;
  }
  w.put(pick(r, kFirst));
  w.put(' ');
  w.put(pick(r, kLast));
}

void put_comment(Writer& w, Random& r) {
  switch (r.below(10)) {
    case 0:  // empty
      return;
    case 1:  // quoted empty
      w.put("\"\"");
      return;
    case 2:  // a line break inside the field
    case 3:
      w.put('"');
      put_words(w, r, 1 + r.below(4));
      w.put('\n');
      put_words(w, r, 1 + r.below(3));
      w.put(", ");
      put_words(w, r, 1 + r.below(3));
      w.put('"');
      return;
    case 4:  // doubled quotes
    case 5:
      w.put('"');
      put_words(w, r, 1 + r.below(3));
      w.put(" \"\"");
      put_words(w, r, 1 + r.below(2));
      w.put("\"\", ");
      put_words(w, r, 1 + r.below(3));
      w.put('"');
      return;
    case 6:  // a comma
    case 7:
      w.put('"');
      put_words(w, r, 1 + r.below(4));
      w.put(", ");
      put_words(w, r, 1 + r.below(4));
      w.put('"');
      return;
    default:  // plain words, not quoted
      put_words(w, r, 1 + r.below(6));
  }
}

struct Totals {
  std::uint64_t rows = 0, bytes = 0;
  std::int64_t cents = 0;
};

Totals write_table(std::FILE* file, std::uint64_t max_bytes, std::uint64_t max_rows,
                   std::uint64_t seed) {
  Writer w(file);
  Random r{seed};
  Totals t;
  w.put("id,value,name,city,comment\n");
  while ((max_bytes == 0 || w.bytes() < max_bytes) && (max_rows == 0 || t.rows < max_rows)) {
    ++t.rows;
    w.put_int(t.rows);
    w.put(',');
    // Mostly 0 to 100,000.00, one in eight negative; a tenth whole, a tenth one decimal.
    std::int64_t cents = static_cast<std::int64_t>(r.below(10'000'000));
    if (r.below(8) == 0) cents = -cents / 10;
    if (const std::uint64_t shape = r.below(10); shape == 0)
      cents -= cents % 100;
    else if (shape == 1)
      cents -= cents % 10;
    t.cents += cents;
    put_cents(w, cents);
    w.put(',');
    put_name(w, r);
    w.put(',');
    if (r.below(10)) w.put(pick(r, kCity));
    w.put(',');
    put_comment(w, r);
    w.put('\n');
    w.flush_if_full();
  }
  w.flush();
  t.bytes = w.bytes();
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Writes a deterministic CSV table (id, value, name, city, comment) with quoted fields, "
      "doubled quotes, line breaks inside fields and empty fields; prints the exact sum of "
      "the value column.",
      "make_table"};
  fs::path out;
  std::string bytes_text;
  std::uint64_t rows = 0, seed = 1;
  app.add_option("output", out, "The CSV file to write")->required();
  auto* bytes_option = app.add_option(
      "--bytes", bytes_text,
      "Stop after the row that reaches this size: a count, or with KB, MB, GB (1024-based)");
  auto* rows_option = app.add_option("--rows", rows, "Write this many rows")
                          ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 40));
  bytes_option->excludes(rows_option);
  app.add_option("--seed", seed, "Seed of the content (default 1)");
  CLI11_PARSE(app, argc, argv);

  try {
    std::uint64_t max_bytes = 0;
    if (!bytes_text.empty()) {
      std::size_t digits = 0;
      while (digits < bytes_text.size() && bytes_text[digits] >= '0' && bytes_text[digits] <= '9')
        ++digits;
      std::string unit = bytes_text.substr(digits);
      for (char& c : unit)
        c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
      const int shift = unit.empty()   ? 0
                        : unit == "KB" ? 10
                        : unit == "MB" ? 20
                        : unit == "GB" ? 30
                                       : -1;
      auto [end, ec] = std::from_chars(bytes_text.data(), bytes_text.data() + digits, max_bytes);
      if (digits == 0 || shift < 0 || ec != std::errc{} || max_bytes == 0 ||
          max_bytes > (std::uint64_t{1} << 50) >> shift)
        throw std::invalid_argument(fmt::format(
            "--bytes '{}' is not a size such as 1000000, 64KB, 256MB or 1GB", bytes_text));
      max_bytes <<= shift;
    } else if (rows == 0) {
      throw std::invalid_argument("give --bytes or --rows");
    }

    // Written under a temporary name and renamed: a reader never sees half a table.
    const fs::path partial = out.string() + ".partial";
    std::FILE* file = std::fopen(partial.c_str(), "wb");
    if (!file)
      throw std::runtime_error(
          fmt::format("cannot create '{}': {}", partial.string(), std::strerror(errno)));
    Totals t;
    try {
      t = write_table(file, max_bytes, rows, seed);
    } catch (const std::exception& e) {
      std::fclose(file);
      fs::remove(partial);
      throw std::runtime_error(fmt::format("cannot write '{}': {}", partial.string(), e.what()));
    }
    if (std::fclose(file) != 0) {
      fs::remove(partial);
      throw std::runtime_error(
          fmt::format("cannot write '{}': {}", partial.string(), std::strerror(errno)));
    }
    fs::rename(partial, out);
    fmt::print("make_table: {} rows={} bytes={} value_sum={}\n", out.string(), t.rows, t.bytes,
               cents_text(t.cents));
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "make_table: {}\n", e.what());
    return 1;
  }
}
