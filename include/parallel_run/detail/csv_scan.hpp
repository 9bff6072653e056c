// The block scanner shared by the table partitioner and the table parser: 64 bytes at a time,
// one bit per byte for each structural character (quote, newline, delimiter, carriage
// return), from SSE2 compares (the x86-64 baseline; a scalar loop elsewhere). Whether a byte
// lies inside quotes is, in a well-formed block, the parity of the quotes before it: a prefix
// XOR of the quote mask, carried from block to block, so a newline inside a quoted field is
// never a record end. A block where that parity breaks the quoting rule (a stray quote that
// does not start a field: QuoteState) is read again one byte at a time under the rule.
//
// The hot loops (the partitioner's record scan, the worker's field index) are templates over
// an instruction set: Baseline (SSE2) everywhere, and on x86-64 an AVX2 + PCLMUL + POPCNT
// variant chosen once at run time (cpu_has_avx2()). We write these few SIMD lines by hand
// instead of taking a CSV or SIMD library because measurement showed the scan to be the
// bottleneck of table jobs, and what we need (quote parity carried across blocks, blank
// lines, line counts) is a few dozen lines on top of the compares.
#pragma once
#include "parallel_run/version.hpp"

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define PARALLEL_RUN_X86_DISPATCH 1
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

/// The 64 bytes at `p` of which `n` (1 to 64) are valid: `p` itself, or a copy of the tail
/// padded with NUL, which is no structural character.
class BlockBytes {
 public:
  BlockBytes(const char* p, std::size_t n) noexcept : data_(p) {
    if (n >= kBlock) return;
    std::memset(tail_, 0, kBlock);
    std::memcpy(tail_, p, n);
    data_ = tail_;
  }
  BlockBytes(const BlockBytes&) = delete;
  BlockBytes& operator=(const BlockBytes&) = delete;
  const char* data() const noexcept { return data_; }

 private:
  const char* data_;
  char tail_[kBlock];
};

// --- Instruction sets for the hot loops ---------------------------------------------------

namespace isa {

/// SSE2 (or the scalar fallback): the Block above.
struct Baseline {
  using Block = detail::Block;
  static std::uint64_t prefix_xor(std::uint64_t x) noexcept { return detail::prefix_xor(x); }
  static unsigned popcount(std::uint64_t x) noexcept { return popcount64(x); }
  /// 64 for 0.
  static unsigned tzcnt(std::uint64_t x) noexcept {
    return static_cast<unsigned>(std::countr_zero(x));
  }
};

#if PARALLEL_RUN_X86_DISPATCH
#define PARALLEL_RUN_AVX2_TARGET __attribute__((target("avx2,pclmul,popcnt,bmi,bmi2")))
/// AVX2 compares (two per block), the prefix XOR as one carry-less multiply by all ones,
/// and the POPCNT instruction. Its functions only run when cpu_has_avx2().
struct Avx2 {
  class Block {
   public:
    PARALLEL_RUN_AVX2_TARGET explicit Block(const char* p) noexcept
        : lo_(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))),
          hi_(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32))) {}
    PARALLEL_RUN_AVX2_TARGET std::uint64_t eq(char c) const noexcept {
      const __m256i k = _mm256_set1_epi8(c);
      const auto lo = static_cast<std::uint32_t>(_mm256_movemask_epi8(_mm256_cmpeq_epi8(lo_, k)));
      const auto hi = static_cast<std::uint32_t>(_mm256_movemask_epi8(_mm256_cmpeq_epi8(hi_, k)));
      return lo | (static_cast<std::uint64_t>(hi) << 32);
    }

   private:
    __m256i lo_, hi_;
  };
  PARALLEL_RUN_AVX2_TARGET static std::uint64_t prefix_xor(std::uint64_t x) noexcept {
    const __m128i product =
        _mm_clmulepi64_si128(_mm_cvtsi64_si128(static_cast<long long>(x)), _mm_set1_epi8(-1), 0);
    return static_cast<std::uint64_t>(_mm_cvtsi128_si64(product));
  }
  PARALLEL_RUN_AVX2_TARGET static unsigned popcount(std::uint64_t x) noexcept {
    return static_cast<unsigned>(__builtin_popcountll(x));
  }
  // TZCNT is defined for 0 (std::countr_zero adds a branch for it).
  PARALLEL_RUN_AVX2_TARGET static unsigned tzcnt(std::uint64_t x) noexcept {
    return static_cast<unsigned>(_tzcnt_u64(x));
  }
};
#endif

}  // namespace isa

/// The quoting rule of CSV, one byte at a time: the reference the block scans below agree
/// with (they fall back to it for a block where a quote breaks the fast rule). As in Python's
/// csv module, only a quote at the start of a field opens a quoted field; a quote inside an
/// unquoted field is a literal character, and so is one after the text that follows a closing
/// quote (`"a"b"`: the record is malformed, but the field ends at the next delimiter). Inside
/// quotes, `""` is one quote and a single quote closes the field. Only LF ends a record.
enum class QuoteState : std::uint8_t {
  field_start,  // the next byte starts a field
  unquoted,     // inside an unquoted field (or the text after a closing quote)
  quoted,       // inside quotes
  after_quote,  // right after a quote that closed quotes (or the first of a doubled pair)
};

/// The state after `c`.
constexpr QuoteState next_quote_state(QuoteState s, char c, char delimiter) noexcept {
  switch (s) {
    case QuoteState::quoted:
      return c == '"' ? QuoteState::after_quote : QuoteState::quoted;
    case QuoteState::after_quote:
      if (c == '"') return QuoteState::quoted;  // a doubled quote
      [[fallthrough]];
    case QuoteState::unquoted:
      return c == delimiter || c == '\n' ? QuoteState::field_start : QuoteState::unquoted;
    case QuoteState::field_start:
      break;
  }
  if (c == '"') return QuoteState::quoted;
  return c == delimiter || c == '\n' ? QuoteState::field_start : QuoteState::unquoted;
}

/// One block under the quoting rule: bit i of `inside` is set when the state after byte i is
/// `quoted`, of `structural` when byte i is a delimiter or newline that ends a field, of
/// `literal` when byte i is a quote that is text (not an opening or closing quote).
struct QuoteMasks {
  std::uint64_t inside = 0, structural = 0, literal = 0;
};

/// The masks of the 64 bytes at `p` from state `s` (updated), one byte at a time.
inline QuoteMasks quote_masks_scalar(const char* p, char delimiter, QuoteState& s) noexcept {
  QuoteMasks m;
  for (unsigned i = 0; i < kBlock; ++i) {
    const char c = p[i];
    const std::uint64_t bit = std::uint64_t{1} << i;
    if (s != QuoteState::quoted && (c == delimiter || c == '\n')) m.structural |= bit;
    // A quote is text in an unquoted field, and as the second of a doubled pair.
    if (c == '"' && (s == QuoteState::unquoted || s == QuoteState::after_quote)) m.literal |= bit;
    s = next_quote_state(s, c, delimiter);
    if (s == QuoteState::quoted) m.inside |= bit;
  }
  return m;
}

/// The quote state of a stream of blocks, carried from one to the next: the fast rule (the
/// prefix XOR of the quotes is the quote state) holds for every block in which each quote that
/// opens quotes under it starts a field or follows a closing quote; a block where one does not
/// (a stray quote) is read one byte at a time by quote_masks_scalar().
struct QuoteCarry {
  std::uint64_t in_quote = 0;     // all ones inside quotes
  std::uint64_t field_start = 1;  // the next byte starts a field
  std::uint64_t after_quote = 0;  // the last byte closed quotes

  QuoteState state() const noexcept {
    return in_quote != 0      ? QuoteState::quoted
           : field_start != 0 ? QuoteState::field_start
           : after_quote != 0 ? QuoteState::after_quote
                              : QuoteState::unquoted;
  }
  void set(QuoteState s) noexcept {
    in_quote = s == QuoteState::quoted ? ~std::uint64_t{0} : 0;
    field_start = s == QuoteState::field_start;
    after_quote = s == QuoteState::after_quote;
  }

  /// The masks of the block at `p` (64 readable bytes) from its quote, newline and delimiter
  /// bits; `parity` is prefix_xor(quotes).
  QuoteMasks next(const char* p, char delimiter, std::uint64_t quotes, std::uint64_t parity,
                  std::uint64_t separators) noexcept {
    const std::uint64_t inside = parity ^ in_quote;
    const std::uint64_t structural = separators & ~inside;
    const std::uint64_t starts = (structural << 1) | field_start;
    const std::uint64_t closing = quotes & ~inside;
    const std::uint64_t after_closing = (closing << 1) | after_quote;
    // Quotes that open quotes under the fast rule (a doubled quote's second one among them).
    const std::uint64_t opening = quotes & inside;
    if ((opening & ~(starts | after_closing)) != 0) [[unlikely]]
      return slow(p, delimiter);
    in_quote = std::uint64_t{0} - (inside >> 63);
    field_start = structural >> 63;
    after_quote = closing >> 63;
    return {inside, structural, opening & ~starts};
  }

 private:
  [[gnu::noinline]] QuoteMasks slow(const char* p, char delimiter) noexcept {
    QuoteState s = state();
    const QuoteMasks m = quote_masks_scalar(p, delimiter, s);
    set(s);
    return m;
  }
};

/// Record ends of a stream of blocks: newlines outside quotes (CSV) or every newline (TSV,
/// JSON Lines), and which of them end a blank record (nothing, or only "\r", since the last
/// record end; for JSON Lines, only spaces, tabs and CRs), which is no record at all.
class RecordScanner {
 public:
  struct Masks {
    std::uint64_t newline;  // every '\n' (for line numbers)
    std::uint64_t end;      // '\n' that ends a record (blank or not)
    std::uint64_t record;   // '\n' that ends a non-blank record
  };

  /// `quoted`: CSV quoting (QuoteState), fields separated by `delimiter`. `spaces_blank`
  /// (JSON Lines): a line of JSON whitespace only is blank too (jsonl.hpp).
  explicit RecordScanner(bool quoted, char delimiter = ',', bool spaces_blank = false) noexcept
      : quoted_(quoted), spaces_blank_(spaces_blank), delimiter_(delimiter) {}

  /// The masks of the 64 bytes at `p` (BlockBytes), with instruction set `Isa`.
  template <class Isa = isa::Baseline>
  Masks scan(const char* p) noexcept {
    const typename Isa::Block b(p);
    const std::uint64_t nl = b.eq('\n');
    std::uint64_t end = nl;
    if (quoted_) {
      const std::uint64_t q = b.eq('"');
      end =
          quotes_.next(p, delimiter_, q, Isa::prefix_xor(q), nl | b.eq(delimiter_)).structural & nl;
    }
    if (spaces_blank_) return step_spaces(nl, end, ~(nl | b.eq('\r') | b.eq(' ') | b.eq('\t')));
    return step(nl, b.eq('\r'), end);
  }

  /// Inside a quoted section after the last block scanned.
  bool in_quote() const noexcept { return quotes_.in_quote != 0; }
  bool quoted() const noexcept { return quoted_; }
  char delimiter() const noexcept { return delimiter_; }

 private:
  Masks step(std::uint64_t nl, std::uint64_t cr, std::uint64_t end) noexcept {
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

  // A record end is blank unless a byte of `text` came since the last one. Adding `text` to
  // ~end starts a carry at each such byte that runs up to the next end (a 0 bit) and sets it,
  // or out of the block into the next one.
  Masks step_spaces(std::uint64_t nl, std::uint64_t end, std::uint64_t text) noexcept {
    std::uint64_t reached = 0;
    text_carry_ = __builtin_add_overflow(~end, text | text_carry_, &reached);
    return {nl, end, end & reached};
  }

  bool quoted_;
  bool spaces_blank_;
  char delimiter_;
  QuoteCarry quotes_;
  std::uint64_t text_carry_ = 0;   // spaces_blank: a byte of text since the last record end
  std::uint64_t start_carry_ = 1;  // the stream starts a record
  std::uint64_t start2_carry_ = 0;
  std::uint64_t cr_carry_ = 0;
};

/// Whether the AVX2 variants run (the CPU has AVX2, PCLMUL, POPCNT and BMI). Checked once;
/// tests set it to false to run the baseline.
inline bool& cpu_has_avx2() noexcept {
#if PARALLEL_RUN_X86_DISPATCH
  static bool yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("pclmul") &&
                    __builtin_cpu_supports("popcnt") && __builtin_cpu_supports("bmi") &&
                    __builtin_cpu_supports("bmi2");
#else
  static bool yes = false;
#endif
  return yes;
}

/// What scan_records() saw in a run of blocks.
struct RecordRun {
  std::uint64_t lines = 0;            // newlines
  std::uint64_t records = 0;          // non-blank record ends
  bool has_end = false;               // a record end (blank or not) was seen; then:
  std::size_t last_end = 0;           //   the offset of the last one,
  std::uint64_t lines_through = 0;    //   the newlines up to and with it,
  std::uint64_t records_through = 0;  //   and the record ends up to and with it
};

/// Scans [p, p + n) (n a multiple of 64) with `scanner`, counting lines and records and
/// keeping the last record end: the partitioner's loop between two cuts.
template <class Isa>
inline void scan_records(RecordScanner& scanner, const char* p, std::size_t n, RecordRun& run) {
  std::uint64_t lines = 0, records = 0;
  std::uint64_t last_nl = 0, last_record = 0, last_end = 0;
  std::uint64_t lines_at = 0, records_at = 0;
  std::size_t last_base = 0;
  bool has_end = false;
  for (std::size_t base = 0; base < n; base += kBlock) {
    const RecordScanner::Masks m = scanner.scan<Isa>(p + base);
    if (m.end != 0) {  // only the last block with an end matters: its bits are counted later
      has_end = true;
      last_base = base;
      last_nl = m.newline;
      last_record = m.record;
      last_end = m.end;
      lines_at = lines;
      records_at = records;
    }
    lines += Isa::popcount(m.newline);
    records += Isa::popcount(m.record);
  }
  if (has_end) {
    const auto bit = static_cast<unsigned>(63 - std::countl_zero(last_end));
    run.has_end = true;
    run.last_end = last_base + bit;
    run.lines_through = run.lines + lines_at + Isa::popcount(last_nl & low_bits(bit + 1));
    run.records_through = run.records + records_at + Isa::popcount(last_record & low_bits(bit + 1));
  }
  run.lines += lines;
  run.records += records;
}

/// scan_records with the best instruction set of this CPU.
#if PARALLEL_RUN_X86_DISPATCH
PARALLEL_RUN_AVX2_TARGET __attribute__((flatten)) inline void scan_records_avx2(
    RecordScanner& scanner, const char* p, std::size_t n, RecordRun& run) {
  scan_records<isa::Avx2>(scanner, p, n, run);
}
#endif
inline void scan_records_any(RecordScanner& scanner, const char* p, std::size_t n, RecordRun& run) {
#if PARALLEL_RUN_X86_DISPATCH
  if (cpu_has_avx2()) return scan_records_avx2(scanner, p, n, run);
#endif
  scan_records<isa::Baseline>(scanner, p, n, run);
}

/// The field index of a CSV or TSV buffer, built one window at a time by index_fields() for
/// the parser (table_parse.hpp): the offsets of the field and record ends (delimiters and
/// newlines outside quotes) and of every quote that is text (QuoteMasks::literal: the second
/// quote of a doubled pair, or a quote in an unquoted field), in order. A field without such
/// a quote is plain, or quoted with no quote inside: it needs no byte-by-byte look.
/// With it, the newlines of each block and how many came before the block, for line numbers.
struct FieldIndexState {
  QuoteCarry quotes;        // the buffer starts a field
  std::uint64_t lines = 0;  // newlines before the next block
};

/// The outputs of index_fields() for up to `window` bytes.
struct FieldIndex {
  static constexpr std::size_t kWindow = std::size_t{32} << 10;  // a multiple of kBlock
  static constexpr std::size_t kBlocks = kWindow / kBlock;
  // One entry per byte at most, and up to 64 more written past the last one.
  std::uint32_t ends[kWindow + 2 * kBlock];
  std::uint64_t newlines[kBlocks];      // the newline bits of each block
  std::uint64_t lines_before[kBlocks];  // newlines of the buffer before each block
};

/// Indexes [p, p + n) (n <= FieldIndex::kWindow; a partial last block is copied out, so only
/// n bytes are read) into `out`, offsets relative to p. Returns the number of entries.
template <class Isa, bool Quoted>
inline std::size_t index_fields(const char* p, std::size_t n, char delimiter,
                                FieldIndexState& state, FieldIndex& out) {
  std::uint32_t* ends = out.ends;
  std::size_t count = 0;
  QuoteCarry quote_carry = state.quotes;
  std::uint64_t lines = state.lines;
  char tail[kBlock];
  for (std::size_t base = 0, block = 0; base < n; base += kBlock, ++block) {
    const char* at = p + base;
    if (n - base < kBlock) {
      std::memset(tail, 0, kBlock);  // NUL is no structural character
      std::memcpy(tail, at, n - base);
      at = tail;
    }
    const typename Isa::Block b(at);
    const std::uint64_t nl = b.eq('\n');
    std::uint64_t structural = nl | b.eq(delimiter);
    std::uint64_t events = 0;
    if constexpr (Quoted) {
      const std::uint64_t quotes = b.eq('"');
      const QuoteMasks m =
          quote_carry.next(at, delimiter, quotes, Isa::prefix_xor(quotes), structural);
      structural = m.structural;
      events = m.literal;
    }
    out.newlines[block] = nl;
    out.lines_before[block] = lines;
    lines += Isa::popcount(nl);
    std::uint64_t bits = structural | events;
    // Eight entries are written whether or not there are so many: no branch per bit for a
    // block with up to eight (the common case: a record has a handful of fields).
    const unsigned total = Isa::popcount(bits);
    const auto offset = static_cast<std::uint32_t>(base);
    std::uint32_t* w = ends + count;
    for (int i = 0; i < 8; ++i) {
      w[i] = offset + Isa::tzcnt(bits);
      bits &= bits - 1;
    }
    for (unsigned i = 8; i < total; ++i) {
      w[i] = offset + Isa::tzcnt(bits);
      bits &= bits - 1;
    }
    count += total;
  }
  state.quotes = quote_carry;
  state.lines = lines;
  return count;
}

#if PARALLEL_RUN_X86_DISPATCH
template <bool Quoted>
PARALLEL_RUN_AVX2_TARGET __attribute__((flatten)) inline std::size_t index_fields_avx2(
    const char* p, std::size_t n, char delimiter, FieldIndexState& state, FieldIndex& out) {
  return index_fields<isa::Avx2, Quoted>(p, n, delimiter, state, out);
}
#endif

/// index_fields with the best instruction set of this CPU.
template <bool Quoted>
inline std::size_t index_fields_any(const char* p, std::size_t n, char delimiter,
                                    FieldIndexState& state, FieldIndex& out) {
#if PARALLEL_RUN_X86_DISPATCH
  if (cpu_has_avx2()) return index_fields_avx2<Quoted>(p, n, delimiter, state, out);
#endif
  return index_fields<isa::Baseline, Quoted>(p, n, delimiter, state, out);
}

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
