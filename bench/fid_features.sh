#!/usr/bin/env bash
# Side-by-side speed of FID feature extraction (pool3 of pytorch-fid's Inception v3): pix2pix.cpp
# (models/inception: batch norm folded, convs packed for oneDNN) against the same network in PyTorch
# (bench/fid_features.py, pytorch-fid's forward), on the same random weights, images and thread count.
# Runs alternate C++ / Python so both see the same machine state.
#   bash bench/fid_features.sh [IMAGES] [SIZE] [BATCH] [ROUNDS]     (defaults: 32, 128, 8, 2)
# P2P_BENCH_THREADS sets the threads of both sides (default 2: torch.set_num_threads and our intra-op
# and BLAS threads). On a shared machine the fastest batch's rate and the process CPU time per image are
# steadier than the overall rate.
# The weights are the test fixture's (made once by tests/fixtures/fid_inception_reference.py);
# P2P_BENCH_FID_WEIGHTS may name pytorch-fid's real file instead. Prints a Markdown table for BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGES="${1:-32}"
SIZE="${2:-128}"
BATCH="${3:-8}"
ROUNDS="${4:-2}"
THREADS="${P2P_BENCH_THREADS:-2}"
PY="${P2P_PYTHON:-/usr/bin/python3}"
TESTS=./build/tests/test_models
[ -x "$TESTS" ] || { echo "fid_features: build test_models first (cmake --build build --target test_models)" >&2; exit 1; }

WEIGHTS="${P2P_BENCH_FID_WEIGHTS:-}"
if [ -z "$WEIGHTS" ]; then
  WEIGHTS=$(ls -d "$PWD"/build/tests/fixtures/fid_inception_*/fid_inception.pth 2>/dev/null | head -n 1 || true)
  if [ -z "$WEIGHTS" ]; then
    WEIGHTS="$PWD/build/bench_fid/fid_inception.pth"
    [ -f "$WEIGHTS" ] || "$PY" tests/fixtures/fid_inception_reference.py "$(dirname "$WEIGHTS")" >/dev/null
  fi
fi

cpp() {
  (cd build/tests && P2P_BENCH_FID_WEIGHTS="$WEIGHTS" P2P_BENCH_FID_IMAGES="$IMAGES" P2P_BENCH_FID_SIZE="$SIZE" \
     P2P_BENCH_FID_BATCH="$BATCH" P2P_BENCH_FID_THREADS="$THREADS" OMP_NUM_THREADS="$THREADS" \
     ./test_models --gtest_also_run_disabled_tests --gtest_filter='InceptionBench.DISABLED_Throughput' |
     grep '^{')
}
py() {
  OMP_NUM_THREADS="$THREADS" "$PY" bench/fid_features.py "$WEIGHTS" --images "$IMAGES" --size "$SIZE" \
    --batch "$BATCH" --threads "$THREADS" | tail -n 1
}
row() {  # json
  "$PY" -c 'import json,sys; r=json.loads(sys.argv[1]); print("| %s | %.2f | %.2f | %.2f | %.3f |" % (r["impl"], r["images_per_s"], r["best_images_per_s"], r["seconds"], r["cpu_s_per_image"]))' "$1"
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), threads $THREADS"
echo "weights: $WEIGHTS"
echo "| FID features ($IMAGES images ${SIZE}², batch $BATCH, resized to 299²) | images/s | best batch, images/s | seconds | CPU s / image |"
echo "|---|---|---|---|---|"
for ((r = 0; r < ROUNDS; r++)); do
  row "$(cpp)"
  row "$(py)"
done
