#!/usr/bin/env bash
# Side-by-side speed of pix2pix.cpp and the Python reference pipeline (bench/reference) on this machine,
# in one run: training step (G forward, D step, G step) and generator inference on random data.
# Runs alternate C++ / Python per configuration so both see the same machine state.
#   bash bench/compare.sh [SIZE] [STEPS]        (defaults: 256, 10; P2P_BENCH_NETG picks the generator)
# Prints a Markdown table (for BENCHMARKS.md) and writes bench/results.jsonl. The "% of peak" column is
# each run's convolution arithmetic (p2p bench's gflop_per_step) per median second, over the machine's
# convolution peak in that run's precision, measured first by the same script (p2p bench --peak). Where
# the CPU has native bf16 (avx512_bf16, AMX), --precision bf16 rows join the fp32 ones.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE="${1:-256}"
STEPS="${2:-10}"
NETG="${P2P_BENCH_NETG:-unet_256}"  # e.g. P2P_BENCH_NETG=unet_128 bash bench/compare.sh 128
THREADS="${P2P_BENCH_THREADS:-$(nproc)}"
PY="${P2P_PYTHON:-/usr/bin/python3}"
P2P=./build/p2p
[ -x "$P2P" ] || { echo "compare: build first (bash scripts/setup.sh)" >&2; exit 1; }
OUT=bench/results.jsonl
: > "$OUT"

PEAK=$("$P2P" bench --peak --torch_threads "$THREADS" | tail -n 1)
echo "{\"label\": \"peak\", \"result\": $PEAK}" >> "$OUT"
HAVE_BF16=$("$PY" -c 'import json,sys; print(1 if json.loads(sys.argv[1])["bf16_gflops"] else 0)' "$PEAK")
GFLOP=null  # the arithmetic of the current mode's step, from pix2pix.cpp's first row (the Python rows do the same work)

run() {  # label, command...
  local label="$1"; shift
  local json
  json=$("$@" | tail -n 1)
  echo "{\"label\": \"$label\", \"result\": $json}" >> "$OUT"
  GFLOP=$("$PY" -c 'import json,sys; r=json.loads(sys.argv[1]); g=r.get("gflop_per_step"); print(sys.argv[2] if g is None else g)' "$json" "$GFLOP")
  "$PY" -c '
import json, sys
r, peak, gflop = json.loads(sys.argv[2]), json.loads(sys.argv[3]), json.loads(sys.argv[4])
med = r.get("seconds_per_step_median", r.get("median", 0))
p = peak["bf16_gflops"] if r.get("precision") == "bf16" else peak["fp32_gflops"]
pct = "%.0f %%" % (100 * gflop / med / p) if gflop and med and p else "-"
print("| %s | %.3f | %.3f | %.3f | %s |" % (sys.argv[1], r["seconds_per_step_mean"], med, r.get("seconds_per_step_min", r.get("min", 0)), pct))
' "$label" "$json" "$PEAK" "$GFLOP"
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), threads $THREADS"
"$PY" -c 'import json,sys; p=json.loads(sys.argv[1]); print("convolution peak (p2p bench --peak): fp32 %.0f GFLOP/s, bf16 %s" % (p["fp32_gflops"], "%.0f GFLOP/s (%s)" % (p["bf16_gflops"], p["bf16_instructions"]) if p["bf16_gflops"] else "- (no native bf16)"))' "$PEAK"
echo "| run ($NETG + basic D, ${SIZE}², batch 1) | mean s | median s | min s | % of peak |"
echo "|---|---|---|---|---|"
for mode in train inference inference_eval; do
  case "$mode" in
    train) flag="" ;;
    inference) flag="--inference" ;;            # the paper's test mode: batch statistics, dropout on
    inference_eval) flag="--inference --eval" ;; # running statistics, no dropout (deployment)
  esac
  GFLOP=null
  run "pix2pix.cpp $mode (default: blas threads calibrated)" "$P2P" bench --netG "$NETG" --crop_size "$SIZE" --steps "$STEPS" --warmup 3 --torch_threads "$THREADS" $flag
  if [ "$HAVE_BF16" = 1 ]; then
    run "pix2pix.cpp $mode (--precision bf16)" "$P2P" bench --netG "$NETG" --crop_size "$SIZE" --steps "$STEPS" --warmup 3 --torch_threads "$THREADS" --precision bf16 $flag
  fi
  run "pix2pix.cpp $mode (--no_pack: LibTorch's own kernels)" "$P2P" bench --netG "$NETG" --crop_size "$SIZE" --steps "$STEPS" --warmup 3 --torch_threads "$THREADS" --no_pack $flag
  run "pix2pix.cpp $mode (blas threads 1)" "$P2P" bench --netG "$NETG" --crop_size "$SIZE" --steps "$STEPS" --warmup 3 --torch_threads "$THREADS" --blas_threads 1 $flag
  run "python reference $mode (OPENBLAS_NUM_THREADS=1)" env OPENBLAS_NUM_THREADS=1 "$PY" bench/reference/time_step.py --netG "$NETG" --size "$SIZE" --steps "$STEPS" --warmup 3 --threads "$THREADS" $flag
  run "pix2pix.cpp $mode (blas threads $THREADS)" "$P2P" bench --netG "$NETG" --crop_size "$SIZE" --steps "$STEPS" --warmup 3 --torch_threads "$THREADS" --blas_threads "$THREADS" $flag
  run "python reference $mode (OpenBLAS default)" "$PY" bench/reference/time_step.py --netG "$NETG" --size "$SIZE" --steps "$STEPS" --warmup 3 --threads "$THREADS" $flag
done
