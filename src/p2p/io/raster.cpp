// Windowed raster I/O (raster.h). GDAL's C API is used (not gdal_priv.h) to keep this translation unit
// light. GDAL's block cache is capped so that memory stays bounded by the windows the caller asks for.
// Colour files are read from their decoded 8-bit samples and PNG written row by row (image.h).
#include "p2p/io/raster.h"

#include "p2p/core/error.h"
#include "p2p/io/fs.h"
#include "p2p/io/image.h"
#include "p2p/io/tiff.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <string>
#include <system_error>
#include <unistd.h>

#ifdef P2P_HAVE_GDAL
#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_string.h>
#include <gdal.h>
#endif

namespace fs = std::filesystem;

namespace p2p {

const char* sample_type_name(SampleType t) {
  switch (t) {
    case SampleType::u8: return "uint8";
    case SampleType::u16: return "uint16";
    case SampleType::i16: return "int16";
    case SampleType::f32: return "float32";
  }
  return "?";
}

double physical_memory_bytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? static_cast<double>(pages) * static_cast<double>(page) : 0.0;
}

namespace {

std::string gib(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f GiB", bytes / (1024.0 * 1024.0 * 1024.0));
  return buf;
}

}  // namespace

void check_memory_fits(const std::string& what, double bytes, const std::string& hint) {
  const double have = physical_memory_bytes();
  if (have > 0 && bytes > have) {
    fail(what + " needs " + gib(bytes) + ", more than this machine's " + gib(have) + " of memory" +
         (hint.empty() ? std::string() : "; " + hint));
  }
}

void check_declared_size(const std::string& path, int64_t width, int64_t height, int64_t bands, int bytes_per_sample,
                         int64_t file_bytes, double whole_bytes) {
  const std::string dims = std::to_string(width) + " x " + std::to_string(height) + " pixels, " + std::to_string(bands) +
                           " band" + (bands == 1 ? "" : "s");
  if (width < 1 || height < 1 || bands < 1 || width > 0x7fffffff || height > 0x7fffffff) {
    fail(path + ": its header declares " + dims + " (sides of 1 to 2^31-1 pixels expected; a corrupt header?)");
  }
  // In double: the product of a corrupt header overflows int64.
  const double declared = static_cast<double>(width) * static_cast<double>(height) * static_cast<double>(bands) *
                          static_cast<double>(bytes_per_sample);
  constexpr double kMaxRatio = 1e6;
  if (file_bytes > 0 && declared > kMaxRatio * static_cast<double>(file_bytes)) {
    fail(path + ": its header declares " + dims + " (" + gib(declared) + " of samples) but the file holds " +
         std::to_string(file_bytes) + " bytes, more than a million to one: a corrupt or truncated file");
  }
  if (whole_bytes > 0) check_memory_fits("decoding " + path + " (" + dims + ") whole", whole_bytes, "");
}

void check_samples(at::Tensor& values, const at::Tensor& nodata, const std::string& path, int64_t x0, int64_t y0) {
  at::Tensor bad = values.isfinite().logical_and_(values.abs() <= kMaxSampleMagnitude).logical_not_();
  if (nodata.defined()) bad.logical_and_(nodata.logical_not());
  if (bad.any().item<bool>()) {
    const int64_t count = bad.sum().item<int64_t>();
    const at::Tensor first = bad.nonzero()[0];  // band, row, column: the first in reading order of a band
    const int64_t b = first[0].item<int64_t>(), y = first[1].item<int64_t>(), x = first[2].item<int64_t>();
    const float v = values[b][y][x].item<float>();
    char value[48];
    std::snprintf(value, sizeof value, "%g", static_cast<double>(v));
    fail(path + ": band " + std::to_string(b + 1) + " at pixel x " + std::to_string(x0 + x) + ", y " +
         std::to_string(y0 + y) + " holds " + value + " (" + std::to_string(count) + " sample" +
         (count == 1 ? "" : "s") + " of the " + std::to_string(values.size(2)) + " x " +
         std::to_string(values.size(1)) + " pixels read from x " + std::to_string(x0) + ", y " + std::to_string(y0) +
         " are NaN, infinite or beyond 1e15, which the network cannot take); declare such pixels nodata "
         "(GDAL_NODATA) or fix the file");
  }
  if (nodata.defined()) values.masked_fill_(nodata, std::numeric_limits<float>::quiet_NaN());
}

namespace {

int bit_depth_of(SampleType t) { return t == SampleType::u8 ? 8 : t == SampleType::f32 ? 32 : 16; }

// Float values (mapping of raster.h) -> stored samples, as a tensor of a type that holds them exactly.
at::Tensor to_samples(const at::Tensor& v, SampleType t) {
  const at::Tensor f = v.to(at::kCPU, at::kFloat);
  if (t == SampleType::f32) return f.contiguous();
  // One float temporary, scaled and rounded in place: outputs are written in image-wide bands.
  at::Tensor s = f.clamp(0, 1);
  switch (t) {
    case SampleType::u8: return s.mul_(255.0).round_().to(at::kByte).contiguous();
    case SampleType::u16: return s.mul_(65535.0).round_().to(at::kInt).contiguous();
    case SampleType::i16: return s.mul_(65535.0).round_().sub_(32768.0).to(at::kShort).contiguous();
    case SampleType::f32: break;
  }
  return f;
}

void check_window(const RasterInfo& info, int64_t x, int64_t y, int64_t w, int64_t h, const std::string& path) {
  if (x < 0 || y < 0 || w < 1 || h < 1 || x + w > info.width || y + h > info.height) {
    fail("raster window " + std::to_string(w) + "x" + std::to_string(h) + "+" + std::to_string(x) + "+" +
         std::to_string(y) + " lies outside " + path + " (" + std::to_string(info.width) + "x" +
         std::to_string(info.height) + ")");
  }
}

// A window `values` ([bands,h,w]) written at (x, y) must lie inside a raster of `spec` and have its bands.
void check_write(const RasterSpec& spec, int64_t x, int64_t y, const at::Tensor& values, const std::string& path) {
  RasterInfo info;
  info.width = spec.width;
  info.height = spec.height;
  check_window(info, x, y, values.size(2), values.size(1), path);
  if (values.size(0) != spec.bands) fail("writing " + path + ": wrong band count");
}

// A colour file decoded once and held as its samples (8-bit: a quarter of the float image); each
// window is converted to floats as it is read, to the same values load_image gives.
class DecodedReader : public RasterReader {
 public:
  DecodedReader(DecodedImage image, std::string path) : image_(std::move(image)), path_(std::move(path)) {
    name_ = path_;
    info_.width = image_.samples.size(1);
    info_.height = image_.samples.size(0);
    info_.bands = image_.channels;
    info_.type = image_.bit_depth == 8 ? SampleType::u8 : SampleType::u16;
    info_.bit_depth = image_.bit_depth;
  }
  at::Tensor read(int64_t x, int64_t y, int64_t w, int64_t h) override {
    check_window(info_, x, y, w, h, path_);
    return decoded_to_unit(image_, x, y, w, h);
  }

 private:
  DecodedImage image_;
  std::string path_;
};

// Colour files as their samples; TIFF without GDAL decoded whole.
std::unique_ptr<RasterReader> open_in_memory(const std::string& path, int channels, const std::string& channel_flag) {
  if (!is_tiff_file(path)) return std::make_unique<DecodedReader>(decode_image(path, channels, channel_flag), path);
  int bits = 8;
  at::Tensor image = load_image(path, channels, bits, channel_flag);
  const SampleType type = bits == 8 ? SampleType::u8 : bits == 16 ? SampleType::u16 : SampleType::f32;
  auto reader = std::make_unique<TensorRasterReader>(std::move(image), type, bits, path);
  double nodata = 0.0;
  if (tiff_nodata(path, nodata)) reader->set_nodata(nodata);
  return reader;
}

// A TIFF assembled in memory and written whole at finish (builds without GDAL).
class MemoryTiffWriter : public TensorRasterWriter {
 public:
  MemoryTiffWriter(const std::string& path, const RasterSpec& spec) : TensorRasterWriter(spec, path) {}
  void finish() override { save_tiff(name_, image()); }
};

// A PNG encoded as its rows arrive (PngRowWriter), so only the band being written is ever held: the
// windows must be whole rows, top to bottom, as translate_raster writes them. Values are rounded to
// 8 bits exactly as save_png rounds them.
class PngBandWriter : public RasterWriter {
 public:
  PngBandWriter(const std::string& path, const RasterSpec& spec)
      : path_(path), spec_(spec), png_(path, spec.width, spec.height, spec.bands) {}
  void write(int64_t x, int64_t y, const at::Tensor& values) override {
    check_write(spec_, x, y, values, path_);
    if (x != 0 || values.size(2) != spec_.width || y != png_.rows_written()) {
      fail("writing " + path_ + ": a PNG is written in whole rows, top to bottom (next row " +
           std::to_string(png_.rows_written()) + "), not a window at " + std::to_string(x) + "," + std::to_string(y) +
           " " + std::to_string(values.size(2)) + " wide");
    }
    const at::Tensor rows = to_png_samples(values);
    png_.write_rows(rows.data_ptr<uint8_t>(), rows.size(0));
  }
  void finish() override { png_.finish(); }

 private:
  std::string path_;
  RasterSpec spec_;
  PngRowWriter png_;
};

#ifdef P2P_HAVE_GDAL

void init_gdal() {
  static std::once_flag once;
  std::call_once(once, [] {
    GDALAllRegister();
    // GDAL's default cache is 5 % of RAM; a band of tiles is read and written once, so 32 MiB (several
    // bands of blocks of a 10,000-pixel-wide scene) loses nothing. GDAL_CACHEMAX still overrides it.
    if (!CPLGetConfigOption("GDAL_CACHEMAX", nullptr)) GDALSetCacheMax64(32LL << 20);
  });
}

// GDAL reports errors through a handler; the last message is what our error names.
std::string gdal_message() {
  const char* m = CPLGetLastErrorMsg();
  return m && *m ? std::string(": ") + m : std::string();
}

struct QuietGdal {
  QuietGdal() {
    CPLPushErrorHandler(CPLQuietErrorHandler);
    CPLErrorReset();
  }
  ~QuietGdal() { CPLPopErrorHandler(); }
};

GDALDataType buffer_type(SampleType t) {
  switch (t) {
    case SampleType::u8: return GDT_Byte;
    case SampleType::u16: return GDT_Int32;  // to_samples holds uint16 in int32: no uint16 tensor type
    case SampleType::i16: return GDT_Int16;
    case SampleType::f32: return GDT_Float32;
  }
  return GDT_Float32;
}

GDALDataType file_type(SampleType t) {
  switch (t) {
    case SampleType::u8: return GDT_Byte;
    case SampleType::u16: return GDT_UInt16;
    case SampleType::i16: return GDT_Int16;
    case SampleType::f32: return GDT_Float32;
  }
  return GDT_Float32;
}

class GdalReader : public RasterReader {
 public:
  GdalReader(const std::string& path, int channels, const std::string& channel_flag) : path_(path) {
    name_ = path;
    init_gdal();
    QuietGdal quiet;
    ds_ = GDALOpen(path.c_str(), GA_ReadOnly);
    if (!ds_) fail("cannot read " + path + gdal_message());
    info_.width = GDALGetRasterXSize(ds_);
    info_.height = GDALGetRasterYSize(ds_);
    info_.bands = GDALGetRasterCount(ds_);
    if (info_.bands < 1) fail(path + " has no raster bands");
    if (info_.bands != channels) {
      fail(path + " has " + std::to_string(info_.bands) + " band" + (info_.bands == 1 ? "" : "s") + " but " +
           (channel_flag.empty() ? std::string("the network") : channel_flag) + " asks for " +
           std::to_string(channels) + " (TIFF bands are used as they are, never converted)");
    }
    const GDALDataType t = GDALGetRasterDataType(GDALGetRasterBand(ds_, 1));
    for (int b = 2; b <= info_.bands; ++b) {
      if (GDALGetRasterDataType(GDALGetRasterBand(ds_, b)) != t) fail(path + ": bands of different sample types");
    }
    switch (t) {
      case GDT_Byte: info_.type = SampleType::u8; break;
      case GDT_UInt16: info_.type = SampleType::u16; break;
      case GDT_Int16: info_.type = SampleType::i16; break;
      case GDT_Float32: info_.type = SampleType::f32; break;
      default:
        fail(path + ": sample type " + GDALGetDataTypeName(t) +
             " is not supported (expected uint8, uint16, int16 or float32)");
    }
    info_.bit_depth = bit_depth_of(info_.type);
    std::error_code ec;
    const auto file_bytes = fs::file_size(path, ec);
    // Read window by window: only the header's plausibility is checked here; translate_raster checks
    // the memory of the path it takes.
    check_declared_size(path, info_.width, info_.height, info_.bands, info_.bit_depth / 8,
                        ec ? 0 : static_cast<int64_t>(file_bytes));
    int has_nodata = 0;
    const double nodata = GDALGetRasterNoDataValue(GDALGetRasterBand(ds_, 1), &has_nodata);
    info_.has_nodata = has_nodata != 0;
    info_.nodata = nodata;
    double gt[6];
    const char* wkt = GDALGetProjectionRef(ds_);
    info_.georeferenced = GDALGetGeoTransform(ds_, gt) == CE_None || (wkt && *wkt);
  }
  ~GdalReader() override {
    if (ds_) GDALClose(ds_);
  }
  at::Tensor read(int64_t x, int64_t y, int64_t w, int64_t h) override {
    check_window(info_, x, y, w, h, path_);
    at::Tensor out = at::empty({info_.bands, h, w}, at::kFloat);
    QuietGdal quiet;
    if (GDALDatasetRasterIO(ds_, GF_Read, static_cast<int>(x), static_cast<int>(y), static_cast<int>(w),
                            static_cast<int>(h), out.data_ptr<float>(), static_cast<int>(w), static_cast<int>(h),
                            GDT_Float32, info_.bands, nullptr, 0, 0, 0) != CE_None) {
      fail("cannot read " + path_ + gdal_message());
    }
    // Nodata is compared as stored (the file declares it so); NaN as nodata matches every NaN.
    at::Tensor nodata;
    if (info_.has_nodata) {
      nodata = std::isnan(info_.nodata) ? out.isnan() : out.eq(static_cast<float>(info_.nodata));
    }
    // (v + offset) * scale in double, exactly as load_tiff computes it, so both readers agree bit for bit.
    switch (info_.type) {
      case SampleType::u8: out = (out.to(at::kDouble) * (1.0 / 255.0)).to(at::kFloat); break;
      case SampleType::u16: out = (out.to(at::kDouble) * (1.0 / 65535.0)).to(at::kFloat); break;
      case SampleType::i16: out = ((out.to(at::kDouble) + 32768.0) * (1.0 / 65535.0)).to(at::kFloat); break;
      case SampleType::f32: break;
    }
    check_samples(out, nodata, path_, x, y);
    return out;
  }

 private:
  std::string path_;
  GDALDatasetH ds_ = nullptr;
};

class GdalWriter : public RasterWriter {
 public:
  GdalWriter(const std::string& path, const RasterSpec& spec, const std::string& georef_from)
      : path_(path), spec_(spec) {
    init_gdal();
    static int counter = 0;
    tmp_ = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
    GDALDriverH driver = GDALGetDriverByName("GTiff");
    if (!driver) fail("this GDAL has no GTiff driver");
    char** options = nullptr;
    options = CSLSetNameValue(options, "TILED", "YES");
    options = CSLSetNameValue(options, "BIGTIFF", "IF_SAFER");
    options = CSLSetNameValue(options, "INTERLEAVE", "PIXEL");
    QuietGdal quiet;
    ds_ = GDALCreate(driver, tmp_.c_str(), static_cast<int>(spec.width), static_cast<int>(spec.height), spec.bands,
                     file_type(spec.type), options);
    CSLDestroy(options);
    if (!ds_) fail("cannot create " + path + gdal_message());
    if (!georef_from.empty() && is_tiff_file(georef_from)) copy_georeferencing(georef_from);
    if (spec.has_nodata) {
      for (int b = 1; b <= spec.bands; ++b) GDALSetRasterNoDataValue(GDALGetRasterBand(ds_, b), spec.nodata);
    }
  }
  ~GdalWriter() override {
    if (ds_) GDALClose(ds_);
    if (!finished_) {
      std::error_code ec;
      fs::remove(tmp_, ec);
    }
  }
  void write(int64_t x, int64_t y, const at::Tensor& values) override {
    check_write(spec_, x, y, values, path_);
    at::Tensor s = to_samples(values, spec_.type);
    const int w = static_cast<int>(values.size(2)), h = static_cast<int>(values.size(1));
    QuietGdal quiet;
    if (GDALDatasetRasterIO(ds_, GF_Write, static_cast<int>(x), static_cast<int>(y), w, h, s.data_ptr(), w, h,
                            buffer_type(spec_.type), spec_.bands, nullptr, 0, 0, 0) != CE_None) {
      fail("cannot write " + path_ + gdal_message());
    }
  }
  void finish() override {
    {
      QuietGdal quiet;
      GDALFlushCache(ds_);
      GDALClose(ds_);  // writes every block (void before GDAL 3.7: errors come through the handler)
      ds_ = nullptr;
      if (CPLGetLastErrorType() == CE_Failure || CPLGetLastErrorType() == CE_Fatal) {
        fail("cannot write " + path_ + gdal_message());
      }
    }
    std::error_code ec;
    fs::rename(tmp_, path_, ec);
    if (ec) fail("cannot move " + tmp_ + " to " + path_ + ": " + ec.message());
    finished_ = true;
  }

 private:
  void copy_georeferencing(const std::string& source) {
    GDALDatasetH src = GDALOpen(source.c_str(), GA_ReadOnly);
    if (!src) return;
    double gt[6];
    if (GDALGetGeoTransform(src, gt) == CE_None) GDALSetGeoTransform(ds_, gt);
    const char* wkt = GDALGetProjectionRef(src);
    if (wkt && *wkt) GDALSetProjection(ds_, wkt);
    // Whether a pixel's coordinates name its corner (Area) or its centre (Point): half a pixel of
    // georeferencing, kept as the input says it.
    if (const char* area = GDALGetMetadataItem(src, "AREA_OR_POINT", nullptr)) {
      GDALSetMetadataItem(ds_, "AREA_OR_POINT", area, nullptr);
    }
    GDALClose(src);
  }

  std::string path_, tmp_;
  RasterSpec spec_;
  GDALDatasetH ds_ = nullptr;
  bool finished_ = false;
};

#endif  // P2P_HAVE_GDAL

}  // namespace

bool windowed_tiff_supported() {
#ifdef P2P_HAVE_GDAL
  return true;
#else
  return false;
#endif
}

std::unique_ptr<RasterReader> open_raster(const std::string& path, int channels, const std::string& channel_flag) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) fail(path + " is a folder, expected an image file");
  if (!fs::is_regular_file(path, ec)) fail("image not found: " + path);
#ifdef P2P_HAVE_GDAL
  if (is_tiff_file(path)) return std::make_unique<GdalReader>(path, channels, channel_flag);
#endif
  return open_in_memory(path, channels, channel_flag);
}

TensorRasterReader::TensorRasterReader(at::Tensor chw, SampleType type, int bit_depth, std::string name)
    : image_(std::move(chw)) {
  name_ = std::move(name);
  info_.width = image_.size(2);
  info_.height = image_.size(1);
  info_.bands = static_cast<int>(image_.size(0));
  info_.type = type;
  info_.bit_depth = bit_depth;
}

at::Tensor TensorRasterReader::read(int64_t x, int64_t y, int64_t w, int64_t h) {
  check_window(info_, x, y, w, h, name_);
  at::Tensor window = image_.narrow(1, y, h).narrow(2, x, w).contiguous();
  // A caller's buffer declares no nodata: its NaN are refused like a file's undeclared ones.
  check_samples(window, info_.has_nodata ? window.isnan() : at::Tensor(), name_, x, y);
  return window;
}

TensorRasterWriter::TensorRasterWriter(const RasterSpec& spec, std::string name)
    : name_(std::move(name)), image_(at::zeros({spec.bands, spec.height, spec.width}, at::kFloat)) {
  info_.width = spec.width;
  info_.height = spec.height;
  info_.bands = spec.bands;
  info_.type = spec.type;
}

void TensorRasterWriter::write(int64_t x, int64_t y, const at::Tensor& values) {
  check_window(info_, x, y, values.size(2), values.size(1), name_);
  image_.narrow(1, y, values.size(1)).narrow(2, x, values.size(2)).copy_(values);
}

void check_output_format(const std::string& path) {
  const std::string ext = lower_extension(path);
  if (ext != ".png" && !is_tiff_file(path)) {
    fail("cannot write " + path + ": " + (ext.empty() ? std::string("no extension") : "'" + ext + "'") +
         " is not a format written here; name the output .png or .tif");
  }
}

bool raster_decodes(const std::string& path, int64_t width, int64_t height, std::string& why) {
  try {
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) fail(path + " is not a file");
    int bands = 3;
    if (is_tiff_file(path)) {
      int w = 0, h = 0;
      tiff_info(path, w, h, bands);
    }
    std::unique_ptr<RasterReader> r = open_raster(path, bands, "");
    if (r->info().width != width || r->info().height != height) {
      fail(path + " is " + std::to_string(r->info().width) + " x " + std::to_string(r->info().height) +
           ", expected " + std::to_string(width) + " x " + std::to_string(height));
    }
    // Every sample, in bands of rows: a file cut short fails on the rows it lost.
    constexpr int64_t kRows = 256;
    for (int64_t y = 0; y < height; y += kRows) r->read(0, y, width, std::min(kRows, height - y));
    return true;
  } catch (const std::exception& e) {
    why = e.what();
    why = why.substr(0, why.find('\n'));
    return false;
  }
}

std::unique_ptr<RasterWriter> create_raster(const std::string& path, const RasterSpec& spec,
                                            const std::string& georef_from) {
  check_output_format(path);
  if (spec.width < 1 || spec.height < 1 || spec.bands < 1) fail("create_raster: empty raster for " + path);
  if (is_tiff_file(path)) {
#ifdef P2P_HAVE_GDAL
    return std::make_unique<GdalWriter>(path, spec, georef_from);
#else
    return std::make_unique<MemoryTiffWriter>(path, spec);
#endif
  }
  if (spec.bands != 1 && spec.bands != 3) {
    fail(path + ": PNG holds 1 or 3 channels, not " + std::to_string(spec.bands) + " (write a .tif)");
  }
  return std::make_unique<PngBandWriter>(path, spec);
}

}  // namespace p2p
