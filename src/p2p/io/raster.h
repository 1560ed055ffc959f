// Rasters read and written window by window, so a scene larger than memory can be translated in tiles.
// TIFF / GeoTIFF go through GDAL when the build has it (P2P_HAVE_GDAL): windows are read from and
// written to the file, outputs keep the input's sample type, and the georeferencing (geotransform and
// projection) of a source raster is copied. Colour files (PNG, JPEG, ...) are decoded once and held as
// their 8-bit samples, converted to floats window by window; PNG outputs are encoded row by row as
// their bands arrive. TIFF in a build without GDAL is held whole in memory behind the same interface.
// Sample values map to float as load_tiff does (tiff.h): uint8 v/255, uint16 v/65535,
// int16 (v+32768)/65535, float32 as stored; writing inverts that (integers clamped and rounded).
#pragma once

#include <ATen/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

namespace p2p {

enum class SampleType { u8, u16, i16, f32 };
const char* sample_type_name(SampleType t);

struct RasterInfo {
  int64_t width = 0;
  int64_t height = 0;
  int bands = 0;
  SampleType type = SampleType::u8;
  int bit_depth = 8;       // as load_image reports it: 8, 16 or 32 (float)
  bool georeferenced = false;  // a geotransform or projection is present
};

class RasterReader {
 public:
  virtual ~RasterReader() = default;
  const RasterInfo& info() const { return info_; }
  // Window [x, x+w) × [y, y+h) of every band as float32 [bands,h,w] (values as above). The window must
  // lie inside the raster.
  virtual at::Tensor read(int64_t x, int64_t y, int64_t w, int64_t h) = 0;

 protected:
  RasterInfo info_;
};

// Opens `path` for reading `channels` bands. TIFF: the band count must equal `channels` (errors name
// `channel_flag`); colour files are converted as load_image does (gray <-> RGB, alpha). Missing or
// unreadable files and unsupported sample types throw p2p::Error naming the file.
std::unique_ptr<RasterReader> open_raster(const std::string& path, int channels, const std::string& channel_flag);

struct RasterSpec {
  int64_t width = 0;
  int64_t height = 0;
  int bands = 0;
  SampleType type = SampleType::u8;
};

class RasterWriter {
 public:
  // Without finish() the partial file is removed: a failed translation leaves no output behind.
  virtual ~RasterWriter() = default;
  // Writes [bands,h,w] float values (mapping above) at (x, y).
  virtual void write(int64_t x, int64_t y, const at::Tensor& values) = 0;
  // Completes the file and moves it into place atomically.
  virtual void finish() = 0;
};

// Creates `path`: .png (1 or 3 bands, u8, encoded row by row: windows must be whole rows written top to
// bottom, as translate_raster writes them, or write throws) or .tif/.tiff (any band count; with GDAL
// written window by window as a tiled GeoTIFF of `spec.type`, BigTIFF when needed, with the geotransform
// and projection of `georef_from` when that is a georeferenced raster; without GDAL held in memory and
// written as float32 TIFF).
std::unique_ptr<RasterWriter> create_raster(const std::string& path, const RasterSpec& spec,
                                            const std::string& georef_from = "");

// A raster held whole in memory as float32 [bands, H, W] (values as above): a decoded colour file, or a
// caller's buffer (the C++ API). `name` is what window errors call it.
class TensorRasterReader : public RasterReader {
 public:
  TensorRasterReader(at::Tensor chw, SampleType type, int bit_depth, std::string name);
  at::Tensor read(int64_t x, int64_t y, int64_t w, int64_t h) override;

 private:
  at::Tensor image_;
  std::string name_;
};

// Collects the written windows into a float32 [spec.bands, H, W] tensor; finish() writes nothing (files
// held in memory are written by create_raster's writer, which builds on this one).
class TensorRasterWriter : public RasterWriter {
 public:
  TensorRasterWriter(const RasterSpec& spec, std::string name);
  void write(int64_t x, int64_t y, const at::Tensor& values) override;
  void finish() override {}
  const at::Tensor& image() const { return image_; }

 protected:
  std::string name_;

 private:
  RasterInfo info_;
  at::Tensor image_;
};

// True when TIFF rasters are read and written window by window with their sample type kept.
bool windowed_tiff_supported();

}  // namespace p2p
