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
    cmake --build "$build_dir" --target "$@" >/dev/null
    bin=$build_dir/benchmarks/$subdir
  fi
  local program
  for program in "$@"; do
    program=${program#table_scan_}  # a target named for its folder builds the plain name
    [[ -x $bin/$program ]] || die "$bin/$program is missing (set PARALLEL_RUN_BENCH_BIN)"
  done
}
