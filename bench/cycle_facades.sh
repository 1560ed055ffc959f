#!/usr/bin/env bash
# CycleGAN on CMP Facades with the pairing broken (labels <-> photos): `p2p data unpair`, a CPU-scale
# CycleGAN run (64 px crops of 72 px resizes, resnet_9blocks at width 16, EPOCHS + DECAY epochs), then
# `p2p test --model cycle_gan` on the 106 test images of each side, scored per pixel against the true
# partners unpair records and, labels -> photos, by the FCN-score of a segmenter the toolkit trains on the
# training photos (the realism_ablation.sh segmenter), with the ground-truth row (the segmenter on the real
# test photos). Every step resumes where a previous call stopped.
#   bash bench/cycle_facades.sh [OUT_DIR]    # writes OUT_DIR/cycle_facades.md
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-cycle_facades}
P2P=${P2P:-build/p2p}
AB=${AB:-../shared/datasets/facades}
EPOCHS=${EPOCHS:-10}
DECAY=${DECAY:-10}
SEG_EPOCHS=${SEG_EPOCHS:-10}
WIDTH=${WIDTH:-16}
mkdir -p "$OUT/runs"
DATA="$OUT/data"
SIZE=(--load_size 72 --crop_size 64 --save_epoch_freq 0 --print_freq 100 --checkpoints_dir "$OUT/runs")

# 1. The unaligned dataset: trainA/ photos, trainB/ label maps under new names, truth/ the true partners.
[ -d "$DATA/trainA" ] || "$P2P" data unpair --dir "$AB" --out "$DATA" --seed 0

# 2. CycleGAN, labels -> photos as G_A (BtoA: the label maps are in the B folders); validated each epoch on
#    30 test label maps against their true photos.
cycle=(train --model cycle_gan --dataroot "$DATA" --direction BtoA --ngf "$WIDTH" --ndf "$WIDTH" "${SIZE[@]}"
       --n_epochs "$EPOCHS" --n_epochs_decay "$DECAY" --max_val 30 --num_samples 4 --seed 1 --name cycle)
if [ -f "$OUT/runs/cycle/latest.pt" ]; then
  "$P2P" train --checkpoints_dir "$OUT/runs" --name cycle --continue_train >> "$OUT/cycle.log" 2>&1
else
  "$P2P" "${cycle[@]}" > "$OUT/cycle.log" 2>&1
fi

# 3. The segmenter: facades photos -> CMP classes (the facades palette), best by val mIoU.
if [ ! -f "$OUT/runs/segmenter/best.pt" ]; then
  "$P2P" train --model segmentation --palette facades --dataroot "$AB" --direction AtoB --netG unet_64 --ngf "$WIDTH" \
      "${SIZE[@]}" --num_samples 1 --n_epochs "$SEG_EPOCHS" --n_epochs_decay 0 --lr 0.001 --name segmenter \
      > "$OUT/segmenter.log" 2>&1
fi

# 4. Both directions on the whole test split; the FCN-score of the generated photos against the label maps
#    they were made from.
"$P2P" test --checkpoints_dir "$OUT/runs" --name cycle --model cycle_gan --dataroot "$DATA" --direction BtoA \
    --num_test 0 --results_dir "$OUT/results" --segmenter "$OUT/runs/segmenter" > "$OUT/test.log" 2>&1
# Ground truth: the segmenter on the real test photos (the true partners, preprocessed as the run's inputs
# are: `--model test --dataset_mode single` writes them as <stem>_real), against the same label maps.
"$P2P" test --checkpoints_dir "$OUT/runs" --name cycle --model test --dataset_mode single --model_suffix _A \
    --dataroot "$DATA/truth/testA" --num_test 0 --results_dir "$OUT/gt_results" > /dev/null 2>&1
rm -rf "$OUT/gt" && mkdir -p "$OUT/gt/photos" "$OUT/gt/labels"
for f in "$OUT"/results/cycle/test_latest/images/*_real_A.png; do
  stem=$(basename "$f" _real_A.png)
  cp "$f" "$OUT/gt/labels/$stem.png"
  cp "$OUT/gt_results/cycle/test_latest/images/${stem}_real.png" "$OUT/gt/photos/$stem.png"
done
"$P2P" metrics --pred "$OUT/gt/photos" --segmenter "$OUT/runs/segmenter" --labels "$OUT/gt/labels" \
    --json "$OUT/gt.json" > "$OUT/gt.log" 2>&1

python3 - "$OUT" <<'EOF'
import json, sys
out = sys.argv[1]
m = json.load(open(f"{out}/results/cycle/test_latest/metrics.json"))
gt = json.load(open(f"{out}/gt.json"))
hist = [json.loads(l) for l in open(f"{out}/runs/cycle/history.jsonl") if l.strip()]
def fcn(d):  # the FCN-score's keys sit at the top level of metrics.json and of metrics --json
    return d if "mean_iou" in d else {}
rows = ["| direction | images | L1 | PSNR | SSIM | FCN pixel acc | FCN class acc | FCN mIoU |", "|---|---|---|---|---|---|---|---|"]
for name, key in (("labels → photos (G_A)", "AtoB"), ("photos → labels (G_B)", "BtoA")):
    d = m.get(key, {}); mean = d.get("mean", {})
    f = fcn(m) if key == "AtoB" else {}
    cell = lambda v, p: f"{v:.{p}f}" if isinstance(v, (int, float)) else "–"
    rows.append(f"| {name} | {d.get('count', '–')} | {cell(mean.get('l1'), 4)} | {cell(mean.get('psnr'), 2)} | "
                f"{cell(mean.get('ssim'), 4)} | {cell(f.get('pixel_acc'), 3)} | {cell(f.get('class_acc'), 3)} | {cell(f.get('mean_iou'), 3)} |")
g = fcn(gt)
rows.append(f"| ground truth (real photos) | | | | | {g.get('pixel_acc', 0):.3f} | {g.get('class_acc', 0):.3f} | {g.get('mean_iou', 0):.3f} |")
curve = ["| epoch | cycle_A | cycle_B | D_A | D_B | val L1 | val PSNR | val SSIM |", "|---|---|---|---|---|---|---|---|"]
for h in hist:
    t, v = h.get("train", {}), h.get("val", {})
    c = lambda x, p=4: f"{x:.{p}f}" if isinstance(x, (int, float)) else "–"
    curve.append(f"| {h['epoch']} | {c(t.get('cycle_A'))} | {c(t.get('cycle_B'))} | {c(t.get('D_A'))} | {c(t.get('D_B'))} | "
                 f"{c(v.get('l1'))} | {c(v.get('psnr'), 2)} | {c(v.get('ssim'))} |")
open(f"{out}/cycle_facades.md", "w").write("\n".join(rows) + "\n\n" + "\n".join(curve) + "\n")
print(open(f"{out}/cycle_facades.md").read())
EOF
