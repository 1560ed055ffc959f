// TIFF / GeoTIFF reading and float32 writing on libtiff (see tiff.h). libtiff reports problems through
// process-wide handlers; they are pointed once at a per-thread buffer, so each p2p::Error carries
// libtiff's own reason and loader threads never see each other's messages. Warnings (GeoTIFF tags
// libtiff does not know, for one) are dropped.
#include "p2p/io/tiff.h"

#include "p2p/core/error.h"
#include "p2p/io/fs.h"
#include "p2p/io/raster.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <string>

#ifdef P2P_HAVE_TIFF
#include <tiffio.h>

#include <cmath>
#include <cstdarg>
#include <cstdlib>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>
#endif

namespace fs = std::filesystem;

namespace p2p {

bool is_tiff_file(const std::string& path) {
  const std::string ext = lower_extension(path);
  return ext == ".tif" || ext == ".tiff";
}

namespace {

// The same distinct messages image.cpp gives before any decoding is tried.
void check_readable(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) fail("cannot read image " + path + ": file does not exist");
  if (fs::is_directory(path, ec)) fail("cannot read image " + path + ": it is a folder, not a file");
  if (fs::file_size(path, ec) == 0 && !ec) fail("image file " + path + " is empty (0 bytes)");
}

}  // namespace

#ifndef P2P_HAVE_TIFF

namespace {
[[noreturn]] void fail_no_tiff(const std::string& path) {
  fail(path + ": this build has no TIFF support (libtiff was not found when it was compiled); install "
              "libtiff (Debian: libtiff-dev) and rebuild, or convert the file to PNG");
}
}  // namespace

bool tiff_supported() { return false; }

at::Tensor load_tiff(const std::string& path, int& /*bit_depth*/) {
  check_readable(path);
  fail_no_tiff(path);
}

void tiff_info(const std::string& path, int& /*width*/, int& /*height*/, int& /*bands*/) {
  check_readable(path);
  fail_no_tiff(path);
}

void save_tiff(const std::string& path, const at::Tensor& /*image*/) { fail_no_tiff(path); }

bool tiff_nodata(const std::string& path, double& /*value*/) { fail_no_tiff(path); }

int tiff_pages(const std::string& path) { fail_no_tiff(path); }

#else

namespace {

thread_local std::string last_tiff_error;

void on_tiff_error(const char* module, const char* fmt, va_list ap) {
  char buf[512];
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  last_tiff_error = (module && *module ? std::string(module) + ": " : std::string()) + buf;
}

void on_tiff_warning(const char*, const char*, va_list) {}

void install_handlers() {
  static std::once_flag once;
  std::call_once(once, [] {
    TIFFSetErrorHandler(on_tiff_error);
    TIFFSetWarningHandler(on_tiff_warning);
  });
}

std::string tiff_reason() {
  return last_tiff_error.empty() ? std::string("unknown libtiff error") : last_tiff_error;
}

using TiffPtr = std::unique_ptr<TIFF, void (*)(TIFF*)>;

TiffPtr open_tiff(const std::string& path, const char* mode) {
  install_handlers();
  last_tiff_error.clear();
  TiffPtr tif(TIFFOpen(path.c_str(), mode), TIFFClose);
  if (!tif) {
    fail(std::string(mode[0] == 'r' ? "cannot decode TIFF " : "cannot create TIFF ") + path + ": " + tiff_reason() +
         (mode[0] == 'r' ? " (truncated or corrupt file?)" : ""));
  }
  return tif;
}

std::string sample_type_name(uint16_t format, uint16_t bits) {
  const char* kind = "unsigned";
  switch (format) {
    case SAMPLEFORMAT_UINT: case SAMPLEFORMAT_VOID: kind = "uint"; break;
    case SAMPLEFORMAT_INT: kind = "int"; break;
    case SAMPLEFORMAT_IEEEFP: kind = "float"; break;
    case SAMPLEFORMAT_COMPLEXINT: kind = "complex int"; break;
    case SAMPLEFORMAT_COMPLEXIEEEFP: kind = "complex float"; break;
    default: kind = "unknown-format "; break;
  }
  return std::string(kind) + std::to_string(bits);
}

// How one stored sample becomes a unit value: (v + offset) * scale, computed in double.
struct SampleMap {
  double offset = 0.0;
  double scale = 1.0;
  int bytes = 1;
  int bit_depth = 8;
};

template <typename T>
void scatter(const unsigned char* raw, int64_t row_len, int64_t step, int64_t x0, int64_t y0, int64_t bw, int64_t bh,
             int band0, int nbands, const SampleMap& m, float* dst, int64_t W, int64_t H) {
  const T* src = reinterpret_cast<const T*>(raw);
  const int64_t rows = std::min(bh, H - y0), cols = std::min(bw, W - x0);
  for (int64_t y = 0; y < rows; ++y) {
    for (int64_t x = 0; x < cols; ++x) {
      const T* px = src + y * row_len + x * step;
      for (int b = 0; b < nbands; ++b) {
        dst[((band0 + b) * H + (y0 + y)) * W + (x0 + x)] =
            static_cast<float>((static_cast<double>(px[b]) + m.offset) * m.scale);
      }
    }
  }
}

void scatter_any(uint16_t format, const unsigned char* raw, int64_t row_len, int64_t step, int64_t x0, int64_t y0,
                 int64_t bw, int64_t bh, int band0, int nbands, const SampleMap& m, float* dst, int64_t W, int64_t H) {
  if (format == SAMPLEFORMAT_IEEEFP) {
    scatter<float>(raw, row_len, step, x0, y0, bw, bh, band0, nbands, m, dst, W, H);
  } else if (format == SAMPLEFORMAT_INT) {
    scatter<int16_t>(raw, row_len, step, x0, y0, bw, bh, band0, nbands, m, dst, W, H);
  } else if (m.bytes == 2) {
    scatter<uint16_t>(raw, row_len, step, x0, y0, bw, bh, band0, nbands, m, dst, W, H);
  } else {
    scatter<uint8_t>(raw, row_len, step, x0, y0, bw, bh, band0, nbands, m, dst, W, H);
  }
}

struct Layout {
  uint32_t width = 0, height = 0;
  uint16_t bands = 0, bits = 0, format = SAMPLEFORMAT_UINT, planar = PLANARCONFIG_CONTIG, photometric = 0;
};

// GDAL_NODATA as text ("-9999", "nan", "-3.4028234663852886e+38"); false when absent or unparsable.
bool read_nodata(TIFF* tif, double& value) {
  // libtiff may know the tag, or read it as an anonymous field whose value comes with a count.
  const TIFFField* field = TIFFFindField(tif, TIFFTAG_GDAL_NODATA, TIFF_ANY);
  if (field == nullptr) return false;
  const char* text = nullptr;
  int ok = 0;
  if (!TIFFFieldPassCount(field)) {
    ok = TIFFGetField(tif, TIFFTAG_GDAL_NODATA, &text);
  } else if (TIFFFieldReadCount(field) == TIFF_VARIABLE2) {
    uint32_t count = 0;
    ok = TIFFGetField(tif, TIFFTAG_GDAL_NODATA, &count, &text);
  } else {
    uint16_t count = 0;
    ok = TIFFGetField(tif, TIFFTAG_GDAL_NODATA, &count, &text);
  }
  if (ok != 1 || text == nullptr) return false;
  char* end = nullptr;
  const double v = std::strtod(text, &end);
  if (end == text) return false;
  value = v;
  return true;
}

Layout read_layout(TIFF* tif) {
  Layout l;
  TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &l.width);
  TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &l.height);
  TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLESPERPIXEL, &l.bands);
  TIFFGetFieldDefaulted(tif, TIFFTAG_BITSPERSAMPLE, &l.bits);
  TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLEFORMAT, &l.format);
  TIFFGetFieldDefaulted(tif, TIFFTAG_PLANARCONFIG, &l.planar);
  TIFFGetFieldDefaulted(tif, TIFFTAG_PHOTOMETRIC, &l.photometric);
  return l;
}

}  // namespace

bool tiff_supported() { return true; }

void tiff_info(const std::string& path, int& width, int& height, int& bands) {
  check_readable(path);
  TiffPtr tif = open_tiff(path, "r");
  const Layout l = read_layout(tif.get());
  width = static_cast<int>(l.width);
  height = static_cast<int>(l.height);
  bands = static_cast<int>(l.bands);
}

bool tiff_nodata(const std::string& path, double& value) {
  check_readable(path);
  TiffPtr tif = open_tiff(path, "r");
  return read_nodata(tif.get(), value);
}

int tiff_pages(const std::string& path) {
  check_readable(path);
  TiffPtr tif = open_tiff(path, "r");
  return static_cast<int>(TIFFNumberOfDirectories(tif.get()));
}

at::Tensor load_tiff(const std::string& path, int& bit_depth) {
  check_readable(path);
  TiffPtr tif = open_tiff(path, "r");
  TIFF* t = tif.get();
  const Layout l = read_layout(t);
  if (l.width == 0 || l.height == 0 || l.bands == 0) {
    fail("cannot decode TIFF " + path + ": it has no pixels (width " + std::to_string(l.width) + ", height " +
         std::to_string(l.height) + ", " + std::to_string(l.bands) + " bands)");
  }
  SampleMap m;
  const uint16_t fmt = l.format == SAMPLEFORMAT_VOID ? SAMPLEFORMAT_UINT : l.format;
  if (fmt == SAMPLEFORMAT_UINT && l.bits == 8) {
    m = {0.0, 1.0 / 255.0, 1, 8};
  } else if (fmt == SAMPLEFORMAT_UINT && l.bits == 16) {
    m = {0.0, 1.0 / 65535.0, 2, 16};
  } else if (fmt == SAMPLEFORMAT_INT && l.bits == 16) {
    m = {32768.0, 1.0 / 65535.0, 2, 16};
  } else if (fmt == SAMPLEFORMAT_IEEEFP && l.bits == 32) {
    m = {0.0, 1.0, 4, 32};
  } else {
    fail("cannot read TIFF " + path + ": sample type " + sample_type_name(l.format, l.bits) +
         " is not supported (expected uint8, uint16, int16 or float32 bands)");
  }
  if (l.photometric == PHOTOMETRIC_PALETTE) {
    fail("cannot read TIFF " + path + ": it is a palette (indexed colour) image; convert it to RGB or gray first");
  }
  if (l.photometric == PHOTOMETRIC_YCBCR) {
    uint16_t compression = COMPRESSION_NONE;
    TIFFGetFieldDefaulted(t, TIFFTAG_COMPRESSION, &compression);
    if (compression != COMPRESSION_JPEG) {
      fail("cannot read TIFF " + path + ": YCbCr samples without JPEG compression are not supported");
    }
    TIFFSetField(t, TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB);  // libtiff converts back to RGB
  }

  const int64_t W = l.width, H = l.height;
  {
    std::error_code ec;
    const auto file_bytes = fs::file_size(path, ec);
    // The floats returned, and one more image's worth while a caller converts them.
    check_declared_size(path, W, H, l.bands, m.bytes, ec ? 0 : static_cast<int64_t>(file_bytes),
                        2.0 * static_cast<double>(W) * static_cast<double>(H) * l.bands * sizeof(float));
  }
  const bool contig = l.planar == PLANARCONFIG_CONTIG || l.bands == 1;
  const int planes = contig ? 1 : l.bands;
  const int per_chunk = contig ? l.bands : 1;  // samples per pixel inside one strip or tile
  at::Tensor out = at::empty({l.bands, H, W}, at::kFloat);
  float* dst = out.data_ptr<float>();
  auto read_failed = [&](const char* what, int64_t index) {
    fail("cannot decode TIFF " + path + ": reading " + what + " " + std::to_string(index) + " failed: " + tiff_reason() +
         " (truncated or corrupt file?)");
  };

  if (TIFFIsTiled(t)) {
    uint32_t tw = 0, th = 0;
    TIFFGetField(t, TIFFTAG_TILEWIDTH, &tw);
    TIFFGetField(t, TIFFTAG_TILELENGTH, &th);
    if (tw == 0 || th == 0) fail("cannot decode TIFF " + path + ": tiled file without a tile size");
    std::vector<unsigned char> buf(static_cast<size_t>(TIFFTileSize(t)));
    const int64_t need = static_cast<int64_t>(tw) * th * per_chunk * m.bytes;
    if (static_cast<int64_t>(buf.size()) < need) fail("cannot decode TIFF " + path + ": inconsistent tile size");
    for (int p = 0; p < planes; ++p) {
      for (int64_t y0 = 0; y0 < H; y0 += th) {
        for (int64_t x0 = 0; x0 < W; x0 += tw) {
          const uint32_t tile = TIFFComputeTile(t, static_cast<uint32_t>(x0), static_cast<uint32_t>(y0), 0,
                                                static_cast<uint16_t>(p));
          if (TIFFReadEncodedTile(t, tile, buf.data(), static_cast<tmsize_t>(buf.size())) < 0) read_failed("tile", tile);
          scatter_any(fmt, buf.data(), static_cast<int64_t>(tw) * per_chunk, per_chunk, x0, y0, tw, th,
                      contig ? 0 : p, per_chunk, m, dst, W, H);
        }
      }
    }
  } else {
    uint32_t rps = 0;
    TIFFGetFieldDefaulted(t, TIFFTAG_ROWSPERSTRIP, &rps);
    if (rps == 0 || rps > l.height) rps = l.height;
    std::vector<unsigned char> buf(static_cast<size_t>(TIFFStripSize(t)));
    for (int p = 0; p < planes; ++p) {
      for (int64_t y0 = 0; y0 < H; y0 += rps) {
        const uint32_t strip = TIFFComputeStrip(t, static_cast<uint32_t>(y0), static_cast<uint16_t>(p));
        const tmsize_t got = TIFFReadEncodedStrip(t, strip, buf.data(), static_cast<tmsize_t>(buf.size()));
        const int64_t rows = std::min<int64_t>(rps, H - y0);
        if (got < 0) read_failed("strip", strip);
        if (static_cast<int64_t>(got) < rows * W * per_chunk * m.bytes) {
          fail("cannot decode TIFF " + path + ": strip " + std::to_string(strip) + " is shorter than its " +
               std::to_string(rows) + " rows (truncated file?)");
        }
        scatter_any(fmt, buf.data(), W * per_chunk, per_chunk, 0, y0, W, rows, contig ? 0 : p, per_chunk, m, dst, W, H);
      }
    }
  }
  // Nodata compared after the mapping, which is exact for every stored value (NaN matches NaN).
  double nodata_value = 0.0;
  at::Tensor nodata;
  if (read_nodata(t, nodata_value)) {
    nodata = std::isnan(nodata_value)
                 ? out.isnan()
                 : out.eq(static_cast<float>((nodata_value + m.offset) * m.scale));
  }
  check_samples(out, nodata, path, 0, 0);
  bit_depth = m.bit_depth;
  return out;
}

void save_tiff(const std::string& path, const at::Tensor& image) {
  at::Tensor img = image.detach().to(at::kCPU).to(at::kFloat);
  if (img.dim() == 2) img = img.unsqueeze(0);
  if (img.dim() != 3 || img.size(0) < 1 || img.size(0) > 65535) {
    fail("cannot save " + path + ": expected an image tensor [C,H,W], got " + c10::str(image.sizes()));
  }
  const int64_t c = img.size(0), h = img.size(1), w = img.size(2);
  if (h == 0 || w == 0) fail("cannot save " + path + ": the image is empty (" + c10::str(image.sizes()) + ")");
  const at::Tensor hwc = img.permute({1, 2, 0}).contiguous();
  write_atomically(path, [&](const std::string& tmp) {
    TiffPtr tif = open_tiff(tmp, "w");
    TIFF* t = tif.get();
    TIFFSetField(t, TIFFTAG_IMAGEWIDTH, static_cast<uint32_t>(w));
    TIFFSetField(t, TIFFTAG_IMAGELENGTH, static_cast<uint32_t>(h));
    TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, static_cast<uint16_t>(c));
    TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, static_cast<uint16_t>(32));
    TIFFSetField(t, TIFFTAG_SAMPLEFORMAT, static_cast<uint16_t>(SAMPLEFORMAT_IEEEFP));
    TIFFSetField(t, TIFFTAG_PLANARCONFIG, static_cast<uint16_t>(PLANARCONFIG_CONTIG));
    TIFFSetField(t, TIFFTAG_COMPRESSION, static_cast<uint16_t>(COMPRESSION_NONE));
    // Three bands read as RGB in viewers; any other count is gray plus unspecified extra bands.
    const bool rgb = c == 3;
    TIFFSetField(t, TIFFTAG_PHOTOMETRIC, static_cast<uint16_t>(rgb ? PHOTOMETRIC_RGB : PHOTOMETRIC_MINISBLACK));
    if (!rgb && c > 1) {
      std::vector<uint16_t> extra(static_cast<size_t>(c - 1), EXTRASAMPLE_UNSPECIFIED);
      TIFFSetField(t, TIFFTAG_EXTRASAMPLES, static_cast<uint16_t>(c - 1), extra.data());
    }
    TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, TIFFDefaultStripSize(t, 0));
    const float* src = hwc.data_ptr<float>();
    std::vector<float> row(static_cast<size_t>(w * c));
    for (int64_t y = 0; y < h; ++y) {
      std::memcpy(row.data(), src + y * w * c, row.size() * sizeof(float));  // libtiff may modify the row
      if (TIFFWriteScanline(t, row.data(), static_cast<uint32_t>(y), 0) < 0) {
        fail("cannot write TIFF " + path + ": " + tiff_reason() + " (disk full?)");
      }
    }
    if (!TIFFFlush(t)) fail("cannot write TIFF " + path + ": " + tiff_reason() + " (disk full?)");
  }, /*durable=*/false);
}

#endif  // P2P_HAVE_TIFF

}  // namespace p2p
