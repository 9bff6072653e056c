#!/usr/bin/python3
"""Compares torch_digits' output with the held-out labels that digits_prepare writes.

  torch_digits_check.py OUTPUT LABELS [--min-accuracy 0.95]

OUTPUT holds "<file name>: <digit> <probability>" rows (parallel_run_step.txt), LABELS
"<file name> <digit>" lines (held_out_labels.txt). Prints "accuracy: <value>" first; exits 1
when a row is malformed or repeated, a held-out image has no row, a row names no held-out
image, or the accuracy is below the minimum. Needs no torch.
"""

import argparse
import re
import sys

ROW = re.compile(r"(.+): ([0-9]) ([01]\.[0-9]+)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output")
    parser.add_argument("labels")
    parser.add_argument("--min-accuracy", type=float, default=0.95)
    args = parser.parse_args()

    problems = []
    labels = {}
    with open(args.labels) as f:
        for number, line in enumerate(f, start=1):
            if line.strip():
                name, digit = line.split()
                labels[name] = int(digit)
    predictions = {}
    with open(args.output) as f:
        for number, line in enumerate(f, start=1):
            match = ROW.fullmatch(line.rstrip("\n"))
            if not match or float(match.group(3)) > 1:
                problems.append(f"line {number}: expected '<file name>: <digit> <probability>'")
                continue
            name = match.group(1)
            if name in predictions:
                problems.append(f"line {number}: a second row for '{name}'")
            predictions[name] = int(match.group(2))

    correct = sum(1 for name, digit in labels.items() if predictions.get(name) == digit)
    accuracy = correct / len(labels) if labels else 0.0
    print(f"accuracy: {accuracy:.3f}")
    print(
        f"torch_digits_check: {correct} of {len(labels)} held-out images identified correctly; "
        f"{len(predictions)} rows"
    )
    missing = [name for name in labels if name not in predictions]
    if missing:
        problems.append(f"{len(missing)} held-out images have no row, first: '{missing[0]}'")
    extra = [name for name in predictions if name not in labels]
    if extra:
        problems.append(f"{len(extra)} rows name no held-out image, first: '{extra[0]}'")
    if accuracy < args.min_accuracy:
        problems.append(f"accuracy {accuracy:.3f} is below the minimum {args.min_accuracy:.3f}")
    for problem in problems:
        print(f"torch_digits_check: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
