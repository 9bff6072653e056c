// torch_digits: batch inference with LibTorch. Each worker loads a TorchScript model (side input
// "model", written by torch_digits_train.py) once in init(); run() reads the 8x8 PGM images of
// its mini-batch, stacks them into one tensor [images, 64] and scores them in one forward
// call: the mini-batch is the model's batch. One row "<file name>: <digit> <probability>" per
// image; an image that cannot be read fails alone (logs/failed_items.csv), the rest of its
// mini-batch is still scored.
//
//   torch_digits --input @data/held_out_list.txt --output result
//       --side-input model=torch_model.pt --mini-batch-size 32 [-- --threads N]
#include "../digit_identification/digits.hpp"

#include <parallel_run/parallel_run.hpp>

#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <torch/script.h>

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

/// Intra-op threads per worker: the cores shared out among the workers, at least one.
/// LibTorch would otherwise give every worker a thread pool as large as the machine, and
/// `workers x cores` threads fighting over `cores` cores (oversubscription) is slower than
/// one thread per core: they preempt each other and evict each other's caches.
int threads_per_worker(const parallel_run::Config& config) {
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return std::max(1, cores / std::max(1, config.process_count_per_node));
}

class TorchDigits {
 public:
  void init(parallel_run::Context& ctx) {
    int threads = threads_per_worker(ctx.config());
    for (const std::string& arg : ctx.arguments()) {
      constexpr std::string_view kThreads = "--threads=";
      int value = 0;
      if (arg.starts_with(kThreads)) {
        const char* first = arg.data() + kThreads.size();
        auto [end, ec] = std::from_chars(first, arg.data() + arg.size(), value);
        if (ec == std::errc{} && end == arg.data() + arg.size() && value > 0) {
          threads = value;
          continue;
        }
      }
      throw parallel_run::UsageError("torch_digits: unknown argument '" + arg +
                                     "' (expected --threads=N, N > 0)");
    }
    // The inter-op pool (for forks inside a TorchScript graph; this model has none) is one
    // per process and can be sized only once, before it is used: on the thread backend the
    // workers share it. Intra-op threads are set per worker: with LibTorch's OpenMP backend
    // each worker thread gets its own team of this size.
    static std::once_flag interop_once;
    std::call_once(interop_once, [] { at::set_num_interop_threads(1); });
    at::set_num_threads(threads);

    const auto& model_file = ctx.side_input("model");
    try {
      model_ = torch::jit::load(model_file.string());
    } catch (const c10::Error& e) {
      throw std::runtime_error(fmt::format("cannot load model '{}': {}", model_file.string(),
                                           e.what_without_backtrace()));
    }
    model_->eval();
    ctx.log().info("model loaded from {}; {} intra-op thread(s) for this worker of {}",
                   model_file.string(), threads, ctx.config().process_count_per_node);
  }

  std::vector<parallel_run::ItemResult<std::string>> run(const parallel_run::FileBatch& batch,
                                                         parallel_run::Context& ctx) {
    // Images first: one that cannot be read fails alone.
    std::vector<float> pixels;
    pixels.reserve(batch.size() * digits::kPixels);
    std::vector<std::optional<std::string>> errors(batch.size());
    std::size_t readable = 0;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      try {
        const digits::Features features = digits::read_pgm_features(batch[i].path);
        for (double v : features)
          pixels.push_back(static_cast<float>(v));
        ++readable;
      } catch (const digits::FormatError& e) {
        ctx.log().warning("{}", e.what());
        errors[i] = e.what();
      }
    }

    // Then one forward call for the whole mini-batch: [readable, 64] in, [readable, 10] out.
    std::vector<parallel_run::ItemResult<std::string>> results;
    results.reserve(batch.size());
    at::Tensor best_probability, best_digit;
    // The best digit and its probability of each readable image, read straight from the
    // tensors' memory: indexing a tensor (best_digit[r].item()) makes a new tensor per call,
    // about 2.5 us per image for the two, a quarter of the model's own time on mini-batches
    // of 32 (benchmarks/torch_inference).
    const float* probability_of = nullptr;
    const std::int64_t* digit_of = nullptr;
    if (readable > 0) {
      c10::InferenceMode inference;  // no autograd bookkeeping (thread-local: set per call)
      const at::Tensor input = torch::from_blob(
          pixels.data(),
          {static_cast<std::int64_t>(readable), static_cast<std::int64_t>(digits::kPixels)},
          torch::kFloat32);
      const at::Tensor probabilities = model_->forward({input}).toTensor();
      if (probabilities.dim() != 2 || probabilities.size(0) != input.size(0) ||
          probabilities.size(1) != static_cast<std::int64_t>(digits::kClasses))
        throw std::runtime_error(
            fmt::format("the model returned a tensor of shape {}, expected [{}, {}]",
                        fmt::join(probabilities.sizes(), "x"), readable, digits::kClasses));
      std::tie(best_probability, best_digit) = probabilities.max(1);
      best_probability = best_probability.to(torch::kFloat32).contiguous();
      best_digit = best_digit.to(torch::kInt64).contiguous();
      probability_of = best_probability.data_ptr<float>();
      digit_of = best_digit.data_ptr<std::int64_t>();
    }
    std::size_t row = 0;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (errors[i]) {
        results.push_back(parallel_run::fail<std::string>(batch[i], *errors[i]));
        continue;
      }
      // The file name without a std::filesystem::path of its own: a view of the path's end.
      const std::string_view path = batch[i].path.native();
      results.push_back(
          parallel_run::ok(batch[i], fmt::format("{}: {} {:.4f}", path.substr(path.rfind('/') + 1),
                                                 digit_of[row], probability_of[row])));
      ++row;
    }
    return results;
  }

 private:
  std::optional<torch::jit::Module> model_;  // set in init: each worker loads its own
};

}  // namespace

int main(int argc, char** argv) {
  parallel_run::Config defaults;
  defaults.name = "torch-digits";
  defaults.mini_batch_size = 32;
  return parallel_run::main(argc, argv, TorchDigits{}, defaults,
                            "Identifies handwritten 8x8 digits (binary PGM files) with the "
                            "TorchScript model given as --side-input model=PATH, one forward "
                            "call per mini-batch; writes '<file name>: <digit> <probability>' "
                            "rows. After --: --threads=N (intra-op threads per worker; default "
                            "the cores divided by the workers).");
}
