#!/usr/bin/env bash
# A resume, binary against binary: each trial kills a run of each given build of
# parallel_run_crc at half its work (kill_at_half.py, as run.sh's resume trials do) and times
# its --resume, the binaries taking turns (the first one first in odd trials, last in even
# ones), then times a full run of the last binary; prints each trial and, last, a RESULT line
# with each binary's mean resume time over the mean full run's. Each resumed output is
# checked against the full run's. Used to compare a change with the binary before it
# (docs/benchmarks.md, "2026-12-02, third session"): the ratio of one script run moves with
# the machine's load more than a change does.
#
#   benchmarks/small_files/resume_in_turn.sh DATA TRIALS BINARY [BINARY...]
#
# DATA: a folder of inputs (run.sh with SMALL_FILES_KEEP=1 leaves one). Outputs go to a
# temporary folder, removed at the end. PYTHON: the interpreter (default python3).
set -euo pipefail
(($# >= 3)) || { echo "usage: $0 DATA TRIALS BINARY [BINARY...]" >&2; exit 2; }
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
data=$1 trials=$2
shift 2
bins=("$@")
python=${PYTHON:-python3}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
now_us() { echo $(($(date +%s%N) / 1000)); }

last=${bins[-1]}
"$last" --input "$data" --output "$out/full" --progress none --allow-reuse false >/dev/null 2>&1
half=$(($(wc -c <"$out/full/parallel_run_step.txt") / 2))
declare -a resume_us kept
for ((i = 0; i < ${#bins[@]}; ++i)); do resume_us[i]=0; kept[i]=0; done
full_us=0
resume() {  # index: one kill at half and one timed resume with bins[index]
  local i=$1 dir=$out/resumed start
  rm -rf "$dir"
  "$python" "$here/kill_at_half.py" "$dir/.parallel_run_journal/data" "$half" \
    "${bins[$i]}" --input "$data" --output "$dir" --progress none
  start=$(now_us)
  "${bins[$i]}" --input "$data" --output "$dir" --resume --progress none >"$out/resumed.out" 2>&1 ||
    { cat "$out/resumed.out" >&2; exit 1; }
  local took=$(($(now_us) - start))
  cmp -s "$dir/parallel_run_step.txt" "$out/full/parallel_run_step.txt" ||
    { echo "binary $i: the resumed output differs from a full run's" >&2; exit 1; }
  local k
  k=$(grep -o '[0-9]* mini-batches kept' "$out/resumed.out" | cut -d' ' -f1)
  resume_us[i]=$((resume_us[i] + took))
  kept[i]=$((kept[i] + ${k:-0}))
  printf ' %s: %d ms (%s kept)' "$i" $((took / 1000)) "${k:-0}"
}
for ((t = 1; t <= trials; ++t)); do
  printf 'trial %d:' "$t"
  if ((t % 2)); then
    for ((i = 0; i < ${#bins[@]}; ++i)); do resume "$i"; done
  else
    for ((i = ${#bins[@]} - 1; i >= 0; --i)); do resume "$i"; done
  fi
  rm -rf "$out/beside"
  start=$(now_us)
  "$last" --input "$data" --output "$out/beside" --progress none --allow-reuse false >/dev/null 2>&1
  took=$(($(now_us) - start))
  full_us=$((full_us + took))
  printf '; full run %d ms\n' $((took / 1000))
done
result="RESULT resume_in_turn trials=$trials full_ms=$(awk -v u="$full_us" -v n="$trials" 'BEGIN { printf "%.1f", u / n / 1000 }')"
for ((i = 0; i < ${#bins[@]}; ++i)); do
  printf '%-60s %7.1f ms  %.3fx (%d kept on average)\n' "${bins[$i]}" \
    "$(awk -v u="${resume_us[i]}" -v n="$trials" 'BEGIN { print u / n / 1000 }')" \
    "$(awk -v u="${resume_us[i]}" -v f="$full_us" 'BEGIN { print u / f }')" $((kept[i] / trials))
  result+=" bin${i}_ms=$(awk -v u="${resume_us[i]}" -v n="$trials" 'BEGIN { printf "%.1f", u / n / 1000 }')"
  result+=" bin${i}_ratio=$(awk -v u="${resume_us[i]}" -v f="$full_us" 'BEGIN { printf "%.3f", u / f }')"
done
echo "$result"
