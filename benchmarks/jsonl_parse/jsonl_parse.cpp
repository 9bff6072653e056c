// jsonl_parse: the JSON Lines line reader, one thread, from memory. Times the reader
// parallel_run uses (detail::JsonLineReader: simdjson's DOM parser, then the members' text)
// against the hand-written one it replaced (hand_written_jsonl.hpp) and, when built with it,
// nlohmann::json's SAX parser doing the same work. Checks first that the two parallel_run
// readers give the same members for every line. Prints one line per reader:
//   reader=<name> mb_per_s=<median> ns_per_line=<median> runs=<n>
// and a first line with the data: lines=<n> bytes=<n>.
//
//   jsonl_parse [--lines N] [--runs N]
#include <utility>

#include <parallel_run/detail/jsonl.hpp>

#include "hand_written_jsonl.hpp"

#if JSONL_PARSE_NLOHMANN
#include <nlohmann/json.hpp>
#endif

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace {

using parallel_run::detail::JsonMember;

// Log-like records: integers, decimals, short strings (some with escapes and non-ASCII
// text), booleans, null, a small array and a small object.
std::string make_lines(std::size_t n) {
  std::mt19937_64 rng(1);
  const char* const words[] = {
      "alpha",      "beta",          "gamma",           "delta \\\"quoted\\\"",
      "caf\\u00e9", "Z\xC3\xBCrich", "tab\\tseparated", "plain"};
  std::string out;
  for (std::size_t i = 0; i < n; ++i) {
    out += fmt::format(
        "{{\"id\":{},\"user\":\"user_{}\",\"score\":{}.{:04},\"ok\":{},\"city\":\"{}\","
        "\"tags\":[\"{}\",\"{}\"],\"note\":null,\"geo\":{{\"lat\":{}.{},\"lon\":-{}.{}}},"
        "\"text\":\"{} {} {}\"}}\n",
        rng() % 1000000000, rng() % 5000, rng() % 100, rng() % 10000, rng() % 2 ? "true" : "false",
        words[rng() % 8], words[rng() % 8], words[rng() % 8], rng() % 90, rng() % 1000, rng() % 180,
        rng() % 1000, words[rng() % 8], words[rng() % 8], words[rng() % 8]);
  }
  return out;
}

std::vector<std::string_view> split_lines(const std::string& text) {
  std::vector<std::string_view> lines;
  for (std::size_t start = 0; start < text.size();) {
    const std::size_t end = text.find('\n', start);
    lines.emplace_back(text.data() + start, end - start);
    start = end + 1;
  }
  return lines;
}

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "jsonl_parse: %s\n", what.c_str());
  std::exit(1);
}

// Each reader parses every line into members (key and value text) and returns a checksum
// of the sizes, so that nothing is optimized away.
using Reader = std::function<std::size_t(const std::vector<std::string_view>&, char*)>;

std::size_t read_hand_written(const std::vector<std::string_view>& lines, char* scratch) {
  hand_written::JsonObjectParser parser;
  std::vector<hand_written::JsonMember> members;
  std::size_t sum = 0;
  for (std::string_view line : lines) {
    char* out = scratch;
    if (!parser.parse(line, out, members).empty()) fail("the hand-written reader failed a line");
    for (const auto& m : members)
      sum += m.key.size() + m.value.size();
  }
  return sum;
}

std::size_t read_simdjson(const std::vector<std::string_view>& lines, char* scratch) {
  auto& reader = parallel_run::detail::JsonLineReader::of_this_thread();
  std::vector<JsonMember> members;
  std::size_t sum = 0;
  for (std::string_view line : lines) {
    char* out = scratch;
    if (!reader.parse(line, out, members).empty()) fail("simdjson failed a line");
    for (const auto& m : members)
      sum += m.key.size() + m.value.size();
  }
  return sum;
}

#if JSONL_PARSE_NLOHMANN
// The same members through nlohmann's SAX events: keys and strings copied out, numbers as
// text, nested values written back as minified JSON.
class Members : public nlohmann::json_sax<nlohmann::json> {
 public:
  std::size_t sum = 0;
  bool null() override { return value("null"); }
  bool boolean(bool b) override { return value(b ? "true" : "false"); }
  bool number_integer(std::int64_t v) override { return value(std::to_string(v)); }
  bool number_unsigned(std::uint64_t v) override { return value(std::to_string(v)); }
  bool number_float(double, const std::string& s) override { return value(s); }
  bool string(std::string& s) override {
    return depth_ > 1 ? value(nlohmann::json(s).dump()) : value(s);
  }
  bool binary(binary_t&) override { return false; }
  bool start_object(std::size_t) override { return open('{'); }
  bool key(std::string& k) override {
    if (depth_ == 1) {
      sum += k.size();
    } else {
      comma();
      nested_ += nlohmann::json(k).dump();
      nested_ += ':';
      after_key_ = true;
    }
    return true;
  }
  bool end_object() override { return close('}'); }
  bool start_array(std::size_t) override { return open('['); }
  bool end_array() override { return close(']'); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;
  }

 private:
  void comma() {
    if (!after_key_ && !nested_.empty() && nested_.back() != '[' && nested_.back() != '{')
      nested_ += ',';
    after_key_ = false;
  }
  bool value(const std::string& text) {
    if (depth_ <= 1) {
      sum += text.size();
    } else {
      comma();
      nested_ += text;
    }
    return true;
  }
  bool open(char c) {
    if (++depth_ > 1) {
      if (depth_ > 2) comma();
      nested_ += c;
    }
    return true;
  }
  bool close(char c) {
    if (depth_-- > 1) {
      nested_ += c;
      if (depth_ == 1) {
        sum += nested_.size();
        nested_.clear();
      }
    }
    return true;
  }
  int depth_ = 0;
  bool after_key_ = false;
  std::string nested_;
};

std::size_t read_nlohmann(const std::vector<std::string_view>& lines, char*) {
  Members members;
  for (std::string_view line : lines)
    if (!nlohmann::json::sax_parse(line.begin(), line.end(), &members))
      fail("nlohmann failed a line");
  return members.sum;
}
#endif

// The two parallel_run readers agree on every member; nested values only up to the
// whitespace the new one drops.
void check_same_members(const std::vector<std::string_view>& lines, std::size_t longest) {
  hand_written::JsonObjectParser old_parser;
  auto& reader = parallel_run::detail::JsonLineReader::of_this_thread();
  std::vector<hand_written::JsonMember> old_members;
  std::vector<JsonMember> members;
  std::string old_scratch(longest, '\0'), scratch(longest, '\0'), minified(longest, '\0');
  for (std::size_t i = 0; i < lines.size(); ++i) {
    char* out_old = old_scratch.data();
    char* out = scratch.data();
    if (!old_parser.parse(lines[i], out_old, old_members).empty() ||
        !reader.parse(lines[i], out, members).empty() || old_members.size() != members.size())
      fail(fmt::format("line {}: the readers disagree", i + 1));
    for (std::size_t k = 0; k < members.size(); ++k) {
      std::string_view old_value = old_members[k].value;
      if (!old_value.empty() && (old_value[0] == '[' || old_value[0] == '{')) {
        char* end = parallel_run::detail::minify_json(old_value, minified.data());
        old_value =
            std::string_view(minified.data(), static_cast<std::size_t>(end - minified.data()));
      }
      if (old_members[k].key != members[k].key || old_value != members[k].value)
        fail(fmt::format("line {}: member {} differs: '{}' '{}' against '{}' '{}'", i + 1, k,
                         old_members[k].key, old_value, members[k].key, members[k].value));
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t line_count = 200000;
  int runs = 7;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view flag = argv[i];
    if (flag == "--lines")
      line_count = std::strtoull(argv[i + 1], nullptr, 10);
    else if (flag == "--runs")
      runs = std::atoi(argv[i + 1]);
    else
      fail(fmt::format("unknown flag {} (use --lines N, --runs N)", flag));
  }
  const std::string text = make_lines(line_count);
  const std::vector<std::string_view> lines = split_lines(text);
  std::size_t longest = 0;
  for (std::string_view l : lines)
    longest = std::max(longest, l.size());
  check_same_members(lines, longest);
  std::string scratch(longest, '\0');

  std::vector<std::pair<std::string, Reader>> readers{{"hand_written", read_hand_written},
                                                      {"simdjson", read_simdjson}};
#if JSONL_PARSE_NLOHMANN
  readers.emplace_back("nlohmann_sax", read_nlohmann);
#endif
  // The readers take turns, one run each per round, so that a busy moment of a shared
  // machine hits all of them alike; each figure is the median of its runs.
  std::vector<std::vector<double>> seconds(readers.size());
  std::size_t checksum = 0;
  for (int r = 0; r < runs; ++r) {
    for (std::size_t k = 0; k < readers.size(); ++k) {
      const auto t0 = std::chrono::steady_clock::now();
      checksum += readers[k].second(lines, scratch.data());
      seconds[k].push_back(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
  }
  std::printf("lines=%zu bytes=%zu checksum=%zu\n", lines.size(), text.size(), checksum);
  for (std::size_t k = 0; k < readers.size(); ++k) {
    std::vector<double>& s = seconds[k];
    std::sort(s.begin(), s.end());
    const double median = s[s.size() / 2];
    std::printf("reader=%s mb_per_s=%.1f ns_per_line=%.0f runs=%d\n", readers[k].first.c_str(),
                static_cast<double>(text.size()) / median / 1e6,
                median * 1e9 / static_cast<double>(lines.size()), runs);
  }
}
