#!/usr/bin/env bash
# Side-by-side speed of pix2pix.cpp and the Python reference pipeline (bench/reference) on this machine,
# in one run: training step (G forward, D step, G step) and generator inference on random data.
# Runs alternate C++ / Python per configuration so both see the same machine state.
#   bash bench/compare.sh [SIZE] [STEPS]        (defaults: 256, 10)
# Prints a Markdown table (for BENCHMARKS.md) and writes bench/results.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE="${1:-256}"
STEPS="${2:-10}"
THREADS="${P2P_BENCH_THREADS:-$(nproc)}"
PY="${P2P_PYTHON:-/usr/bin/python3}"
P2P=./build/p2p
[ -x "$P2P" ] || { echo "compare: build first (bash scripts/setup.sh)" >&2; exit 1; }
OUT=bench/results.jsonl
: > "$OUT"

run() {  # label, command...
  local label="$1"; shift
  local json
  json=$("$@" | tail -n 1)
  echo "{\"label\": \"$label\", \"result\": $json}" >> "$OUT"
  "$PY" -c 'import json,sys; r=json.loads(sys.argv[2]); print("| %s | %.3f | %.3f | %.3f |" % (sys.argv[1], r["seconds_per_step_mean"], r.get("seconds_per_step_median", r.get("median", 0)), r.get("seconds_per_step_min", r.get("min", 0))))' "$label" "$json"
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), threads $THREADS"
echo "| run (unet_256 + basic D, ${SIZE}², batch 1) | mean s | median s | min s |"
echo "|---|---|---|---|"
for mode in train inference inference_eval; do
  case "$mode" in
    train) flag="" ;;
    inference) flag="--inference" ;;            # the paper's test mode: batch statistics, dropout on
    inference_eval) flag="--inference --eval" ;; # running statistics, no dropout (deployment)
  esac
  run "pix2pix.cpp $mode (default: blas threads calibrated)" "$P2P" bench --crop_size "$SIZE" --steps "$STEPS" --warmup 3 --torch_threads "$THREADS" $flag
  run "pix2pix.cpp $mode (--no_pack: LibTorch's own kernels)" "$P2P" bench --crop_size "$SIZE" --steps "$STEPS" --warmup 3 --torch_threads "$THREADS" --no_pack $flag
  run "pix2pix.cpp $mode (blas threads 1)" "$P2P" bench --crop_size "$SIZE" --steps "$STEPS" --warmup 3 --torch_threads "$THREADS" --blas_threads 1 $flag
  run "python reference $mode (OPENBLAS_NUM_THREADS=1)" env OPENBLAS_NUM_THREADS=1 "$PY" bench/reference/time_step.py --size "$SIZE" --steps "$STEPS" --warmup 3 --threads "$THREADS" $flag
  run "pix2pix.cpp $mode (blas threads $THREADS)" "$P2P" bench --crop_size "$SIZE" --steps "$STEPS" --warmup 3 --torch_threads "$THREADS" --blas_threads "$THREADS" $flag
  run "python reference $mode (OpenBLAS default)" "$PY" bench/reference/time_step.py --size "$SIZE" --steps "$STEPS" --warmup 3 --threads "$THREADS" $flag
done
