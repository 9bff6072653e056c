#!/usr/bin/python3
"""The Python peers of torch_digits: the same TorchScript model over the same mini-batches of
the same PGM images, writing the same "<file name>: <digit> <probability>" rows in the same
order.

  torch_peers.py pool    IMAGES MODEL OUTPUT [--mini-batch 32] [--workers 2]
  torch_peers.py threads IMAGES MODEL OUTPUT [--mini-batch 32] [--threads 2]
  torch_peers.py compare EXPECTED GOT [--labels LABELS]

pool: what a service user runs today: multiprocessing.Pool(workers) whose initializer loads
the model once per worker with 1 intra-op thread, imap over the mini-batches (lists of
paths; each worker reads its images, stacks them into one tensor and scores it in one
forward call), the parent writing the rows in order. threads: one process, one forward call
per mini-batch with `threads` intra-op threads. Both print to stderr where their time went.

compare: the rows must name the same files in the same order with the same digits, and the
probabilities (written with 4 decimals) may differ by at most 0.0001 (one unit of the last
decimal: the same float can round either way once the sums are done in another order).
Exits 1 otherwise. With --labels, prints the accuracy of EXPECTED.
"""

import argparse
import multiprocessing
import os
import re
import sys
import time

import numpy as np
import torch

PIXELS = 64
HEADER = re.compile(rb"P5\s+(\d+)\s+(\d+)\s+(\d+)\s")

model = None  # each pool worker's, loaded by init_worker


def read_pgm(path):
    """The 64 pixels of an 8x8 binary PGM scaled to [0, 1], as digits.hpp reads them."""
    with open(path, "rb") as f:
        data = f.read()
    m = HEADER.match(data)
    if not m or m.group(1) != b"8" or m.group(2) != b"8":
        raise ValueError(f"'{path}': not an 8x8 binary PGM")
    pixels = np.frombuffer(data, np.uint8, PIXELS, m.end())
    return pixels / float(m.group(3))  # float64 then float32, as the C++ scorer rounds


def score(batch, net):
    """Rows for one mini-batch of paths, and the seconds spent reading, in the model and
    formatting."""
    t0 = time.perf_counter()
    x = torch.from_numpy(np.stack([read_pgm(p) for p in batch]).astype(np.float32))
    t1 = time.perf_counter()
    with torch.inference_mode():
        probability, digit = net(x).max(1)
    t2 = time.perf_counter()
    rows = [
        f"{os.path.basename(p)}: {d} {q:.4f}\n"
        for p, d, q in zip(batch, digit.tolist(), probability.tolist())
    ]
    return "".join(rows), (t1 - t0, t2 - t1, time.perf_counter() - t2)


def init_worker(model_file):
    global model
    torch.set_num_threads(1)
    model = torch.jit.load(model_file).eval()


def score_in_worker(batch):
    return score(batch, model)


def mini_batches(images, size):
    names = sorted(n for n in os.listdir(images) if not n.startswith("."))
    paths = [os.path.join(images, n) for n in names]
    return [paths[i : i + size] for i in range(0, len(paths), size)]


def report(mode, started, phases, batches):
    read, forward, fmt = (sum(p[i] for p in phases) for i in range(3))
    print(
        f"torch_peers {mode}: {sum(len(b) for b in batches)} images, {len(batches)} "
        f"mini-batches, {time.perf_counter() - started:.2f} s after import; in the scorers: "
        f"read+tensor {read:.2f} s, forward {forward:.2f} s, format {fmt:.2f} s",
        file=sys.stderr,
    )


def run_pool(args):
    started = time.perf_counter()
    batches = mini_batches(args.images, args.mini_batch)
    phases = []
    with open(args.output, "w") as out, multiprocessing.Pool(
        args.workers, initializer=init_worker, initargs=(args.model,)
    ) as pool:
        for rows, times in pool.imap(score_in_worker, batches):
            out.write(rows)
            phases.append(times)
    report("pool", started, phases, batches)


def run_threads(args):
    started = time.perf_counter()
    torch.set_num_threads(args.threads)
    net = torch.jit.load(args.model).eval()
    batches = mini_batches(args.images, args.mini_batch)
    phases = []
    with open(args.output, "w") as out:
        for batch in batches:
            rows, times = score(batch, net)
            out.write(rows)
            phases.append(times)
    report("threads", started, phases, batches)


ROW = re.compile(r"(\S+): ([0-9]) ([01]\.[0-9]{4})")


def read_rows(path):
    rows = []
    with open(path) as f:
        for number, line in enumerate(f, start=1):
            m = ROW.fullmatch(line.rstrip("\n"))
            if not m:
                sys.exit(f"torch_peers compare: {path} line {number} is not a row: {line!r}")
            rows.append((m.group(1), int(m.group(2)), float(m.group(3))))
    return rows


def compare(args):
    expected, got = read_rows(args.expected), read_rows(args.got)
    if len(expected) != len(got):
        sys.exit(f"torch_peers compare: {args.got} has {len(got)} rows, {args.expected} "
                 f"{len(expected)}")
    worst = 0.0
    for number, (e, g) in enumerate(zip(expected, got), start=1):
        if e[0] != g[0] or e[1] != g[1]:
            sys.exit(f"torch_peers compare: line {number} differs: {args.expected} has "
                     f"'{e[0]}: {e[1]}', {args.got} '{g[0]}: {g[1]}'")
        worst = max(worst, abs(e[2] - g[2]))
    if worst > 0.0001 + 1e-9:
        sys.exit(f"torch_peers compare: probabilities differ by up to {worst:.4f} (> 0.0001)")
    line = f"torch_peers compare: {len(got)} rows, same files and digits, " \
           f"probabilities within {worst:.4f}"
    if args.labels:
        labels = dict(l.split() for l in open(args.labels))
        right = sum(1 for name, digit, _ in expected if labels.get(name) == str(digit))
        line += f"; accuracy on the noisy images {right / len(expected):.3f}"
    print(line, file=sys.stderr)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    for mode in ("pool", "threads"):
        p = sub.add_parser(mode)
        p.add_argument("images")
        p.add_argument("model")
        p.add_argument("output")
        p.add_argument("--mini-batch", type=int, default=32)
        p.add_argument("--workers", type=int, default=2)
        p.add_argument("--threads", type=int, default=2)
    p = sub.add_parser("compare")
    p.add_argument("expected")
    p.add_argument("got")
    p.add_argument("--labels")
    args = parser.parse_args()
    {"pool": run_pool, "threads": run_threads, "compare": compare}[args.mode](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
