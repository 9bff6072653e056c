#!/usr/bin/env bash
# coordinator_capacity: how many mini-batch outcomes per second rank 0 handles on MPI. A scorer
# that does nothing (one short row per item), 200,000 tiny files, one item per mini-batch, one
# thread worker per rank: the job's pace is the coordinator's. Runs it under
# `mpirun -np 3` and `-np 2`, on one node with 3 thread workers (no mpirun), and each again with
# --no-journal (the journal's share of the cost). Outcomes are the mini-batches of the summary
# line ("mini-batches X/Y succeeded"), seconds its job time ("...; 1.234 s;"), so mpirun's start
# of the ranks is not counted (the wall time with it is printed too). Prints a table and, as its
# last line, a RESULT line.
#
#   benchmarks/coordinator_capacity/run.sh
#
# Environment (all optional):
#   PARALLEL_RUN_BENCH_BIN        folder holding coordinator_capacity (else it is built with
#                                 Release flags into PARALLEL_RUN_BENCH_BUILD_DIR)
#   PARALLEL_RUN_BENCH_BUILD_DIR  build folder (default: <repo>/build/bench)
#   COORDINATOR_CAPACITY_COUNT    files, so mini-batches (default 200000)
#   COORDINATOR_CAPACITY_RUNS     runs of each contender, taking turns (default 3)
#   COORDINATOR_CAPACITY_KEEP=1   keep the data and outputs (the folder is printed)
#   MPIRUN                        Open MPI's mpirun (default mpirun)
#   PYTHON                        the Python interpreter (default python3)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
files=${COORDINATOR_CAPACITY_COUNT:-200000}
runs=${COORDINATOR_CAPACITY_RUNS:-3}
mpirun=${MPIRUN:-mpirun}
python=${PYTHON:-python3}

# shellcheck source=benchmarks/common.sh
source "$repo/benchmarks/common.sh"

load_start=$(load)
command -v "$mpirun" >/dev/null || die "$mpirun not found (Debian: openmpi-bin libopenmpi-dev)"
command -v "$python" >/dev/null || die "$python not found"
build_benchmark coordinator_capacity coordinator_capacity

# --- the data: tiny files in a folder under the build folder (or TMPDIR) -------------------
make_work_dir coordinator_capacity "${COORDINATOR_CAPACITY_KEEP:-0}"
data=$work/data
say "creating $files files of 1 byte in $data"
"$python" - "$data" "$files" <<'PY'
import os, sys
data, count = sys.argv[1], int(sys.argv[2])
os.makedirs(data)
width = len(str(count - 1))
for i in range(count):
    with open(os.path.join(data, f"f{i:0{width}d}"), "wb") as f:
        f.write(b"x")
PY

# --- the contenders ------------------------------------------------------------------------
common=(--input "$data" --mini-batch-size 1 --backend thread --progress none)
mpi=("$mpirun" --allow-run-as-root --oversubscribe)
declare -A command_of
tools=()
add_tool() {  # name command...
  local name=$1
  shift
  tools+=("$name")
  command_of[$name]=$(printf '%q ' "$@")
}
prog=$bin/coordinator_capacity
add_tool mpi_np3 "${mpi[@]}" -np 3 "$prog" "${common[@]}" --process-count-per-node 1 \
  --allow-reuse false --output "$work/out"
add_tool mpi_np3_no_journal "${mpi[@]}" -np 3 "$prog" "${common[@]}" --process-count-per-node 1 \
  --no-journal --output "$work/out"
add_tool mpi_np2 "${mpi[@]}" -np 2 "$prog" "${common[@]}" --process-count-per-node 1 \
  --allow-reuse false --output "$work/out"
add_tool one_node_3_threads "$prog" "${common[@]}" --process-count-per-node 3 --allow-reuse false \
  --output "$work/out"
add_tool one_node_3_threads_no_journal "$prog" "${common[@]}" --process-count-per-node 3 \
  --no-journal --output "$work/out"

# One run: the summary's mini-batches and job seconds, and the wall seconds with the launch,
# appended to $work/<tool>.txt as "<mini-batches> <job s> <wall s> <CPU s>".
run_tool() {
  local t=$1 log=$work/$1.log
  rm -rf "$work/out"
  local TIMEFORMAT='%R %U %S' times
  times=$({ time bash -c "${command_of[$t]}" >"$log" 2>&1; } 2>&1) ||
    { tail -n 20 "$log" >&2; die "$t failed: ${command_of[$t]} (the whole log: $log)"; }
  local summary batches seconds
  summary=$(grep 'mini-batches [0-9]*/[0-9]* succeeded' "$log" | tail -n 1) ||
    die "$t: no summary line in $log"
  batches=$(sed -E 's|.*mini-batches ([0-9]+)/[0-9]+ succeeded.*|\1|' <<<"$summary")
  seconds=$(sed -E 's|.*; ([0-9.]+) s;.*|\1|' <<<"$summary")
  [[ $batches -eq $files ]] || die "$t: $batches mini-batches succeeded of $files: $summary"
  [[ $(wc -l <"$work/out/parallel_run_step.txt") -eq $files ]] || die "$t: the output is short"
  read -r wall user sys <<<"$times"
  echo "$batches $seconds $wall $(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')" \
    >>"$work/$t.txt"
  say "  $t: $batches mini-batches in $seconds s (wall with the launch $wall s)"
}
take_turns "$runs" "${tools[@]}"

# --- report ----------------------------------------------------------------------------------
median_col() {  # file column: the median of that column
  cut -d' ' -f"$2" "$1" | sort -g | awk '{ a[NR] = $1 }
    END { m = int((NR + 1) / 2); printf "%s", NR % 2 ? a[m] : (a[m] + a[m + 1]) / 2 }'
}
declare -A rate_of job_of
echo
echo "coordinator_capacity: $files files, mini-batches of 1 item, a scorer that does nothing," \
  "thread backend; $runs runs each (medians)"
printf '| %-30s | %9s | %10s | %10s | %12s |\n' contender "job s" "outcomes/s" "wall s" "CPU s"
printf '|%s|%s|%s|%s|%s|\n' -------------------------------- ----------- ------------ ------------ \
  --------------
for t in "${tools[@]}"; do
  job=$(median_col "$work/$t.txt" 2)
  job_of[$t]=$job
  rate_of[$t]=$(awk -v n="$files" -v s="$job" 'BEGIN { printf "%.0f", n / s }')
  printf '| %-30s | %9s | %10s | %10s | %12s |\n' "$t" "$job" "${rate_of[$t]}" \
    "$(median_col "$work/$t.txt" 3)" "$(median_col "$work/$t.txt" 4)"
done
echo "load average (1, 5, 15 min) at start: $load_start; at end: $(load); $(nproc) cores"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
per_outcome_us() { awk -v s="$1" -v n="$files" 'BEGIN { printf "%.1f", s / n * 1e6 }'; }
journal_share=$(ratio "${job_of[mpi_np3]}" "${job_of[mpi_np3_no_journal]}")
echo "time per outcome on rank 0: $(per_outcome_us "${job_of[mpi_np3]}") us with the journal," \
  "$(per_outcome_us "${job_of[mpi_np3_no_journal]}") us without (-np 3); one node, 3 threads:" \
  "$(per_outcome_us "${job_of[one_node_3_threads]}") us, $(per_outcome_us "${job_of[one_node_3_threads_no_journal]}") us"
rate=${rate_of[mpi_np3]}
if awk -v r="$rate" 'BEGIN { exit !(r >= 20000) }'; then met=met; else met="NOT met"; fi
echo "target rank 0 handles >= 20000 mini-batch outcomes/s on -np 3: $rate/s: $met"
echo "RESULT coordinator_capacity outcomes_per_s=$rate ranks=3 np2_outcomes_per_s=${rate_of[mpi_np2]} np3_no_journal_outcomes_per_s=${rate_of[mpi_np3_no_journal]} one_node_3_threads_outcomes_per_s=${rate_of[one_node_3_threads]} one_node_no_journal_outcomes_per_s=${rate_of[one_node_3_threads_no_journal]} journal_overhead=$journal_share mini_batches=$files"
