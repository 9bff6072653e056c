#!/usr/bin/env bash
# The progress display as a user sees it, through the fault_injection example (each "slow"
# file takes 0.4 s; in the terminal on the process backend, so that what the scorer prints goes
# to the worker logs, not to the screen):
#   progress_test.sh BINARY terminal WORK   a real terminal (tmux): one live line, redrawn
#                                           in place, ending at 100% above the summary
#   progress_test.sh BINARY pipe WORK       stderr a file: plain lines every few seconds,
#                                           also in master.txt, no control sequences;
#                                           --progress bar forces the live line, none is silent
set -euo pipefail
bin=$1 mode=$2 work=$3
rm -rf "$work"
mkdir -p "$work/in"
fail() { echo "FAIL: $*" >&2; exit 1; }
files() { for ((i = 10; i < 10 + $1; ++i)); do echo slow > "$work/in/f$i.txt"; done; }

if [ "$mode" = terminal ]; then
  command -v tmux >/dev/null || fail "tmux is not installed (Debian: tmux)"
  files 24
  socket="progress-test-$$"
  trap 'tmux -L "$socket" kill-server 2>/dev/null || true' EXIT
  tmux -L "$socket" new-session -d -x 160 -y 30 \
    "cd '$work' && '$bin' --input in --output out --mini-batch-size 1 --backend process \
     --process-count-per-node 2; echo EXIT=\$?; sleep 60"
  seen_partial=0
  for ((t = 0; t < 300; ++t)); do
    pane=$(tmux -L "$socket" capture-pane -p)
    if grep -Eq '^\[#*\.+\] [0-9]+/24 mini-batches \([0-9.]+%\)' <<<"$pane"; then
      seen_partial=1
    fi
    grep -q '^EXIT=' <<<"$pane" && break
    sleep 0.1
  done
  echo "$pane"
  grep -q '^EXIT=0$' <<<"$pane" || fail "the job did not end with status 0"
  ((seen_partial)) || fail "no live line short of 100% was ever on screen"
  [ "$(grep -Ec '^\[[#.]+\] ' <<<"$pane")" = 1 ] ||
    fail "the live line scrolled instead of being redrawn in place"
  grep -Eq '^\[#{20}\] 24/24 mini-batches \(100\.0%\), 24 items done' <<<"$pane" ||
    fail "the last state of the live line is not 24/24 at 100%"
  grep -A1 'mini-batches (100.0%)' <<<"$pane" | grep -q '^parallel_run: ' ||
    fail "the summary does not start on a line of its own below the live line"
  echo "PASS terminal"
  exit 0
fi

files 36
cd "$work"
"$bin" --input in --output out --mini-batch-size 1 --process-count-per-node 2 \
  >out.txt 2>err.txt || fail "the job failed: $(cat err.txt)"
cat err.txt
grep -Eq '^parallel_run: progress: [0-9]+/36 mini-batches \([0-9.]+%\), [0-9]+ items done' err.txt ||
  fail "no plain progress line on stderr"
grep -q 'progress: .*mini-batches' out/logs/master.txt || fail "no progress line in master.txt"
if grep -q $'\r\|\x1b' err.txt; then fail "control sequences in stderr that is not a terminal"; fi

rm -rf "$work/in" && mkdir "$work/in" && files 4
"$bin" --input in --output out2 --mini-batch-size 1 --progress bar >/dev/null 2>bar.txt
grep -q $'\r\\[####################\\] 4/4 mini-batches (100.0%)' bar.txt ||
  fail "--progress bar did not draw the live line: $(cat -v bar.txt)"
"$bin" --input in --output out3 --mini-batch-size 1 --progress none >/dev/null 2>none.txt
if grep -q 'mini-batches (' none.txt; then fail "--progress none printed progress"; fi
echo "PASS pipe"
