#!/usr/bin/env python3
"""Independent check of `p2p data unpair` output with PIL: usage unpair_reference.py AB_ROOT OUT.

Splits every AB image of AB_ROOT/<split>/ at half its width with PIL and checks, for each row of
OUT/partners.csv, that OUT/<split>A/<stem>.png and the row's B file hold exactly those halves (same PIL
mode, so 8-bit gray stays L and RGB stays RGB), that OUT/truth/<split>B/<stem>.png is the same B half and
OUT/truth/<split>A/<B name>.png the same A half, and that the csv and the folders list the same files,
each AB image once. Prints a JSON summary; exits 1 on any mismatch. For PNG sources: JPEG decoders
(PIL's libjpeg, the toolkit's stb) differ by a level or so.
"""
import csv
import json
import os
import sys

import numpy as np
from PIL import Image


def load(path):
    with Image.open(path) as im:
        return im.mode, np.array(im)


def main(ab_root, out):
    errors, pairs = [], 0
    listed = {}  # folder (relative to out) -> names the csv puts there
    with open(os.path.join(out, "partners.csv"), newline="") as f:
        rows = list(csv.reader(f))
    if rows[0] != ["split", "A", "B"]:
        errors.append("header %r" % rows[0])
    for split, a_rel, b_rel in rows[1:]:
        stem = os.path.splitext(os.path.basename(a_rel))[0]
        b_name = os.path.basename(b_rel)
        sources = [n for n in os.listdir(os.path.join(ab_root, split)) if os.path.splitext(n)[0] == stem]
        if len(sources) != 1:
            errors.append("%s: %d AB files with stem %s" % (a_rel, len(sources), stem))
            continue
        mode, ab = load(os.path.join(ab_root, split, sources[0]))
        half = ab.shape[1] // 2
        want = {"A": ab[:, :half], "B": ab[:, half:]}
        for rel, side in ((a_rel, "A"), (b_rel, "B"), ("truth/%sB/%s.png" % (split, stem), "B"),
                          ("truth/%sA/%s" % (split, b_name), "A")):
            listed.setdefault(os.path.dirname(rel), []).append(os.path.basename(rel))
            got_mode, got = load(os.path.join(out, rel))
            if got_mode != mode or got.shape != want[side].shape or not np.array_equal(got, want[side]):
                errors.append("%s is not the %s half of %s/%s (mode %s vs %s)" % (rel, side, split, sources[0], got_mode, mode))
        pairs += 1
    for folder, names in listed.items():
        if sorted(names) != sorted(os.listdir(os.path.join(out, folder))) or len(set(names)) != len(names):
            errors.append("%s: the csv names %d files, the folder holds %d" % (folder, len(names), len(os.listdir(os.path.join(out, folder)))))
    for split in ("train", "val", "test"):
        d = os.path.join(ab_root, split)
        n = len([x for x in os.listdir(d) if os.path.isfile(os.path.join(d, x))]) if os.path.isdir(d) else 0
        got = sum(1 for r in rows[1:] if r[0] == split)
        if got != n:
            errors.append("%s: %d AB images, %d csv rows" % (split, n, got))
    print(json.dumps({"pairs": pairs, "errors": errors}))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
