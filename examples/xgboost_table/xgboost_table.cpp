// xgboost_table: batch inference with gradient-boosted trees over a CSV table, through
// XGBoost's C API. Each worker loads the model (XGBoost's JSON format, written by train.py)
// once, in init(), from side input "model"; run() reads the model's features from each row of
// a mini-batch by column name, predicts the whole mini-batch with one DMatrix and writes per
// row
//   <key> <diagnosis> <probability of malignant>
// the key being "<file>:<line>". An empty field is a missing value (XGBoost's trees have a
// default branch for it); a field that is not a number fails its row alone, with the file,
// line, column and value in logs/failed_items.csv.
//
//   xgboost_table --input data/test.csv --output result --side-input model=model.json
//       --mini-batch-size 8KB
#include <parallel_run/parallel_run.hpp>

#include <fmt/format.h>
#include <xgboost/c_api.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <type_traits>
#include <vector>

namespace {

constexpr std::string_view kMalignant = "malignant";
constexpr std::string_view kBenign = "benign";

/// XGBoost's reason for the last failed call of this thread, without the stack trace it
/// appends on the following lines.
std::string last_error() {
  std::string_view text = XGBGetLastError();
  text = text.substr(0, text.find('\n'));
  while (!text.empty() && (text.back() == ' ' || text.back() == ':'))
    text.remove_suffix(1);
  return std::string(text);
}

/// Throws with XGBoost's own message when a C API call failed (it returns -1 and keeps the
/// reason for XGBGetLastError).
void check(int status, std::string_view call) {
  if (status != 0)
    throw std::runtime_error(fmt::format("xgboost_table: {} failed: {}", call, last_error()));
}

/// Owns a Booster or DMatrix handle: freed on every path, exceptions included.
template <auto Free>
struct HandleDeleter {
  void operator()(void* handle) const noexcept { Free(handle); }
};
using Booster = std::unique_ptr<std::remove_pointer_t<BoosterHandle>, HandleDeleter<XGBoosterFree>>;
using DMatrix = std::unique_ptr<std::remove_pointer_t<DMatrixHandle>, HandleDeleter<XGDMatrixFree>>;

/// The threads XGBoost may use in each worker. Every worker predicts at the same time, each
/// with its own OpenMP team (by default as many threads as cores): workers x threads above
/// the cores would oversubscribe them, OpenMP threads spin-waiting for teammates the kernel
/// has descheduled, which can make prediction slower than one thread per worker. So the cores
/// are shared out, one thread at least.
int threads_per_worker(int workers) {
  const int cores = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  return std::max(1, cores / std::max(1, workers));
}

class XGBoostScorer {
 public:
  // The library copies the scorer given to main() once per worker, before init(): each
  // worker loads its own booster. A loaded booster is never shared.
  XGBoostScorer() = default;
  XGBoostScorer(const XGBoostScorer& other) {
    if (other.booster_) throw std::logic_error("xgboost_table: a loaded scorer is not copied");
  }
  XGBoostScorer& operator=(const XGBoostScorer&) = delete;

  void init(parallel_run::Context& ctx) {
    if (!ctx.arguments().empty())
      throw parallel_run::UsageError(fmt::format(
          "xgboost_table takes no arguments after '--', got '{}'", ctx.arguments().front()));
    const std::string model_file = ctx.side_input("model").string();
    // XGBoost picks the format by the name: any other than .json or .ubj is read as its old
    // binary format, whose reader answers a text file with std::bad_alloc.
    if (!model_file.ends_with(".json"))
      throw parallel_run::UsageError(fmt::format(
          "xgboost_table: the model '{}' must be a .json file (XGBoost's JSON model format, "
          "as train.py writes it)",
          model_file));

    BoosterHandle handle = nullptr;
    check(XGBoosterCreate(nullptr, 0, &handle), "XGBoosterCreate");
    booster_.reset(handle);
    // A model that cannot be loaded fails every worker alike: a configuration error, which
    // stops the job at once (exit status 2) instead of replacing workers.
    if (XGBoosterLoadModel(booster_.get(), model_file.c_str()) != 0)
      throw parallel_run::UsageError(
          fmt::format("xgboost_table: cannot load the model '{}': {}", model_file, last_error()));
    threads_ = threads_per_worker(ctx.config().process_count_per_node);
    check(XGBoosterSetParam(booster_.get(), "nthread", std::to_string(threads_).c_str()),
          "XGBoosterSetParam(nthread)");

    // The feature names train.py saved, in the model's order: the columns to read.
    bst_ulong count = 0;
    const char** names = nullptr;
    check(XGBoosterGetStrFeatureInfo(booster_.get(), "feature_name", &count, &names),
          "XGBoosterGetStrFeatureInfo(feature_name)");
    features_.assign(names, names + count);  // copied before the next call reuses the buffer
    bst_ulong model_features = 0;
    check(XGBoosterGetNumFeature(booster_.get(), &model_features), "XGBoosterGetNumFeature");
    if (features_.empty() || features_.size() != model_features)
      throw parallel_run::UsageError(fmt::format(
          "xgboost_table: the model '{}' names {} of its {} features; train it with feature "
          "names (train.py does), they say which columns to read",
          model_file, features_.size(), model_features));
    ctx.log().info(
        "loaded {}: {} features, from '{}' to '{}'; {} XGBoost thread(s) for {} "
        "worker(s)",
        model_file, features_.size(), features_.front(), features_.back(), threads_,
        ctx.config().process_count_per_node);
  }

  using Result = std::tuple<std::string_view, std::string>;

  std::vector<parallel_run::ItemResult<Result>> run(const parallel_run::TableBatch& batch,
                                                    parallel_run::Context&) const {
    // The rows that read well go into one row-major float matrix; a row with a field that is
    // not a number fails alone and takes no place in it.
    const std::size_t n_features = features_.size();
    std::vector<float> matrix;
    matrix.reserve(batch.size() * n_features);
    std::vector<std::optional<std::string>> errors(batch.size());
    // The features' columns are looked up by name once per file header (the rows of a
    // mini-batch share their file's), not once per field: 30 lookups by name (a hash of the
    // name each) per row took about a fifth of the scorer's CPU time
    // (benchmarks/xgboost_table). A column the header lacks is read by name, which throws the
    // library's error naming the columns there are.
    const parallel_run::TableHeader* header = nullptr;
    std::vector<std::optional<std::size_t>> columns(n_features);
    std::size_t good = 0;
    for (std::size_t r = 0; r < batch.size(); ++r) {
      const parallel_run::Row& row = batch[r];
      if (&row.header() != header) {
        header = &row.header();
        for (std::size_t f = 0; f < n_features; ++f)
          columns[f] = header->find(features_[f]);
      }
      try {
        for (std::size_t f = 0; f < n_features; ++f) {
          const std::optional<double> value = columns[f]
                                                  ? row.get<std::optional<double>>(*columns[f])
                                                  : row.get<std::optional<double>>(features_[f]);
          matrix.push_back(value ? static_cast<float>(*value)
                                 : std::numeric_limits<float>::quiet_NaN());
        }
        ++good;
      } catch (const std::exception& e) {
        matrix.resize(good * n_features);
        errors[r] = e.what();
      }
    }

    std::vector<float> probabilities;
    if (good > 0) {
      DMatrixHandle handle = nullptr;
      check(XGDMatrixCreateFromMat(matrix.data(), good, n_features,
                                   std::numeric_limits<float>::quiet_NaN(), &handle),
            "XGDMatrixCreateFromMat");
      const DMatrix dmatrix(handle);
      const char* config =
          R"({"type": 0, "training": false, "iteration_begin": 0, "iteration_end": 0,
              "strict_shape": false})";
      const bst_ulong* shape = nullptr;
      bst_ulong dimensions = 0;
      const float* result = nullptr;
      check(XGBoosterPredictFromDMatrix(booster_.get(), dmatrix.get(), config, &shape, &dimensions,
                                        &result),
            "XGBoosterPredictFromDMatrix");
      if (dimensions != 1 || shape[0] != good)
        throw std::runtime_error(fmt::format(
            "xgboost_table: the model gave {} dimension(s) of predictions for {} rows; it must "
            "be a binary classifier (objective binary:logistic)",
            dimensions, good));
      probabilities.assign(result, result + good);  // the booster reuses its buffer
    }

    std::vector<parallel_run::ItemResult<Result>> out;
    out.reserve(batch.size());
    std::size_t next = 0;
    for (std::size_t r = 0; r < batch.size(); ++r) {
      if (errors[r]) {
        out.push_back(parallel_run::fail<Result>(batch[r], *errors[r]));
        continue;
      }
      const float p = probabilities[next++];
      // The diagnosis views a constant, so the row may hold it after run() returns.
      out.push_back(parallel_run::ok(
          batch[r], Result{p >= 0.5f ? kMalignant : kBenign, fmt::format("{:.4f}", p)}));
    }
    return out;
  }

 private:
  Booster booster_;
  std::vector<std::string> features_;
  int threads_ = 1;
};

}  // namespace

int main(int argc, char** argv) {
  parallel_run::Config defaults;
  defaults.name = "xgboost-table";
  defaults.key_column = true;
  defaults.output_header = {"diagnosis", "probability"};
  return parallel_run::main(argc, argv, XGBoostScorer{}, defaults,
                            "Diagnoses breast tumours from the rows of the input tables with "
                            "gradient-boosted trees each worker loads from --side-input "
                            "model=PATH (XGBoost's JSON format, from train.py); writes '<key> "
                            "<diagnosis> <probability of malignant>' rows.");
}
