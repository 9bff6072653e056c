#!/usr/bin/env python3
"""How busy a job's workers were, from its logs/trace.json (Chrome trace events).

    benchmarks/small_files/trace_summary.py OUTPUT_FOLDER [OUTPUT_FOLDER...]

For each folder: when the first attempt started (the trace's clock starts with the job), the
span from the first attempt's start to the last one's end, and per worker the attempts, the
time spent in them and the wait between two of them (median and 90th percentile). Used to
compare a resume with a full run (docs/benchmarks.md, 2026-12-03).
"""
import json
import sys


def summary(folder):
    with open(f"{folder}/logs/trace.json") as f:
        trace = json.load(f)
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    attempts = [e for e in events if e.get("ph") == "X"]
    if not attempts:
        return f"{folder}: no attempt in the trace"
    start = min(e["ts"] for e in attempts)
    end = max(e["ts"] + e["dur"] for e in attempts)
    lines = [f"{folder}: first attempt at {start / 1e3:.1f} ms, span {(end - start) / 1e3:.1f} ms"]
    by_worker = {}
    for e in attempts:
        by_worker.setdefault(e["tid"], []).append(e)
    for worker, runs in sorted(by_worker.items()):
        runs.sort(key=lambda e: e["ts"])
        busy = sum(e["dur"] for e in runs)
        waits = sorted(b["ts"] - (a["ts"] + a["dur"]) for a, b in zip(runs, runs[1:]))
        wait = (f"wait median {waits[len(waits) // 2]} us, 90th percentile "
                f"{waits[int(len(waits) * 0.9)]} us" if waits else "no wait")
        lines.append(f"  worker {worker}: {len(runs)} attempts, busy {busy / 1e3:.1f} ms "
                     f"({100 * busy / (end - start):.0f}% of the span), {wait}")
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for folder in sys.argv[1:]:
        print(summary(folder))
