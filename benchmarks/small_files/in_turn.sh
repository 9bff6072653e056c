#!/usr/bin/env bash
# The journal's cost, binary against binary: each given build of parallel_run_crc runs the
# small-files job with the journal (--allow-reuse false, so that each run does the work), and
# the first one also with --no-journal, taking turns for ROUNDS rounds so that a busy moment
# of a shared machine hits all of them alike; prints each one's median wall time and, last, a
# RESULT line with each journal run over the run without it. Used to compare a change with
# the binary before it (docs/benchmarks.md, "2026-12-02").
#
#   benchmarks/small_files/in_turn.sh DATA ROUNDS BINARY [BINARY...]
#
# DATA: a folder of inputs (run.sh with SMALL_FILES_KEEP=1 leaves one; any folder of files
# does). Outputs go to a temporary folder, removed at the end.
set -euo pipefail
(($# >= 3)) || { echo "usage: $0 DATA ROUNDS BINARY [BINARY...]" >&2; exit 2; }
data=$1 rounds=$2
shift 2
bins=("$@")
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
declare -A times
variants=()
for ((i = 0; i < ${#bins[@]}; ++i)); do variants+=("$i"); done
variants+=(no_journal)
run() {  # variant: one timed run, its wall time in microseconds appended to times[variant]
  local v=$1 cmd start
  if [[ $v == no_journal ]]; then
    cmd=("${bins[0]}" --input "$data" --output "$out/no_journal" --allow-reuse false --no-journal)
  else
    cmd=("${bins[$v]}" --input "$data" --output "$out/$v" --allow-reuse false)
  fi
  start=$(date +%s%N)
  "${cmd[@]}" >/dev/null 2>&1 || { echo "failed: ${cmd[*]}" >&2; exit 1; }
  times[$v]+="$((($(date +%s%N) - start) / 1000)) "
}
for v in "${variants[@]}"; do run "$v"; done  # warm-up: each output folder holds a finished run
for v in "${variants[@]}"; do times[$v]=""; done
for ((r = 0; r < rounds; ++r)); do
  for v in "${variants[@]}"; do run "$v"; done
done
median_ms() { tr ' ' '\n' <<<"${times[$1]}" | grep . | sort -n |
  awk '{a[NR] = $1} END {m = NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; printf "%.1f", m / 1000}'; }
base=$(median_ms no_journal)
result="RESULT journal_in_turn rounds=$rounds no_journal_ms=$base"
for ((i = 0; i < ${#bins[@]}; ++i)); do
  m=$(median_ms "$i")
  printf '%-60s %8s ms  %.3fx\n' "${bins[$i]}" "$m" "$(awk -v a="$m" -v b="$base" 'BEGIN {print a / b}')"
  result+=" bin${i}_ms=$m bin${i}_overhead=$(awk -v a="$m" -v b="$base" 'BEGIN {printf "%.3f", a / b}')"
done
printf '%-60s %8s ms\n' "--no-journal (${bins[0]})" "$base"
echo "$result"
