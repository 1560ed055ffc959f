"""Paired image data for the Python reference pipeline: aligned AB files or separate A/B folders.

Follows the reference implementation's preprocessing semantics (PIL, bicubic resize to load_size,
random crop to crop_size, horizontal flip p=0.5, [0,1] -> [-1,1]) with one set of random
parameters per pair applied to A and B alike, so a pair stays pixel-registered.

Randomness comes from a per-sample generator seeded by (seed, epoch, index) rather than the global
`random` module, so results do not depend on how many loader workers run.
Assumes images PIL can open; AB files must have an even width.
"""

import os
import random

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".tif", ".tiff", ".webp")
PREPROCESS_MODES = ("resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none")


class DataError(ValueError):
    """Bad data or data option; the message names the file or flag."""


def _image_files(folder):
    if not os.path.isdir(folder):
        raise DataError(f"--dataroot: folder '{folder}' does not exist")
    names = sorted(n for n in os.listdir(folder) if n.lower().endswith(IMAGE_EXTENSIONS))
    return [os.path.join(folder, n) for n in names]


def _stem(path):
    return os.path.splitext(os.path.basename(path))[0]


def find_pairs(folder, dataset_mode="auto", pair_replace="", folder_names=("A", "B"),
               max_dataset_size=None):
    """Lists pairs in `folder` as dicts {a, b, stem, aligned}, sorted by stem.

    'folders' mode (auto-picked when both <folder>/A and <folder>/B exist) pairs files by stem;
    pair_replace "FROM:TO" maps an A stem to its B stem (e.g. "_s1_:_s2_"). An unmatched file on
    either side is an error rather than silently dropped, because pairing by sorted position
    would then shift every later pair.
    """
    a_dir, b_dir = (os.path.join(folder, n) for n in folder_names)
    if dataset_mode == "auto":
        dataset_mode = "folders" if os.path.isdir(a_dir) and os.path.isdir(b_dir) else "aligned"
    if dataset_mode == "aligned":
        pairs = [{"a": p, "b": p, "stem": _stem(p), "aligned": True} for p in _image_files(folder)]
    elif dataset_mode == "folders":
        src, dst = "", ""
        if pair_replace:
            if ":" not in pair_replace:
                raise DataError(f"--pair_replace: expected FROM:TO, got '{pair_replace}'")
            src, dst = pair_replace.split(":", 1)
        b_by_stem = {_stem(p): p for p in _image_files(b_dir)}
        pairs, used = [], set()
        for a in _image_files(a_dir):
            b_stem = _stem(a).replace(src, dst) if src else _stem(a)
            if b_stem not in b_by_stem:
                raise DataError(f"no partner for '{a}' in '{b_dir}' (looked for stem '{b_stem}')")
            used.add(b_stem)
            pairs.append({"a": a, "b": b_by_stem[b_stem], "stem": _stem(a), "aligned": False})
        unmatched = sorted(set(b_by_stem) - used)
        if unmatched:
            raise DataError(f"no partner in '{a_dir}' for '{b_by_stem[unmatched[0]]}'")
    else:
        raise DataError(f"--dataset_mode: expected auto, aligned or folders, got '{dataset_mode}'")
    if not pairs:
        raise DataError(f"--dataroot: no images in '{folder}'")
    pairs.sort(key=lambda p: p["stem"])
    if max_dataset_size:
        pairs = pairs[:max_dataset_size]
    return pairs


def train_val_split(dataroot, phase="train", val_fraction=0.1, **find_kwargs):
    """(train, val) pair lists. Uses <dataroot>/val when it exists; otherwise every k-th train pair
    (k = round(1 / val_fraction), indices k-1, 2k-1, ...) moves to val. The choice ignores the seed
    so every run and both implementations validate on the same images.
    """
    train = find_pairs(os.path.join(dataroot, phase), **find_kwargs)
    val_dir = os.path.join(dataroot, "val")
    if os.path.isdir(val_dir):
        return train, find_pairs(val_dir, **find_kwargs)
    if val_fraction <= 0:
        return train, []
    if val_fraction >= 1:
        raise DataError(f"--val_fraction: expected a value in [0, 1), got {val_fraction}")
    k = max(1, round(1.0 / val_fraction))
    val = [p for i, p in enumerate(train) if (i + 1) % k == 0]
    train = [p for i, p in enumerate(train) if (i + 1) % k != 0]
    if not train:
        raise DataError(f"--val_fraction {val_fraction} leaves no training pairs in '{dataroot}'")
    return train, val


def _make_multiple(size, multiple):
    """Rounds a side to the nearest multiple (at least one multiple), so every down-sampling level of
    the generator divides evenly. The reference rounds to 4 only, which breaks unet_256."""
    return max(multiple, int(round(size / multiple)) * multiple)


class PairedDataset(Dataset):
    """Loads pair i as (A, B, stem) tensors in [-1, 1], direction applied (A is the network input).

    augment=False (validation): centre crop, no flip, so every epoch scores the same pixels.
    """

    def __init__(self, pairs, direction="AtoB", input_nc=3, output_nc=3, preprocess="resize_and_crop",
                 load_size=286, crop_size=256, no_flip=False, augment=True, seed=0, size_multiple=4):
        if direction not in ("AtoB", "BtoA"):
            raise DataError(f"--direction: expected AtoB or BtoA, got '{direction}'")
        if preprocess not in PREPROCESS_MODES:
            raise DataError(f"--preprocess: expected one of {', '.join(PREPROCESS_MODES)}, got '{preprocess}'")
        if crop_size > load_size and "resize" in preprocess:
            raise DataError(f"--crop_size {crop_size} exceeds --load_size {load_size}")
        self.pairs = pairs
        self.direction = direction
        self.input_nc, self.output_nc = input_nc, output_nc
        self.preprocess = preprocess
        self.load_size, self.crop_size = load_size, crop_size
        self.no_flip = no_flip
        self.augment = augment
        self.seed = seed
        self.epoch = 0
        self.size_multiple = size_multiple

    def set_epoch(self, epoch):
        # Loader workers copy the dataset when an epoch's iterator starts, so this reaches them.
        self.epoch = epoch

    def __len__(self):
        return len(self.pairs)

    def _load(self, pair):
        if pair["aligned"]:
            try:
                ab = Image.open(pair["a"]).convert("RGB")
            except OSError as e:
                raise DataError(f"cannot read image '{pair['a']}': {e}") from e
            w, h = ab.size
            if w % 2:
                raise DataError(f"aligned AB image '{pair['a']}' has odd width {w}; expected A|B side by side")
            left, right = ab.crop((0, 0, w // 2, h)), ab.crop((w // 2, 0, w, h))
        else:
            try:
                left, right = Image.open(pair["a"]).convert("RGB"), Image.open(pair["b"]).convert("RGB")
            except OSError as e:
                raise DataError(f"cannot read pair '{pair['a']}' / '{pair['b']}': {e}") from e
            if left.size != right.size:
                raise DataError(f"pair sizes differ: '{pair['a']}' {left.size} vs '{pair['b']}' {right.size}")
        return (right, left) if self.direction == "BtoA" else (left, right)

    def _params(self, size, rng):
        """Target resize (w, h) or None, crop origin (x, y) or None, and flip: drawn once per pair."""
        w, h = size
        mode, load, crop = self.preprocess, self.load_size, self.crop_size
        resize = None
        if mode == "resize_and_crop":
            resize = (load, load)
        elif mode.startswith("scale_width"):
            # Keep the aspect ratio at width load_size, but never shorter than a crop.
            if not (w == load and h >= crop):
                resize = (load, int(max(load * h / w, crop)))
        new_w, new_h = resize or (w, h)
        origin = None
        if "crop" in mode:
            if new_w < crop or new_h < crop:
                raise DataError(f"image of {new_w}x{new_h} after resizing is smaller than --crop_size {crop}")
            if self.augment:
                origin = (rng.randint(0, new_w - crop), rng.randint(0, new_h - crop))
            else:
                origin = ((new_w - crop) // 2, (new_h - crop) // 2)
        flip = self.augment and not self.no_flip and rng.random() > 0.5
        return resize, origin, flip

    def _transform(self, img, channels, resize, origin, flip):
        if channels == 1:
            img = img.convert("L")
        if resize is not None:
            img = img.resize(resize, Image.BICUBIC)
        if origin is not None:
            x, y = origin
            img = img.crop((x, y, x + self.crop_size, y + self.crop_size))
        if self.preprocess == "none" or self.preprocess == "scale_width":
            w, h = img.size
            target = (_make_multiple(w, self.size_multiple), _make_multiple(h, self.size_multiple))
            if target != (w, h):
                img = img.resize(target, Image.BICUBIC)
        if flip:
            img = img.transpose(Image.FLIP_LEFT_RIGHT)
        array = np.asarray(img, dtype=np.float32) / 255.0
        if array.ndim == 2:
            array = array[:, :, None]
        tensor = torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))
        return tensor * 2.0 - 1.0  # Normalize(mean 0.5, std 0.5): [0,1] -> [-1,1] to match Tanh

    def __getitem__(self, index):
        pair = self.pairs[index]
        a_img, b_img = self._load(pair)
        rng = random.Random(hash((self.seed, self.epoch, index)) & 0xFFFFFFFFFFFF)
        resize, origin, flip = self._params(a_img.size, rng)
        a = self._transform(a_img, self.input_nc, resize, origin, flip)
        b = self._transform(b_img, self.output_nc, resize, origin, flip)
        return a, b, pair["stem"]


def make_loader(dataset, batch_size=1, shuffle=True, num_workers=0, seed=0):
    """A torch DataLoader; the shuffle order comes from its own seeded generator."""
    generator = torch.Generator()
    generator.manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, num_workers=num_workers,
                      drop_last=False, generator=generator)
