// Fuzzes the CSV block scanner: on the same bytes, the record scan of the partitioner
// (RecordScanner, scan_records) and the field index of the parser (index_fields), each with
// every instruction set this CPU has, must agree bit for bit with the quoting rule applied one
// byte at a time (quote_masks_scalar). Any disagreement aborts.
//
// Input: [1 byte: the delimiter is ',' ';' or '\t' by its value mod 3][the text].
#include <parallel_run/detail/csv_scan.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

namespace pd = parallel_run::detail;

namespace {

void check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "csv_scan: %s\n", what);
  std::abort();
}

// The reference: per block, record ends, newlines, and the field index entries.
struct Reference {
  std::vector<std::uint64_t> newline, end, record;  // RecordScanner::Masks per block
  std::vector<std::uint32_t> entries;               // index_fields' offsets
  bool in_quote = false;
};

Reference reference(const char* p, std::size_t n, char delimiter) {
  Reference r;
  pd::QuoteState state = pd::QuoteState::field_start;
  bool record_empty = true, only_cr = false;  // since the last record end
  for (std::size_t base = 0; base < n; base += pd::kBlock) {
    char block[pd::kBlock] = {};
    std::memcpy(block, p + base, std::min(pd::kBlock, n - base));
    const pd::QuoteMasks m = pd::quote_masks_scalar(block, delimiter, state);
    std::uint64_t nl = 0, end = 0, record = 0;
    for (unsigned i = 0; i < pd::kBlock; ++i) {
      const std::uint64_t bit = std::uint64_t{1} << i;
      if (base + i < n && ((m.structural | m.literal) & bit))
        r.entries.push_back(static_cast<std::uint32_t>(base + i));
      if (block[i] == '\n') nl |= bit;
      if (block[i] == '\n' && (m.structural & bit)) {
        end |= bit;
        if (!record_empty && !only_cr) record |= bit;
        record_empty = true;
        only_cr = false;
        continue;
      }
      only_cr = record_empty && block[i] == '\r';
      record_empty = false;
    }
    r.newline.push_back(nl);
    r.end.push_back(end);
    r.record.push_back(record);
  }
  r.in_quote = state == pd::QuoteState::quoted;
  return r;
}

template <class Isa>
void check_record_scanner(const char* p, std::size_t n, char delimiter, const Reference& r) {
  pd::RecordScanner scanner(true, delimiter);
  for (std::size_t base = 0, b = 0; base < n; base += pd::kBlock, ++b) {
    const pd::BlockBytes bytes(p + base, std::min(pd::kBlock, n - base));
    const pd::RecordScanner::Masks m = scanner.scan<Isa>(bytes.data());
    check(m.newline == r.newline[b], "RecordScanner newline mask");
    check(m.end == r.end[b], "RecordScanner record ends");
    check(m.record == r.record[b], "RecordScanner non-blank record ends");
  }
  check(scanner.in_quote() == r.in_quote, "RecordScanner quote state at the end");
}

void check_scan_records(const char* p, std::size_t n, char delimiter, const Reference& r,
                        bool avx2) {
  const std::size_t whole = n / pd::kBlock * pd::kBlock;
  if (whole == 0) return;
  pd::RecordScanner scanner(true, delimiter);
  pd::RecordRun run;
  // In two runs, as the partitioner calls it between cuts.
  const std::size_t half = whole / 2 / pd::kBlock * pd::kBlock;
  for (auto [from, to] : {std::pair{std::size_t{0}, half}, std::pair{half, whole}}) {
    if (to == from) continue;
#if PARALLEL_RUN_X86_DISPATCH
    if (avx2)
      pd::scan_records_avx2(scanner, p + from, to - from, run);
    else
#endif
      pd::scan_records<pd::isa::Baseline>(scanner, p + from, to - from, run);
  }
  (void)avx2;
  std::uint64_t lines = 0, records = 0;
  for (std::size_t b = 0; b < whole / pd::kBlock; ++b) {
    lines += static_cast<std::uint64_t>(__builtin_popcountll(r.newline[b]));
    records += static_cast<std::uint64_t>(__builtin_popcountll(r.record[b]));
  }
  check(run.lines == lines, "scan_records lines");
  check(run.records == records, "scan_records records");
}

template <bool Avx2>
void check_index(const char* p, std::size_t n, char delimiter, const Reference& r) {
  static auto index = std::make_unique<pd::FieldIndex>();
  pd::FieldIndexState state;
  std::vector<std::uint32_t> got;
  for (std::size_t window = 0; window < n; window += pd::FieldIndex::kWindow) {
    const std::size_t size = std::min(pd::FieldIndex::kWindow, n - window);
    std::size_t count = 0;
#if PARALLEL_RUN_X86_DISPATCH
    if constexpr (Avx2)
      count = pd::index_fields_avx2<true>(p + window, size, delimiter, state, *index);
    else
#endif
      count = pd::index_fields<pd::isa::Baseline, true>(p + window, size, delimiter, state, *index);
    for (std::size_t k = 0; k < count; ++k)
      got.push_back(static_cast<std::uint32_t>(window + index->ends[k]));
  }
  check(got == r.entries, "index_fields entries");
  check((state.quotes.in_quote != 0) == r.in_quote, "index_fields quote state at the end");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const char delimiter = ",;\t"[data[0] % 3];
  const char* p = reinterpret_cast<const char*>(data + 1);
  const std::size_t n = size - 1;
  const Reference r = reference(p, n, delimiter);
  check_record_scanner<pd::isa::Baseline>(p, n, delimiter, r);
  check_scan_records(p, n, delimiter, r, false);
  check_index<false>(p, n, delimiter, r);
#if PARALLEL_RUN_X86_DISPATCH
  if (pd::cpu_has_avx2()) {
    check_record_scanner<pd::isa::Avx2>(p, n, delimiter, r);
    check_scan_records(p, n, delimiter, r, true);
    check_index<true>(p, n, delimiter, r);
  }
#endif
  return 0;
}
