// The block scanner shared by the table partitioner and the table parser: 64 bytes at a time,
// one bit per byte for each structural character (quote, newline, delimiter, carriage
// return), from SSE2 compares (the x86-64 baseline; a scalar loop elsewhere). Whether a byte
// lies inside quotes is the parity of the quotes before it: a prefix XOR of the quote mask,
// carried from block to block, so a newline inside a quoted field is never a record end.
#pragma once
#include "parallel_run/version.hpp"

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

PARALLEL_RUN_BEGIN_NAMESPACE
namespace detail {

inline constexpr std::size_t kBlock = 64;

/// Bits for bytes [0, n) (n in [0, 64]).
constexpr std::uint64_t low_bits(unsigned n) noexcept {
  return n >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << n) - 1;
}

/// Bit i: parity of the set bits at positions <= i.
constexpr std::uint64_t prefix_xor(std::uint64_t x) noexcept {
  x ^= x << 1;
  x ^= x << 2;
  x ^= x << 4;
  x ^= x << 8;
  x ^= x << 16;
  x ^= x << 32;
  return x;
}

/// The set bits of x. std::popcount is a library call unless the program is built for a CPU
/// with POPCNT (not in the x86-64 baseline); this inlines to a dozen instructions.
constexpr unsigned popcount64(std::uint64_t x) noexcept {
#if defined(__POPCNT__)
  return static_cast<unsigned>(std::popcount(x));
#else
  x -= (x >> 1) & 0x5555555555555555ULL;
  x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
  x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0FULL;
  return static_cast<unsigned>((x * 0x0101010101010101ULL) >> 56);
#endif
}

/// One 64-byte block, compared against up to four characters at once.
class Block {
 public:
  /// `p` must have 64 readable bytes.
  explicit Block(const char* p) noexcept {
#if defined(__SSE2__)
    for (int i = 0; i < 4; ++i)
      v_[i] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * i));
#else
    std::memcpy(bytes_, p, kBlock);
#endif
  }

  /// Bit i set when byte i equals c.
  std::uint64_t eq(char c) const noexcept {
#if defined(__SSE2__)
    const __m128i k = _mm_set1_epi8(c);
    std::uint64_t m = 0;
    for (int i = 0; i < 4; ++i)
      m |= static_cast<std::uint64_t>(
               static_cast<std::uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(v_[i], k))))
           << (16 * i);
    return m;
#else
    std::uint64_t m = 0;
    for (unsigned i = 0; i < kBlock; ++i)
      m |= static_cast<std::uint64_t>(bytes_[i] == c) << i;
    return m;
#endif
  }

 private:
#if defined(__SSE2__)
  __m128i v_[4];
#else
  char bytes_[kBlock];
#endif
};

/// Loads the block at `p` of which `n` bytes (1 to 64) are valid; the rest reads as NUL,
/// which is no structural character.
inline Block load_block(const char* p, std::size_t n) noexcept {
  if (n >= kBlock) return Block(p);
  char tail[kBlock] = {};
  std::memcpy(tail, p, n);
  return Block(tail);
}

/// Record ends of a stream of blocks: newlines outside quotes (CSV) or every newline (TSV,
/// JSON Lines), and which of them end a blank record (nothing, or only "\r", since the last
/// record end), which is no record at all.
class RecordScanner {
 public:
  struct Masks {
    std::uint64_t newline;  // every '\n' (for line numbers)
    std::uint64_t end;      // '\n' that ends a record (blank or not)
    std::uint64_t record;   // '\n' that ends a non-blank record
  };

  /// `quoted`: '"' opens and closes quoted sections (CSV).
  explicit RecordScanner(bool quoted) noexcept : quoted_(quoted) {}

  /// The masks of the next block.
  Masks scan(const Block& b) noexcept {
    const std::uint64_t nl = b.eq('\n');
    const std::uint64_t cr = b.eq('\r');
    std::uint64_t end = nl;
    if (quoted_) {
      const std::uint64_t inside = prefix_xor(b.eq('"')) ^ in_quote_;
      in_quote_ = static_cast<std::uint64_t>(0) - (inside >> 63);
      end &= ~inside;
    }
    // A record starts right after a record end (bit 0: after the previous block's last byte).
    const std::uint64_t start = (end << 1) | start_carry_;
    const std::uint64_t start_before_cr = (start << 1) | start2_carry_;
    const std::uint64_t cr_before = (cr << 1) | cr_carry_;
    const std::uint64_t blank = end & (start | (cr_before & start_before_cr));
    start_carry_ = end >> 63;
    start2_carry_ = start >> 63;
    cr_carry_ = cr >> 63;
    return {nl, end, end & ~blank};
  }

  /// Inside a quoted section after the last block scanned.
  bool in_quote() const noexcept { return in_quote_ != 0; }

 private:
  bool quoted_;
  std::uint64_t in_quote_ = 0;     // all ones inside quotes
  std::uint64_t start_carry_ = 1;  // the stream starts a record
  std::uint64_t start2_carry_ = 0;
  std::uint64_t cr_carry_ = 0;
};

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
