"""table_scan with pandas: read_csv in chunks, sum the value column exactly (in cents).

    python3 pandas_sum.py TABLE.csv [EXPECTED_SUM]

Prints "pandas: rows=<R> value_sum=<S>"; exits 1 when EXPECTED_SUM is given and differs.
This is the reference peer of ../shared/reference/peers.md as a pandas user writes it:
read_csv(chunksize=20000) over the whole table, then the column's sum. (With usecols=["value"]
pandas skips building the text columns and runs about 1.5x faster; the reference does not.)
"""
import sys

import pandas as pd

CHUNK_ROWS = 20_000


def main():
    path = sys.argv[1]
    expected = sys.argv[2] if len(sys.argv) > 2 else None
    rows = 0
    cents = 0
    for chunk in pd.read_csv(path, chunksize=CHUNK_ROWS, engine="c"):
        values = chunk["value"]
        rows += len(values)
        # The values have at most 2 decimals: rounded cents are exact, the float sum is not.
        cents += int((values * 100).round().astype("int64").sum())
    sign = "-" if cents < 0 else ""
    total = f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"
    print(f"pandas: rows={rows} value_sum={total}")
    if expected is not None and total != expected:
        print(f"pandas: value_sum {total} differs from the expected {expected}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
