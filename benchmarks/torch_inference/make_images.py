#!/usr/bin/python3
"""Writes COUNT noisy 8x8 digit images as binary PGM files, from the UCI digits that
examples/digit_identification/fetch_digits.sh fetches (digits.csv.gz: per line 64 ink counts
0..16, then the label).

  make_images.py DIGITS_CSV OUT_DIR COUNT [--seed N]

Image i is line (i mod 1797) + 1 of the CSV with noise: each pixel moves by -2..+2 ink (a
third of them; clipped to 0..16). OUT_DIR/images/img_NNNNNN.pgm (zero-padded, so the sorted
names are the order of i) as digits_prepare writes them (P5, 8x8, maxval 16), and
OUT_DIR/labels.txt, one "<file name> <digit>" line per image. The same seed writes the same
files. Needs numpy (a dependency of python3-torch).
"""

import argparse
import gzip
import pathlib
import sys

import numpy as np

HEADER = b"P5\n8 8\n16\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("digits_csv", type=pathlib.Path)
    parser.add_argument("out_dir", type=pathlib.Path)
    parser.add_argument("count", type=int)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()

    with gzip.open(args.digits_csv, "rt") as f:
        rows = np.loadtxt(f, delimiter=",", dtype=np.int16)
    if rows.ndim != 2 or rows.shape[1] != 65:
        sys.exit(f"make_images: '{args.digits_csv}' does not hold 65 fields per line")
    ink, labels = rows[:, :64], rows[:, 64]

    rng = np.random.default_rng(args.seed)
    which = np.arange(args.count) % len(rows)
    noise = rng.integers(-2, 3, size=(args.count, 64), dtype=np.int16)
    noise *= rng.random((args.count, 64)) < 1 / 3
    images = np.clip(ink[which] + noise, 0, 16).astype(np.uint8)

    folder = args.out_dir / "images"
    folder.mkdir(parents=True, exist_ok=True)
    width = max(6, len(str(args.count - 1)))
    lines = []
    for i in range(args.count):
        name = f"img_{i:0{width}d}.pgm"
        (folder / name).write_bytes(HEADER + images[i].tobytes())
        lines.append(f"{name} {labels[which[i]]}\n")
    (args.out_dir / "labels.txt").write_text("".join(lines))
    print(f"make_images: wrote {args.count} images to {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
