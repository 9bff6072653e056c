#!/usr/bin/python3
"""The Python peers of xgboost_table: the same XGBoost model over the same mini-batches of
the same CSV table, writing the same "<key> <diagnosis> <probability>" rows (the key being
"<file name>:<line>", after a "key diagnosis probability" header) in the same order.

  xgboost_peers.py pool    TABLE MODEL OUTPUT [--mini-batch-bytes 1048576] [--workers 2]
  xgboost_peers.py threads TABLE MODEL OUTPUT [--mini-batch-bytes 1048576] [--threads 2]
  xgboost_peers.py check-mini-batches TABLE PROCESSED_CSV [--mini-batch-bytes 1048576]

The table is cut as parallel_run cuts it: after the header line, each mini-batch holds the
whole records that fit in the size (a record longer than the size is one of its own; records
are lines: the generated table has no quoted line breaks). pool: multiprocessing.Pool(workers)
whose initializer loads the model once per worker with nthread 1; imap over the mini-batches'
bytes, each worker parsing its own with pandas.read_csv (as parallel_run's workers parse
their own slices), predicting them with one DMatrix and formatting its rows; the parent
writes them in order. threads: one process doing the same with nthread `threads`. Both print
to stderr where their time went. check-mini-batches: exits 1 unless the mini-batches are
those of parallel_run's logs/processed_mini-batches.csv (their "Mini-batch Detail" line
ranges).
"""

import argparse
import csv
import io
import multiprocessing
import os
import sys
import time

import numpy as np
import pandas as pd
import xgboost as xgb

booster = None  # each pool worker's, loaded by init_worker


def mini_batches(path, size):
    """(first line, bytes) of each mini-batch, and the header line."""
    with open(path, "rb") as f:
        header = f.readline()
        line = 2
        pending = b""
        while True:
            block = pending + f.read(size - len(pending))
            if not block:
                break
            cut = block.rfind(b"\n") + 1 if len(block) == size else len(block)
            if cut == 0:  # a record longer than the size: the whole record
                block += f.readline()
                cut = len(block)
            chunk, pending = block[:cut], block[cut:]
            yield header, line, chunk
            line += chunk.count(b"\n")


def load(model_file, threads):
    b = xgb.Booster(model_file=model_file)
    b.set_param("nthread", threads)
    return b


def score(job, model, key, threads):
    """The rows of one mini-batch, and the seconds spent parsing, predicting and formatting."""
    header, first_line, chunk = job
    t0 = time.perf_counter()
    table = pd.read_csv(io.BytesIO(header + chunk))
    x = table[model.feature_names]
    t1 = time.perf_counter()
    p = model.predict(xgb.DMatrix(x, nthread=threads))
    t2 = time.perf_counter()
    malignant = p >= np.float32(0.5)
    rows = [
        f"{key}:{line} {'malignant' if m else 'benign'} {q:.4f}\n"
        for line, m, q in zip(range(first_line, first_line + len(p)), malignant.tolist(), p.tolist())
    ]
    return "".join(rows), (t1 - t0, t2 - t1, time.perf_counter() - t2)


def init_worker(model_file):
    global booster
    booster = load(model_file, 1)


def score_in_worker(job_and_key):
    job, key = job_and_key
    return score(job, booster, key, 1)


def report(mode, started, phases):
    parse, predict, fmt = (sum(p[i] for p in phases) for i in range(3))
    print(
        f"xgboost_peers {mode}: {len(phases)} mini-batches, {time.perf_counter() - started:.2f} s "
        f"after import; in the scorers: read_csv {parse:.2f} s, DMatrix+predict {predict:.2f} s, "
        f"format {fmt:.2f} s",
        file=sys.stderr,
    )


def run(args, pool_workers):
    started = time.perf_counter()
    key = os.path.basename(args.table)
    jobs = ((job, key) for job in mini_batches(args.table, args.mini_batch_bytes))
    phases = []
    with open(args.output, "w") as out:
        out.write("key diagnosis probability\n")
        if pool_workers:
            with multiprocessing.Pool(
                pool_workers, initializer=init_worker, initargs=(args.model,)
            ) as pool:
                for rows, times in pool.imap(score_in_worker, jobs):
                    out.write(rows)
                    phases.append(times)
        else:
            model = load(args.model, args.threads)
            for job, key in jobs:
                rows, times = score(job, model, key, args.threads)
                out.write(rows)
                phases.append(times)
    report("pool" if pool_workers else "threads", started, phases)


def check_mini_batches(args):
    mine = []
    for _, first, chunk in mini_batches(args.table, args.mini_batch_bytes):
        last = first + chunk.count(b"\n") - 1
        mine.append(f"{os.path.basename(args.table)}:{first}-{last}")
    with open(args.processed, newline="") as f:
        rows = sorted(csv.DictReader(f), key=lambda r: int(r["Mini-batch Id"]))
    theirs = [r["Mini-batch Detail"] for r in rows]
    if mine != theirs:
        first = next((i for i, (a, b) in enumerate(zip(mine, theirs)) if a != b), len(mine))
        sys.exit(f"xgboost_peers: the mini-batches differ from parallel_run's: {len(mine)} here, "
                 f"{len(theirs)} there; the first different: number {first}")
    print(f"xgboost_peers: the same {len(mine)} mini-batches as parallel_run", file=sys.stderr)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    for mode in ("pool", "threads"):
        p = sub.add_parser(mode)
        p.add_argument("table")
        p.add_argument("model")
        p.add_argument("output")
        p.add_argument("--mini-batch-bytes", type=int, default=1 << 20)
        p.add_argument("--workers", type=int, default=2)
        p.add_argument("--threads", type=int, default=2)
    p = sub.add_parser("check-mini-batches")
    p.add_argument("table")
    p.add_argument("processed")
    p.add_argument("--mini-batch-bytes", type=int, default=1 << 20)
    args = parser.parse_args()
    if args.mode == "pool":
        run(args, args.workers)
    elif args.mode == "threads":
        run(args, 0)
    else:
        check_mini_batches(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
