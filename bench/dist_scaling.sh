#!/usr/bin/env bash
# Data-parallel scaling on this machine. Three runs of the same data: one rank alone (batch 1, half the
# cores), two ranks (p2p launch, batch 1 and half the cores each: effective batch 2), and one process
# doing the job of both (batch 2, all cores). Reads the training throughput of the last epoch from each
# run's history.jsonl (images/s over the epoch's training time, validation excluded) and prints a
# Markdown table with the scaling efficiency (2 ranks / twice one rank) and 2 ranks vs one process.
#   bash bench/dist_scaling.sh [SIZE] [PAIRS] [EPOCHS]     (defaults: 128, 32, 2)
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE="${1:-128}"
PAIRS="${2:-32}"
EPOCHS="${3:-2}"
PY="${P2P_PYTHON:-/usr/bin/python3}"
P2P=./build/p2p
DATA="${P2P_BENCH_DATA:-../shared/datasets/facades}"
[ -x "$P2P" ] || { echo "dist_scaling: build first (bash scripts/setup.sh)" >&2; exit 1; }
[ -d "$DATA/train" ] || { echo "dist_scaling: no dataset at $DATA (set P2P_BENCH_DATA)" >&2; exit 1; }
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
COMMON=(--dataroot "$DATA" --direction BtoA --checkpoints_dir "$OUT" --netG "unet_$SIZE" --load_size "$SIZE"
        --crop_size "$SIZE" --max_dataset_size "$PAIRS" --val_fraction 0 --n_epochs "$EPOCHS" --n_epochs_decay 0
        --num_samples 0 --save_epoch_freq 0 --num_threads 1 --no_dropout)
cores=$(nproc)
half=$(( cores / 2 > 0 ? cores / 2 : 1 ))
t0=$(date +%s.%N)
"$P2P" train "${COMMON[@]}" --name rank --batch_size 1 --torch_threads "$half" 2>/dev/null >/dev/null
t1=$(date +%s.%N)
"$P2P" launch --nproc 2 -- train "${COMMON[@]}" --name two --batch_size 1 --torch_threads "$half" 2>/dev/null >/dev/null
t2=$(date +%s.%N)
"$P2P" train "${COMMON[@]}" --name one --batch_size 2 --torch_threads "$cores" 2>/dev/null >/dev/null
t3=$(date +%s.%N)
"$PY" - "$OUT" "$t0" "$t1" "$t2" "$t3" "$SIZE" "$PAIRS" "$cores" "$half" <<'PYEOF'
import json, sys
out = sys.argv[1]
t0, t1, t2, t3 = map(float, sys.argv[2:6])
size, pairs, cores, half = sys.argv[6:10]
def last(run):
    lines = [json.loads(l) for l in open(f"{out}/{run}/history.jsonl") if l.strip()]
    return [l for l in lines if "images_per_s" in l][-1]["images_per_s"]
rank, two, one = last("rank"), last("two"), last("one")
cpu = open("/proc/cpuinfo").read().split("model name")[1].split("\n")[0].split(":", 1)[1].strip()
print(f"machine: {cores} cores, {cpu}; unet_{size} + basic D, {size}x{size}, {pairs} pairs")
print("| run | images/s (last epoch) | wall s (whole run) |")
print("|---|---|---|")
print(f"| 1 rank alone, batch 1, {half} threads | {rank:.2f} | {t1 - t0:.1f} |")
print(f"| 2 ranks x batch 1, {half} threads each | {two:.2f} | {t2 - t1:.1f} |")
print(f"| 1 process, batch 2, {cores} threads | {one:.2f} | {t3 - t2:.1f} |")
print(f"scaling efficiency, 2 ranks / (2 x 1 rank): {two / (2 * rank):.2f}; "
      f"2 ranks / 1 process with batch 2 on the same cores: {two / one:.2f}")
PYEOF
