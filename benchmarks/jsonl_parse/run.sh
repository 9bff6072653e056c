#!/usr/bin/env bash
# jsonl_parse: how fast one thread reads JSON Lines into members (key and value text), from
# memory: the reader parallel_run uses (simdjson's DOM parser, which validates each whole
# line) against the hand-written reader it replaced (which did not validate nested values),
# and nlohmann::json's SAX parser doing the same work when nlohmann-json3-dev is installed.
# The program checks first that the two parallel_run readers agree on every member; prints a
# table and, as its last line, a RESULT line with each reader's speed in MB/s (10^6 bytes a
# second).
#
#   benchmarks/jsonl_parse/run.sh
#
# Environment (all optional):
#   PARALLEL_RUN_BENCH_BIN        folder holding jsonl_parse (else it is built with Release
#                                 flags into PARALLEL_RUN_BENCH_BUILD_DIR)
#   PARALLEL_RUN_BENCH_BUILD_DIR  build folder (default: <repo>/build/bench)
#   JSONL_PARSE_LINES             lines of the generated data (default 200000, about 45 MB)
#   JSONL_PARSE_RUNS              timed runs of each reader, taken in turns (default 7)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

# shellcheck source=benchmarks/common.sh
source "$repo/benchmarks/common.sh"

load_start=$(load)
build_benchmark jsonl_parse jsonl_parse

out=$("$bin/jsonl_parse" --lines "${JSONL_PARSE_LINES:-200000}" --runs "${JSONL_PARSE_RUNS:-7}") ||
  die "jsonl_parse failed: $out"
field() { sed -n "s/.*\<$1=\([^ ]*\).*/\1/p" <<<"$2"; }
data=$(head -n 1 <<<"$out")
declare -A mbps_of ns_of
readers=()
while read -r line; do
  name=$(field reader "$line")
  readers+=("$name")
  mbps_of[$name]=$(field mb_per_s "$line")
  ns_of[$name]=$(field ns_per_line "$line")
  runs=$(field runs "$line")
done < <(grep '^reader=' <<<"$out")
[[ -n ${mbps_of[simdjson]:-} && -n ${mbps_of[hand_written]:-} ]] ||
  die "cannot read the figures of: $out"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo
echo "jsonl_parse: $(field lines "$data") generated log-like JSON Lines ($(field bytes "$data") bytes),"
echo "read into members by one thread from memory; median of $runs runs taken in turns"
printf '| %-13s | %8s | %11s | %13s |\n' reader "MB/s" "ns per line" "vs simdjson"
printf '|%s|%s|%s|%s|\n' --------------- ---------- ------------- ---------------
for r in "${readers[@]}"; do
  printf '| %-13s | %8s | %11s | %12sx |\n' "$r" "${mbps_of[$r]}" "${ns_of[$r]}" \
    "$(ratio "${mbps_of[$r]}" "${mbps_of[simdjson]}")"
done
echo "simdjson $(dpkg-query -W -f='${Version}' libsimdjson-dev 2>/dev/null || echo '?') runs the"
echo "kernel it picks for this CPU at run time; the hand-written reader is the one of commit"
echo "4d64336 (hand_written_jsonl.hpp)."
echo "load average (1, 5, 15 min) at start: $load_start; at end: $(load); $(nproc) cores"
echo
vs=$(ratio "${mbps_of[simdjson]}" "${mbps_of[hand_written]}")
if awk -v v="$vs" 'BEGIN { exit !(v >= 1) }'; then met=met; else met="NOT met"; fi
echo "target simdjson at least as fast as the hand-written reader: $vs x: $met"
echo "RESULT jsonl_parse simdjson_mbps=${mbps_of[simdjson]} hand_written_mbps=${mbps_of[hand_written]} nlohmann_sax_mbps=${mbps_of[nlohmann_sax]:-n/a} simdjson_vs_hand_written=$vs"
