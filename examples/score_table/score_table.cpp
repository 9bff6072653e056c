// score_table: batch inference over a CSV table. Each worker trains a logistic regression
// once, in init(), on the table given as side input "train" (a fraction of a second, and the
// same model in every worker: the training has no randomness); run() then scores the rows of
// each mini-batch of the input tables by column name and writes per row
//   <key> <probability of malignant> <diagnosis>
// the key being "<file>:<line>". A row with a field that is not a number fails alone, with
// the file, line, column and value in logs/failed_items.csv.
//
//   score_table --input data/test.csv --output result --side-input train=data/train.csv
//       --mini-batch-size 8KB
#include "breast_cancer.hpp"

#include <parallel_run/parallel_run.hpp>

#include <fmt/format.h>

#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace {

class BreastCancerScorer {
 public:
  void init(parallel_run::Context& ctx) {
    if (!ctx.arguments().empty())
      throw parallel_run::UsageError(fmt::format(
          "score_table takes no arguments after '--', got '{}'", ctx.arguments().front()));
    const auto& train_file = ctx.side_input("train");
    const std::vector<breast_cancer::Sample> samples = breast_cancer::read_table(train_file);
    model_ = breast_cancer::Model::train(samples);
    ctx.log().info("trained on {} rows of {}: training accuracy {:.3f}", samples.size(),
                   train_file.string(), model_.accuracy(samples));
  }

  // map_items: a FieldError from one row fails that row only, not the mini-batch.
  auto run(const parallel_run::TableBatch& batch, parallel_run::Context&) const {
    return parallel_run::map_items(batch, [this](const parallel_run::Row& row) {
      breast_cancer::Features x;
      for (std::size_t f = 0; f < breast_cancer::kFeatureCount; ++f)
        x[f] = row.get<double>(breast_cancer::kFeatures[f]);
      const double p = model_.probability_malignant(x);
      // The diagnosis views a constant, so the row may hold it after run() returns.
      return std::tuple<std::string, std::string_view>{
          fmt::format("{:.4f}", p), p >= 0.5 ? breast_cancer::kMalignant : breast_cancer::kBenign};
    });
  }

 private:
  breast_cancer::Model model_;
};

}  // namespace

int main(int argc, char** argv) {
  parallel_run::Config defaults;
  defaults.name = "score-table";
  defaults.key_column = true;
  defaults.output_header = {"probability", std::string(breast_cancer::kDiagnosisColumn)};
  return parallel_run::main(argc, argv, BreastCancerScorer{}, defaults,
                            "Diagnoses breast tumours from the 30 measurements of each row of "
                            "the input tables, with a logistic regression each worker trains on "
                            "--side-input train=PATH; writes '<key> <probability> <diagnosis>' "
                            "rows.");
}
