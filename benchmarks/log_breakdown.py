#!/usr/bin/env python3
"""Where a parallel_run job's wall time went, from its log folder: the start (worker
processes started, init() run) up to the first mini-batch, the span in which mini-batches
ran, and how much of the workers' time in that span was spent inside run().

  log_breakdown.py OUTPUT_DIR [--workers 2]

Reads OUTPUT_DIR/logs/master.txt (its first and last lines) and
OUTPUT_DIR/logs/processed_mini-batches.csv (Start Time, Elapsed Seconds, Process Seconds,
Run Method Seconds). Used by the model benchmarks' run.sh; needs nothing beyond Python.
"""

import argparse
import csv
import datetime
import pathlib
import sys

STAMP = "%Y-%m-%d %H:%M:%S.%f"


def stamp(text):
    return datetime.datetime.strptime(text[:23], STAMP)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output_dir", type=pathlib.Path)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    logs = args.output_dir / "logs"
    master = (logs / "master.txt").read_text().splitlines()
    rows = list(csv.DictReader(open(logs / "processed_mini-batches.csv", newline="")))
    if not master or not rows:
        print(f"log_breakdown: nothing in {logs}", file=sys.stderr)
        return 1
    job_start, job_end = stamp(master[0]), stamp(master[-1])
    starts = [stamp(r["Start Time"]) for r in rows]
    ends = [s + datetime.timedelta(seconds=float(r["Elapsed Seconds"])) for s, r in zip(starts, rows)]
    first, last = min(starts), max(ends)
    span = (last - first).total_seconds()
    # Empty for an attempt that timed out or crashed (its worker could not say).
    run_s = sum(float(r["Run Method Seconds"] or 0) for r in rows)
    cpu_s = sum(float(r["Process Seconds"] or 0) for r in rows)
    elapsed_s = sum(float(r["Elapsed Seconds"]) for r in rows)
    busy = run_s / (span * args.workers) if span > 0 else 0
    print(
        f"parallel_run (last run): job {(job_end - job_start).total_seconds():.2f} s (master.txt); "
        f"start to the first mini-batch {(first - job_start).total_seconds():.2f} s (worker "
        f"processes, init); {len(rows)} mini-batches ran in {span:.2f} s; inside run() "
        f"{run_s:.2f} s in all, {busy:.0%} of {args.workers} workers x {span:.2f} s; attempts "
        f"{elapsed_s:.2f} s wall, {cpu_s:.2f} s CPU; after the last mini-batch "
        f"{(job_end - last).total_seconds():.2f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
