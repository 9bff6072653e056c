#!/usr/bin/env bash
# table_scan: the sum of the value column of a 1 GB CSV table (quoted fields with commas,
# doubled quotes and line breaks; 256 MB when the work folder has less than 4 GB free).
# Times, in the same run on the same file, from the page cache: parallel_run (table_sum,
# mini-batches of 1 MB, 2 worker threads), pandas read_csv in chunks, GNU parallel --pipepart
# with awk (2 jobs) and wc -l (one core, the floor). Checks the sums first; prints a table
# and, as its last line, a RESULT line with each tool's speed in GB/s (10^9 bytes a second).
#
#   benchmarks/table_scan/run.sh
#
# Environment (all optional):
#   PARALLEL_RUN_BENCH_BIN        folder holding table_sum and make_table (else they are built
#                                 with Release flags into PARALLEL_RUN_BENCH_BUILD_DIR)
#   PARALLEL_RUN_BENCH_BUILD_DIR  build folder (default: <repo>/build/bench)
#   TABLE_SCAN_BYTES              table size, e.g. 1GB, 256MB (default 1GB, or 256MB when the
#                                 work folder has less than 4 GB free)
#   TABLE_SCAN_RUNS               timed runs of each tool (default 5), taken in turns
#   TABLE_SCAN_GNU_PARALLEL_RUNS  timed runs of GNU parallel (default 3: it is the slowest)
#   TABLE_SCAN_KEEP=1             keep the table and outputs (the folder is printed)
#   PYTHON                        a Python with pandas (default: python3 if it has pandas,
#                                 else Debian's /usr/bin/python3 with python3-pandas)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
runs=${TABLE_SCAN_RUNS:-5}
gnu_parallel_runs=${TABLE_SCAN_GNU_PARALLEL_RUNS:-3}

# shellcheck source=benchmarks/common.sh
source "$repo/benchmarks/common.sh"

load_start=$(load)

# --- the programs ------------------------------------------------------------------------
# shellcheck source=scripts/deps.sh
source "$repo/scripts/deps.sh"
build_benchmark table_scan table_sum table_scan_make_table

# pandas: Debian's python3-pandas serves Debian's python3; another python3 first on the PATH
# (pyenv, a venv) is used only when it has pandas itself.
python=${PYTHON:-}
if [[ -z $python ]]; then
  if python3 -c 'import pandas' 2>/dev/null; then
    python=python3
  else
    ensure_packages python3-pandas >&2 || true
    python=/usr/bin/python3
  fi
fi
"$python" -c 'import pandas' 2>/dev/null ||
  die "$python has no pandas (install python3-pandas, or set PYTHON)"
pandas_version=$("$python" -c 'import pandas; print(pandas.__version__)')

have_gnu_parallel=0
if ! parallel --version 2>/dev/null | grep -q GNU; then
  ensure_packages parallel >&2 || true
fi
parallel --version 2>/dev/null | grep -q GNU && have_gnu_parallel=1

# --- the table ---------------------------------------------------------------------------
make_work_dir table_scan "${TABLE_SCAN_KEEP:-0}"
free_kb=$(df -Pk "$work" | awk 'NR == 2 { print $4 }')
size=${TABLE_SCAN_BYTES:-}
if [[ -z $size ]]; then
  size=1GB
  ((free_kb < 4 * 1024 * 1024)) && size=256MB
fi
table=$work/table.csv
say "writing a table of $size to $table ($((free_kb / 1024 / 1024)) GB free)"
made=$("$bin/make_table" "$table" --bytes "$size" --seed 1) || die "make_table failed"
say "$made"
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }
rows=$(field rows "$made")
bytes=$(field bytes "$made")
expected=$(field value_sum "$made")
[[ -n $rows && -n $bytes && -n $expected ]] || die "cannot read make_table's line: $made"
# Every tool reads from memory: the file is in the page cache before the first run.
cat "$table" >/dev/null

# --- the contenders ----------------------------------------------------------------------
q() { printf '%q ' "$@"; }
declare -A command_of
tools=(parallel_run pandas)
command_of[parallel_run]="rm -rf $(q "$work/out") && $(q "$bin/table_sum" --input "$table" --output "$work/out") -- $(q "$expected")"
command_of[pandas]="$(q "$python" "$here/pandas_sum.py" "$table" "$expected")"
# awk splits on every comma and every line break, quoted or not: its sum is a speed
# reference only. The header and the lines that continue a quoted field add 0 or garbage.
awk_job="awk -F, '{ s += \$2 } END { printf \"%.2f\\n\", s }'"
if [[ $have_gnu_parallel == 1 ]]; then
  tools+=(gnu_parallel)
  command_of[gnu_parallel]="parallel --will-cite --pipepart --block 1M -j2 -a $(q "$table") $(q "$awk_job") | awk '{ t += \$1 } END { printf \"%.2f\\n\", t }'"
else
  say "GNU parallel is not installed: skipped"
fi
tools+=(wc)
command_of[wc]="wc -l $(q "$table")"

# --- correctness first -------------------------------------------------------------------
say "checking the sums (expected: rows=$rows value_sum=$expected)"
out=$(bash -c "${command_of[parallel_run]}" 2>&1) || die "parallel_run: $out"
got=$(sed -n 's/^table_sum: //p' <<<"$out")
[[ $got == "rows=$rows value_sum=$expected" ]] || die "parallel_run read '$got'"
say "parallel_run: $got"
out=$(bash -c "${command_of[pandas]}" 2>&1) || die "pandas: $out"
[[ $out == "pandas: rows=$rows value_sum=$expected" ]] || die "pandas read '$out'"
say "$out"
awk_sum=""
if [[ $have_gnu_parallel == 1 ]]; then
  awk_sum=$(bash -c "${command_of[gnu_parallel]}")
  if [[ $awk_sum == "$expected" ]]; then awk_note="equal to the expected sum here"; else
    awk_note="differs from the expected $expected"; fi
  say "gnu_parallel + awk: $awk_sum ($awk_note; awk is not quote-aware: a speed reference only)"
fi
lines=$(bash -c "${command_of[wc]}" | cut -d' ' -f1)
say "wc -l: $lines lines for $rows rows and the header (line breaks inside quoted fields count)"

# --- timing ------------------------------------------------------------------------------
# The machine may be shared: the tools take turns, one run each per round, so that a busy
# minute hits all of them alike; each tool's figure is the median of its runs.
# Wall time is the figure; CPU time (user + system, children included) is printed too, since
# on a busy machine it moves less.
declare -A times_of cpu_of
TIMEFORMAT='%R %U %S'
for ((r = 1; r <= runs; ++r)); do
  say "round $r of $runs"
  for t in "${tools[@]}"; do
    [[ $t == gnu_parallel && $r -gt $gnu_parallel_runs ]] && continue
    { time bash -c "${command_of[$t]}" >/dev/null 2>&1; } 2>"$work/time.txt" ||
      die "$t failed in round $r"
    read -r wall user sys <"$work/time.txt"
    times_of[$t]+="$wall "
    cpu_of[$t]+="$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.3f", u + s }') "
  done
done
median() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{ v[NR] = $1 } END {
  printf "%.4f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
minimum() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk 'NR == 1 { printf "%.4f", $1 }'; }
gbps() { awk -v b="$bytes" -v s="$1" 'BEGIN { printf "%.3f", b / 1e9 / s }'; }
declare -A median_of gbps_of
for t in "${tools[@]}"; do
  median_of[$t]=$(median "${times_of[$t]}")
  gbps_of[$t]=$(gbps "${median_of[$t]}")
done

# --- report ------------------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }
echo
echo "table_scan: the sum of one column of a $bytes-byte CSV table ($rows rows), from the page"
echo "cache; parallel_run with mini-batches of 1 MB and 2 worker threads"
printf '| %-14s | %4s | %9s | %9s | %7s | %15s | %10s |\n' tool runs "median s" "min s" "GB/s" \
  "vs parallel_run" "median CPU s"
printf '|%s|%s|%s|%s|%s|%s|%s|\n' ---------------- ------ ----------- ----------- --------- \
  ----------------- --------------
for t in "${tools[@]}"; do
  n=$(wc -w <<<"${times_of[$t]}")
  printf '| %-14s | %4s | %9s | %9s | %7s | %14sx | %12s |\n' "$t" "$n" "${median_of[$t]}" \
    "$(minimum "${times_of[$t]}")" "${gbps_of[$t]}" \
    "$(ratio "${median_of[$t]}" "${median_of[parallel_run]}")" "$(median "${cpu_of[$t]}")"
done
echo "pandas $pandas_version: read_csv(chunksize=20000) over every column, as in peers.md."
if [[ $have_gnu_parallel == 1 ]]; then
  echo "gnu_parallel runs awk, which is not quote-aware: a speed reference only (its sum:"
  echo "$awk_sum, $awk_note)."
fi
echo "wc -l counts lines on one core: the floor of reading the file once."
echo "load average (1, 5, 15 min) at start: $load_start; at end: $(load); $(nproc) cores"
echo
pr=${gbps_of[parallel_run]}
vs_pandas=$(ratio "${median_of[pandas]}" "${median_of[parallel_run]}")
if le 1 "$pr"; then met=met; else met="NOT met"; fi
echo "target parallel_run >= 1 GB/s: $pr GB/s: $met"
if le 10 "$vs_pandas"; then met=met; else met="NOT met"; fi
echo "target parallel_run >= 10x pandas: $vs_pandas x: $met"
echo "RESULT table_scan parallel_run_gbps=$pr pandas_gbps=${gbps_of[pandas]} gnu_parallel_gbps=${gbps_of[gnu_parallel]:-n/a} wc_gbps=${gbps_of[wc]}"
