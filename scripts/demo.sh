#!/usr/bin/env bash
# The main job: train pix2pix on CMP Facades (labels -> photos, BtoA) and translate the test split into
# an HTML results page. Uses ../shared/datasets/facades when present, otherwise downloads the official
# pix2pix facades archive into ./datasets.
#   CPU: a short schedule at 128x128, 1 + 1 epochs (under 10 minutes of training on 2 cores; BENCHMARKS.md).
#   GPU: the paper's schedule (unet_256, 286 -> 256 crops, 100 + 100 epochs, batch 1).
# The demo owns the run folder checkpoints/facades_demo and replaces it on every run.
set -euo pipefail
cd "$(dirname "$0")/.."
P2P=./build/p2p
[ -x "$P2P" ] || { echo "demo: $P2P not built; run scripts/setup.sh first" >&2; exit 1; }

DATA="${P2P_FACADES:-../shared/datasets/facades}"
if [ ! -d "$DATA/train" ]; then
  DATA=./datasets/facades
  [ -d "$DATA/train" ] || bash scripts/download_pix2pix_dataset.sh facades ./datasets
fi

if [ -z "${P2P_DEMO_DEVICE:-}" ]; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then P2P_DEMO_DEVICE=cuda; else P2P_DEMO_DEVICE=cpu; fi
fi

rm -rf checkpoints/facades_demo results/facades_demo
if [ "$P2P_DEMO_DEVICE" = "cpu" ]; then
  SCHEDULE=(--netG unet_128 --load_size 143 --crop_size 128 --n_epochs 1 --n_epochs_decay 1 --max_val 40)
else
  SCHEDULE=(--netG unet_256 --load_size 286 --crop_size 256 --n_epochs 100 --n_epochs_decay 100)
fi

"$P2P" train --dataroot "$DATA" --name facades_demo --direction BtoA --device "$P2P_DEMO_DEVICE" \
  --val_fraction 0.1 --num_threads 2 --print_freq 50 --precision auto "${SCHEDULE[@]}"
"$P2P" test --dataroot "$DATA" --name facades_demo --device "$P2P_DEMO_DEVICE" --num_test 0 --precision auto
echo "demo: results page at $(pwd)/results/facades_demo/test_latest/index.html"
