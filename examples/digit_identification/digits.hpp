// Shared by the digit programs: the 8x8 image as a binary PGM file, and the classifier
// (multinomial logistic regression) with its text file form. Every error is a
// digits::FormatError whose message names the file and what is wrong with it.
#pragma once

#include <fmt/format.h>

#include <array>
#include <cctype>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace digits {

inline constexpr int kSide = 8;
inline constexpr std::size_t kPixels = kSide * kSide;
inline constexpr std::size_t kClasses = 10;
/// The UCI digits count the ink of each 4x4 block of a 32x32 bitmap: 0 (blank) to 16.
inline constexpr int kMaxInk = 16;

/// Pixel intensities scaled to [0, 1], row by row: the classifier's input.
using Features = std::array<double, kPixels>;
/// Ink counts 0..kMaxInk, row by row, as the data set gives them.
using InkCounts = std::array<std::uint8_t, kPixels>;

/// A file that cannot be read or does not hold what it should.
class FormatError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The whole file, or a FormatError naming it and the system's reason.
inline std::string read_file(const std::filesystem::path& file) {
  std::FILE* in = std::fopen(file.c_str(), "rb");
  if (!in)
    throw FormatError(fmt::format("cannot open '{}': {}", file.string(), std::strerror(errno)));
  std::string bytes;
  char buffer[4096];
  std::size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, in)) > 0)
    bytes.append(buffer, n);
  const bool failed = std::ferror(in) != 0;
  std::fclose(in);
  if (failed) throw FormatError(fmt::format("cannot read '{}'", file.string()));
  return bytes;
}

/// Writes `counts` as a binary PGM (P5, 8x8, maxval 16), which any image viewer opens.
inline void write_pgm(const std::filesystem::path& file, const InkCounts& counts) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << "P5\n" << kSide << ' ' << kSide << '\n' << kMaxInk << '\n';
  out.write(reinterpret_cast<const char*>(counts.data()), static_cast<std::streamsize>(kPixels));
  if (!out.flush()) throw FormatError(fmt::format("cannot write '{}'", file.string()));
}

namespace detail {
/// Reads the header's next unsigned number, skipping white space and '#' comments.
inline unsigned pgm_header_number(std::string_view bytes, std::size_t& pos,
                                  const std::filesystem::path& file, const char* what) {
  for (;;) {
    while (pos < bytes.size() && std::isspace(static_cast<unsigned char>(bytes[pos])))
      ++pos;
    if (pos < bytes.size() && bytes[pos] == '#') {
      while (pos < bytes.size() && bytes[pos] != '\n')
        ++pos;
      continue;
    }
    break;
  }
  unsigned value = 0;
  std::size_t digits = 0;
  for (; pos < bytes.size() && bytes[pos] >= '0' && bytes[pos] <= '9'; ++pos, ++digits) {
    // Saturates instead of overflowing: any value this large is rejected by the caller.
    if (value < 1'000'000) value = value * 10 + static_cast<unsigned>(bytes[pos] - '0');
  }
  if (digits == 0 || value == 0)
    throw FormatError(fmt::format("'{}': bad PGM header: no valid {}", file.string(), what));
  return value;
}
}  // namespace detail

/// Reads a binary PGM of 8x8 pixels (any maxval) as features in [0, 1].
inline Features read_pgm_features(const std::filesystem::path& file) {
  const std::string bytes = read_file(file);
  if (bytes.size() < 2 || bytes[0] != 'P' || bytes[1] != '5')
    throw FormatError(
        fmt::format("'{}': not a binary PGM (it does not start with \"P5\")", file.string()));
  std::size_t pos = 2;
  const unsigned width = detail::pgm_header_number(bytes, pos, file, "width");
  const unsigned height = detail::pgm_header_number(bytes, pos, file, "height");
  const unsigned maxval = detail::pgm_header_number(bytes, pos, file, "maxval");
  if (maxval > 65535)
    throw FormatError(
        fmt::format("'{}': bad PGM header: maxval {} > 65535", file.string(), maxval));
  if (width != kSide || height != kSide)
    throw FormatError(fmt::format("'{}': the image is {}x{}, the model needs {}x{}", file.string(),
                                  width, height, kSide, kSide));
  // Exactly one white space character separates the header from the pixels.
  if (pos >= bytes.size() || !std::isspace(static_cast<unsigned char>(bytes[pos])))
    throw FormatError(
        fmt::format("'{}': bad PGM header: no white space after maxval", file.string()));
  ++pos;
  const std::size_t bytes_per_pixel = maxval > 255 ? 2 : 1;
  const std::size_t needed = kPixels * bytes_per_pixel;
  if (bytes.size() - pos < needed)
    throw FormatError(fmt::format("'{}': truncated pixel data ({} of {} bytes)", file.string(),
                                  bytes.size() - pos, needed));
  Features features{};
  for (std::size_t i = 0; i < kPixels; ++i) {
    unsigned value = static_cast<unsigned char>(bytes[pos + i * bytes_per_pixel]);
    if (bytes_per_pixel == 2)  // big-endian, as the format says
      value = value * 256 + static_cast<unsigned char>(bytes[pos + i * 2 + 1]);
    if (value > maxval)
      throw FormatError(
          fmt::format("'{}': pixel {} is {}, above maxval {}", file.string(), i, value, maxval));
    features[i] = static_cast<double>(value) / static_cast<double>(maxval);
  }
  return features;
}

/// The features of ink counts, scaled as read_pgm_features scales a PGM written from them.
inline Features features_of(const InkCounts& counts) {
  Features features{};
  for (std::size_t i = 0; i < kPixels; ++i)
    features[i] = static_cast<double>(counts[i]) / kMaxInk;
  return features;
}

/// Multinomial logistic regression: per digit, a bias and one weight per pixel; the digit
/// with the highest score wins.
class SoftmaxModel {
 public:
  static constexpr std::size_t kRowSize = kPixels + 1;  // bias first

  SoftmaxModel() : weights_(kClasses * kRowSize, 0.0) {}

  double& weight(std::size_t digit, std::size_t column) {
    return weights_[digit * kRowSize + column];
  }
  double weight(std::size_t digit, std::size_t column) const {
    return weights_[digit * kRowSize + column];
  }

  /// The unnormalized log-probability of each digit.
  std::array<double, kClasses> scores(const Features& x) const {
    std::array<double, kClasses> s{};
    for (std::size_t d = 0; d < kClasses; ++d) {
      double sum = weight(d, 0);
      for (std::size_t p = 0; p < kPixels; ++p)
        sum += weight(d, p + 1) * x[p];
      s[d] = sum;
    }
    return s;
  }

  int predict(const Features& x) const {
    const auto s = scores(x);
    std::size_t best = 0;
    for (std::size_t d = 1; d < kClasses; ++d)
      if (s[d] > s[best]) best = d;
    return static_cast<int>(best);
  }

  /// A header line, then one line per digit: bias and weights, printed so they read back
  /// exactly.
  void save(const std::filesystem::path& file) const {
    std::ofstream out(file, std::ios::trunc);
    out << kMagic << ' ' << kClasses << ' ' << kPixels << '\n';
    for (std::size_t d = 0; d < kClasses; ++d) {
      std::string line;
      for (std::size_t c = 0; c < kRowSize; ++c)
        line += fmt::format("{}{:.17g}", c == 0 ? "" : " ", weight(d, c));
      out << line << '\n';
    }
    if (!out.flush()) throw FormatError(fmt::format("cannot write '{}'", file.string()));
  }

  static SoftmaxModel load(const std::filesystem::path& file) {
    std::istringstream in(read_file(file));
    std::string magic;
    std::size_t classes = 0, pixels = 0;
    if (!(in >> magic >> classes >> pixels) || magic != kMagic)
      throw FormatError(fmt::format("'{}' is not a digits model (it does not start with \"{}\")",
                                    file.string(), kMagic));
    if (classes != kClasses || pixels != kPixels)
      throw FormatError(fmt::format("'{}': the model has {} classes x {} pixels, expected {} x {}",
                                    file.string(), classes, pixels, kClasses, kPixels));
    SoftmaxModel model;
    for (std::size_t d = 0; d < kClasses; ++d)
      for (std::size_t c = 0; c < kRowSize; ++c)
        if (!(in >> model.weight(d, c)))
          throw FormatError(fmt::format("'{}': weight {} of digit {} is missing or not a number",
                                        file.string(), c, d));
    return model;
  }

 private:
  static constexpr std::string_view kMagic = "digits-softmax-v1";
  std::vector<double> weights_;
};

}  // namespace digits
