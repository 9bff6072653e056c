#!/usr/bin/env bash
# The journal against deaths, through the fault_injection example:
#   kill_test.sh BINARY kill BACKEND WORK [TRIALS]
#       TRIALS jobs (default 20) killed with SIGKILL at a random moment, each then resumed; the
#       output and failed_items.csv must be byte for byte those of an uninterrupted run; no
#       worker process may outlive its job.
#       A fresh run over a killed one is refused (exit 2) and says how to resume it.
#   kill_test.sh BINARY reuse thread WORK
#       the same run again is reused; a rebuilt program is not, unless --scorer-version says
#       it is the same scorer.
#   kill_test.sh BINARY first_crash thread WORK
#       a segfault before any mini-batch finished: a fresh run is refused and names the
#       mini-batch that was running; two resumes fail it as poison.
#   kill_test.sh BINARY second_signal thread WORK
#       a second SIGTERM ends the job at once while mini-batches hang; the resume runs them
#       again as any others, blaming none of them (a suspect would run alone, poison at 2).
#   kill_test.sh BINARY poison thread WORK
#       a file that segfaults takes the whole process down on the thread backend; each resume
#       runs the mini-batch that was running alone; after run_max_try deaths it is failed
#       without running, and the job ends with that file, and only it, in failed_items.csv.
set -euo pipefail
bin=$1 mode=$2 backend=$3 work=$4 trials=${5:-20}
rm -rf "$work"
mkdir -p "$work/in"
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
common=(--backend "$backend" --process-count-per-node 2 --progress none
        --resource-monitor-interval 0 --logging-level WARNING)

# Reaps nothing of ours may be left: worker processes of a killed job end when their channel
# closes.
check_no_workers() {
  local left
  for ((t = 0; t < 50; ++t)); do
    left=$(pgrep -f -- "$bin.*$work/" || true)
    [ -z "$left" ] && return 0
    sleep 0.1
  done
  fail "processes of a killed job are still running: $(ps -o pid,args -p "${left//$'\n'/,}")"
}

if [ "$mode" = kill ]; then
  # 600 files in mini-batches of 4: 150 mini-batches, some failing (a C++ exception on every
  # attempt) so that failed_items.csv has lines to compare too.
  for ((i = 0; i < 600; ++i)); do
    if ((i % 97 == 13)); then echo throw; else echo "ok $i"; fi >"$work/in/f$(printf %04d $i).txt"
  done
  args=(--input "$work/in" --mini-batch-size 4 --run-max-try 2 "${common[@]}")
  "$bin" "${args[@]}" --output "$work/reference" >/dev/null 2>&1 || true
  [ -s "$work/reference/parallel_run_step.txt" ] || fail "the reference run wrote no output"
  [ "$(grep -c , "$work/reference/logs/failed_items.csv")" = 29 ] ||
    fail "the reference run should list 28 failed items (7 mini-batches of 4)"
  # How long a whole run takes, to kill within it. A run that ends before its kill (the machine
  # was busier when the span was measured) is checked like the others but does not count: the
  # span shrinks to 3/4 of that run's length and runs go on until TRIALS were killed (at most
  # 4 * TRIALS runs).
  start=$(date +%s%N)
  "$bin" "${args[@]}" --output "$work/timing" >/dev/null 2>&1 || true
  span_ms=$((($(date +%s%N) - start) / 1000000))
  ((span_ms < 20)) && span_ms=20
  killed=0 runs=0
  while ((killed < trials && runs < 4 * trials)); do
    runs=$((runs + 1))
    out="$work/out$runs"
    started=$(date +%s%N)
    "$bin" "${args[@]}" --output "$out" >"$work/stdout" 2>"$work/stderr" &
    pid=$!
    delay=$((RANDOM % span_ms))
    sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
    kill -9 "$pid" 2>/dev/null || true
    set +e
    wait "$pid"
    status=$?
    set -e
    check_no_workers
    if ((status == 137)); then
      killed=$((killed + 1))
      set +e
      "$bin" "${args[@]}" --output "$out" --resume >"$work/stdout" 2>"$work/stderr"
      status=$?
      set -e
    else
      ran_ms=$((($(date +%s%N) - started) / 1000000))
      ((ran_ms * 3 / 4 < span_ms)) && span_ms=$((ran_ms * 3 / 4))
      ((span_ms < 20)) && span_ms=20
    fi
    ((status == 0 || status == 1)) || fail "run $runs: exit $status: $(cat "$work/stderr")"
    cmp "$work/reference/parallel_run_step.txt" "$out/parallel_run_step.txt" ||
      fail "run $runs: the output differs from an uninterrupted run's"
    cmp "$work/reference/logs/failed_items.csv" "$out/logs/failed_items.csv" ||
      fail "run $runs: failed_items.csv differs from an uninterrupted run's"
    rm -rf "$out"
  done
  echo "kill: $runs runs on $backend, $killed killed at random moments, all resumed to identical output"
  ((killed >= trials)) || fail "only $killed of $runs runs were killed before their end"

  # A run killed after its first group commit (1 s): a fresh run over it is refused with
  # how to go on; --resume finishes it without running what it had finished.
  mkdir -p "$work/slow"
  for ((i = 0; i < 16; ++i)); do echo slow >"$work/slow/s$(printf %02d $i).txt"; done
  slow=(--input "$work/slow" --output "$work/killed" --mini-batch-size 1 "${common[@]}")
  "$bin" "${slow[@]}" >/dev/null 2>&1 &
  pid=$!
  sleep 2.2
  kill -9 "$pid"
  wait "$pid" || true
  check_no_workers
  set +e
  "$bin" "${slow[@]}" >"$work/refused" 2>&1
  status=$?
  set -e
  ((status == 2)) || fail "a fresh run over a killed one: exit $status, not 2: $(cat "$work/refused")"
  grep -q "holds a run whose process died before its end" "$work/refused" &&
    grep -q -- "run again with --resume to continue it, or run with --restart to start over" \
      "$work/refused" || fail "the refusal does not say how to go on: $(cat "$work/refused")"
  "$bin" "${slow[@]}" --resume >"$work/stdout" 2>"$work/stderr" ||
    fail "the resume failed: $(cat "$work/stderr")"
  [ "$(wc -l <"$work/killed/parallel_run_step.txt")" = 16 ] || fail "16 rows expected after the resume"
  grep -qE "mini-batch(es)? kept from the earlier run" "$work/stdout" ||
    fail "the resume kept nothing: $(cat "$work/stdout")"
  echo "refused a fresh run over a killed one; --resume finished it"
  exit 0
fi

if [ "$mode" = poison ]; then
  for ((i = 0; i < 12; ++i)); do echo "ok $i" >"$work/in/f$(printf %02d $i).txt"; done
  echo segv >"$work/in/f05.txt"
  args=(--input "$work/in" --output "$work/out" --mini-batch-size 2 --run-max-try 3 "${common[@]}")
  extra=()
  for ((round = 1; round <= 3; ++round)); do
    set +e
    "$bin" "${args[@]}" "${extra[@]}" >"$work/stdout" 2>"$work/stderr"
    status=$?
    set -e
    ((status == 139 || status == 134)) ||
      fail "round $round: the process should die of the segfault, exit $status: $(cat "$work/stderr")"
    if ((round > 1)); then
      grep -qF "mini-batch 2 (first: f04.txt; last: f05.txt) was running when a process of this run died ($((round - 1)) of at most 3 times): it runs again, alone" \
        "$work/out/logs/master.txt" || fail "round $round: the suspect is not named: $(cat "$work/out/logs/master.txt")"
    fi
    extra=(--resume)
  done
  "$bin" "${args[@]}" --resume >"$work/stdout" 2>"$work/stderr" ||
    fail "the last resume should end the job: $(cat "$work/stderr")"
  grep -q "died while it was running, 3 times in a row" "$work/out/logs/failed_items.csv" ||
    fail "the poison mini-batch is not failed: $(cat "$work/out/logs/failed_items.csv")"
  [ "$(tail -n +2 "$work/out/logs/failed_items.csv" | cut -d, -f1 | tr '\n' ' ')" = "f04.txt f05.txt " ] ||
    fail "only the poison mini-batch's items fail: $(cat "$work/out/logs/failed_items.csv")"
  [ "$(wc -l <"$work/out/parallel_run_step.txt")" = 10 ] || fail "10 rows expected"
  echo "poison: 3 deaths, then mini-batch 2 failed without running; 10 rows written"
  exit 0
fi
if [ "$mode" = first_crash ]; then
  # The process dies before any mini-batch finished: a plain rerun is refused all the same and
  # names what was running (before, it started over and met the crash again); --resume then
  # goes on to fail the poison mini-batch.
  for ((i = 0; i < 6; ++i)); do echo "ok $i" >"$work/in/f$i.txt"; done
  echo segv >"$work/in/f0.txt"
  args=(--input "$work/in" --output "$work/out" --mini-batch-size 2 --run-max-try 2 "${common[@]}")
  set +e
  "$bin" "${args[@]}" >"$work/stdout" 2>"$work/stderr"
  status=$?
  ((status == 139 || status == 134)) ||
    fail "the process should die of the segfault, exit $status: $(cat "$work/stderr")"
  "$bin" "${args[@]}" >"$work/refused" 2>&1
  status=$?
  set -e
  ((status == 2)) || fail "a fresh run over a crashed one: exit $status, not 2: $(cat "$work/refused")"
  grep -qE "holds a run whose process died before its end \(killed or crashed; its journal holds [0-9] finished mini-batch(es)?; mini-batch(es)? ([0-9], )?0(, [0-9])? (was|were) running when it died(; the last [0-9]+ bytes of '[^']*' could not be read: a record torn by the death, or damage)?\): run again with --resume to continue it, or run with --restart to start over" \
    "$work/refused" || fail "the refusal does not name the running mini-batch: $(cat "$work/refused")"
  set +e
  "$bin" "${args[@]}" --resume >"$work/stdout" 2>"$work/stderr"
  status=$?
  set -e
  ((status == 139 || status == 134)) ||
    fail "the first resume should die of the segfault, exit $status: $(cat "$work/stderr")"
  "$bin" "${args[@]}" --resume >"$work/stdout" 2>"$work/stderr" ||
    fail "the second resume should end the job: $(cat "$work/stderr")"
  [ "$(tail -n +2 "$work/out/logs/failed_items.csv" | cut -d, -f1 | tr '\n' ' ')" = "f0.txt f1.txt " ] ||
    fail "only the poison mini-batch's items fail: $(cat "$work/out/logs/failed_items.csv")"
  [ "$(cut -d' ' -f1,2 "$work/out/parallel_run_step.txt" | tr '\n' ' ')" = "f2.txt ok f3.txt ok f4.txt ok f5.txt ok " ] ||
    fail "4 rows expected: $(cat "$work/out/parallel_run_step.txt")"
  echo "a crash before any mini-batch finished: a fresh run refused, naming it; poison at the second resume"
  exit 0
fi
if [ "$mode" = second_signal ]; then
  # Mini-batches 0 and 1 hang (ignoring the stop token), so the graceful stop the first SIGTERM
  # starts cannot end: only the second one ends the job. Then the data is mended (as a user
  # would) and the resume runs them as any others.
  for ((i = 0; i < 4; ++i)); do echo ok >"$work/in/f$i.txt"; done
  echo hang >"$work/in/f0.txt"
  echo hang >"$work/in/f1.txt"
  args=(--input "$work/in" --output "$work/out" --mini-batch-size 1 --run-max-try 1 "${common[@]}")
  # SIGTERM: a job started with & from a script ignores SIGINT.
  "$bin" "${args[@]}" >"$work/stdout" 2>"$work/stderr" &
  pid=$!
  for ((t = 0; t < 200; ++t)); do  # mini-batches run once a worker's log has its start line
    compgen -G "$work/out/logs/worker/*/process-*.txt" >/dev/null &&
      [ -n "$(cat "$work"/out/logs/worker/*/process-*.txt)" ] && break
    sleep 0.05
  done
  kill -TERM "$pid"
  for ((t = 0; t < 500; ++t)); do  # the first signal heard: the job is stopping
    grep -q "interrupted by SIGTERM" "$work/out/logs/master.txt" 2>/dev/null && break
    sleep 0.02
  done
  grep -q "interrupted by SIGTERM" "$work/out/logs/master.txt" ||
    { kill -9 "$pid"; fail "the first SIGTERM was not heard: $(cat "$work/stderr")"; }
  kill -TERM "$pid"
  set +e
  wait "$pid"
  status=$?
  set -e
  ((status == 143)) || fail "the second SIGTERM should end the job at once, exit $status: $(cat "$work/stderr")"
  [ ! -e "$work/out/parallel_run_step.txt" ] || fail "the job was not ended at once: it wrote its output"
  echo ok >"$work/in/f0.txt"
  echo ok >"$work/in/f1.txt"
  "$bin" "${args[@]}" --resume >"$work/stdout" 2>"$work/stderr" ||
    fail "the resume should run the rest: $(cat "$work/stderr")"
  [ "$(cut -d' ' -f1,2 "$work/out/parallel_run_step.txt" | tr '\n' ' ')" = "f0.txt ok f1.txt ok f2.txt ok f3.txt ok " ] ||
    fail "4 rows expected: $(cat "$work/out/parallel_run_step.txt")"
  [ "$(cat "$work/out/logs/failed_items.csv")" = "key,mini_batch,attempts,reason" ] ||
    fail "nothing may fail: $(cat "$work/out/logs/failed_items.csv")"
  if grep -q "running when a process of this run died" "$work/out/logs/master.txt"; then
    fail "a mini-batch is blamed for the death the user asked for: $(cat "$work/out/logs/master.txt")"
  fi
  echo "a second SIGTERM ended the hung job at once; the resume ran the rest, blaming nothing"
  exit 0
fi
if [ "$mode" = reuse ]; then
  # The same program, settings and inputs again: reused, the output left as it was. A rebuilt
  # program (here: the same executable with a byte appended) runs again.
  for ((i = 0; i < 8; ++i)); do echo "ok $i" >"$work/in/f$i.txt"; done
  args=(--input "$work/in" --output "$work/out" --mini-batch-size 2 "${common[@]}")
  "$bin" "${args[@]}" >"$work/first" 2>&1 || fail "the first run failed: $(cat "$work/first")"
  before=$(stat -c %Y.%s "$work/out/parallel_run_step.txt")
  "$bin" "${args[@]}" >"$work/second" 2>&1 || fail "the reused run's status: $(cat "$work/second")"
  grep -q "parallel_run: reused the run that ended .* in $work/out: same program, settings and inputs; its output and logs are left as they are (--allow-reuse false runs the job again)" \
    "$work/second" || fail "not reused: $(cat "$work/second")"
  [ "$(stat -c %Y.%s "$work/out/parallel_run_step.txt")" = "$before" ] || fail "the output was touched"
  cp "$bin" "$work/rebuilt"
  printf 'x' >>"$work/rebuilt"
  "$work/rebuilt" "${args[@]}" >"$work/third" 2>&1 || fail "the rebuilt program failed: $(cat "$work/third")"
  if grep -q "reused" "$work/third"; then fail "a rebuilt program reused the run"; fi
  "$work/rebuilt" "${args[@]}" --scorer-version 1 >/dev/null 2>&1
  "$bin" "${args[@]}" --scorer-version 1 >"$work/fourth" 2>&1
  grep -q "reused" "$work/fourth" || fail "the same --scorer-version, another executable: not reused"
  echo "reuse: hit on the same program, miss on a rebuilt one, hit across rebuilds with --scorer-version"
  exit 0
fi
fail "unknown mode $mode"
