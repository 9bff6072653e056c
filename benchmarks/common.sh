# shellcheck shell=bash
# Sourced by the benchmarks' run.sh scripts: messages, the machine's load, and building the
# benchmark programs with Release flags. Expects `repo` (the repository root) to be set.

say() { printf '%s\n' "$*" >&2; }
die() {
  say "run.sh: ERROR: $*"
  exit 1
}

# Other work on the machine shows in the times: the reports print the load around the run.
load() { cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown; }

# build_benchmark SUBDIR TARGET...: sets `bin` to the folder holding the programs, either
# PARALLEL_RUN_BENCH_BIN or a Release build in PARALLEL_RUN_BENCH_BUILD_DIR (default
# <repo>/build/bench, configured when missing), and `build_dir` to that build folder ("" when
# PARALLEL_RUN_BENCH_BIN is given). Fails naming a program that is missing.
build_benchmark() {
  local subdir=$1
  shift
  if [[ -n ${PARALLEL_RUN_BENCH_BIN:-} ]]; then
    bin=$(cd "$PARALLEL_RUN_BENCH_BIN" && pwd)
    build_dir=""
  else
    build_dir=${PARALLEL_RUN_BENCH_BUILD_DIR:-$repo/build/bench}
    # The same Debian packages as scripts/test (installed when missing and running as root).
    # shellcheck source=scripts/deps.sh
    source "$repo/scripts/deps.sh"
    ensure_packages "${BUILD_PACKAGES[@]}" python3 >&2
    local generator=()
    command -v ninja >/dev/null && generator=(-G Ninja)
    if [[ ! -f $build_dir/CMakeCache.txt ]]; then
      say "configuring $build_dir (Release)"
      cmake -S "$repo" -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
        -DPARALLEL_RUN_BUILD_TESTS=OFF -DPARALLEL_RUN_BUILD_EXAMPLES=OFF \
        -DPARALLEL_RUN_BUILD_BENCHMARKS=ON >/dev/null
    else
      # A build folder made for something else may have the benchmarks turned off.
      cmake -S "$repo" -B "$build_dir" -DPARALLEL_RUN_BUILD_BENCHMARKS=ON >/dev/null
    fi
    say "building $* in $build_dir"
    local log=$build_dir/benchmark-build.log
    if ! cmake --build "$build_dir" --target "$@" >"$log" 2>&1; then
      tail -n 20 "$log" >&2
      # A target CMake did not define: say why (the model benchmarks' programs are defined
      # only when their library is found, with a "... not found ..." message).
      if grep -q "unknown target" "$log"; then
        cmake -S "$repo" -B "$build_dir" 2>&1 | grep "not found" >&2 || true
      fi
      die "building $* failed (the whole log: $log)"
    fi
    bin=$build_dir/benchmarks/$subdir
  fi
  local program
  for program in "$@"; do
    program=${program#"$subdir"_}  # a target named for its folder builds the plain name
    [[ -x $bin/$program ]] || die "$bin/$program is missing (set PARALLEL_RUN_BENCH_BIN)"
  done
}

# make_work_dir NAME KEEP: sets `work` to a new folder NAME.XXXXXX under TMPDIR, else the build
# folder, else /tmp; removed when the script exits unless KEEP is 1 (then its path is said).
make_work_dir() {
  local root=${TMPDIR:-${build_dir:-/tmp}}
  mkdir -p "$root"
  work=$(mktemp -d "$root/$1.XXXXXX")
  if [[ ${2:-0} == 1 ]]; then
    say "keeping $work"
  else
    # shellcheck disable=SC2064  # the folder's name now, not at exit
    trap "rm -rf $(printf %q "$work")" EXIT
  fi
}

# timed NAME LOG COMMAND...: runs COMMAND, its stdout and stderr into LOG, and appends
# "<wall seconds> <CPU seconds>" (user + system, its child processes included) to
# $times_dir/NAME (the caller sets times_dir). A failing command stops the script with the end
# of LOG.
timed() {
  local name=$1 log=$2
  shift 2
  local TIMEFORMAT='%R %U %S' times
  times=$(mktemp)
  if ! { time "$@" >"$log" 2>&1; } 2>"$times"; then
    tail -n 20 "$log" >&2
    die "$name failed: $* (the whole log: $log)"
  fi
  awk '{ printf "%s %.2f\n", $1, $2 + $3 }' "$times" >>"${times_dir:?}/$name"
  rm -f "$times"
}

# timed_stats NAME: "<runs> <median wall s> <min wall s> <median CPU s>" over the runs timed
# recorded for NAME.
timed_stats() {
  local file=${times_dir:?}/$1
  paste -d' ' <(cut -d' ' -f1 "$file" | sort -g) <(cut -d' ' -f2 "$file" | sort -g) | awk '
    { wall[NR] = $1; cpu[NR] = $2 }
    END {
      m = int((NR + 1) / 2)
      w = NR % 2 ? wall[m] : (wall[m] + wall[m + 1]) / 2
      c = NR % 2 ? cpu[m] : (cpu[m] + cpu[m + 1]) / 2
      printf "%d %.3f %.3f %.2f\n", NR, w, wall[1], c
    }'
}

# rate_table COUNT UNIT TOOL...: a table of each TOOL's runs recorded by timed: runs, median
# and fastest wall seconds, COUNT per median second, median CPU seconds, and the median against
# the first TOOL's. Sets median_of[TOOL] (seconds) and rate_of[TOOL] (UNIT per second).
declare -A median_of rate_of
rate_table() {
  local count=$1 unit=$2 t runs median min cpu
  shift 2
  printf '| %-20s | %4s | %8s | %8s | %10s | %12s | %15s |\n' contender runs "median s" "min s" \
    "$unit/s" "median CPU s" "vs $1"
  printf '|%s|%s|%s|%s|%s|%s|%s|\n' ---------------------- ------ ---------- ---------- ------------ \
    -------------- -----------------
  for t in "$@"; do
    read -r runs median min cpu < <(timed_stats "$t")
    median_of[$t]=$median
    rate_of[$t]=$(awk -v n="$count" -v s="$median" 'BEGIN { printf "%.0f", n / s }')
    printf '| %-20s | %4s | %8s | %8s | %10s | %12s | %14sx |\n' "$t" "$runs" "$median" "$min" \
      "${rate_of[$t]}" "$cpu" "$(awk -v a="$median" -v b="${median_of[$1]}" 'BEGIN { printf "%.2f", a / b }')"
  done
}

# take_turns ROUNDS TOOL...: ROUNDS rounds in which each TOOL runs once, in order (`run_tool
# TOOL`, defined by the caller), so that a busy minute on a shared machine hits all alike.
take_turns() {
  local rounds=$1 r t
  shift
  for ((r = 1; r <= rounds; ++r)); do
    say "round $r of $rounds"
    for t in "$@"; do run_tool "$t"; done
  done
}

# need_model_packages WHAT MODULES [PACKAGE...]: the model benchmarks' Debian packages,
# MODEL_PACKAGES of scripts/deps.sh and the PACKAGEs (installed when missing, as root, as
# `scripts/demo models` does), and /usr/bin/python3 importing MODULES ("torch, numpy"): Debian's
# Python modules are for the system's Python. Stops naming what is missing otherwise.
need_model_packages() {
  local what=$1 modules=$2
  shift 2
  # shellcheck source=scripts/deps.sh
  source "$repo/scripts/deps.sh"
  ensure_packages "${MODEL_PACKAGES[@]}" "$@" >&2 ||
    die "$what needed: Debian's ${MODEL_PACKAGES[*]} $* (run as root to install them)"
  /usr/bin/python3 -c "import $modules" 2>/dev/null ||
    die "/usr/bin/python3 cannot import $modules (Debian: ${MODEL_PACKAGES[*]} $*)"
}
