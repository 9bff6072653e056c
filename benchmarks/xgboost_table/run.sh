#!/usr/bin/env bash
# xgboost_table: the gradient-boosted trees of examples/xgboost_table (200 trees of depth 3,
# trained by its train.py) over a CSV table of N made-up tumours (the breast cancer rows with
# noise), in mini-batches of 1 MB, by:
#   parallel_run    the xgboost_table example: 2 worker processes, XGBoost nthread 1 each
#   python_pool     multiprocessing.Pool(2), an initializer loading the same model with
#                   nthread 1, imap over the same mini-batches, each parsed by pandas in its
#                   worker and predicted with one DMatrix (xgboost_peers.py pool)
#   python_threads  one Python process, nthread 2 (xgboost_peers.py threads)
# Checks first that the peers cut the same mini-batches and that all three write the same
# bytes, then times them in turns; prints a table and, last, a RESULT line.
#
#   benchmarks/xgboost_table/run.sh
#
# Environment (all optional):
#   PARALLEL_RUN_BENCH_BIN        folder holding xgboost_table and breast_cancer_prepare (else
#                                 they are built with Release flags into
#                                 PARALLEL_RUN_BENCH_BUILD_DIR)
#   PARALLEL_RUN_BENCH_BUILD_DIR  build folder (default: <repo>/build/bench)
#   XGBOOST_BENCH_ROWS            rows (default 1000000, about 220 MB)
#   XGBOOST_BENCH_ROUNDS          timed runs of each contender, taking turns (default 3)
#   XGBOOST_BENCH_WORK            work folder, kept between runs: the data, the model and the
#                                 table are made once (default $TMPDIR or /tmp, then
#                                 parallel_run-xgboost_table)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
rows=${XGBOOST_BENCH_ROWS:-1000000}
rounds=${XGBOOST_BENCH_ROUNDS:-3}
work=${XGBOOST_BENCH_WORK:-${TMPDIR:-/tmp}/parallel_run-xgboost_table}
mini_batch_bytes=$((1 << 20))  # parallel_run's default for tables, 1MB
# Debian's xgboost and pandas modules are for the system's Python, not for another python3.
python=/usr/bin/python3

# shellcheck source=benchmarks/common.sh
source "$repo/benchmarks/common.sh"

load_start=$(load)

# --- what it needs -----------------------------------------------------------------------
need_model_packages "XGBoost and pandas are" "xgboost, pandas, numpy" python3-pandas
build_benchmark xgboost_table xgboost_table_xgboost_table xgboost_table_breast_cancer_prepare

# --- the data and the model (made once, kept in the work folder) -------------------------
mkdir -p "$work"
source_dir=$work/breast_cancer
"$repo/examples/score_table/fetch_breast_cancer.sh" "$source_dir" >&2
model=$work/model.json
if [[ ! -s $model ]]; then
  say "training the example's trees ($model)"
  "$bin/breast_cancer_prepare" "$source_dir/breast_cancer.csv" "$source_dir/data" >&2
  "$python" "$repo/examples/xgboost_table/train.py" "$source_dir/data/train.csv" "$model" >&2
fi
table=$work/table-$rows/table.csv
if [[ ! -f $work/table-$rows/done ]]; then
  say "writing $rows made-up tumours to $table"
  rm -rf "$work/table-$rows"
  mkdir -p "$work/table-$rows"
  "$python" "$here/make_table.py" "$source_dir/data/train.csv" "$source_dir/data/test.csv" \
    "$table" "$rows" >&2
  touch "$work/table-$rows/done"
fi

# --- the contenders ----------------------------------------------------------------------
out=$work/out
rm -rf "$out"
times_dir=$out/times
mkdir -p "$times_dir"
tools=(parallel_run python_pool python_threads)
run_tool() {  # tool: one run, timed
  case $1 in
    parallel_run)
      rm -rf "$out/parallel_run"
      timed parallel_run "$out/parallel_run.log" "$bin/xgboost_table" --input "$table" \
        --output "$out/parallel_run" --side-input "model=$model" --backend process \
        --process-count-per-node 2 --mini-batch-size "$mini_batch_bytes"
      ;;
    python_pool)
      timed python_pool "$out/python_pool.log" "$python" "$here/xgboost_peers.py" pool \
        "$table" "$model" "$out/python_pool.txt" --mini-batch-bytes "$mini_batch_bytes" --workers 2
      ;;
    python_threads)
      timed python_threads "$out/python_threads.log" "$python" "$here/xgboost_peers.py" threads \
        "$table" "$model" "$out/python_threads.txt" --mini-batch-bytes "$mini_batch_bytes" \
        --threads 2
      ;;
  esac
}

# --- correctness first (these runs also warm the page cache; they are not counted) -------
say "checking that the contenders cut the same mini-batches and write the same rows"
for t in "${tools[@]}"; do run_tool "$t"; done
rm -f "$times_dir"/*
expected=$out/parallel_run/parallel_run_step.txt
written=$(($(wc -l <"$expected") - 1))
[[ $written -eq $rows ]] || die "$expected has $written rows for $rows in the table"
"$python" "$here/xgboost_peers.py" check-mini-batches "$table" \
  "$out/parallel_run/logs/processed_mini-batches.csv" --mini-batch-bytes "$mini_batch_bytes" ||
  die "the Python peers do not cut parallel_run's mini-batches"
for t in python_pool python_threads; do
  if ! cmp "$expected" "$out/$t.txt" >&2; then
    diff "$expected" "$out/$t.txt" | head -n 6 >&2 || true
    die "$t does not write parallel_run's rows: the predictions differ"
  fi
  say "$t: the same bytes as parallel_run"
done
# The diagnoses against the table's own (made-up tumours keep their source's diagnosis).
accuracy=$(paste -d' ' <(tail -n +2 "$table" | awk -F, '{ print $NF }') \
  <(tail -n +2 "$expected" | cut -d' ' -f2) |
  awk '$1 == $2 { ++right } END { printf "%.3f", right / NR }')
say "accuracy of the predictions on the noisy rows: $accuracy"

# --- timing: the contenders take turns, so that a busy minute on a shared machine hits all
# of them alike ---------------------------------------------------------------------------
take_turns "$rounds" "${tools[@]}"

# --- report ------------------------------------------------------------------------------
echo
echo "xgboost_table: $rows rows ($(du -m "$table" | cut -f1) MB), 30 features, 200 trees of" \
  "depth 3, mini-batches of 1 MB, $(nproc) cores"
rate_table "$rows" rows "${tools[@]}"
echo "load average (1, 5, 15 min) at start: $load_start; at end: $(load); $(nproc) cores"
# Where the time went in the last run of each: parallel_run's own record, the peers' phases.
"$python" "$here/../log_breakdown.py" "$out/parallel_run" || true
grep -h '^xgboost_peers' "$out/python_pool.log" "$out/python_threads.log" || true
echo "RESULT xgboost_table parallel_run_rps=${rate_of[parallel_run]}" \
  "python_pool_rps=${rate_of[python_pool]} python_threads_rps=${rate_of[python_threads]}" \
  "speedup=$(awk -v a="${median_of[python_pool]}" -v b="${median_of[parallel_run]}" \
    'BEGIN { printf "%.2f", a / b }')"
