// The JSON Lines reader parallel_run had before it read lines with simdjson
// (include/parallel_run/detail/jsonl.hpp as of commit 4d64336), kept here only to be timed
// against its replacement. It does not validate nested values (issue 8).
//
// One line of JSON Lines: a JSON object whose top-level members become a row's fields.
// Strings are unescaped (\" \\ \/ \b \f \n \r \t \uXXXX, surrogate pairs to UTF-8) into a
// scratch buffer, or viewed in place when they hold no escape; numbers, true and false keep
// their text; null is an empty field; nested objects and arrays keep their raw JSON text.
#pragma once

#include <fmt/format.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace hand_written {

struct JsonMember {
  std::string_view key;
  std::string_view value;
};

class JsonObjectParser {
 public:
  /// Parses `line` into `members`, writing unescaped strings at `scratch`, which must have
  /// room for line.size() bytes and is advanced past what was written. Returns an empty
  /// string, or what is wrong ("invalid JSON at byte 12: expected ':'").
  std::string parse(std::string_view line, char*& scratch, std::vector<JsonMember>& members) {
    s_ = line;
    i_ = 0;
    out_ = scratch;
    members.clear();
    error_.clear();
    skip_space();
    if (!expect('{', "expected '{' (each line must be one JSON object)")) return error_;
    skip_space();
    if (peek() == '}') {
      ++i_;
    } else {
      for (;;) {
        skip_space();
        if (peek() != '"') return fail("expected a string key");
        std::string_view key;
        if (!string(key)) return error_;
        skip_space();
        if (!expect(':', "expected ':' after the key")) return error_;
        skip_space();
        std::string_view value;
        if (!member_value(value)) return error_;
        members.push_back({key, value});
        skip_space();
        if (peek() == ',') {
          ++i_;
          continue;
        }
        if (!expect('}', "expected ',' or '}'")) return error_;
        break;
      }
    }
    skip_space();
    if (i_ != s_.size()) return fail("text after the end of the object");
    scratch = out_;
    return {};
  }

 private:
  char peek() const noexcept { return i_ < s_.size() ? s_[i_] : '\0'; }
  void skip_space() noexcept {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\r' || s_[i_] == '\n'))
      ++i_;
  }
  std::string fail(std::string_view what) {
    error_ = i_ < s_.size() ? fmt::format("invalid JSON at byte {}: {}", i_ + 1, what)
                            : fmt::format("invalid JSON at the end of the line: {}", what);
    return error_;
  }
  bool expect(char c, std::string_view what) {
    if (peek() != c) {
      fail(what);
      return false;
    }
    ++i_;
    return true;
  }

  // A string starting at the opening quote; a view into the line when it has no escape.
  bool string(std::string_view& out) {
    ++i_;
    const std::size_t begin = i_;
    while (i_ < s_.size() && s_[i_] != '"' && s_[i_] != '\\') {
      if (static_cast<unsigned char>(s_[i_]) < 0x20)
        return fail("control character in a string"), false;
      ++i_;
    }
    if (i_ >= s_.size()) return fail("unterminated string"), false;
    if (s_[i_] == '"') {
      out = s_.substr(begin, i_ - begin);
      ++i_;
      return true;
    }
    char* const first = out_;
    const std::size_t plain = i_ - begin;
    std::memcpy(out_, s_.data() + begin, plain);
    out_ += plain;
    while (i_ < s_.size() && s_[i_] != '"') {
      const char c = s_[i_++];
      if (static_cast<unsigned char>(c) < 0x20)
        return --i_, fail("control character in a string"), false;
      if (c != '\\') {
        *out_++ = c;
        continue;
      }
      if (i_ >= s_.size()) break;
      const char e = s_[i_++];
      switch (e) {
        case '"':
          *out_++ = '"';
          break;
        case '\\':
          *out_++ = '\\';
          break;
        case '/':
          *out_++ = '/';
          break;
        case 'b':
          *out_++ = '\b';
          break;
        case 'f':
          *out_++ = '\f';
          break;
        case 'n':
          *out_++ = '\n';
          break;
        case 'r':
          *out_++ = '\r';
          break;
        case 't':
          *out_++ = '\t';
          break;
        case 'u': {
          std::uint32_t cp = 0;
          if (!hex4(cp)) return false;
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            std::uint32_t low = 0;
            if (i_ + 1 < s_.size() && s_[i_] == '\\' && s_[i_ + 1] == 'u') {
              i_ += 2;
              if (!hex4(low)) return false;
            }
            if (low < 0xDC00 || low > 0xDFFF)
              return fail("a high surrogate \\u escape without its low surrogate"), false;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return fail("a low surrogate \\u escape without its high surrogate"), false;
          }
          utf8(cp);
          break;
        }
        default:
          --i_;
          return fail(fmt::format("invalid escape '\\{}'", e)), false;
      }
    }
    if (i_ >= s_.size()) return fail("unterminated string"), false;
    ++i_;
    out = std::string_view(first, static_cast<std::size_t>(out_ - first));
    return true;
  }

  bool hex4(std::uint32_t& cp) {
    if (i_ + 4 > s_.size()) return fail("a \\u escape needs 4 hex digits"), false;
    for (int k = 0; k < 4; ++k) {
      const char h = s_[i_++];
      cp <<= 4;
      if (h >= '0' && h <= '9')
        cp |= static_cast<std::uint32_t>(h - '0');
      else if (h >= 'a' && h <= 'f')
        cp |= static_cast<std::uint32_t>(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F')
        cp |= static_cast<std::uint32_t>(h - 'A' + 10);
      else
        return --i_, fail("a \\u escape needs 4 hex digits"), false;
    }
    return true;
  }

  void utf8(std::uint32_t cp) {
    auto put = [&](std::uint32_t b) { *out_++ = static_cast<char>(static_cast<unsigned char>(b)); };
    if (cp < 0x80) {
      put(cp);
    } else if (cp < 0x800) {
      put(0xC0 | (cp >> 6));
      put(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      put(0xE0 | (cp >> 12));
      put(0x80 | ((cp >> 6) & 0x3F));
      put(0x80 | (cp & 0x3F));
    } else {
      put(0xF0 | (cp >> 18));
      put(0x80 | ((cp >> 12) & 0x3F));
      put(0x80 | ((cp >> 6) & 0x3F));
      put(0x80 | (cp & 0x3F));
    }
  }

  bool literal(std::string_view word) {
    if (s_.substr(i_, word.size()) != word) return fail("expected a value"), false;
    i_ += word.size();
    return true;
  }

  bool number() {
    const std::size_t begin = i_;
    if (peek() == '-') ++i_;
    auto digits = [&] {
      const std::size_t d = i_;
      while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9')
        ++i_;
      return i_ - d;
    };
    const std::size_t int_begin = i_;
    const std::size_t n = digits();
    if (n == 0 || (n > 1 && s_[int_begin] == '0')) return i_ = begin, fail("invalid number"), false;
    if (peek() == '.') {
      ++i_;
      if (digits() == 0) return i_ = begin, fail("invalid number"), false;
    }
    if (peek() == 'e' || peek() == 'E') {
      ++i_;
      if (peek() == '+' || peek() == '-') ++i_;
      if (digits() == 0) return i_ = begin, fail("invalid number"), false;
    }
    return true;
  }

  // A nested object or array, kept as its raw text: brackets balanced outside strings.
  bool nested(std::string_view& out) {
    const std::size_t begin = i_;
    std::vector<char> open;
    while (i_ < s_.size()) {
      const char c = s_[i_++];
      if (c == '"') {
        while (i_ < s_.size() && s_[i_] != '"')
          i_ += s_[i_] == '\\' ? 2 : 1;
        if (i_ >= s_.size()) return fail("unterminated string"), false;
        ++i_;
      } else if (c == '{' || c == '[') {
        open.push_back(c == '{' ? '}' : ']');
      } else if (c == '}' || c == ']') {
        if (open.empty() || open.back() != c) return --i_, fail("unbalanced brackets"), false;
        open.pop_back();
        if (open.empty()) {
          out = s_.substr(begin, i_ - begin);
          return true;
        }
      }
    }
    return fail("unterminated object or array"), false;
  }

  bool member_value(std::string_view& out) {
    const std::size_t begin = i_;
    switch (peek()) {
      case '"':
        return string(out);
      case '{':
      case '[':
        return nested(out);
      case 't':
        if (!literal("true")) return false;
        break;
      case 'f':
        if (!literal("false")) return false;
        break;
      case 'n':
        if (!literal("null")) return false;
        out = {};
        return true;
      default:
        if (!number()) return false;
    }
    out = s_.substr(begin, i_ - begin);
    return true;
  }

  std::string_view s_;
  std::size_t i_ = 0;
  char* out_ = nullptr;
  std::string error_;
};

}  // namespace hand_written
