# Fixtures of the raster fault cases (tests/faults/test_faults_rasters.cpp), written with GDAL's Python
# bindings and by hand, independently of pix2pix.cpp's writers.
#   make_fault_rasters.py make DIR   float32 GeoTIFFs holding NaN / Inf / 3e38 at band 2, x 5, y 7;
#                                    nodata.tif (nodata -9999 on rows 8-15 and at band 1, x 20, y 25);
#                                    huge.tif and huge.png: headers of 10^6 x 10^6 pixels in under 1 KB.
#   make_fault_rasters.py check TIF  prints "finite=<0|1> nodata=<value|none> nodata_pixels=<n> lo=<min> hi=<max>"
#                                    (min/max over the pixels that are not nodata).
import struct
import sys
import zlib

import numpy as np
from osgeo import gdal

gdal.UseExceptions()


def write_float_tiff(path, data, nodata=None):
    bands, h, w = data.shape
    ds = gdal.GetDriverByName("GTiff").Create(path, w, h, bands, gdal.GDT_Float32)
    ds.SetGeoTransform((500000.0, 10.0, 0.0, 4600000.0, 0.0, -10.0))
    for b in range(bands):
        band = ds.GetRasterBand(b + 1)
        if nodata is not None:
            band.SetNoDataValue(nodata)
        band.WriteArray(data[b])
    ds.FlushCache()


def huge_tiff(path):
    # Classic little-endian TIFF, one IFD: 10^6 x 10^6, 3 x uint8, one uncompressed strip of 64 bytes.
    n = 1000000
    entries = [(256, 4, 1, n), (257, 4, 1, n), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 2),
               (273, 4, 1, 0), (277, 3, 1, 3), (278, 4, 1, n), (279, 4, 1, 64), (284, 3, 1, 1)]
    ifd_offset = 8
    data_offset = ifd_offset + 2 + 12 * len(entries) + 4
    out = bytearray(b"II*\x00" + struct.pack("<I", ifd_offset))
    out += struct.pack("<H", len(entries))
    for tag, typ, count, value in entries:
        if tag == 273:
            value = data_offset
        if typ == 3:
            out += struct.pack("<HHIHH", tag, typ, count, value, 0)
        else:
            out += struct.pack("<HHII", tag, typ, count, value)
    out += struct.pack("<I", 0)
    out += bytes(64)
    open(path, "wb").write(out)


def huge_png(path):
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    n = 1000000
    ihdr = struct.pack(">IIBBBBB", n, n, 8, 2, 0, 0, 0)
    idat = zlib.compress(bytes(1 + 3 * 16))
    open(path, "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def make(folder):
    rng = np.random.default_rng(7)
    for name, value in (("nan", np.nan), ("inf", np.inf), ("big", 3e38)):
        data = rng.random((3, 32, 32)).astype(np.float32)
        data[1, 7, 5] = value
        write_float_tiff(f"{folder}/bad_{name}.tif", data)
    data = rng.random((3, 32, 32)).astype(np.float32)
    data[:, 8:16, :] = -9999.0
    data[0, 25, 20] = -9999.0
    write_float_tiff(f"{folder}/nodata.tif", data, nodata=-9999.0)
    huge_tiff(f"{folder}/huge.tif")
    huge_png(f"{folder}/huge.png")


def check(path):
    ds = gdal.Open(path)
    a = ds.ReadAsArray().astype(np.float64)
    nodata = ds.GetRasterBand(1).GetNoDataValue()
    mask = np.zeros(a.shape, bool) if nodata is None else (a == nodata)
    valid = a[~mask]
    print(f"finite={int(np.isfinite(a).all())} nodata={'none' if nodata is None else repr(nodata)} "
          f"nodata_pixels={int(mask.sum())} lo={valid.min():.6f} hi={valid.max():.6f}")


if __name__ == "__main__":
    {"make": make, "check": check}[sys.argv[1]](sys.argv[2])
