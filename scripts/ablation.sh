#!/usr/bin/env bash
# A short CPU ablation on CMP Facades (labels -> photos), run from one script: the paper's loss ablation
# (L1 only, cGAN only, L1 + cGAN), BatchNorm vs InstanceNorm, attention none vs up, hinge loss with a
# spectral-norm D, and an added SSIM term. Small on purpose
# (unet_64, ngf/ndf 16, 64 px crops) so the whole table takes minutes on 2 cores; the numbers rank the
# knobs at this scale, they are not the paper's 256 px results.
#   bash scripts/ablation.sh [OUT_DIR]          # EPOCHS=10+5 by default (N_EPOCHS, N_DECAY to change)
#   SEGMENTER=checkpoints/seg bash scripts/ablation.sh   # adds the FCN-score (val mIoU) of each run
# Writes OUT_DIR/ablation.md: final validation L1 / PSNR / SSIM of each run (held-out every 10th pair), and
# with SEGMENTER (a `p2p train --model segmentation --palette facades` run) the FCN-score's mean IoU and
# pixel accuracy of the same validation outputs.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-ablation}
P2P=${P2P:-build/p2p}
DATA=${DATA:-../shared/datasets/facades}
N_EPOCHS=${N_EPOCHS:-10}
N_DECAY=${N_DECAY:-5}
mkdir -p "$OUT"
COMMON=(--dataroot "$DATA" --direction BtoA --netG unet_64 --ngf 16 --ndf 16 --load_size 72 --crop_size 64
        --n_epochs "$N_EPOCHS" --n_epochs_decay "$N_DECAY" --save_epoch_freq 0 --num_samples 0
        --checkpoints_dir "$OUT/runs" --seed 1 --print_freq 1000 --blas_threads 1)
SEGMENTER=${SEGMENTER:-}
[ -n "$SEGMENTER" ] && COMMON+=(--val_segmenter "$SEGMENTER")
runs=(
  "l1_only|--loss l1"
  "cgan_only|--loss cgan"
  "l1_cgan_bn|--loss cgan+l1"
  "l1_cgan_in|--loss cgan+l1 --norm instance"
  "l1_cgan_att_up|--loss cgan+l1 --attention up"
  "l1_hinge_sn|--loss cgan+l1 --gan_mode hinge --norm_D spectral"
  "l1_cgan_ssim|--loss cgan+l1 --lambda_ssim 10"
)
{
  echo "| run | flags | val L1 | val PSNR | val SSIM | val FCN mIoU | val FCN pixel acc | train s |"
  echo "|---|---|---|---|---|---|---|---|"
} > "$OUT/ablation.md"
for entry in "${runs[@]}"; do
  name=${entry%%|*}
  flags=${entry#*|}
  rm -rf "$OUT/runs/$name"
  # shellcheck disable=SC2086
  "$P2P" train "${COMMON[@]}" --name "$name" $flags > "$OUT/$name.log" 2>&1
  python3 - "$OUT/runs/$name/history.jsonl" "$name" "$flags" >> "$OUT/ablation.md" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
last = [l for l in lines if "val" in l and not l.get("baseline")][-1]
secs = sum(l.get("seconds", 0) for l in lines)
v = last["val"]
fcn = lambda k: f"{v[k]:.3f}" if k in v else "–"   # with SEGMENTER only
print(f"| {sys.argv[2]} | `{sys.argv[3]}` | {v['l1']:.4f} | {v['psnr']:.2f} | {v['ssim']:.4f} | {fcn('miou')} | "
      f"{fcn('pixel_acc')} | {secs:.0f} |")
PY
  tail -n 1 "$OUT/ablation.md"
done
