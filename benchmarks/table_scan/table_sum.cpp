// table_scan through the library: the sum of the value column of CSV tables, read as
// mini-batches of 1 MB by 2 workers. Nothing is written per row (output_action summary_only):
// each mini-batch's sum is kept by its index, so a retried mini-batch is counted once, and
// the total is printed when the job ends:
//   table_sum: rows=<R> value_sum=<S>
// The values have at most 2 decimals, so the sum is exact in whole cents. With an expected
// sum after "--" (make_table prints it), a different total exits 1.
//
//   table_sum --input big.csv --output OUT [-- EXPECTED_SUM]
#include <parallel_run/parallel_run.hpp>

#include <fmt/format.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <ranges>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace {

struct Partial {
  std::int64_t cents = 0;
  std::uint64_t rows = 0;
};

/// Shared by the workers' scorers (each worker has its own copy of the scorer).
struct Totals {
  std::mutex mutex;
  std::map<std::size_t, Partial> by_mini_batch;
};

std::string cents_text(std::int64_t cents) {
  const std::uint64_t magnitude =
      cents < 0 ? static_cast<std::uint64_t>(-cents) : static_cast<std::uint64_t>(cents);
  return fmt::format("{}{}.{:02}", cents < 0 ? "-" : "", magnitude / 100, magnitude % 100);
}

class TableSum {
 public:
  explicit TableSum(std::shared_ptr<Totals> totals) : totals_(std::move(totals)) {}

  void init(parallel_run::Context& ctx) {
    if (ctx.arguments().size() > 1)
      throw parallel_run::UsageError(
          "table_sum takes at most one argument after '--': the "
          "expected sum");
  }

  auto run(const parallel_run::TableBatch& batch, parallel_run::Context&) {
    Partial partial;
    // Rows of one file share a header: the column is looked up once per file, not per row.
    const parallel_run::TableHeader* header = nullptr;
    std::size_t column = 0;
    for (const parallel_run::Row& row : batch) {
      if (&row.header() != header) {
        header = &row.header();
        const std::optional<std::size_t> found = header->find("value");
        if (!found)
          throw std::runtime_error(fmt::format("'{}' has no column 'value'", row.file_key()));
        column = *found;
      }
      partial.cents += std::llround(row.get<double>(column) * 100);
      ++partial.rows;
    }
    {
      std::lock_guard lock(totals_->mutex);
      totals_->by_mini_batch[batch.mini_batch_index()] = partial;
    }
    // One element per row: every row succeeded. summary_only counts them and writes nothing.
    return std::views::iota(std::size_t{0}, batch.size());
  }

 private:
  std::shared_ptr<Totals> totals_;
};

}  // namespace

int main(int argc, char** argv) {
  parallel_run::Config defaults;
  defaults.name = "table-sum";
  defaults.mini_batch_size = "1MB";
  defaults.process_count_per_node = 2;
  defaults.output_action = parallel_run::OutputAction::summary_only;
  // A row that cannot be read must fail the run loudly, not leave a smaller sum.
  defaults.error_threshold = 0;
  defaults.run_max_try = 1;

  std::optional<std::string> expected;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], "--") == 0) expected = argv[i + 1];

  auto totals = std::make_shared<Totals>();
  const int status = parallel_run::main(argc, argv, TableSum{totals}, std::move(defaults),
                                        "table_scan benchmark: the sum of the value column.");
  if (status != 0 || (totals->by_mini_batch.empty() && !expected)) return status;

  Partial total;
  for (const auto& [index, partial] : totals->by_mini_batch) {
    total.cents += partial.cents;
    total.rows += partial.rows;
  }
  const std::string sum = cents_text(total.cents);
  fmt::print("table_sum: rows={} value_sum={}\n", total.rows, sum);
  if (expected && *expected != sum) {
    fmt::print(stderr, "table_sum: value_sum {} differs from the expected {}\n", sum, *expected);
    return 1;
  }
  return 0;
}
