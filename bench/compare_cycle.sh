#!/usr/bin/env bash
# Side-by-side speed of pix2pix.cpp's CycleGAN step and the Python port of the reference's
# (bench/reference/cycle_gan.py) on this machine, in one run, on random data: G_A, G_B forwards, the
# G step (cycle and identity terms, both Ds frozen), the D step on pooled fakes (pool 50, lsgan).
# Runs alternate C++ / Python per setting so both see the same machine state. Two settings: the
# reference's (resnet_9blocks, ngf/ndf 64, SIZE², batch 1) and a small one (64², ngf/ndf 16, 10 steps
# after 2) where per-step overheads weigh more.
#   bash bench/compare_cycle.sh [SIZE] [STEPS] [WARMUP]     (defaults: 256, 3, 1)
# A 256² step takes tens of seconds on 2 cores: `bash bench/compare_cycle.sh 256 2 0` took 10 minutes at load 3-7.
# Prints a Markdown table (for BENCHMARKS.md) and writes bench/results_cycle.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE="${1:-256}"
STEPS="${2:-3}"
WARMUP="${3:-1}"
THREADS="${P2P_BENCH_THREADS:-$(nproc)}"
PY="${P2P_PYTHON:-/usr/bin/python3}"
P2P=./build/p2p
[ -x "$P2P" ] || { echo "compare_cycle: build first (bash scripts/setup.sh)" >&2; exit 1; }
OUT=bench/results_cycle.jsonl
: > "$OUT"

run() {  # label, command...
  local label="$1"; shift
  local json
  json=$("$@" | tail -n 1)
  echo "{\"label\": \"$label\", \"result\": $json}" >> "$OUT"
  "$PY" -c 'import json,sys; r=json.loads(sys.argv[2]); print("| %s | %.3f | %.3f | %.3f |" % (sys.argv[1], r["seconds_per_step_mean"], r.get("seconds_per_step_median", r.get("median", 0)), r.get("seconds_per_step_min", r.get("min", 0))))' "$label" "$json"
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), threads $THREADS, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| run (CycleGAN step: 2 x resnet_9blocks + 2 x basic D, batch 1, identity 0.5, pool 50) | mean s | median s | min s |"
echo "|---|---|---|---|"
for setting in reference small; do
  case "$setting" in
    reference) size="$SIZE"; width=64; steps="$STEPS"; warmup="$WARMUP" ;;
    small) size=64; width=16; steps=10; warmup=2 ;;
  esac
  common_cpp=(--crop_size "$size" --ngf "$width" --ndf "$width" --steps "$steps" --warmup "$warmup" --torch_threads "$THREADS")
  common_py=(--size "$size" --ngf "$width" --ndf "$width" --steps "$steps" --warmup "$warmup" --threads "$THREADS")
  run "pix2pix.cpp ${size}², ngf $width (default: blas threads calibrated)" "$P2P" bench --model cycle_gan "${common_cpp[@]}"
  run "python port ${size}², ngf $width (OPENBLAS_NUM_THREADS=1)" env OPENBLAS_NUM_THREADS=1 "$PY" bench/reference/cycle_gan.py time "${common_py[@]}"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
