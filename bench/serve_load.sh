#!/usr/bin/env bash
# Load test of `p2p serve` on loopback (issue 26): prepares a model, K distinct input images and their
# expected outputs (`p2p translate --eval`, the same options), then bench/serve_load.py drives fresh servers:
# 1, 4, 8 concurrent clients at --batch_wait_ms 0, 5 and 20 (every reply compared byte for byte with its own
# request's expected output; throughput, p50/p99 latency, batch sizes from /metrics), two input shapes at
# once, an overload phase (--max_queue 2, 32 clients: 200 or 503 + Retry-After only), and SIGTERM (exit 0).
# Writes OUT/results.{json,md} and prints the Markdown. Bounded: a deadline per phase, socket timeouts.
#
#   bash bench/serve_load.sh OUT [--preset small|full] [--name RUN --checkpoints_dir DIR] [-- serve_load.py flags]
#
# Without --name it trains its own run in OUT/checkpoints: 1 epoch on 40 facades pairs (labels -> photos),
#   small: unet_128, ngf 32, 128 px (the default; about 20 s of training)
#   full:  unet_256, ngf 64, 256 px (pix2pix's default generator; about 1 min of training)
# With --name the run is served as it is; the inputs are made at its crop size.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${P2P_PYTHON:-/usr/bin/python3}"
P2P=./build/p2p
DATA="${P2P_BENCH_DATA:-../shared/datasets/facades}"
K="${P2P_LOAD_IMAGES:-8}"  # distinct square inputs (+ 2 wide ones for the two-shape phase)
[ $# -ge 1 ] || { sed -n '9,14p' "$0" >&2; exit 2; }
OUT="$1"; shift
PRESET=small NAME="" CKPT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --preset) PRESET="$2"; shift 2 ;;
    --name) NAME="$2"; shift 2 ;;
    --checkpoints_dir) CKPT="$2"; shift 2 ;;
    --) shift; break ;;
    *) echo "serve_load.sh: unknown argument $1 (driver flags: --preset, --name, --checkpoints_dir; after --: serve_load.py's)" >&2; exit 2 ;;
  esac
done
[ -x "$P2P" ] || { echo "serve_load.sh: build first (bash scripts/setup.sh)" >&2; exit 1; }
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"

if [ -z "$NAME" ]; then
  [ -d "$DATA/train" ] || { echo "serve_load.sh: no dataset at $DATA (set P2P_BENCH_DATA)" >&2; exit 1; }
  case "$PRESET" in
    small) NET=(--netG unet_128 --ngf 32 --ndf 32 --load_size 143 --crop_size 128) ;;
    full) NET=(--netG unet_256 --ngf 64 --ndf 64 --load_size 286 --crop_size 256) ;;
    *) echo "serve_load.sh: --preset small or full, not $PRESET" >&2; exit 2 ;;
  esac
  NAME="facades_$PRESET" CKPT="$OUT/checkpoints"
  if [ ! -f "$CKPT/$NAME/latest.pt" ]; then
    echo "training $NAME (${NET[*]}), 1 epoch on 40 pairs ..."
    t0=$(date +%s)
    "$P2P" train --dataroot "$DATA" --direction BtoA --name "$NAME" --checkpoints_dir "$CKPT" "${NET[@]}" \
      --max_dataset_size 40 --n_epochs 1 --n_epochs_decay 0 --max_val 4 --num_samples 0 --num_threads 1 \
      --save_epoch_freq 0 --seed 1 > "$OUT/train_$PRESET.log" 2>&1
    echo "trained in $(( $(date +%s) - t0 )) s"
  fi
fi
CKPT="${CKPT:-./checkpoints}"
[ -f "$CKPT/$NAME/config.json" ] || { echo "serve_load.sh: no run at $CKPT/$NAME (config.json missing)" >&2; exit 1; }

# Inputs: the run's input half (A, or B for a BtoA run) of the first K facades test pairs, resized to the
# crop size (nearest: label colours stay labels), and two wide ones (2 x crop by crop) for the shape check.
IN="$OUT/inputs_$NAME" EXP="$OUT/expected_$NAME"
rm -rf "$IN" "$EXP"
"$PY" - "$CKPT/$NAME/config.json" "$DATA/test" "$IN" "$K" <<'PYEOF'
import json, os, sys
from PIL import Image
cfg, test, out, k = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3], int(sys.argv[4])
size = int(cfg["data"]["crop_size"])
right = cfg["data"].get("direction", "AtoB") == "BtoA"
os.makedirs(out)
files = sorted((f for f in os.listdir(test) if f.lower().endswith((".jpg", ".png"))), key=lambda f: (len(f), f))
for i, f in enumerate(files[:k + 2]):
    ab = Image.open(os.path.join(test, f)).convert("RGB")
    w, h = ab.size
    half = ab.crop((w // 2, 0, w, h) if right else (0, 0, w // 2, h))
    if i < k:
        half.resize((size, size), Image.NEAREST).save(os.path.join(out, "img_%02d.png" % i))
    else:
        half.resize((2 * size, size), Image.NEAREST).save(os.path.join(out, "wide_%02d.png" % (i - k)))
PYEOF
SERVE_ARGS="--name $NAME --checkpoints_dir $CKPT --eval"
# shellcheck disable=SC2086  # SERVE_ARGS is a word list (no spaces in the run's path)
"$P2P" translate $SERVE_ARGS --input "$IN" --output "$EXP" > "$OUT/translate_$NAME.log" 2>&1
"$PY" bench/serve_load.py --p2p "$P2P" --serve_args "$SERVE_ARGS" --inputs "$IN" --expected "$EXP" \
  --out "$OUT/$NAME" --label "$NAME" "$@"
