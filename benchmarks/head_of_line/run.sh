#!/usr/bin/env bash
# head_of_line: one mini-batch sleeps while a million tiny ones finish behind it (2 thread
# workers, default max_buffered_output_bytes). Prints the program's figures and, last, its
# RESULT line: `RESULT head_of_line peak_rss_mb=<MB>` (the target: at most 100).
#
#   benchmarks/head_of_line/run.sh
#
# Environment (all optional):
#   PARALLEL_RUN_BENCH_BIN        folder holding head_of_line (else it is built with Release
#                                 flags into PARALLEL_RUN_BENCH_BUILD_DIR)
#   PARALLEL_RUN_BENCH_BUILD_DIR  build folder (default: <repo>/build/bench)
#   HEAD_OF_LINE_COUNT            mini-batches (default 1000000)
#   HEAD_OF_LINE_KEEP=1           keep the work folder (its path is printed)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
count=${HEAD_OF_LINE_COUNT:-1000000}

# shellcheck source=benchmarks/common.sh
source "$repo/benchmarks/common.sh"
build_benchmark head_of_line head_of_line

work=$(mktemp -d "${TMPDIR:-/tmp}/head_of_line.XXXXXX")
if [[ ${HEAD_OF_LINE_KEEP:-0} == 1 ]]; then
  say "work folder: $work"
else
  trap 'rm -rf "$work"' EXIT
fi
say "load before: $(load)"
"$bin/head_of_line" "$work" "$count"
say "load after: $(load)"
