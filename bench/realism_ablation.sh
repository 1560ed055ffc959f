#!/usr/bin/env bash
# The paper's loss ablation (labels -> photo on CMP Facades: L1, cGAN, L1 + cGAN), scored by the per-pixel
# metrics AND by the FCN-score of a segmenter the toolkit trains on the facades training photos, with the
# ground-truth row (the segmenter on the real test photos), two seeds each. CPU scale: 64 px crops,
# width-16 networks (WIDTH), EPOCHS=N_EPOCHS+N_DECAY epochs; the numbers rank the losses at this scale and are not
# the paper's 256 px table (its FCN-8s is not ours either).
#   bash bench/realism_ablation.sh [OUT_DIR]    # writes OUT_DIR/realism_ablation.md
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-realism_ablation}
P2P=${P2P:-build/p2p}
DATA=${DATA:-../shared/datasets/facades}
N_EPOCHS=${N_EPOCHS:-4}
N_DECAY=${N_DECAY:-2}
SEG_EPOCHS=${SEG_EPOCHS:-10}
WIDTH=${WIDTH:-16}
SEEDS=${SEEDS:-"1 2"}
mkdir -p "$OUT"
SIZE=(--netG unet_64 --load_size 72 --crop_size 64 --save_epoch_freq 0 --num_samples 1 --print_freq 1000
      --checkpoints_dir "$OUT/runs")

# 1. The segmenter: facades photos (A) -> CMP classes (B, the facades palette), best checkpoint by val mIoU.
if [ ! -f "$OUT/runs/segmenter/best.pt" ]; then
  start=$(date +%s)
  "$P2P" train --model segmentation --palette facades --dataroot "$DATA" --direction AtoB --ngf "$WIDTH" "${SIZE[@]}" \
      --n_epochs "$SEG_EPOCHS" --n_epochs_decay 0 --lr 0.001 --name segmenter > "$OUT/segmenter.log" 2>&1
  echo $(( $(date +%s) - start )) > "$OUT/segmenter.seconds"
fi

# 2. The translators, labels -> photo, each tested on the test split with the FCN-score.
rows=()
for seed in $SEEDS; do
  for entry in "l1|--loss l1" "cgan|--loss cgan" "l1_cgan|--loss cgan+l1"; do
    name="${entry%%|*}_s$seed"
    flags=${entry#*|}
    if [ ! -f "$OUT/runs/$name/latest.pt" ]; then
      # shellcheck disable=SC2086
      "$P2P" train --dataroot "$DATA" --direction BtoA --ngf "$WIDTH" --ndf "$WIDTH" "${SIZE[@]}" --seed "$seed" \
          --n_epochs "$N_EPOCHS" --n_epochs_decay "$N_DECAY" --name "$name" $flags > "$OUT/$name.log" 2>&1
    fi
    "$P2P" test --name "$name" --checkpoints_dir "$OUT/runs" --phase test --num_test 0 --epoch latest \
        --results_dir "$OUT/results" --segmenter "$OUT/runs/segmenter" > "$OUT/$name.test.log" 2>&1
    rows+=("$name|$flags|$OUT/results/$name/test_latest/metrics.json")
  done
done

# 3. Ground truth: the segmenter on the real test photos at the same size, against the same label maps.
last="${rows[-1]##*|}"
images="$(dirname "$last")/images"
mkdir -p "$OUT/gt/photos" "$OUT/gt/labels"
for f in "$images"/*_real_B.png; do
  stem=$(basename "$f" _real_B.png)
  cp "$f" "$OUT/gt/photos/$stem.png"
  cp "$images/${stem}_real_A.png" "$OUT/gt/labels/$stem.png"
done
"$P2P" metrics --pred "$OUT/gt/photos" --segmenter "$OUT/runs/segmenter" --labels "$OUT/gt/labels" \
    --json "$OUT/gt.json" > "$OUT/gt.log" 2>&1

python3 - "$OUT" "${rows[@]}" > "$OUT/realism_ablation.md" <<'PY'
import json, sys
out, rows = sys.argv[1], sys.argv[2:]
print("| run | flags | L1 | PSNR | SSIM | FCN pixel acc | FCN class acc | FCN mIoU | FCN mIoU (present) |")
print("|---|---|---|---|---|---|---|---|---|")
for row in rows:
    name, flags, path = row.split("|")
    m = json.load(open(path))
    print(f"| {name} | `{flags}` | {m['mean']['l1']:.4f} | {m['mean']['psnr']:.2f} | {m['mean']['ssim']:.4f} | "
          f"{m['pixel_acc']:.3f} | {m['class_acc']:.3f} | {m['mean_iou']:.3f} | {m['mean_iou_present']:.3f} |")
g = json.load(open(f"{out}/gt.json"))
print(f"| ground truth (real photos) | | | | | {g['pixel_acc']:.3f} | {g['class_acc']:.3f} | {g['mean_iou']:.3f} | "
      f"{g['mean_iou_present']:.3f} |")
PY
cat "$OUT/realism_ablation.md"
