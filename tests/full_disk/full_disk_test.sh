#!/usr/bin/env bash
# A disk that fills up while the output is written, on a small tmpfs (root, and a system
# that lets it mount one; otherwise the test is skipped, exit 77):
#   full_disk_test.sh FAULT_INJECTION_BINARY WORK
# Ten 4 MB rows on 12 MB: the output cannot be written. The job fails (exit 1) naming the
# file; no output and no temporary file is left; and the bytes of the lost output are freed
# at once, so that failed_items.csv and job_result.txt still fit and are written whole. One
# worker and no journal, so that the output alone fills the disk: with two workers, rows that
# arrive out of order wait in the spill file, and the journal keeps a copy of each row, and
# how much of the disk each held when it filled varied from run to run.
set -euo pipefail
bin=$1 work=$2
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
if mountpoint -q "$work/disk" 2>/dev/null; then umount "$work/disk"; fi
rm -rf "$work"
mkdir -p "$work/in" "$work/disk"
if ! mount -t tmpfs -o size=12m tmpfs "$work/disk" 2>/dev/null; then
  echo "skipped: cannot mount a tmpfs here"
  exit 77
fi
trap 'umount "$work/disk"' EXIT
for ((i = 0; i < 10; ++i)); do echo big >"$work/in/f$i.txt"; done
out=$work/disk/out
set +e
"$bin" --input "$work/in" --output "$out" --mini-batch-size 1 --progress none \
  --process-count-per-node 1 --no-journal --resource-monitor-interval 0 \
  >"$work/stdout" 2>"$work/stderr"
status=$?
set -e
((status == 1)) || fail "exit $status, not 1: $(cat "$work/stderr")"
grep -q "^parallel_run: job failed: the output could not be written: cannot write '$out/.parallel_run_step.txt.partial-.*': No space left on device; no output file was written$" \
  "$work/stderr" || fail "the reason does not name the output: $(cat "$work/stderr")"
[ ! -e "$out/parallel_run_step.txt" ] || fail "an output was written"
left=$(find "$out" -name '*.partial-*')
[ -z "$left" ] || fail "temporary files left: $left"
[ -f "$out/logs/failed_items.csv" ] || fail "failed_items.csv is missing: $(cat "$work/stderr")"
[ "$(head -1 "$out/logs/failed_items.csv")" = "key,mini_batch,attempts,reason" ] ||
  fail "failed_items.csv has no header"
result=$(head -1 "$out/logs/job_result.txt")
[[ $result == "failed: items "* ]] || fail "job_result.txt: $result"
read -r failed not_processed < <(sed -E 's/^failed: items [0-9]+\/[0-9]+ succeeded, ([0-9]+) failed, ([0-9]+) not processed.*/\1 \2/' <<<"$result")
lines=$(($(wc -l <"$out/logs/failed_items.csv") - 1))
((lines == failed + not_processed)) ||
  fail "failed_items.csv lists $lines items, job_result.txt counts $failed failed and $not_processed not processed"
echo "a full disk: exit 1 naming the output; failed_items.csv ($lines items) and job_result.txt written whole"
