# Writes a georeferenced 3-band GeoTIFF (UTM 33N, EPSG:32633; origin 500000, 4600000; 10 m pixels) of
# WIDTH x HEIGHT and the given sample type with GDAL's Python bindings: smooth structure plus noise,
# written in row blocks so even large scenes need little memory here. An optional fifth argument sets
# AREA_OR_POINT (GDAL's default is Area).
import sys

import numpy as np
from osgeo import gdal, osr

path, width, height, dtype = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
types = {"uint8": (gdal.GDT_Byte, 255), "uint16": (gdal.GDT_UInt16, 65535)}
gdal_type, top = types[dtype]
ds = gdal.GetDriverByName("GTiff").Create(path, width, height, 3, gdal_type, ["TILED=YES"])
ds.SetGeoTransform((500000.0, 10.0, 0.0, 4600000.0, 0.0, -10.0))
srs = osr.SpatialReference()
srs.ImportFromEPSG(32633)
ds.SetProjection(srs.ExportToWkt())
if len(sys.argv) > 5:
    ds.SetMetadataItem("AREA_OR_POINT", sys.argv[5])
rng = np.random.default_rng(1)
x = np.linspace(0, 8 * np.pi, width)[None, :]
for y0 in range(0, height, 512):
    rows = min(512, height - y0)
    y = np.linspace(0, 8 * np.pi, height)[y0:y0 + rows, None]
    for b in range(3):
        v = 0.5 + 0.3 * np.sin(x + b) * np.cos(y) + 0.1 * rng.random((rows, width))
        ds.GetRasterBand(b + 1).WriteArray(np.clip(v * top, 0, top).astype(dtype), 0, y0)
ds.FlushCache()
ds = None
