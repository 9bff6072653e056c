#!/usr/bin/env python3
"""small_files in Python: what a user would write with multiprocessing.

A Pool of 2 workers whose initializer does the per-worker setup once (here only the data
folder; in real inference, loading a model), imap over mini-batches of 10 file names so
results come back in input order, zlib.crc32 per file, one "<name> <crc>" row per file.

    multiprocessing_crc.py DATA_DIR OUTPUT_FILE [WORKERS=2] [MINI_BATCH_SIZE=10]
"""
import multiprocessing
import os
import sys
import zlib

_data_dir = ""


def _init(data_dir):
    global _data_dir
    _data_dir = data_dir


def _crc_batch(names):
    rows = []
    for name in names:
        with open(os.path.join(_data_dir, name), "rb") as f:
            rows.append(f"{name} {zlib.crc32(f.read()):08x}\n")
    return "".join(rows)


def main():
    if not 3 <= len(sys.argv) <= 5:
        sys.exit("usage: multiprocessing_crc.py DATA_DIR OUTPUT_FILE [WORKERS=2] [MINI_BATCH_SIZE=10]")
    data_dir, output = sys.argv[1], sys.argv[2]
    workers = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    size = int(sys.argv[4]) if len(sys.argv) > 4 else 10
    # Sorted by name, as the library orders a folder's files.
    names = sorted(e.name for e in os.scandir(data_dir) if e.is_file())
    batches = [names[i:i + size] for i in range(0, len(names), size)]
    with multiprocessing.Pool(workers, initializer=_init, initargs=(data_dir,)) as pool, \
            open(output, "w") as out:
        for rows in pool.imap(_crc_batch, batches):
            out.write(rows)


if __name__ == "__main__":
    main()
