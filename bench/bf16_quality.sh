#!/usr/bin/env bash
# bf16 training against fp32 on the demo's schedule (CMP Facades labels -> photos, unet_128 at 128 px,
# 1 + 1 epochs, 40 validation images), several seeds each: does bf16 reach fp32's validation metrics
# within their seed-to-seed spread? Finished runs are kept and skipped, so the script can be resumed.
#   bash bench/bf16_quality.sh [OUT_DIR]     # SEEDS="1 2 3" by default; writes OUT_DIR/bf16_quality.md
# Runs one at a time on 2 threads; the seconds column is a speed measurement only on an idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-bf16_quality}
P2P=${P2P:-build/p2p}
DATA=${DATA:-../shared/datasets/facades}
SEEDS=${SEEDS:-"1 2 3"}
mkdir -p "$OUT"
"$P2P" train --help > /dev/null
for seed in $SEEDS; do
  for precision in fp32 bf16; do
    name="${precision}_s$seed"
    [ -f "$OUT/$name.seconds" ] && continue  # written only once a run has finished
    start=$(date +%s)
    "$P2P" train --dataroot "$DATA" --direction BtoA --netG unet_128 --load_size 143 --crop_size 128 \
        --n_epochs 1 --n_epochs_decay 1 --val_fraction 0.1 --max_val 40 --num_threads 2 --print_freq 1000 \
        --seed "$seed" --precision "$precision" --checkpoints_dir "$OUT/runs" --name "$name" > "$OUT/$name.log" 2>&1
    echo $(( $(date +%s) - start )) > "$OUT/$name.seconds"
  done
done

# The last epoch's validation metrics per run; per precision the mean, range and sample deviation; per
# seed bf16 - fp32; and Welch's t for the difference of the means (|t| > 2: beyond what the seed spread
# explains).
python3 - "$OUT" $SEEDS > "$OUT/bf16_quality.md" <<'PY'
import json, math, statistics as st, sys
out, seeds = sys.argv[1], sys.argv[2:]
keys = [("l1", "val L1", 4), ("psnr", "val PSNR (dB)", 2), ("ssim", "val SSIM", 4)]
runs = {}
for p in ("fp32", "bf16"):
    for s in seeds:
        lines = [json.loads(l) for l in open(f"{out}/runs/{p}_s{s}/history.jsonl") if l.strip()]
        last = [l for l in lines if not l.get("baseline")][-1]
        secs = open(f"{out}/{p}_s{s}.seconds").read().strip()
        runs[p, s] = (last["val"], secs)
print("| precision | seed | " + " | ".join(k[1] for k in keys) + " | run s |")
print("|---|---|" + "---|" * (len(keys) + 1))
for p in ("fp32", "bf16"):
    for s in seeds:
        v, secs = runs[p, s]
        print(f"| {p} | {s} | " + " | ".join(f"{v[k]:.{d}f}" for k, _, d in keys) + f" | {secs} |")
print()
print("| metric | fp32 mean (min-max, sd) | bf16 mean (min-max, sd) | bf16 - fp32 per seed | Welch t |")
print("|---|---|---|---|---|")
for k, label, d in keys:
    a = [runs["fp32", s][0][k] for s in seeds]
    b = [runs["bf16", s][0][k] for s in seeds]
    sd = lambda x: st.stdev(x) if len(x) > 1 else float("nan")
    t = (st.mean(b) - st.mean(a)) / math.sqrt(sd(a) ** 2 / len(a) + sd(b) ** 2 / len(b)) if len(seeds) > 1 else float("nan")
    cell = lambda x: f"{st.mean(x):.{d}f} ({min(x):.{d}f}-{max(x):.{d}f}, {sd(x):.{d}f})"
    diffs = ", ".join(f"{y - x:+.{d}f}" for x, y in zip(a, b))
    print(f"| {label} | {cell(a)} | {cell(b)} | {diffs} | {t:+.2f} |")
PY
cat "$OUT/bf16_quality.md"
