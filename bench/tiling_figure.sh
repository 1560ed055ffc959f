#!/usr/bin/env bash
# The tiled-translation picture (docs/tiled_translation.png): a generator trained briefly on CMP Facades
# (labels -> photos; unet_128, ngf 32, 5 epochs at 128 px: a few CPU minutes) translates a 768 x 512
# mosaic of 24 test label maps three ways — whole, in blended 128-px tiles (overlap 32), and in abutting
# tiles (overlap 0) — and the picture shows each output with a map of its pixel-to-neighbour jumps,
# where seams stand out as grid lines.
#   bash bench/tiling_figure.sh [OUT_DIR]        (default /tmp/p2p_tiling; needs ../shared/datasets)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-/tmp/p2p_tiling}"
PY="${P2P_PYTHON:-/usr/bin/python3}"
DATA="$(cd .. && pwd)/shared/datasets/facades"
mkdir -p "$OUT"
if [ ! -f "$OUT/ck/facades_small/latest.pt" ]; then
  ./build/p2p train --dataroot "$DATA" --name facades_small --checkpoints_dir "$OUT/ck" --direction BtoA \
    --netG unet_128 --ngf 32 --ndf 32 --load_size 143 --crop_size 128 --n_epochs 5 --n_epochs_decay 0 \
    --val_fraction 0 --print_freq 100
fi
"$PY" - "$DATA" "$OUT" <<'PYEOF'
import sys, glob
from PIL import Image
data, out = sys.argv[1], sys.argv[2]
files = sorted(glob.glob(data + "/test/*.jpg"), key=lambda p: int(p.split("/")[-1].split(".")[0]))[:24]
mosaic = Image.new("RGB", (768, 512))
for i, f in enumerate(files):
    ab = Image.open(f).convert("RGB")
    label = ab.crop((256, 0, 512, 256)).resize((128, 128), Image.NEAREST)  # facades stores photo|label
    mosaic.paste(label, ((i % 6) * 128, (i // 6) * 128))
# Shifted so that the tile grid does not fall on the mosaic's own borders.
mosaic = mosaic.transform((768, 512), Image.AFFINE, (1, 0, -50, 0, 1, -30), fillcolor=(0, 0, 255))
mosaic.save(out + "/mosaic.png")
PYEOF
for mode in "whole:0:32" "blended:128:32" "abutting:128:0"; do
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
panels = [("input: label maps", np.asarray(Image.open(out + "/mosaic.png")))]
outs = {n: np.asarray(Image.open(f"{out}/{n}/mosaic.png").convert("RGB")) for n in ("whole", "blended", "abutting")}
panels += [("untiled", outs["whole"]), ("tiles 128, overlap 32, blended", outs["blended"]),
           ("tiles 128, overlap 0 (abutting)", outs["abutting"])]
scale = 255.0 / np.percentile(jumps(outs["whole"]), 99)
W, H = 384, 256
sheet = Image.new("RGB", (4 * (W + 8), 2 * (H + 22) + 24), "white")
d = ImageDraw.Draw(sheet)
for i, (title, img) in enumerate(panels):
    j = np.clip(jumps(img) * scale, 0, 255).astype(np.uint8)
    x = i * (W + 8)
    d.text((x + 2, 4), title, fill="black")
    sheet.paste(Image.fromarray(img).resize((W, H)), (x, 20))
    d.text((x + 2, H + 26), "|pixel - neighbours|", fill="black")
    sheet.paste(Image.fromarray(j).convert("RGB").resize((W, H)), (x, H + 42))
d.text((4, 2 * (H + 22) + 6), "abutting tiles show a 128-px grid of seams; blended tiles show none", fill="black")
sheet.save(out + "/tiled_translation.png")
sheet.save(out + "/tiled_translation.jpg", quality=88)

# Mean jump across the tile borders (the lines where a tile starts or ends), tiled vs untiled.
def borders(n, tile, overlap):
    starts = [0] if n <= tile else sorted(set(list(range(0, n - tile, tile - overlap)) + [n - tile]))
    return [b for s in starts for b in (s, s + tile) if 0 < b < n]
for name, overlap in (("blended", 32), ("abutting", 0)):
    for axis, n in ((1, 768), (0, 512)):
        lines = borders(n, 128, overlap)
        def jump(img):
            img = img.astype(np.float64) / 255
            return np.mean([np.abs(np.take(img, l, axis=axis) - np.take(img, l - 1, axis=axis)).mean() for l in lines])
        print(f"{name} tiles, {'column' if axis == 1 else 'row'} borders: jump {jump(outs[name]):.4f} vs untiled "
              f"{jump(outs['whole']):.4f} on the same lines ({jump(outs[name]) / jump(outs['whole']):.2f}x)")
PYEOF
echo "picture: $OUT/tiled_translation.png"
