#!/usr/bin/env bash
# small_files: 20,000 files of 200 bytes, the CRC-32 of each, mini-batches of 10, 2 workers.
# Times, in the same run on the same data: parallel_run (thread backend, and the same program
# with --backend process, and built with <parallel_run/mpi.hpp> under `mpirun -np 2`: two nodes
# of one worker), the hand-written C++ loop (the floor), Python multiprocessing,
# xargs and GNU parallel; checks that the row writers wrote identical output; the journal's
# cost (journal_overhead), a run killed at half and resumed (resume_ratio) and a reuse hit
# (reuse_s); the same runs over one file, and a run that lists every file and scores 10, for
# the floors under resume_ratio and mpi_vs_process (resume_floor, mpi_floor: what the ratio
# would be if the part the target is about cost nothing), and the hand-written loop's own
# resume beside each resume trial (loop_resume_ratio); prints a table and, as its last line,
# a RESULT line.
#
#   benchmarks/small_files/run.sh
#
# Environment (all optional):
#   PARALLEL_RUN_BENCH_BIN        folder holding parallel_run_crc and loop_crc, and
#                                 parallel_run_crc_mpi for the MPI run (else they are built
#                                 with Release flags into PARALLEL_RUN_BENCH_BUILD_DIR)
#   PARALLEL_RUN_BENCH_BUILD_DIR  build folder (default: <repo>/build/bench)
#   SMALL_FILES_COUNT             files (default 20000)      SMALL_FILES_SIZE  bytes (200)
#   SMALL_FILES_RUNS              timed runs of each fast tool (default 30, after 3 warm-ups)
#   SMALL_FILES_ROUNDS            rounds the fast tools take turns in (default 6)
#   SMALL_FILES_XARGS_RUNS        timed runs of xargs (default 10)
#   SMALL_FILES_GNU_PARALLEL_RUNS timed runs of GNU parallel (default 3: about 7 s each)
#   SMALL_FILES_RESUME_TRIALS     runs killed at half and resumed (default 9)
#   SMALL_FILES_KEEP=1            keep the data and outputs (the folder is printed)
#   PYTHON                        the Python interpreter (default python3)
#   MPIRUN                        Open MPI's mpirun (default mpirun; missing: mpi_s=na)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
files=${SMALL_FILES_COUNT:-20000}
file_size=${SMALL_FILES_SIZE:-200}
runs=${SMALL_FILES_RUNS:-30}
xargs_runs=${SMALL_FILES_XARGS_RUNS:-10}
gnu_parallel_runs=${SMALL_FILES_GNU_PARALLEL_RUNS:-3}
python=${PYTHON:-python3}

# shellcheck source=benchmarks/common.sh
source "$repo/benchmarks/common.sh"

# Installs a missing Debian package when running as root; otherwise the caller falls back.
try_install() {
  local package=$1
  [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null || return 1
  say "installing $package with apt-get"
  apt-get install -y -qq "$package" >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq "$package" >/dev/null 2>&1; }
}

load_start=$(load)

# --- the programs ------------------------------------------------------------------------
build_benchmark small_files parallel_run_crc loop_crc
command -v "$python" >/dev/null || die "$python not found"
# The MPI run: parallel_run_crc_mpi (only built when CMake finds an MPI) under mpirun. Either
# missing, the run is left out and the RESULT line says mpi_s=na.
mpirun=${MPIRUN:-mpirun}
have_mpi=0
if ! command -v "$mpirun" >/dev/null; then
  say "$mpirun not found: the MPI run is skipped (mpi_s=na)"
elif [[ -n $build_dir ]] &&
  ! cmake --build "$build_dir" --target parallel_run_crc_mpi >"$build_dir/benchmark-build-mpi.log" 2>&1; then
  say "parallel_run_crc_mpi was not built (no MPI for CMake? $build_dir/benchmark-build-mpi.log): the MPI run is skipped (mpi_s=na)"
elif [[ ! -x $bin/parallel_run_crc_mpi ]]; then
  say "$bin/parallel_run_crc_mpi is missing: the MPI run is skipped (mpi_s=na)"
else
  have_mpi=1
fi

# --- the data ----------------------------------------------------------------------------
make_work_dir small_files "${SMALL_FILES_KEEP:-0}"
data=$work/data
say "creating $files files of $file_size bytes in $data"
"$python" - "$data" "$files" "$file_size" <<'EOF'
import os, random, sys
data, count, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.makedirs(data)
rng = random.Random(20000)  # fixed seed: the same bytes on every run and machine
width = len(str(count - 1))
for i in range(count):
    with open(os.path.join(data, f"f{i:0{width}d}.bin"), "wb") as f:
        f.write(rng.randbytes(size))
EOF
one=$work/one
mkdir "$one"
cp "$data/$(ls "$data" | head -1)" "$one/"

# --- the contenders ----------------------------------------------------------------------
q() { printf '%q ' "$@"; }  # one command line, quoted for hyperfine or bash -c
declare -A command_of shell_of runs_of warmup_of
tools=()
add_tool() {  # name runs warmup needs_shell command
  tools+=("$1")
  runs_of[$1]=$2
  warmup_of[$1]=$3
  shell_of[$1]=$4
  command_of[$1]=$5
}
# Each run does the work: with allow_reuse (the default) a second identical run would reuse
# the first (see reuse_s below).
add_tool parallel_run "$runs" 3 0 "$(q "$bin/parallel_run_crc" --input "$data" --output "$work/parallel_run" \
  --allow-reuse false)"
# The journal's cost: the same run keeping none.
add_tool parallel_run_no_journal "$runs" 3 0 "$(q "$bin/parallel_run_crc" --input "$data" \
  --output "$work/parallel_run_no_journal" --no-journal)"
# The record's cost: the same run without the resource monitor and the progress display
# (the log folder's other files cannot be turned off).
add_tool parallel_run_bare "$runs" 3 0 "$(q "$bin/parallel_run_crc" --input "$data" \
  --output "$work/parallel_run_bare" --resource-monitor-interval 0 --progress none --allow-reuse false)"
add_tool parallel_run_process "$runs" 3 0 \
  "$(q "$bin/parallel_run_crc" --input "$data" --output "$work/parallel_run_process" --backend process \
    --allow-reuse false)"
# Two nodes of one worker on MPI (two ranks on this machine) against the process backend's two
# workers on one node: the same flags otherwise. The time includes mpirun's start of the ranks.
if [[ $have_mpi == 1 ]]; then
  add_tool parallel_run_mpi "$runs" 3 0 \
    "$(q "$mpirun" --allow-run-as-root --oversubscribe -np 2 "$bin/parallel_run_crc_mpi" --input "$data" \
      --output "$work/parallel_run_mpi" --process-count-per-node 1 --backend process --allow-reuse false)"
fi
# What a run costs whatever its size (start, listing, workers, record, end): the same runs over
# one file. A resume pays it in full, and MPI adds its own (mpirun, MPI_Init_thread,
# MPI_Finalize): the floors printed below come from these.
add_tool parallel_run_one_file "$runs" 3 0 "$(q "$bin/parallel_run_crc" --input "$one" \
  --output "$work/parallel_run_one_file" --allow-reuse false)"
# A run that lists all the files and scores the first mini-batch only (--limit 10): the fixed
# part plus the listing (reading and sorting the folder's 20,000 names), which a resume pays in
# full too, before it knows which mini-batches it keeps.
add_tool parallel_run_listing "$runs" 3 0 "$(q "$bin/parallel_run_crc" --input "$data" \
  --output "$work/parallel_run_listing" --allow-reuse false --limit 10)"
add_tool parallel_run_process_one_file "$runs" 3 0 "$(q "$bin/parallel_run_crc" --input "$one" \
  --output "$work/parallel_run_process_one_file" --backend process --allow-reuse false)"
if [[ $have_mpi == 1 ]]; then
  add_tool parallel_run_mpi_one_file "$runs" 3 0 \
    "$(q "$mpirun" --allow-run-as-root --oversubscribe -np 2 "$bin/parallel_run_crc_mpi" --input "$one" \
      --output "$work/parallel_run_mpi_one_file" --process-count-per-node 1 --backend process \
      --allow-reuse false)"
fi
add_tool loop "$runs" 3 0 "$(q "$bin/loop_crc" "$data" "$work/loop.txt" 2)"
add_tool "loop_1_thread" "$runs" 3 0 "$(q "$bin/loop_crc" "$data" "$work/loop_1.txt" 1)"
add_tool multiprocessing "$runs" 3 0 \
  "$(q "$python" "$here/multiprocessing_crc.py" "$data" "$work/multiprocessing.txt")"
add_tool xargs "$xargs_runs" 1 1 \
  "find $(q "$data") -type f -print0 | xargs -0 -P2 -n10 cksum > $(q "$work/xargs.txt")"
if ! command -v parallel >/dev/null || ! parallel --version 2>/dev/null | grep -q GNU; then
  try_install parallel || true
fi
if command -v parallel >/dev/null && parallel --version 2>/dev/null | grep -q GNU; then
  add_tool gnu_parallel "$gnu_parallel_runs" 1 1 \
    "find $(q "$data") -type f | parallel --will-cite -j2 -n10 -k cksum > $(q "$work/gnu_parallel.txt")"
else
  say "GNU parallel is not installed: skipped"
fi

# --- correctness first: the three row writers must agree byte for byte -------------------
say "checking outputs"
mpi_tools=()
mpi_outputs=()
if [[ $have_mpi == 1 ]]; then
  mpi_tools=(parallel_run_mpi)
  mpi_outputs=("$work/parallel_run_mpi/parallel_run_step.txt")
fi
for t in parallel_run parallel_run_no_journal parallel_run_bare parallel_run_process "${mpi_tools[@]}" \
  loop loop_1_thread multiprocessing; do
  bash -c "${command_of[$t]}" >/dev/null || die "$t failed"
done
expected=$work/loop.txt
for got in "$work/parallel_run/parallel_run_step.txt" "$work/parallel_run_no_journal/parallel_run_step.txt" \
  "$work/parallel_run_bare/parallel_run_step.txt" \
  "$work/parallel_run_process/parallel_run_step.txt" "${mpi_outputs[@]}" "$work/loop_1.txt" \
  "$work/multiprocessing.txt"; do
  if ! cmp -s "$expected" "$got"; then
    diff "$expected" "$got" | head -5 >&2 || true
    die "$got differs from $expected: the contenders do not compute the same CRCs in the same order"
  fi
done
rows=$(wc -l <"$expected")
[[ $rows -eq $files ]] || die "$expected has $rows rows for $files files"
say "outputs identical: $rows rows"

# --- timing ------------------------------------------------------------------------------
# The machine may be shared: 30 back-to-back runs of one tool can fall into a busy minute
# that the next tool misses. So the fast tools take turns, a few runs each per round, and
# each tool's median is over all of its rounds; the slow tools run once, at the end.
if ! command -v hyperfine >/dev/null; then try_install hyperfine || true; fi
time_runs() {  # tool warmup runs json
  local t=$1 warmup=$2 n=$3 json=$4
  if command -v hyperfine >/dev/null; then
    local shell_flag=(-N)
    [[ ${shell_of[$t]} == 1 ]] && shell_flag=()
    hyperfine "${shell_flag[@]}" --style basic --warmup "$warmup" --runs "$n" \
      --export-json "$json" "${command_of[$t]}" >&2
  else
    # Own timer: each run is one bash -c, so every tool pays the same shell start.
    "$python" - "$json" "$warmup" "$n" "${command_of[$t]}" <<'EOF'
import json, subprocess, sys, time
out, warmup, runs, cmd = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
times = []
for i in range(warmup + runs):
    t0 = time.perf_counter()
    subprocess.run(["bash", "-c", cmd], check=True, stdout=subprocess.DEVNULL)
    if i >= warmup:
        times.append(time.perf_counter() - t0)
json.dump({"results": [{"times": times}]}, open(out, "w"))
EOF
  fi
}
rounds=${SMALL_FILES_ROUNDS:-6}
per_round=$(((runs + rounds - 1) / rounds))
mpi_one_file=()
[[ $have_mpi == 1 ]] && mpi_one_file=(parallel_run_mpi_one_file)
fast=(parallel_run parallel_run_no_journal parallel_run_bare parallel_run_process "${mpi_tools[@]}"
  parallel_run_one_file parallel_run_listing parallel_run_process_one_file "${mpi_one_file[@]}"
  loop loop_1_thread
  multiprocessing)
for ((r = 1; r <= rounds; ++r)); do
  say "round $r of $rounds: $per_round runs of each fast tool"
  for t in "${fast[@]}"; do
    runs_of[$t]=$((per_round * rounds))
    # Full warm-up once; later rounds re-warm the caches the other tools used.
    warmup=1
    [[ $r == 1 ]] && warmup=${warmup_of[$t]}
    time_runs "$t" "$warmup" "$per_round" "$work/$t.$r.json"
  done
done
for t in "${tools[@]}"; do
  [[ " ${fast[*]} " == *" $t "* ]] && continue
  say "timing $t: ${runs_of[$t]} runs after ${warmup_of[$t]} warm-up(s)"
  time_runs "$t" "${warmup_of[$t]}" "${runs_of[$t]}" "$work/$t.1.json"
done
# --- the journal: a run killed at about half, then resumed; a reuse hit -----------------
# SMALL_FILES_RESUME_TRIALS kills (default 9), each once half the mini-batches have finished:
# once the journal's data file (each finished mini-batch's rows, written as it finishes)
# holds half the bytes of the whole output, polled every millisecond. The resumed run's time
# over a full run's is the ratio, the full run timed right after each resumed one, in the same
# conditions (the timing rounds above run each tool several times in a row, with warmer caches
# than a run that follows a kill). (Until 2026-12-01 the kill came at half the median full
# run's wall time, which left 20 to 45% of the mini-batches finished: the first part of a run
# lists the inputs and starts the workers, so half the time is less than half the work; and
# the ratio's divisor was the timing rounds' median.)
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
seconds_since() { awk -v ns="$(($(date +%s%N) - $1))" 'BEGIN { printf "%.4f", ns / 1e9 }'; }
resume_times=()
beside_times=()
loop_resume_times=()
loop_full_times=()
kept_total=0  # mini-batches kept, over all the trials
((${SMALL_FILES_RESUME_TRIALS:-9} >= 1)) || die "SMALL_FILES_RESUME_TRIALS must be at least 1"
for ((k = 1; k <= ${SMALL_FILES_RESUME_TRIALS:-9}; ++k)); do
  rm -rf "$work/resumed"
  "$python" "$here/kill_at_half.py" "$work/resumed/.parallel_run_journal/data" \
    "$(($(wc -c <"$expected") / 2))" \
    "$bin/parallel_run_crc" --input "$data" --output "$work/resumed" --progress none ||
    die "a resume trial could not kill its run at half"
  start=$(date +%s%N)
  "$bin/parallel_run_crc" --input "$data" --output "$work/resumed" --resume --progress none \
    >"$work/resumed.out" 2>&1 || die "the resumed run failed: $(cat "$work/resumed.out")"
  resume_times+=("$(seconds_since "$start")")
  cmp -s "$expected" "$work/resumed/parallel_run_step.txt" ||
    die "the resumed run's output differs from the loop's"
  kept=$(grep -o '[0-9]* mini-batches kept' "$work/resumed.out" || echo "0 mini-batches kept")
  kept_total=$((kept_total + ${kept%% *}))
  rm -rf "$work/resume_beside"
  start=$(date +%s%N)
  "$bin/parallel_run_crc" --input "$data" --output "$work/resume_beside" --allow-reuse false \
    --progress none >/dev/null 2>&1 || die "the full run beside the resumed one failed"
  beside_times+=("$(seconds_since "$start")")
  # The same by hand (loop_crc: its full run, then its resume keeping as many mini-batches,
  # each of their files checked with a stat): the floor any program that lists the folder
  # and checks what it keeps is under, whatever its machinery.
  start=$(date +%s%N)
  "$bin/loop_crc" "$data" "$work/loop_beside.txt" || die "the loop beside the resumed run failed"
  loop_full_times+=("$(seconds_since "$start")")
  start=$(date +%s%N)
  "$bin/loop_crc" "$data" "$work/loop_resumed.txt" 2 10 "$expected" "${kept%% *}" ||
    die "the loop's resume failed"
  loop_resume_times+=("$(seconds_since "$start")")
  cmp -s "$expected" "$work/loop_resumed.txt" || die "the loop's resumed output differs from its full run's"
  say "resume $k: $kept of $((files / 10)); ${resume_times[-1]} s; a full run beside it ${beside_times[-1]} s; by hand ${loop_resume_times[-1]} s against ${loop_full_times[-1]} s"
done
resume_s=$(printf '%s\n' "${resume_times[@]}" | median)
beside_s=$(printf '%s\n' "${beside_times[@]}" | median)
loop_resume_s=$(printf '%s\n' "${loop_resume_times[@]}" | median)
loop_full_s=$(printf '%s\n' "${loop_full_times[@]}" | median)
# A reuse hit: the same run again over the finished one, checked once, then timed as the
# other tools are (hyperfine when there is one; until 2026-12-02 each run was timed from the
# shell with date, which put two more process starts into a figure of about 80 ms).
"$bin/parallel_run_crc" --input "$data" --output "$work/resumed" --progress none >"$work/reused.out" 2>&1
grep -q "reused the run" "$work/reused.out" || die "the same run again was not reused: $(cat "$work/reused.out")"
command_of[reuse]=$(q "$bin/parallel_run_crc" --input "$data" --output "$work/resumed" --progress none)
shell_of[reuse]=0
time_runs reuse 2 10 "$work/reuse.1.json"
reuse_s=$("$python" - "$work/reuse.1.json" <<'EOF'
import json, statistics, sys
print(f"{statistics.median(json.load(open(sys.argv[1]))['results'][0]['times']):.4f}")
EOF
)

declare -A median_of min_of
for t in "${tools[@]}"; do
  read -r "median_of[$t]" "min_of[$t]" < <("$python" - "$work/$t".*.json <<'EOF'
import json, statistics, sys
times = [t for f in sys.argv[1:] for t in json.load(open(f))["results"][0]["times"]]
print(f"{statistics.median(times):.4f} {min(times):.4f}")
EOF
)
done
for t in xargs gnu_parallel; do
  if [[ -n ${command_of[$t]:-} ]]; then
    n=$(wc -l <"$work/$t.txt")
    [[ $n -eq $files ]] || die "$t wrote $n lines for $files files"
  fi
done

# --- report ------------------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }
loop_s=${median_of[loop]}
pr_s=${median_of[parallel_run]}
mp_s=${median_of[multiprocessing]}
vs_loop=$(ratio "$pr_s" "$loop_s")
vs_mp=$(ratio "$mp_s" "$pr_s")
process_s=${median_of[parallel_run_process]}
process_vs_thread=$(ratio "$process_s" "$pr_s")
record_overhead=$(ratio "$pr_s" "${median_of[parallel_run_bare]}")
journal_overhead=$(ratio "$pr_s" "${median_of[parallel_run_no_journal]}")
resume_ratio=$(ratio "$resume_s" "$beside_s")
# loop_resume_ratio: the hand-written loop's resume over its full run, in the same trials.
loop_resume_ratio=$(ratio "$loop_resume_s" "$loop_full_s")
# The floors: what the ratio would be if the part the target is about cost nothing.
# resume_floor: a resume that checked and copied its kept mini-batches for free still pays a
# run's fixed part and the listing of all the files (listing_s: --limit 10 over the folder),
# and runs the mini-batches it did not keep (kept_fraction: of all, over the trials) of the
# rest. Until 2026-12-03 the floor took one_file_s, which leaves the listing out, and half.
one_file_s=${median_of[parallel_run_one_file]}
listing_s=${median_of[parallel_run_listing]}
kept_fraction=$(awk -v k="$kept_total" -v n="$(((files / 10) * ${SMALL_FILES_RESUME_TRIALS:-9}))" \
  'BEGIN { printf "%.2f", k / n }')
resume_floor=$(awk -v l="$listing_s" -v t="$beside_s" -v k="$kept_fraction" \
  'BEGIN { printf "%.2f", (l + (t - l) * (1 - k)) / t }')
mpi_s=na
mpi_vs_process=na
mpi_one_file_s=na
mpi_floor=na
if [[ $have_mpi == 1 ]]; then
  mpi_s=${median_of[parallel_run_mpi]}
  mpi_vs_process=$(ratio "$mpi_s" "$process_s")
  # mpi_floor: the process backend's run plus only what MPI adds to any run (the one-file run
  # on two ranks over the one-file run on one node), as if the job itself were as fast on two
  # ranks as on one node's two workers.
  mpi_one_file_s=${median_of[parallel_run_mpi_one_file]}
  mpi_floor=$(awk -v p="$process_s" -v m="$mpi_one_file_s" -v o="${median_of[parallel_run_process_one_file]}" \
    'BEGIN { printf "%.2f", (p + m - o) / p }')
fi

echo
echo "small_files: $files files of $file_size bytes, CRC-32 each, mini-batches of 10, 2 workers"
printf '| %-20s | %5s | %9s | %9s | %10s |\n' tool runs "median s" "min s" "vs loop"
printf '|%s|%s|%s|%s|%s|\n' ---------------------- ------- ----------- ----------- ------------
for t in "${tools[@]}"; do
  printf '| %-20s | %5s | %9s | %9s | %9sx |\n' "$t" "${runs_of[$t]}" "${median_of[$t]}" \
    "${min_of[$t]}" "$(ratio "${median_of[$t]}" "$loop_s")"
done
echo "load average (1, 5, 15 min) at start: $load_start; at end: $(load); $(nproc) cores"
echo
if le "$vs_loop" 1.5; then met=met; else met="NOT met"; fi
echo "target parallel_run <= 1.5x the loop: $vs_loop x: $met"
if le 4 "$vs_mp"; then met=met; else met="NOT met"; fi
echo "target parallel_run >= 4x faster than multiprocessing: $vs_mp x: $met"
if le "$process_vs_thread" 1.3; then met=met; else met="NOT met"; fi
echo "target parallel_run --backend process <= 1.3x the thread backend: $process_vs_thread x: $met"
if le "$record_overhead" 1.03; then met=met; else met="NOT met"; fi
echo "target the record (resource monitor, progress) <= 1.03x the run without it: $record_overhead x: $met"
if le "$journal_overhead" 1.05; then met=met; else met="NOT met"; fi
echo "target the journal <= 1.05x the run without it: $journal_overhead x: $met"
if le "$resume_ratio" 0.6; then met=met; else met="NOT met"; fi
echo "target a run killed at half, resumed: <= 0.6x a full run: $resume_ratio x ($resume_s s against $beside_s s): $met"
echo "  floor: a run's fixed part and the listing take $listing_s s (--limit 10; one file alone: $one_file_s s), so a resume whose kept mini-batches (a fraction $kept_fraction) cost nothing would take $resume_floor x"
echo "  by hand: the loop's resume, keeping as many, checking each kept file with a stat, takes $loop_resume_ratio x its full run ($loop_resume_s s against $loop_full_s s)"
if le "$reuse_s" 0.1; then met=met; else met="NOT met"; fi
echo "target a reuse hit over the $files files < 0.1 s: $reuse_s s: $met"
if [[ $have_mpi == 1 ]]; then
  if le "$mpi_vs_process" 1.5; then met=met; else met="NOT met"; fi
  echo "target mpirun -np 2, 1 process worker each <= 1.5x --backend process on 2 workers: $mpi_vs_process x: $met"
  echo "  floor: one file takes $mpi_one_file_s s on two ranks, ${median_of[parallel_run_process_one_file]} s on one node, so even a job as fast on two ranks as on one node would take $mpi_floor x"
else
  echo "target mpirun -np 2 <= 1.5x --backend process: not measured (no mpirun or no MPI build)"
fi
echo "RESULT small_files parallel_run_s=$pr_s loop_s=$loop_s multiprocessing_s=$mp_s vs_loop=$vs_loop vs_multiprocessing=$vs_mp process_s=$process_s process_vs_thread=$process_vs_thread record_overhead=$record_overhead journal_overhead=$journal_overhead resume_ratio=$resume_ratio reuse_s=$reuse_s mpi_s=$mpi_s mpi_vs_process=$mpi_vs_process one_file_s=$one_file_s listing_s=$listing_s kept_fraction=$kept_fraction resume_floor=$resume_floor loop_resume_ratio=$loop_resume_ratio mpi_one_file_s=$mpi_one_file_s mpi_floor=$mpi_floor"
