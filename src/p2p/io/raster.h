// Rasters read and written window by window, so a scene larger than memory can be translated in tiles.
// TIFF / GeoTIFF go through GDAL when the build has it (P2P_HAVE_GDAL): windows are read from and
// written to the file, outputs keep the input's sample type, and the georeferencing (geotransform and
// projection) of a source raster is copied. Colour files (PNG, JPEG, ...) are decoded once and held as
// their 8-bit samples, converted to floats window by window; PNG outputs are encoded row by row as
// their bands arrive. TIFF in a build without GDAL is held whole in memory behind the same interface.
// Sample values map to float as load_tiff does (tiff.h): uint8 v/255, uint16 v/65535,
// int16 (v+32768)/65535, float32 as stored; writing inverts that (integers clamped and rounded).
//
// What is read is checked, because a network fed one NaN answers NaN everywhere: a header's size is
// checked against the file and the machine before anything is allocated (check_declared_size), and
// samples as they are read (check_samples): a value the file declares nodata (GDAL_NODATA) becomes NaN,
// the toolkit's in-memory nodata mark, which the input mapping fills (normalization.h); any other NaN,
// infinity or magnitude beyond kMaxSampleMagnitude is refused, naming the file, band and pixel.
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
  bool has_nodata = false;     // the file declares a nodata sample value (read back as NaN)
  double nodata = 0.0;         // that value, as stored (may be NaN)
};

// Samples beyond this magnitude are refused when read: the network's float arithmetic (squares in its
// normalisation layers) overflows on them long before float's own limit, and answers NaN everywhere.
constexpr double kMaxSampleMagnitude = 1e15;

// Refuses a header whose size cannot be real or cannot be held, before anything is allocated: sides
// of 1 to 2^31-1 pixels, decoded samples (width × height × bands × bytes_per_sample) at most 10^6
// times the file's `file_bytes` (no codec compresses that well: deflate stops near 1032:1, zstd near
// 33,000:1, so such a header is corrupt), and, when `whole` is true (the image is decoded whole),
// `whole_bytes` at most the machine's memory. Errors name `path`.
void check_declared_size(const std::string& path, int64_t width, int64_t height, int64_t bands, int bytes_per_sample,
                         int64_t file_bytes, double whole_bytes = 0.0);

// Fails unless `bytes` fit in this machine's physical memory, naming `what` and `hint`.
void check_memory_fits(const std::string& what, double bytes, const std::string& hint);
double physical_memory_bytes();

// Checks values read from `path` ([bands,h,w], mapped per this header) whose top-left pixel is (x0, y0):
// `nodata` marks (true) the samples the file declares nodata; they are set to NaN. Any other sample that
// is NaN, infinite or beyond ±kMaxSampleMagnitude throws p2p::Error naming the file, the first such
// sample's band and pixel, and how many there are.
void check_samples(at::Tensor& values, const at::Tensor& nodata, const std::string& path, int64_t x0, int64_t y0);

class RasterReader {
 public:
  virtual ~RasterReader() = default;
  const RasterInfo& info() const { return info_; }
  // What errors call the raster: its path, or a caller's name.
  const std::string& name() const { return name_; }
  // Window [x, x+w) × [y, y+h) of every band as float32 [bands,h,w] (values as above; declared nodata
  // as NaN). The window must lie inside the raster.
  virtual at::Tensor read(int64_t x, int64_t y, int64_t w, int64_t h) = 0;

 protected:
  RasterInfo info_;
  std::string name_ = "the input raster";
};

// Opens `path` for reading `channels` bands. TIFF: the band count must equal `channels` (errors name
// `channel_flag`); colour files are converted as load_image does (gray <-> RGB, alpha). Missing or
// unreadable files, folders, impossible headers (check_declared_size) and unsupported sample types
// throw p2p::Error naming the file.
std::unique_ptr<RasterReader> open_raster(const std::string& path, int channels, const std::string& channel_flag);

struct RasterSpec {
  int64_t width = 0;
  int64_t height = 0;
  int bands = 0;
  SampleType type = SampleType::u8;
  bool has_nodata = false;  // declared in a GDAL-written TIFF (other writers hold no nodata)
  double nodata = 0.0;      // as stored
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

// The extensions create_raster writes: .png, .tif, .tiff. Anything else throws p2p::Error naming
// `path` (a .jpg must not receive PNG bytes).
void check_output_format(const std::string& path);

// True when `path` opens as a raster of width × height whose every sample decodes (a file cut short or
// left empty by a killed run does not); `why` says what failed.
bool raster_decodes(const std::string& path, int64_t width, int64_t height, std::string& why);

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
  // The file's declared nodata (its samples already NaN in `chw`).
  void set_nodata(double value) {
    info_.has_nodata = true;
    info_.nodata = value;
  }

 private:
  at::Tensor image_;
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
