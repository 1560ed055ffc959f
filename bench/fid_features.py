#!/usr/bin/env python3
"""PyTorch side of bench/fid_features.sh: pool3 features of pytorch-fid's Inception v3 (the network of
tests/fixtures/fid_inception_reference.py, loaded from the same weight file as the C++ side), timed on
random images, as pytorch-fid runs it: eval mode, torch.no_grad(), batches of the given size.

Usage: fid_features.py WEIGHTS [--images 32] [--size 128] [--batch 8] [--threads 2]
Prints one JSON line: images/s and the seconds the timed loop took (after one warm-up batch), the
images/s of the fastest batch, and the process CPU seconds per image.
"""
import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures"))
from fid_inception_reference import Wrapper, fid_inception_v3  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("weights")
    ap.add_argument("--images", type=int, default=32)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    t0 = time.perf_counter()
    net = fid_inception_v3()
    net.load_state_dict(torch.load(a.weights))
    wrapper = Wrapper(net).eval()
    for p in wrapper.parameters():
        p.requires_grad_(False)
    load_s = time.perf_counter() - t0
    x = torch.rand(a.images, 3, a.size, a.size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        wrapper(x[: a.batch])  # warm-up, as the C++ side does
        t0, cpu0 = time.perf_counter(), time.process_time()
        best = float("inf")  # the fastest batch: the least disturbed by other work on a shared machine
        for i in range(0, a.images, a.batch):
            b0 = time.perf_counter()
            n = len(wrapper(x[i:i + a.batch]))
            best = min(best, (time.perf_counter() - b0) / n)
        run_s, cpu_s = time.perf_counter() - t0, time.process_time() - cpu0
    print(json.dumps({"impl": "pytorch %s" % torch.__version__, "images": a.images, "size": a.size, "batch": a.batch,
                      "threads": a.threads, "seconds": round(run_s, 3), "images_per_s": round(a.images / run_s, 3),
                      "best_images_per_s": round(1 / best, 3),
                      "cpu_s_per_image": round(cpu_s / a.images, 3), "load_s": round(load_s, 3)}))


if __name__ == "__main__":
    main()
