#!/usr/bin/python3
"""Loads a `p2p export` safetensors file the way the README tells a Python user to: parse the header
by hand (8-byte little-endian length, JSON, raw little-endian data), build the reference architecture
named in the header's "pix2pix.net" (bench/reference/networks.py, the reference's layouts), load the
weights strictly and run it in eval mode on the input stored in CASE (a torch.load-able file with
"input" and "output" written by the C++ side). Prints the max abs difference to the C++ output.

Usage: load_export.py MODEL.safetensors CASE.pt
"""

import json
import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench", "reference"))
import networks  # noqa: E402

DTYPES = {"F32": np.float32, "F64": np.float64, "F16": np.float16, "I64": np.int64, "I32": np.int32,
          "U8": np.uint8, "BOOL": np.bool_}


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, e in header.items():
        begin, end = e["data_offsets"]
        array = np.frombuffer(data[begin:end], dtype=DTYPES[e["dtype"]]).reshape(e["shape"])
        tensors[name] = torch.from_numpy(array.copy())
    return tensors, meta


def main():
    tensors, meta = load_safetensors(sys.argv[1])
    net = json.loads(meta["pix2pix.net"])
    G = networks.define_G(net["input_nc"], net["output_nc"], net["ngf"], net["netG"], net["norm"],
                          not net["no_dropout"])
    G.load_state_dict(tensors, strict=True)
    G.eval()
    case = torch.load(sys.argv[2])
    with torch.no_grad():
        out = G(case["input"])
    print("parameters %d" % sum(p.numel() for p in G.parameters()))
    print("max_abs_diff %.3e" % (out - case["output"]).abs().max().item())


if __name__ == "__main__":
    main()
