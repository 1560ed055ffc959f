# Loads a TorchScript generator with torch.jit.load (no pix2pix code), runs it on the float32 input in
# IN (shape given as C H W) and writes the output's float32 values to OUT; prints the extra file
# pix2pix.json so the caller can check it travelled with the module.
import sys

import numpy as np
import torch

path, inp, out, c, h, w = sys.argv[1], sys.argv[2], sys.argv[3], *map(int, sys.argv[4:7])
extra = {"pix2pix.json": ""}
module = torch.jit.load(path, _extra_files=extra)
x = torch.from_numpy(np.fromfile(inp, dtype=np.float32).reshape(1, c, h, w))
with torch.no_grad():
    y = module(x)
y.numpy().astype(np.float32).tofile(out)
print(extra["pix2pix.json"])
