#!/usr/bin/python3
"""Writes a large CSV table of made-up tumours from the breast cancer tables that
examples/score_table/breast_cancer_prepare writes (train.csv and test.csv: id, the 30
measurements, diagnosis).

  make_table.py TRAIN_CSV TEST_CSV OUT_CSV ROWS [--seed N]

Row i is tumour (i mod 569) of the two tables, each measurement multiplied by 1 + 5% Gaussian
noise and written with 4 significant digits; the columns and the diagnosis are the source's,
the id is i + 1. The same seed writes the same file. Needs numpy (a dependency of
python3-xgboost).
"""

import argparse
import csv
import sys

import numpy as np


def read(path):
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = list(reader)
    return header, rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("train_csv")
    parser.add_argument("test_csv")
    parser.add_argument("out_csv")
    parser.add_argument("rows", type=int)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()

    header, rows = read(args.train_csv)
    test_header, test_rows = read(args.test_csv)
    if header != test_header or header[0] != "id" or header[-1] != "diagnosis":
        sys.exit("make_table: the tables must have the same header, from id to diagnosis")
    rows += test_rows
    values = np.array([[float(v) for v in r[1:-1]] for r in rows])
    diagnoses = np.array([r[-1] for r in rows])

    rng = np.random.default_rng(args.seed)
    block = 100_000  # rows formatted at a time: bounded memory whatever the size
    with open(args.out_csv, "w") as out:
        out.write(",".join(header) + "\n")
        for start in range(0, args.rows, block):
            which = np.arange(start, min(start + block, args.rows)) % len(rows)
            noisy = values[which] * (1 + 0.05 * rng.standard_normal((len(which), values.shape[1])))
            lines = [
                f"{start + k + 1}," + ",".join(f"{v:.4g}" for v in row) + f",{d}\n"
                for k, (row, d) in enumerate(zip(noisy.tolist(), diagnoses[which]))
            ]
            out.write("".join(lines))
    print(f"make_table: wrote {args.rows} rows to {args.out_csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
