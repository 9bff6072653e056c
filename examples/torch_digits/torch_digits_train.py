#!/usr/bin/python3
"""Trains a small network (an MLP 64-32-10) on the training split of the digits that
examples/digit_identification/digits_prepare writes, and saves it as TorchScript for the C++
job torch_digits.

  /usr/bin/python3 torch_digits_train.py DIGITS_CSV DATA_DIR MODEL_OUT [--epochs N]

DIGITS_CSV is the file digits_prepare read (digits.csv.gz); DATA_DIR its output folder. The
training images are DATA_DIR/images/train/img_NNNN.pgm, NNNN being the image's 1-based line in
DIGITS_CSV: the label is the last field of that line. So the split is digits_prepare's own
(every 5th image held out) and no held-out image is ever trained on; each image is checked
against its line, so a CSV that is not the one the folder was made from is an error.

The saved model takes a float tensor [N, 64] (pixels row by row, scaled to [0, 1] as
digits.hpp's read_pgm_features scales them) and returns the probabilities [N, 10].
Training is deterministic: a fixed seed, one thread, deterministic algorithms.
"""

import argparse
import gzip
import pathlib
import re
import sys
import time

import torch

PIXELS = 64
CLASSES = 10


def read_pgm(path):
    """A binary PGM (P5) of 8x8 pixels as 64 values in [0, 1], and the raw values."""
    data = path.read_bytes()
    if not data.startswith(b"P5"):
        raise ValueError(f"'{path}': not a binary PGM")
    # The header: P5, width, height, maxval, separated by white space ('#' comments aside).
    fields, pos = [], 2
    while len(fields) < 3:
        while pos < len(data) and data[pos : pos + 1].isspace():
            pos += 1
        if data[pos : pos + 1] == b"#":
            pos = data.index(b"\n", pos)
            continue
        start = pos
        while pos < len(data) and data[pos : pos + 1].isdigit():
            pos += 1
        if start == pos:
            raise ValueError(f"'{path}': bad PGM header")
        fields.append(int(data[start:pos]))
    width, height, maxval = fields
    if (width, height) != (8, 8) or not 0 < maxval < 256:
        raise ValueError(f"'{path}': expected 8x8 pixels with maxval < 256")
    pixels = list(data[pos + 1 : pos + 1 + PIXELS])
    if len(pixels) != PIXELS:
        raise ValueError(f"'{path}': truncated pixel data")
    return [p / maxval for p in pixels], pixels


def read_csv(path):
    """Line number (1-based) -> (64 ink counts, label)."""
    opener = gzip.open if path.suffix == ".gz" else open
    rows = {}
    with opener(path, "rt") as f:
        for number, line in enumerate(f, start=1):
            line = line.strip()
            if not line:
                continue
            fields = [int(v) for v in line.split(",")]
            if len(fields) != PIXELS + 1:
                raise ValueError(f"'{path}' line {number}: {len(fields)} fields, expected 65")
            rows[number] = (fields[:PIXELS], fields[PIXELS])
    return rows


def load_training_set(csv_path, data_dir):
    rows = read_csv(csv_path)
    train_dir = data_dir / "images" / "train"
    files = sorted(train_dir.glob("img_*.pgm"))
    if not files:
        raise ValueError(f"no training images in '{train_dir}' (run digits_prepare first)")
    held_out = set()
    labels_file = data_dir / "held_out_labels.txt"
    if labels_file.exists():
        held_out = {line.split()[0] for line in labels_file.read_text().splitlines() if line}
    features, labels = [], []
    for file in files:
        match = re.fullmatch(r"img_(\d+)\.pgm", file.name)
        if not match or int(match.group(1)) not in rows:
            raise ValueError(f"'{file}': no line {file.name} in '{csv_path}'")
        if file.name in held_out:
            raise ValueError(f"'{file}' is also a held-out image")
        scaled, raw = read_pgm(file)
        ink, label = rows[int(match.group(1))]
        if raw != ink:
            raise ValueError(f"'{file}' differs from line {match.group(1)} of '{csv_path}'")
        features.append(scaled)
        labels.append(label)
    return torch.tensor(features, dtype=torch.float32), torch.tensor(labels, dtype=torch.int64)


class Mlp(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = torch.nn.Linear(PIXELS, 32)
        self.out = torch.nn.Linear(32, CLASSES)

    def forward(self, x):
        return self.out(torch.relu(self.hidden(x)))


class WithSoftmax(torch.nn.Module):
    """What is saved: the probabilities, so the C++ scorer needs no softmax of its own."""

    def __init__(self, logits):
        super().__init__()
        self.logits = logits

    def forward(self, x):
        return torch.softmax(self.logits(x), dim=1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("digits_csv", type=pathlib.Path)
    parser.add_argument("data_dir", type=pathlib.Path)
    parser.add_argument("model_out", type=pathlib.Path)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    started = time.monotonic()
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)

    try:
        x, y = load_training_set(args.digits_csv, args.data_dir)
    except (OSError, ValueError) as e:
        print(f"torch_digits_train: {e}", file=sys.stderr)
        return 1

    model = Mlp()
    optimizer = torch.optim.Adam(model.parameters(), lr=args.learning_rate)
    loss_fn = torch.nn.CrossEntropyLoss()
    order = torch.Generator().manual_seed(args.seed)
    model.train()
    for _ in range(args.epochs):
        for batch in torch.randperm(len(x), generator=order).split(args.batch_size):
            optimizer.zero_grad()
            loss = loss_fn(model(x[batch]), y[batch])
            loss.backward()
            optimizer.step()

    model.eval()
    exported = WithSoftmax(model).eval()
    with torch.no_grad():
        accuracy = (exported(x).argmax(dim=1) == y).float().mean().item()
        traced = torch.jit.trace(exported, x[:1])
    args.model_out.parent.mkdir(parents=True, exist_ok=True)
    partial = args.model_out.with_name(args.model_out.name + ".partial")
    traced.save(str(partial))
    partial.replace(args.model_out)  # a job never reads a half-written model
    print(
        f"torch_digits_train: {len(x)} training images, MLP 64-32-10, {args.epochs} epochs: "
        f"training accuracy {accuracy:.3f}, {time.monotonic() - started:.1f} s"
    )
    print(f"torch_digits_train: wrote {args.model_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
