#!/usr/bin/env bash
# Many nodes: the same job on one node and under mpirun -np 3 (rank 0 and two nodes, on this
# one machine), compared byte for byte, on both backends; failures on one node; a rank killed,
# then --resume on another number of nodes.
#
#   mpi_test.sh <case> <fault_injection built with mpi.hpp> <table driver built with mpi.hpp>
#               <work folder> <mpirun>
#
# Cases:
#   files        ok, failing and retried items: output, failed_items.csv, per-node logs
#   tables       a CSV table, with and without partition keys
#   failures     a timeout retried on another node; an error threshold stopping the job
#   segfault     a worker process that segfaults on one node: its item fails, the rest succeed
#   init_node    a node whose init always fails stops taking work, the others finish the job
#   kill_resume  a rank killed with SIGKILL ends the MPI job; --resume on 2 ranks finishes it
set -euo pipefail
case_name=$1 fi=$2 table=$3 work=$4 mpirun=$5
rm -rf "$work" && mkdir -p "$work"
cd "$work"
fail() { echo "FAIL ($case_name): $*" >&2; exit 1; }
# Open MPI as root, more ranks than cores.
mpi() { "$mpirun" --allow-run-as-root --oversubscribe -np "$@"; }

make_files() {  # <folder> <count> [word for every 7th file]
  mkdir -p "$1"
  for i in $(seq -w 1 "$2"); do echo ok > "$1/f$i.txt"; done
  if [ -n "${3:-}" ]; then for i in $(seq -w 7 7 "$2"); do echo "$3" > "$1/f$i.txt"; done; fi
}

same() {  # <one-node output folder> <many-node output folder>
  cmp "$1/parallel_run_step.txt" "$2/parallel_run_step.txt" ||
    fail "the output of $2 differs from one node's"
  cmp "$1/logs/failed_items.csv" "$2/logs/failed_items.csv" ||
    fail "failed_items.csv of $2 differs from one node's"
}

case "$case_name" in
files)
  make_files in 60 throw
  echo throw-once > in/f03.txt
  for backend in thread process; do
    "$fi" --input in --output one-$backend --mini-batch-size 2 --process-count-per-node 2 \
      --backend $backend --progress none > one-$backend.log 2>&1 || true
    status=0
    # stdout apart: mpirun forwards the ranks' stdout and stderr on their own, so a line of one
    # may land in the middle of a line of the other in a shared file.
    mpi 3 "$fi" --input in --output three-$backend --mini-batch-size 2 \
      --process-count-per-node 2 --backend $backend --progress none > three-$backend.out \
      2> three-$backend.log || status=$?
    [ "$status" = 0 ] || { cat three-$backend.log; fail "$backend: exit $status"; }
    same one-$backend three-$backend
    grep -q "items 44/60 succeeded, 16 failed, 0 not processed" three-$backend.out ||
      fail "$backend: summary: $(grep 'parallel_run: succeeded' three-$backend.out)"
    # One summary, from rank 0: the nodes exit as it does and say nothing.
    [ "$(grep -c '^parallel_run: succeeded' three-$backend.out)" = 1 ] ||
      fail "$backend: not exactly one summary line: $(grep -c 'parallel_run: succeeded' three-$backend.out)"
    # Each node's resource samples, and the worker records of each node that ran a
    # mini-batch, under the node's own name; the processed log names the node of every
    # attempt. (A node that starts late may run nothing: the others take its queued work.)
    for n in 0 1 2; do
      ls three-$backend/logs/performance/*-node$n/sys_resource_monitor_*-node$n.csv > /dev/null ||
        fail "$backend: no performance file of node $n"
      if grep -q -- "-node$n/process-" three-$backend/logs/processed_mini-batches.csv; then
        ls three-$backend/logs/worker/*-node$n/process-*.txt > /dev/null ||
          fail "$backend: node $n ran mini-batches but has no worker log"
      fi
    done
    nodes=$(grep -o -- "-node[0-9]/process-" three-$backend/logs/processed_mini-batches.csv |
      sort -u | wc -l)
    [ "$nodes" -ge 2 ] || fail "$backend: only $nodes node(s) ran mini-batches"
    grep -q "2 $backend workers per node on 3 nodes" three-$backend/logs/master.txt ||
      fail "$backend: master.txt does not say 3 nodes: $(head -3 three-$backend/logs/master.txt)"
  done
  # A node count other than the ranks launched is refused on every rank (exit 2), by name.
  status=0
  mpi 3 "$fi" --input in --output wrong --node-count 2 > wrong.log 2>&1 || status=$?
  [ "$status" != 0 ] || fail "--node-count 2 on 3 ranks was accepted"
  grep -q "node_count is 2 but .* on 3 ranks" wrong.log || fail "node_count: $(cat wrong.log)"
  # Inputs a rank cannot read end the whole job at once, naming the rank (none waits for it).
  status=0
  timeout 60 "$mpirun" --allow-run-as-root --oversubscribe -np 3 "$fi" --input no-such-folder \
    --output missing > missing.log 2>&1 || status=$?
  [ "$status" != 0 ] && [ "$status" != 124 ] || fail "missing inputs: exit $status"
  grep -q "ends the MPI job: node [0-2] (.*): \[parallel_run.input\]" missing.log ||
    fail "missing inputs: $(cat missing.log)"
  ;;
tables)
  {
    echo "id,group,value"
    for i in $(seq 1 500); do echo "r$i,g$((i % 7)),$i.5"; done
    echo "bad,g1,notanumber"
  } > data.csv
  for backend in thread process; do
    for keys in "" "--partition-keys group"; do
      tag=$backend${keys:+-keys}
      # shellcheck disable=SC2086
      "$table" --input data.csv --output one-$tag --mini-batch-size 1KB $keys \
        --process-count-per-node 2 --backend $backend --progress none > one-$tag.log 2>&1 || true
      status=0
      # shellcheck disable=SC2086
      mpi 3 "$table" --input data.csv --output three-$tag --mini-batch-size 1KB $keys \
        --process-count-per-node 2 --backend $backend --progress none > three-$tag.log 2>&1 ||
        status=$?
      [ "$status" = 0 ] || { cat three-$tag.log; fail "$tag: exit $status"; }
      same one-$tag three-$tag
      grep -q "items 500/501 succeeded, 1 failed" three-$tag.log ||
        fail "$tag: $(grep parallel_run three-$tag.log)"
    done
  done
  ;;
failures)
  make_files in 30
  echo hang-once > in/f05.txt
  echo hang-once > in/f17.txt
  status=0
  mpi 3 "$fi" --input in --output timeout --mini-batch-size 1 --process-count-per-node 1 \
    --backend process --run-invocation-timeout 2 --progress none > timeout.log 2>&1 || status=$?
  [ "$status" = 0 ] || { cat timeout.log; fail "timeouts: exit $status"; }
  grep -q "items 30/30 succeeded.*attempts 32, retries 2, timeouts 2" timeout.log ||
    fail "timeouts: $(grep parallel_run timeout.log)"
  # An error threshold stops the job on every node: exit 1, nothing lost, no new mini-batch.
  make_files thr 40 throw
  status=0
  mpi 3 "$fi" --input thr --output threshold --mini-batch-size 1 --process-count-per-node 1 \
    --error-threshold 2 --run-max-try 1 --progress none > threshold.log 2>&1 || status=$?
  [ "$status" = 1 ] || { cat threshold.log; fail "threshold: exit $status, not 1"; }
  grep -q "error_threshold" threshold.log || fail "threshold: $(grep parallel_run threshold.log)"
  # Every item is accounted for: succeeded, failed or not processed, 40 in all.
  line=$(grep "parallel_run: failed: items" threshold.log)
  [[ $line =~ items\ ([0-9]+)/40\ succeeded,\ ([0-9]+)\ failed,\ ([0-9]+)\ not\ processed ]] ||
    fail "threshold: $line"
  [ $((BASH_REMATCH[1] + BASH_REMATCH[2] + BASH_REMATCH[3])) = 40 ] || fail "threshold: $line"
  [ "${BASH_REMATCH[2]}" -ge 3 ] || fail "threshold: fewer than 3 failed: $line"
  ;;
segfault)
  make_files in 30
  echo segv > in/f11.txt
  "$fi" --input in --output one --mini-batch-size 1 --process-count-per-node 2 \
    --backend process --progress none > one.log 2>&1 || true
  status=0
  mpi 3 "$fi" --input in --output three --mini-batch-size 1 --process-count-per-node 2 \
    --backend process --progress none > three.log 2>&1 || status=$?
  [ "$status" = 0 ] || { cat three.log; fail "exit $status"; }
  cmp one/parallel_run_step.txt three/parallel_run_step.txt || fail "output differs"
  grep -q "items 29/30 succeeded, 1 failed" three.log || fail "$(grep parallel_run three.log)"
  grep -q "^f11.txt,.*SIGSEGV" three/logs/failed_items.csv ||
    fail "failed_items.csv: $(cat three/logs/failed_items.csv)"
  ;;
init_node)
  make_files in 24 slow  # 0.4 s each: long enough for node 1 to fail 6 inits
  "$fi" --input in --output one --mini-batch-size 1 --process-count-per-node 2 \
    --progress none > one.log 2>&1 || true
  for backend in thread process; do
    status=0
    mpi 3 "$fi" --input in --output three-$backend --mini-batch-size 1 \
      --process-count-per-node 2 --backend $backend --progress none -- --init=throw@rank=1 \
      > three-$backend.log 2>&1 || status=$?
    [ "$status" = 0 ] || { cat three-$backend.log; fail "$backend: exit $status"; }
    cmp one/parallel_run_step.txt three-$backend/parallel_run_step.txt ||
      fail "$backend: output differs"
    grep -q "node 1 (.*-node1) takes no more work: init failed 6 times" \
      three-$backend/logs/master.txt || fail "$backend: $(grep -i init three-$backend/logs/master.txt)"
    ! grep -q -- "-node1/process-" three-$backend/logs/processed_mini-batches.csv ||
      fail "$backend: node 1 ran a mini-batch"
  done
  # Init failing on every node: the job fails at 2 * node_count * process_count_per_node.
  status=0
  mpi 3 "$fi" --input in --output all --mini-batch-size 2 --process-count-per-node 1 \
    --progress none -- --init=throw > all.log 2>&1 || status=$?
  [ "$status" = 1 ] || { cat all.log; fail "init everywhere: exit $status, not 1"; }
  grep -q "init failed 6 times (the limit is 2 \* node_count \* process_count_per_node = 6)" \
    all.log || fail "init everywhere: $(grep 'job failed' all.log)"
  ;;
kill_resume)
  make_files in 36
  for f in in/*; do echo slow > "$f"; done  # 0.4 s each
  "$fi" --input in --output one --mini-batch-size 1 --process-count-per-node 9 \
    --progress none > one.log 2>&1
  mpi 3 "$fi" --input in --output three --mini-batch-size 1 --process-count-per-node 1 \
    --progress none > killed.log 2>&1 &
  launcher=$!
  # Rank 1, found by its environment, dies halfway (the job takes about 5 s; the journal
  # commits every second).
  sleep 2.5
  victim=""
  for pid in $(pgrep -f "$fi --input in --output three" || true); do
    if tr '\0' '\n' < /proc/$pid/environ 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=1"; then
      victim=$pid
    fi
  done
  [ -n "$victim" ] || fail "rank 1 not found"
  kill -9 "$victim"
  status=0
  wait $launcher || status=$?
  [ "$status" != 0 ] || fail "the MPI job went on after a rank was killed"
  grep -q "rank 1" killed.log || fail "the launcher did not name the dead rank: $(cat killed.log)"
  # Finished on two ranks, from the journal rank 0 wrote.
  status=0
  mpi 2 "$fi" --input in --output three --mini-batch-size 1 --process-count-per-node 1 \
    --progress none --resume > resumed.log 2>&1 || status=$?
  [ "$status" = 0 ] || { cat resumed.log; fail "resume: exit $status"; }
  grep -qE "mini-batch(es)? kept from the earlier run" resumed.log ||
    fail "resume kept nothing: $(grep parallel_run resumed.log)"
  same one three
  ;;
*)
  fail "unknown case"
  ;;
esac
echo "PASS ($case_name)"
