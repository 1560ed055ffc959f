// TIFF / GeoTIFF rasters <-> float tensors, through libtiff. Remote-sensing data comes as TIFF with any
// number of bands (Sentinel-2: 13, SAR: 1-2 polarisations) and sample types PNG cannot hold, so these
// files bypass the 8/16-bit colour path of image.h. Only the first image (directory) of a file is read;
// GeoTIFF georeferencing tags are ignored (the network sees pixels only).
// A build without libtiff (P2P_HAVE_TIFF unset) keeps these functions but they throw p2p::Error saying
// the build has no TIFF support, so a .tif input is refused instead of misread.
#pragma once

#include <ATen/Tensor.h>

#include <string>

namespace p2p {

// True for .tif / .tiff (case-insensitive).
bool is_tiff_file(const std::string& path);

// False when this build was made without libtiff.
bool tiff_supported();

// Loads every band of the first image as float32 [bands,H,W]. Chunky (contiguous) and planar-separate
// layouts, strips and tiles, any compression libtiff decodes. Sample types and their mapping:
//   uint8  v / 255          uint16  v / 65535          int16  (v + 32768) / 65535
//   float32 as stored: float bands are taken as they are. The network expects [0,1] per band, so
//           float data outside it needs --sar_db or --normalize dataset to rescale it.
// Any other type (1/4-bit, int8, 32/64-bit integers, float64, complex) throws p2p::Error naming the
// file and the type. `bit_depth` reports 8 (uint8), 16 (uint16, int16) or 32 (float32), so resampling
// treats only 8-bit data like PIL's 8-bit images.
// Checked as raster.h says: the header's size before the image is allocated (check_declared_size), and
// every sample (check_samples): those equal to the file's GDAL_NODATA value are returned as NaN, and a
// NaN, infinity or magnitude beyond 1e15 that is not declared nodata throws, naming band and pixel.
at::Tensor load_tiff(const std::string& path, int& bit_depth);

// The GDAL_NODATA value the file declares (tag 42113, text as GDAL writes it: "-9999", "nan"); false
// when it declares none.
bool tiff_nodata(const std::string& path, double& value);

// Width, height and band count from the header only. Throws p2p::Error naming the file when unreadable.
void tiff_info(const std::string& path, int& width, int& height, int& bands);

// Number of images (directories) in the file: bands stored as separate pages, or overviews.
int tiff_pages(const std::string& path);

// Writes [C,H,W] (any C >= 1) as a float32 TIFF, values as given (not clamped), bands interleaved,
// uncompressed; atomically (temp file + rename). Used for outputs that PNG cannot hold (C not 1 or 3).
void save_tiff(const std::string& path, const at::Tensor& image);

}  // namespace p2p
