# Writes a 3-band 53x37 TIFF of the given sample type (uint8, uint16, int16, float32) with tifffile, a
# writer independent of pix2pix.cpp, covering the type's whole range.
import sys

import numpy as np
import tifffile

path, dtype = sys.argv[1], sys.argv[2]
rng = np.random.default_rng(5)
if dtype == "float32":
    data = rng.normal(0.5, 2.0, size=(37, 53, 3)).astype(np.float32)
else:
    info = np.iinfo(dtype)
    data = rng.integers(info.min, info.max, size=(37, 53, 3), endpoint=True).astype(dtype)
tifffile.imwrite(path, data, photometric="rgb" if dtype == "uint8" else "minisblack", planarconfig="contig")
