#!/usr/bin/env bash
# Trains pix2pix.cpp and the Python reference pipeline with the same settings on CMP Facades
# (labels -> photos, BtoA), one after the other on this machine, and prints each run's per-epoch
# validation L1 / PSNR / SSIM and seconds per epoch. Defaults: 64x64 crops (72 load), unet_64,
# 5 + 5 epochs, 10% of train held out for validation.
#   bash bench/facades_compare.sh [DATAROOT] [N_EPOCHS] [N_EPOCHS_DECAY]
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${1:-../shared/datasets/facades}"
NE="${2:-5}"
ND="${3:-5}"
PY="${P2P_PYTHON:-/usr/bin/python3}"
WORK="${P2P_COMPARE_DIR:-checkpoints/compare}"
rm -rf "$WORK"
COMMON=(--dataroot "$DATA" --direction BtoA --netG unet_64 --load_size 72 --crop_size 64
        --n_epochs "$NE" --n_epochs_decay "$ND" --val_fraction 0.1 --num_threads 2 --print_freq 1000)
./build/p2p train "${COMMON[@]}" --name cpp --checkpoints_dir "$WORK" --torch_threads "$(nproc)" --seed 0
OPENBLAS_NUM_THREADS=1 "$PY" bench/reference/train_ref.py "${COMMON[@]}" --name python \
  --checkpoints_dir "$WORK" --torch_threads "$(nproc)" --seed 0
"$PY" - "$WORK" <<'PYEOF'
import json, sys
work = sys.argv[1]
def rows(path, cpp):
    out = []
    for line in open(path):
        r = json.loads(line)
        if r.get("baseline"):
            print(f"untrained baseline (pix2pix.cpp): val L1 {r['val']['l1']:.4f} PSNR {r['val']['psnr']:.2f} SSIM {r['val']['ssim']:.4f}")
            continue
        if cpp:
            out.append((r["epoch"], r["val"]["l1"], r["val"]["psnr"], r["val"]["ssim"], r["seconds"], r["iters"]))
        else:
            out.append((r["epoch"], r["val_l1"], r["val_psnr"], r["val_ssim"], r["train_seconds"], None))
    return out
c = rows(f"{work}/cpp/history.jsonl", True)
p = rows(f"{work}/python/history.jsonl", False)
print("| epoch | C++ val L1 | C++ PSNR | C++ SSIM | C++ s/epoch | Python val L1 | Python PSNR | Python SSIM | Python s/epoch |")
print("|---|---|---|---|---|---|---|---|---|")
for a, b in zip(c, p):
    print(f"| {a[0]} | {a[1]:.4f} | {a[2]:.2f} | {a[3]:.4f} | {a[4]:.1f} | {b[1]:.4f} | {b[2]:.2f} | {b[3]:.4f} | {b[4]:.1f} |")
PYEOF
