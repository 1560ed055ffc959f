#!/usr/bin/env bash
# The tiled-translation picture (docs/tiled_translation.png): a generator trained briefly on CMP Facades
# (labels -> photos) translates a 1024 x 1024 mosaic of 16 label maps three ways — whole, in blended
# 256-px tiles (overlap 64), and in abutting tiles (overlap 0) — and the picture shows each output with a
# map of its column/row jumps, where seams would stand out as grid lines.
#   bash bench/tiling_figure.sh [OUT_DIR]        (default /tmp/p2p_tiling; needs ../shared/datasets)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-/tmp/p2p_tiling}"
PY="${P2P_PYTHON:-/usr/bin/python3}"
DATA="$(cd .. && pwd)/shared/datasets/facades"
mkdir -p "$OUT"
if [ ! -f "$OUT/ck/facades_small/latest.pt" ]; then
  ./build/p2p train --dataroot "$DATA" --name facades_small --checkpoints_dir "$OUT/ck" --direction BtoA \
    --netG unet_256 --ngf 32 --ndf 32 --load_size 286 --crop_size 256 --n_epochs 3 --n_epochs_decay 0 \
    --val_fraction 0 --print_freq 100
fi
"$PY" - "$DATA" "$OUT" <<'PYEOF'
import sys, glob
from PIL import Image
data, out = sys.argv[1], sys.argv[2]
files = sorted(glob.glob(data + "/test/*.jpg"), key=lambda p: int(p.split("/")[-1].split(".")[0]))[:16]
mosaic = Image.new("RGB", (1024, 1024))
for i, f in enumerate(files):
    ab = Image.open(f).convert("RGB")
    label = ab.crop((256, 0, 512, 256))  # facades stores photo|label
    mosaic.paste(label, ((i % 4) * 256, (i // 4) * 256))
# Shift by half a label so the tile grid does not fall on the mosaic's own borders.
mosaic = mosaic.transform((1024, 1024), Image.AFFINE, (1, 0, -100, 0, 1, -60), fillcolor=(0, 0, 255))
mosaic.save(out + "/mosaic.png")
PYEOF
for mode in "whole:0:64" "blended:256:64" "abutting:256:0"; do
  IFS=: read -r name tile overlap <<<"$mode"
  ./build/p2p translate --name facades_small --checkpoints_dir "$OUT/ck" --eval --input "$OUT/mosaic.png" \
    --output "$OUT/$name" --tile "$tile" --overlap "$overlap" --tile_batch 4
done
"$PY" - "$OUT" <<'PYEOF'
import sys
import numpy as np
from PIL import Image, ImageDraw
out = sys.argv[1]
def jumps(a):
    a = a.astype(np.float32)
    j = np.zeros(a.shape[:2], np.float32)
    j[:, 1:] += np.abs(a[:, 1:] - a[:, :-1]).mean(2)
    j[1:, :] += np.abs(a[1:] - a[:-1]).mean(2)
    return j
panels = [("input (labels)", np.asarray(Image.open(out + "/mosaic.png")))]
outs = {n: np.asarray(Image.open(f"{out}/{n}/mosaic.png").convert("RGB")) for n in ("whole", "blended", "abutting")}
panels += [("untiled", outs["whole"]), ("tiled 256, overlap 64, blended", outs["blended"]),
           ("tiled 256, overlap 0 (no blending)", outs["abutting"])]
scale = 255.0 / np.percentile(jumps(outs["whole"]), 99)
rows = []
for title, img in panels:
    j = np.clip(jumps(img) * scale, 0, 255).astype(np.uint8)
    rows.append((title, Image.fromarray(img).resize((512, 512)), Image.fromarray(j).convert("RGB").resize((512, 512))))
sheet = Image.new("RGB", (4 * 520, 2 * 520 + 30), "white")
d = ImageDraw.Draw(sheet)
for i, (title, im, jm) in enumerate(rows):
    d.text((i * 520 + 4, 4), title, fill="black")
    sheet.paste(im, (i * 520, 26))
    sheet.paste(jm, (i * 520, 26 + 520))
d.text((4, 2 * 520 + 12), "bottom row: |pixel - neighbour| (seams show as a 256-px grid of lines)", fill="black")
sheet.save(out + "/tiled_translation.png")
for n, img in outs.items():
    j = jumps(img)
    on = np.r_[np.arange(255, 1023, 192)]  # not exact tile lines for every mode; summary only
    print(n, "mean jump %.2f" % j.mean())
PYEOF
echo "picture: $OUT/tiled_translation.png"
