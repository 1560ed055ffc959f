#!/usr/bin/env bash
# Which segmenter architecture gives the best validation mean IoU per CPU minute (the FCN-score's
# segmenter, `p2p train --model segmentation`): CMP Facades photos -> the 12 facades classes, 64 px crops of
# 72 px resizes, EPOCHS epochs each at lr 1e-3, one thread (CPU seconds are user + system time of the run,
# so a busy machine changes wall time but hardly the count). Writes OUT/segmenter_arch.md: per variant the
# best val mIoU, the CPU minutes to reach it, and mIoU per CPU minute at the epoch it was reached.
#   bash bench/segmenter_arch.sh [OUT_DIR]          # EPOCHS=20 ONLY="unet16 unet32" to choose
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-segmenter_arch}
P2P=${P2P:-build/p2p}
DATA=${DATA:-../shared/datasets/facades}
EPOCHS=${EPOCHS:-6}
mkdir -p "$OUT"
COMMON=(--model segmentation --palette facades --dataroot "$DATA" --direction AtoB --load_size 72 --crop_size 64
        --n_epochs "$EPOCHS" --n_epochs_decay 0 --lr 0.001 --save_epoch_freq 0 --num_samples 0 --print_freq 100000
        --num_threads 1 --seed 1 --checkpoints_dir "$OUT/runs")
VARIANTS=(
  "unet16|--netG unet_64 --ngf 16"
  "unet8|--netG unet_64 --ngf 8"
  "unet32|--netG unet_64 --ngf 32"
  "unet16_batch|--netG unet_64 --ngf 16 --norm batch"
  "resnet6_16|--netG resnet_6blocks --ngf 16"
)
echo "| variant | flags | params | best val mIoU | epoch | CPU min to it | mIoU per CPU min | val mIoU per epoch |" > "$OUT/segmenter_arch.md"
echo "|---|---|---|---|---|---|---|---|" >> "$OUT/segmenter_arch.md"
for entry in "${VARIANTS[@]}"; do
  name=${entry%%|*}
  [[ -n ${ONLY:-} && " $ONLY " != *" $name "* ]] && continue
  flags=${entry#*|}
  if [ ! -f "$OUT/runs/$name/history.jsonl" ] || [ ! -f "$OUT/$name.cpu" ]; then
    rm -rf "$OUT/runs/$name"
    # shellcheck disable=SC2086
    /usr/bin/time -f "%U %S" -o "$OUT/$name.cpu" "$P2P" train "${COMMON[@]}" --name "$name" $flags > "$OUT/$name.log" 2>&1
  fi
  # shellcheck disable=SC2086
  norm=(--norm instance); [[ $flags == *--norm* ]] && norm=()
  params=$("$P2P" info $flags "${norm[@]}" --output_nc 12 --crop_size 64 2>/dev/null | sed -n 's/^G .*parameters \([0-9]*\),.*/\1/p')
  python3 - "$OUT/runs/$name/history.jsonl" "$OUT/$name.cpu" "$name" "$flags" "${params:-?}" >> "$OUT/segmenter_arch.md" <<'PY'
import json, sys
hist, cpu, name, flags, params = sys.argv[1:6]
recs = [r for r in (json.loads(l) for l in open(hist) if l.strip()) if r.get("epoch", 0) >= 1]  # not the untrained check
user, system = map(float, open(cpu).read().split()[-2:])
total = user + system
per_epoch = total / max(len(recs), 1)
mious = [r["val"]["miou"] for r in recs]
best = max(range(len(mious)), key=lambda i: mious[i])
cpu_min = per_epoch * (best + 1) / 60
print(f"| {name} | `{flags}` | {params} | {mious[best]:.4f} | {recs[best]['epoch']} | {cpu_min:.2f} | {mious[best] / cpu_min:.4f} | "
      + " ".join(f"{m:.3f}" for m in mious) + " |")
PY
done
cat "$OUT/segmenter_arch.md"
