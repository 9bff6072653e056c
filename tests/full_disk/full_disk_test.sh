#!/usr/bin/env bash
# A disk that fills up while the output is written, on a small tmpfs (root, and a system
# that lets it mount one; otherwise the test is skipped, exit 77):
#   full_disk_test.sh FAULT_INJECTION_BINARY WORK
# Ten 4 MB rows on 12 MB: the output cannot be written. The job fails (exit 1) naming the
# file; no output and no temporary file is left; and the bytes of the lost output are freed
# at once, so that failed_items.csv and job_result.txt still fit and are written whole. One
# worker and no journal, so that the output alone fills the disk: with two workers, rows that
# arrive out of order wait in the spill file, and the journal keeps a copy of each row, and
# how much of the disk each held when it filled varied from run to run. Then a log folder that
# fills up (below).
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

# A log folder that fills up while the job runs: 2,000 mini-batches of one file, the log
# folder on a 256 KB tmpfs (the record of each attempt alone takes more). The output is
# elsewhere and whole; the record's files end on whole lines or rows (a write that did not fit
# is taken back), overview.txt does not still say the job is running, and the job's messages
# name each file of the record that could not be written.
umount "$work/disk"
trap - EXIT
if ! mount -t tmpfs -o size=256k tmpfs "$work/disk" 2>/dev/null; then
  echo "skipped: cannot mount the second tmpfs"
  exit 77
fi
trap 'umount "$work/disk"' EXIT
rm -rf "$work/in" && mkdir -p "$work/in"
for ((i = 0; i < 2000; ++i)); do
  printf -v name 'f%04d.txt' "$i"
  echo ok >"$work/in/$name"
done
logs=$work/disk/logs
set +e
"$bin" --input "$work/in" --output "$work/out2" --log-dir "$logs" --mini-batch-size 1 \
  --progress none --process-count-per-node 2 --resource-monitor-interval 0 \
  >"$work/stdout2" 2>"$work/stderr2"
status=$?
set -e
[ -s "$work/stderr2" ] || fail "nothing said of the full log folder (exit $status)"
# The output is elsewhere: whole. The job fails only when failed_items.csv or
# skipped_inputs.csv (part of the result) finds no room, and then says so.
[ "$(wc -l <"$work/out2/parallel_run_step.txt")" -eq 2000 ] || fail "the output is not whole"
case $status in
  0) ;;
  1) grep -q "^parallel_run: job failed: the logs could not be written: " "$work/stderr2" ||
    fail "exit 1 without the logs named as the reason: $(head -c 2000 "$work/stderr2")" ;;
  *) fail "exit $status: $(head -c 2000 "$work/stderr2")" ;;
esac
grep -q "No space left on device" "$work/stderr2" ||
  fail "the full log folder is not named: $(head -c 2000 "$work/stderr2")"
# Files of whole lines (LineFile): none ends in the middle of one.
for f in "$logs/processed_mini-batches.csv" "$logs/master.txt" "$logs/failed_items.csv" \
  "$logs"/worker/*/*.txt; do
  if [ -s "$f" ]; then
    [ -z "$(tail -c 1 "$f")" ] || fail "$f ends in the middle of a line: $(tail -c 200 "$f")"
  fi
done
if [ -s "$logs/processed_mini-batches.csv" ]; then
  fields=$(awk -F, 'NR > 1 && NF < 14 { print NR": "$0; exit }' "$logs/processed_mini-batches.csv")
  [ -z "$fields" ] || fail "processed_mini-batches.csv has a cut row: $fields"
  rows=$(($(wc -l <"$logs/processed_mini-batches.csv") - 1))
  if ((rows < 2000)); then
    grep -q "processed_mini-batches.csv lacks $((2000 - rows)) of its rows" "$work/stderr2" ||
      fail "the missing $((2000 - rows)) rows of processed_mini-batches.csv are not said: $(head -c 2000 "$work/stderr2")"
  fi
fi
# overview.txt and report.html: the job's end, or absent and said so (never "running").
if [ -e "$logs/overview.txt" ]; then
  ! grep -Eq '^state: (running|starting)' "$logs/overview.txt" || fail "overview.txt still says running"
else
  grep -q "overview.txt could not be written" "$work/stderr2" || fail "overview.txt is gone unsaid"
fi
if [ -e "$logs/report.html" ]; then
  grep -Eq '<body data-state="(succeeded|failed)">' "$logs/report.html" ||
    fail "report.html does not show the job's end: $(grep -o '<body[^>]*>' "$logs/report.html")"
fi
for f in report.html trace.json; do
  [ -e "$logs/$f" ] || grep -q "$f could not be written" "$work/stderr2" ||
    fail "$f is missing and nothing says so: $(head -c 2000 "$work/stderr2")"
done
left=$(find "$logs" -name '.*.partial-*')
[ -z "$left" ] || fail "temporary files left in the log folder: $left"
echo "a full log folder (exit $status): whole lines and rows, and each missing file named"
