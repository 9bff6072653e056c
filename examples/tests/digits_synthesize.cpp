// digits_synthesize: writes a small digits.csv.gz in the UCI layout (64 ink counts 0..16, then
// the label) from hand-drawn glyphs with deterministic noise, so the digit pipeline can be
// tested without downloading the real data set.
//
//   digits_synthesize <out.csv.gz> [images per digit, default 30]
#include "../digit_identification/digits.hpp"

#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>
#include <string_view>

namespace {

// '#' full ink, '.' none.
constexpr std::array<std::array<std::string_view, digits::kSide>, digits::kClasses> kGlyphs{{
    {"..####..", ".##..##.", ".#....#.", ".#....#.", ".#....#.", ".#....#.", ".##..##.",
     "..####.."},
    {"...##...", "..###...", ".#.##...", "...##...", "...##...", "...##...", "...##...",
     ".######."},
    {"..####..", ".#....#.", "......#.", ".....#..", "....#...", "...#....", "..#.....",
     ".######."},
    {".#####..", "......#.", "......#.", "..####..", "......#.", "......#.", "......#.",
     ".#####.."},
    {".....#..", "....##..", "...#.#..", "..#..#..", ".######.", ".....#..", ".....#..",
     ".....#.."},
    {".######.", ".#......", ".#......", ".#####..", "......#.", "......#.", ".#....#.",
     "..####.."},
    {"..####..", ".#......", ".#......", ".#####..", ".#....#.", ".#....#.", ".#....#.",
     "..####.."},
    {".######.", "......#.", ".....#..", ".....#..", "....#...", "....#...", "...#....",
     "...#...."},
    {"..####..", ".#....#.", ".#....#.", "..####..", ".#....#.", ".#....#.", ".#....#.",
     "..####.."},
    {"..####..", ".#....#.", ".#....#.", "..#####.", "......#.", "......#.", ".....#..",
     "..###..."},
}};

int ink_of(char c) {
  return c == '#' ? digits::kMaxInk : 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    fmt::print(stderr, "usage: digits_synthesize <out.csv.gz> [images per digit]\n");
    return 2;
  }
  const int per_digit = argc == 3 ? std::atoi(argv[2]) : 30;
  if (per_digit < 1) {
    fmt::print(stderr, "digits_synthesize: images per digit must be at least 1\n");
    return 2;
  }
  // mt19937's sequence is fixed by the standard (distributions are not), so the noise below
  // is the same everywhere.
  std::mt19937 random(20240601u);
  auto noise = [&](int spread) {
    return static_cast<int>(random() % static_cast<unsigned>(2 * spread + 1)) - spread;
  };

  std::string csv;
  for (int n = 0; n < per_digit; ++n) {
    for (std::size_t k = 0; k < digits::kClasses; ++k) {
      // Rotating the order keeps every digit in both splits of "every 5th image held out".
      const std::size_t digit = (k + static_cast<std::size_t>(n)) % digits::kClasses;
      const int shift = noise(1);  // a glyph drawn a pixel left or right
      for (int y = 0; y < digits::kSide; ++y)
        for (int x = 0; x < digits::kSide; ++x) {
          const int source = x - shift;
          const int ink = source < 0 || source >= digits::kSide
                              ? 0
                              : ink_of(kGlyphs[digit][static_cast<std::size_t>(y)]
                                              [static_cast<std::size_t>(source)]);
          csv += fmt::format("{},", std::clamp(ink + noise(4), 0, digits::kMaxInk));
        }
      csv += fmt::format("{}\n", digit);
    }
  }

  gzFile out = gzopen(argv[1], "wb");
  bool written = out && gzwrite(out, csv.data(), static_cast<unsigned>(csv.size())) ==
                            static_cast<int>(csv.size());
  if (out && gzclose(out) != Z_OK) written = false;
  if (!written) {
    fmt::print(stderr, "digits_synthesize: cannot write '{}'\n", argv[1]);
    return 1;
  }
  fmt::print("digits_synthesize: {} images written to {}\n", per_digit * 10, argv[1]);
  return 0;
}
