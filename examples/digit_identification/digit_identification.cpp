// digit_identification: the batch inference job. Each worker loads the model once (side
// input "model"), then classifies the 8x8 PGM images of its mini-batches and writes one row
// "<file name>: <digit>" per image. An image that cannot be read fails alone, with the file
// and the problem in logs/failed_items.csv; the rest of its mini-batch still succeeds.
//
//   digit_identification --input @data/held_out_list.txt --output result
//       --side-input model=data/model.txt --mini-batch-size 10
#include "digits.hpp"

#include <parallel_run/parallel_run.hpp>

#include <fmt/format.h>

#include <string>
#include <vector>

namespace {

class DigitScorer {
 public:
  void init(parallel_run::Context& ctx) {
    const auto& model_file = ctx.side_input("model");
    model_ = digits::SoftmaxModel::load(model_file);
    ctx.log().info("model loaded from {}", model_file.string());
  }

  std::vector<parallel_run::ItemResult<std::string>> run(const parallel_run::FileBatch& batch,
                                                         parallel_run::Context& ctx) {
    std::vector<parallel_run::ItemResult<std::string>> results;
    results.reserve(batch.size());
    for (const parallel_run::FileEntry& entry : batch) {
      try {
        const int digit = model_.predict(digits::read_pgm_features(entry.path));
        results.push_back(
            parallel_run::ok(entry, fmt::format("{}: {}", entry.path.filename().string(), digit)));
      } catch (const digits::FormatError& e) {
        ctx.log().warning("{}", e.what());
        results.push_back(parallel_run::fail<std::string>(entry, e.what()));
      }
    }
    return results;
  }

 private:
  digits::SoftmaxModel model_;
};

}  // namespace

int main(int argc, char** argv) {
  parallel_run::Config defaults;
  defaults.name = "digit-identification";
  return parallel_run::main(argc, argv, DigitScorer{}, defaults,
                            "Identifies handwritten 8x8 digits (binary PGM files) with the model "
                            "given as --side-input model=PATH; writes '<file name>: <digit>' "
                            "rows.");
}
