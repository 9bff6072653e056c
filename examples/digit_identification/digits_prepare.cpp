// digits_prepare: turns the UCI handwritten digits (digits.csv.gz: one image per line, 64
// ink counts 0..16 then the label) into what the batch job needs:
//   <out>/images/train/img_NNNN.pgm      the training images (NNNN: 1-based line number)
//   <out>/images/held_out/img_NNNN.pgm   the held-out images: the job's input
//   <out>/held_out_list.txt              their paths, for --input @<out>/held_out_list.txt
//   <out>/held_out_labels.txt            "<file name> <label>" per held-out image
//   <out>/model.txt                      a softmax regression trained on the training split
// The split and the training are deterministic, so every run writes the same files.
#include "digits.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace fs = std::filesystem;

struct Sample {
  std::size_t line = 0;  // 1-based line in the CSV: names the image file
  digits::InkCounts ink{};
  digits::Features features{};
  int label = 0;
};

struct TrainingOptions {
  int epochs = 1000;
  double learning_rate = 1.0;
  // A little weight decay keeps the weights of pixels that are always blank at zero.
  double l2 = 1e-4;
};

/// The whole decompressed file. zlib reads an uncompressed file as it is, too.
std::string read_gzip_file(const fs::path& file) {
  errno = 0;  // zlib leaves it 0 when gzopen fails for lack of memory
  gzFile in = gzopen(file.c_str(), "rb");
  if (!in)
    throw digits::FormatError(fmt::format("cannot open '{}': {}", file.string(),
                                          errno ? std::strerror(errno) : "out of memory"));
  std::string text;
  char buffer[1 << 16];
  int n = 0;
  while ((n = gzread(in, buffer, sizeof buffer)) > 0)
    text.append(buffer, static_cast<std::size_t>(n));
  // A truncated file ends the reads early without a negative count: only gzerror tells.
  int error_code = Z_OK;
  const std::string error = gzerror(in, &error_code);
  gzclose(in);
  if (n < 0 || (error_code != Z_OK && error_code != Z_STREAM_END))
    throw digits::FormatError(fmt::format("cannot decompress '{}': {}", file.string(), error));
  return text;
}

int parse_field(std::string_view field, int max, const fs::path& file, std::size_t line,
                std::size_t column) {
  int value = -1;
  auto [end, ec] = std::from_chars(field.data(), field.data() + field.size(), value);
  if (ec != std::errc{} || end != field.data() + field.size() || value < 0 || value > max)
    throw digits::FormatError(
        fmt::format("'{}' line {} column {}: '{}' is not an integer in [0, {}]", file.string(),
                    line, column, field, max));
  return value;
}

std::vector<Sample> read_samples(const fs::path& file) {
  const std::string text = read_gzip_file(file);
  std::vector<Sample> samples;
  std::size_t line_number = 0;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + start, end - start);
    start = end + 1;
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;

    Sample s;
    s.line = line_number;
    std::size_t column = 0;
    std::size_t field_start = 0;
    for (;;) {
      std::size_t comma = line.find(',', field_start);
      std::string_view field =
          line.substr(field_start, comma == std::string_view::npos ? comma : comma - field_start);
      ++column;
      if (column <= digits::kPixels)
        s.ink[column - 1] = static_cast<std::uint8_t>(
            parse_field(field, digits::kMaxInk, file, line_number, column));
      else if (column == digits::kPixels + 1)
        s.label = parse_field(field, 9, file, line_number, column);
      if (comma == std::string_view::npos) break;
      field_start = comma + 1;
    }
    if (column != digits::kPixels + 1)
      throw digits::FormatError(
          fmt::format("'{}' line {}: {} fields, expected {} (64 pixels and "
                      "the label)",
                      file.string(), line_number, column, digits::kPixels + 1));
    s.features = digits::features_of(s.ink);
    samples.push_back(s);
  }
  if (samples.empty())
    throw digits::FormatError(fmt::format("'{}' holds no images", file.string()));
  return samples;
}

/// Full-batch gradient descent on the cross-entropy: no randomness, so the model is the same
/// on every run.
digits::SoftmaxModel train(const std::vector<const Sample*>& samples, const TrainingOptions& o) {
  constexpr std::size_t kRow = digits::SoftmaxModel::kRowSize;
  digits::SoftmaxModel model;
  std::vector<double> gradient(digits::kClasses * kRow);
  const double scale = 1.0 / static_cast<double>(samples.size());
  for (int epoch = 0; epoch < o.epochs; ++epoch) {
    std::fill(gradient.begin(), gradient.end(), 0.0);
    for (const Sample* s : samples) {
      auto scores = model.scores(s->features);
      // Subtracting the maximum keeps exp() finite; the probabilities do not change.
      const double top = *std::max_element(scores.begin(), scores.end());
      double sum = 0;
      for (double& v : scores)
        sum += (v = std::exp(v - top));
      for (std::size_t d = 0; d < digits::kClasses; ++d) {
        const double error = scores[d] / sum - (static_cast<int>(d) == s->label ? 1.0 : 0.0);
        double* row = &gradient[d * kRow];
        row[0] += error;
        for (std::size_t p = 0; p < digits::kPixels; ++p)
          row[p + 1] += error * s->features[p];
      }
    }
    for (std::size_t d = 0; d < digits::kClasses; ++d)
      for (std::size_t c = 0; c < kRow; ++c) {
        const double decay = c == 0 ? 0.0 : o.l2 * model.weight(d, c);  // the bias is not decayed
        model.weight(d, c) -= o.learning_rate * (gradient[d * kRow + c] * scale + decay);
      }
  }
  return model;
}

double accuracy(const digits::SoftmaxModel& model, const std::vector<const Sample*>& samples) {
  std::size_t correct = 0;
  for (const Sample* s : samples)
    correct += model.predict(s->features) == s->label ? 1 : 0;
  return static_cast<double>(correct) / static_cast<double>(samples.size());
}

std::string image_name(const Sample& s) {
  return fmt::format("img_{:04}.pgm", s.line);
}

void write_lines(const fs::path& file, const std::string& text) {
  std::ofstream out(file, std::ios::trunc);
  out << text;
  if (!out.flush()) throw digits::FormatError(fmt::format("cannot write '{}'", file.string()));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Prepares the UCI handwritten digits for digit_identification: PGM images, a "
      "held-out split with its labels and list file, and a trained model.",
      "digits_prepare"};
  fs::path csv_file, output_dir;
  std::size_t hold_out_every = 5;
  TrainingOptions options;
  app.add_option("digits_csv", csv_file, "digits.csv.gz (or the uncompressed .csv)")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_option("output_dir", output_dir, "Folder for images, model, labels and list file")
      ->required();
  app.add_option("--hold-out-every", hold_out_every,
                 "Every Nth image is held out for evaluation (default 5: 20%)")
      ->check(CLI::Range(std::size_t{2}, std::size_t{100}));
  app.add_option("--epochs", options.epochs, "Gradient descent steps (default 1000)")
      ->check(CLI::Range(1, 100000));
  app.add_option("--learning-rate", options.learning_rate, "Step size (default 1.0)")
      ->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);

  try {
    const std::vector<Sample> samples = read_samples(csv_file);
    std::vector<const Sample*> training, held_out;
    for (std::size_t i = 0; i < samples.size(); ++i)
      ((i + 1) % hold_out_every == 0 ? held_out : training).push_back(&samples[i]);
    if (training.empty() || held_out.empty())
      throw digits::FormatError(fmt::format("'{}' holds too few images ({}) to split",
                                            csv_file.string(), samples.size()));

    // The image folders belong to this program: emptied first, so a changed split leaves
    // no stale image for a job pointed at the folder.
    const fs::path train_dir = output_dir / "images" / "train";
    const fs::path held_out_dir = output_dir / "images" / "held_out";
    fs::remove_all(train_dir);
    fs::remove_all(held_out_dir);
    fs::create_directories(train_dir);
    fs::create_directories(held_out_dir);
    for (const Sample* s : training)
      digits::write_pgm(train_dir / image_name(*s), s->ink);
    std::string list, labels;
    for (const Sample* s : held_out) {
      digits::write_pgm(held_out_dir / image_name(*s), s->ink);
      // Relative to the list file's folder, so the data folder can be moved as a whole.
      list += fmt::format("images/held_out/{}\n", image_name(*s));
      labels += fmt::format("{} {}\n", image_name(*s), s->label);
    }
    write_lines(output_dir / "held_out_list.txt", list);
    write_lines(output_dir / "held_out_labels.txt", labels);

    const digits::SoftmaxModel model = train(training, options);
    model.save(output_dir / "model.txt");

    fmt::print("digits_prepare: {} images from {}: {} for training, {} held out (every {}th)\n",
               samples.size(), csv_file.string(), training.size(), held_out.size(), hold_out_every);
    fmt::print(
        "digits_prepare: softmax regression, {} epochs: training accuracy {:.3f}, "
        "held-out accuracy {:.3f}\n",
        options.epochs, accuracy(model, training), accuracy(model, held_out));
    fmt::print(
        "digits_prepare: wrote {}/{{model.txt, held_out_list.txt, held_out_labels.txt, "
        "images/train, images/held_out}}\n",
        output_dir.string());
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "digits_prepare: {}\n", e.what());
    return 1;
  }
}
