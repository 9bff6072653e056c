#!/usr/bin/env bash
# torch_inference: the TorchScript network of examples/torch_digits over N noisy 8x8 digit
# images (PGM files made from the UCI digits), scored in mini-batches of 32, one forward call
# each, by:
#   parallel_run    the torch_digits example: 2 worker processes, 1 intra-op thread each
#   python_pool     multiprocessing.Pool(2), an initializer loading the same TorchScript with
#                   1 thread, imap over the same mini-batches (torch_peers.py pool)
#   python_threads  one Python process, 2 intra-op threads (torch_peers.py threads)
#   parallel_run_threads  for reference, the same program on 2 worker threads (--backend
#                   thread): one process, so LibTorch is loaded once
# Checks first that all three write the same rows (same files, same digits, probabilities
# within 0.0001), then times them in turns; prints a table and, last, a RESULT line.
#
#   benchmarks/torch_inference/run.sh
#
# Environment (all optional):
#   PARALLEL_RUN_BENCH_BIN        folder holding torch_digits and digits_prepare (else they are
#                                 built with Release flags into PARALLEL_RUN_BENCH_BUILD_DIR)
#   PARALLEL_RUN_BENCH_BUILD_DIR  build folder (default: <repo>/build/bench)
#   TORCH_BENCH_IMAGES            images (default 100000)
#   TORCH_BENCH_MINI_BATCH        images per mini-batch (default 32, the example's)
#   TORCH_BENCH_ROUNDS            timed runs of each contender, taking turns (default 3)
#   TORCH_BENCH_WORK              work folder, kept between runs: the digits, the model and
#                                 the images are made once (default $TMPDIR or /tmp, then
#                                 parallel_run-torch_inference)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
images=${TORCH_BENCH_IMAGES:-100000}
mini_batch=${TORCH_BENCH_MINI_BATCH:-32}
rounds=${TORCH_BENCH_ROUNDS:-3}
work=${TORCH_BENCH_WORK:-${TMPDIR:-/tmp}/parallel_run-torch_inference}
# Debian's torch module is for the system's Python, not for another python3 on the PATH.
python=/usr/bin/python3

# shellcheck source=benchmarks/common.sh
source "$repo/benchmarks/common.sh"

load_start=$(load)

# --- what it needs -----------------------------------------------------------------------
need_model_packages "LibTorch and PyTorch are" "torch, numpy"
build_benchmark torch_inference torch_inference_torch_digits torch_inference_digits_prepare

# --- the data and the model (made once, kept in the work folder) -------------------------
mkdir -p "$work"
digits=$work/digits
"$repo/examples/digit_identification/fetch_digits.sh" "$digits" >&2
model=$work/model.pt
if [[ ! -s $model ]]; then
  say "training the example's network ($model)"
  "$bin/digits_prepare" "$digits/digits.csv.gz" "$digits/data" >&2
  "$python" "$repo/examples/torch_digits/torch_digits_train.py" \
    "$digits/digits.csv.gz" "$digits/data" "$model" >&2
fi
data=$work/images-$images
if [[ ! -f $data/done ]]; then
  say "writing $images noisy digit images to $data"
  rm -rf "$data"
  "$python" "$here/make_images.py" "$digits/digits.csv.gz" "$data" "$images" >&2
  touch "$data/done"
fi

# --- the contenders ----------------------------------------------------------------------
out=$work/out
rm -rf "$out"
mkdir -p "$out"
times_dir=$out/times
mkdir -p "$times_dir"
tools=(parallel_run python_pool python_threads parallel_run_threads)
run_tool() {  # tool: one run, timed
  case $1 in
    parallel_run | parallel_run_threads)
      local backend=process
      [[ $1 == parallel_run_threads ]] && backend=thread
      rm -rf "${out:?}/$1"
      timed "$1" "$out/$1.log" "$bin/torch_digits" --input "$data/images" --output "$out/$1" \
        --side-input "model=$model" --backend "$backend" --process-count-per-node 2 \
        --mini-batch-size "$mini_batch" -- --threads=1
      ;;
    python_pool)
      timed python_pool "$out/python_pool.log" "$python" "$here/torch_peers.py" pool \
        "$data/images" "$model" "$out/python_pool.txt" --mini-batch "$mini_batch" --workers 2
      ;;
    python_threads)
      timed python_threads "$out/python_threads.log" "$python" "$here/torch_peers.py" threads \
        "$data/images" "$model" "$out/python_threads.txt" --mini-batch "$mini_batch" --threads 2
      ;;
  esac
}

# --- correctness first (these runs also warm the page cache; they are not counted) -------
say "checking that the contenders write the same rows"
for t in "${tools[@]}"; do run_tool "$t"; done
rm -f "$times_dir"/*
expected=$out/parallel_run/parallel_run_step.txt
rows=$(wc -l <"$expected")
[[ $rows -eq $images ]] || die "$expected has $rows rows for $images images"
cmp "$expected" "$out/parallel_run_threads/parallel_run_step.txt" ||
  die "the thread backend's output differs from the process backend's"
for t in python_pool python_threads; do
  "$python" "$here/torch_peers.py" compare "$expected" "$out/$t.txt" --labels "$data/labels.txt" ||
    die "$t does not give parallel_run's predictions"
  if cmp -s "$expected" "$out/$t.txt"; then say "$t: the same bytes as parallel_run"; fi
done

# --- timing: the contenders take turns, so that a busy minute on a shared machine hits all
# of them alike ---------------------------------------------------------------------------
take_turns "$rounds" "${tools[@]}"

# --- report ------------------------------------------------------------------------------
echo
echo "torch_inference: $images PGM images (8x8), MLP 64-32-10 (TorchScript), mini-batches of" \
  "$mini_batch, $(nproc) cores"
rate_table "$images" images "${tools[@]}"
echo "load average (1, 5, 15 min) at start: $load_start; at end: $(load); $(nproc) cores"
# Where the time went in the last run of each: parallel_run's own record, the peers' phases.
"$python" "$here/../log_breakdown.py" "$out/parallel_run" || true
grep -h '^torch_peers' "$out/python_pool.log" "$out/python_threads.log" || true
echo "RESULT torch_inference parallel_run_ips=${rate_of[parallel_run]}" \
  "python_pool_ips=${rate_of[python_pool]} python_threads_ips=${rate_of[python_threads]}" \
  "speedup=$(awk -v a="${median_of[python_pool]}" -v b="${median_of[parallel_run]}" \
    'BEGIN { printf "%.2f", a / b }')"
