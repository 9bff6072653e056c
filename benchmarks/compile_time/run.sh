#!/usr/bin/env bash
# compile_time: what a scorer's translation unit costs to compile, the way a user builds it:
# the README's quick-start scorer (examples/quick_start/quick_start.cpp, a whole program on
# parallel_run::main), at -O0 -g with the project's compiler (c++, g++ 12 here):
#   scorer         as the README's "Faster builds" sets a project up: separate compilation
#                  (-DPARALLEL_RUN_SEPARATE_COMPILATION, what linking parallel_run::compiled
#                  defines) and the umbrella header precompiled: what an edit of the scorer costs
#   pch            precompiling the umbrella header for it, once per target and flags
#   compiled_part  the separately compiled part (<parallel_run/src.hpp>), built once
#   scorer_no_pch  separate compilation without the precompiled header
#   scorer_header_only  the same scorer header-only (no define, nothing else to link)
#   header_only    an empty main() that only includes the umbrella header, header-only
#   empty          a main() that includes nothing of ours
# Each is compiled COMPILE_TIME_RUNS times in turns; the median wall time and the peak memory
# of the compiler are printed, and the last line is
#   RESULT compile_time scorer_s=<s> pch_s=<s> compiled_part_s=<s> scorer_no_pch_s=<s>
#          scorer_header_only_s=<s> header_only_s=<s> empty_s=<s> scorer_peak_mb=<MB>
# (on one line).
#
#   benchmarks/compile_time/run.sh
#
# Environment (optional): CXX (default c++), COMPILE_TIME_RUNS (default 3).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cxx=${CXX:-c++}
runs=${COMPILE_TIME_RUNS:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

printf '#include <parallel_run/parallel_run.hpp>\nint main() {}\n' > "$work/header_only.cpp"
printf 'int main() {}\n' > "$work/empty.cpp"
cp "$repo/examples/quick_start/quick_start.cpp" "$work/scorer.cpp"
cp "$repo/examples/quick_start/quick_start.cpp" "$work/scorer_no_pch.cpp"
mkdir "$work/pch"
printf '#include <parallel_run/parallel_run.hpp>\n' > "$work/pch/parallel_run_pch.hpp"
cp "$repo/examples/quick_start/quick_start.cpp" "$work/scorer_header_only.cpp"
printf '#include <parallel_run/src.hpp>\n' > "$work/compiled_part.cpp"

flags=(-std=c++20 -O0 -g -I"$repo/include" -c)
# compile NAME: one compile; prints "<seconds> <peak KB>".
compile() {
  local extra=() source=$work/$1.cpp output=$work/$1.o
  case $1 in
    scorer) extra=(-DPARALLEL_RUN_SEPARATE_COMPILATION -I"$work/pch" -include parallel_run_pch.hpp
                   -Winvalid-pch) ;;
    pch) extra=(-DPARALLEL_RUN_SEPARATE_COMPILATION -x c++-header)
         source=$work/pch/parallel_run_pch.hpp output=$work/pch/parallel_run_pch.hpp.gch ;;
    scorer_no_pch | compiled_part) extra=(-DPARALLEL_RUN_SEPARATE_COMPILATION) ;;
  esac
  /usr/bin/time -f '%e %M' -o "$work/$1.time" "$cxx" "${flags[@]}" "${extra[@]}" "$source" \
    -o "$output"
  cat "$work/$1.time"
}
# pch comes before scorer, which uses it.
names=(empty header_only pch scorer scorer_no_pch compiled_part scorer_header_only)
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

for name in "${names[@]}"; do : > "$work/$name.times"; done
for ((i = 0; i < runs; ++i)); do
  for name in "${names[@]}"; do compile "$name" >> "$work/$name.times"; done
done
for name in "${names[@]}"; do
  s=$(cut -d' ' -f1 "$work/$name.times" | median)
  kb=$(cut -d' ' -f2 "$work/$name.times" | sort -n | tail -1)
  printf '%-20s %6.2f s  peak %5d MB\n' "$name" "$s" $((kb / 1024))
  declare "${name}_s=$s" "${name}_mb=$((kb / 1024))"
done
lines=$("$cxx" -std=c++20 -I"$repo/include" -E "$work/header_only.cpp" | wc -l)
echo "the umbrella header: $lines preprocessed lines; compiler: $("$cxx" --version | head -1)"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "RESULT compile_time scorer_s=$scorer_s pch_s=$pch_s compiled_part_s=$compiled_part_s" \
  "scorer_no_pch_s=$scorer_no_pch_s scorer_header_only_s=$scorer_header_only_s header_only_s=$header_only_s empty_s=$empty_s" \
  "scorer_peak_mb=$scorer_mb"
