// Image files <-> float tensors (see image.h), on stb; PNG rows written with libpng when the build has
// it (P2P_HAVE_PNG). Files are read into memory first and decoded from there, so each failure
// (missing, empty, undecodable) gets its own message naming the file. Decoded samples stay in stb's
// buffer (no copy) and are converted to floats per window. The stb implementation is compiled into
// this file with internal linkage: nothing else links stb, and a machine that has only the stb headers
// builds the same code.
#include "p2p/io/image.h"

#include "p2p/core/error.h"
#include "p2p/io/fs.h"
#include "p2p/io/raster.h"
#include "p2p/io/tiff.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <system_error>
#include <vector>

#include <unistd.h>

#ifdef P2P_HAVE_PNG
#include <png.h>
#endif

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wstringop-overflow"
#endif
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_BMP
#define STBI_ONLY_TGA
#define STBI_ONLY_PNM
#define STBI_NO_LINEAR
#define STBI_NO_HDR
#define STBI_FAILURE_USERMSG
#include "stb_image.h"
#ifndef P2P_HAVE_PNG  // PNG is written with libpng when the build has it
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include "stb_image_write.h"
#endif
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

namespace fs = std::filesystem;

namespace p2p {

namespace {

constexpr const char* kFormats = "PNG, JPEG, BMP, TGA, PGM/PPM, TIFF";

// Whole file in memory, with distinct errors for the ways a path can fail before decoding.
std::vector<unsigned char> read_image_bytes(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) fail("cannot read image " + path + ": file does not exist");
  if (fs::is_directory(path, ec)) fail("cannot read image " + path + ": it is a folder, not a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot open image " + path + " for reading (permissions?)");
  std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (bytes.empty()) fail("image file " + path + " is empty (0 bytes)");
  return bytes;
}

[[noreturn]] void fail_decode(const std::string& path) {
  const char* reason = stbi_failure_reason();
  fail("cannot decode image " + path + ": " + (reason ? reason : "unknown error") +
       " (truncated or corrupt file, or not a supported format: " + kFormats + ")");
}

std::string asked_for(int channels, const std::string& flag) {
  return (flag.empty() ? "asked for " : flag + " asks for ") + std::to_string(channels) + " channel" +
         (channels == 1 ? "" : "s");
}

void check_channels(int channels, const std::string& path, const std::string& flag) {
  if (channels != 1 && channels != 3 && channels != 4) {
    fail("loading " + path + ": " + asked_for(channels, flag) +
         ", but colour image files give 1 (gray), 3 (RGB) or 4 (RGBA); N-channel data needs TIFF (.tif) files");
  }
}

// Binary PGM/PPM with maxval > 255 (16-bit). Decoded here because stb 2.27 reads these samples in the
// wrong byte order (the format is big-endian) and ignores maxval. Returns an undefined tensor for
// any other file, which then goes to stb.
at::Tensor decode_pnm16(const std::vector<unsigned char>& bytes, const std::string& path) {
  if (bytes.size() < 3 || bytes[0] != 'P' || (bytes[1] != '5' && bytes[1] != '6')) return at::Tensor();
  const int n = bytes[1] == '5' ? 1 : 3;
  size_t pos = 2;
  auto next_int = [&]() -> long {
    for (;;) {  // whitespace and # comments between header fields
      while (pos < bytes.size() && std::isspace(bytes[pos])) ++pos;
      if (pos < bytes.size() && bytes[pos] == '#') {
        while (pos < bytes.size() && bytes[pos] != '\n') ++pos;
      } else {
        break;
      }
    }
    long v = 0;
    size_t start = pos;
    while (pos < bytes.size() && std::isdigit(bytes[pos]) && v < (1L << 30)) v = v * 10 + (bytes[pos++] - '0');
    return pos == start ? -1 : v;
  };
  const long w = next_int(), h = next_int(), maxval = next_int();
  if (w <= 0 || h <= 0 || maxval <= 255 || maxval > 65535) return at::Tensor();
  ++pos;  // the single whitespace byte before the samples
  const int64_t count = static_cast<int64_t>(w) * h * n;
  if (pos > bytes.size() || static_cast<int64_t>(bytes.size() - pos) < 2 * count) {
    fail("cannot decode image " + path + ": 16-bit PNM data is truncated (expected " + std::to_string(2 * count) +
         " bytes of samples)");
  }
  at::Tensor hwc = at::empty({h, w, n}, at::kFloat);
  float* dst = hwc.data_ptr<float>();
  for (int64_t i = 0; i < count; ++i) {
    const unsigned v = (static_cast<unsigned>(bytes[pos + 2 * i]) << 8) | bytes[pos + 2 * i + 1];
    dst[i] = static_cast<float>(std::min<double>(v, maxval) / maxval);
  }
  return hwc;
}

// A PNG's IHDR: width, height and channels as stb decodes them (palette: RGB); false for other files.
// Sides beyond 2^31-1 (invalid in PNG) are clamped to it, which check_declared_size refuses.
bool png_header(const std::vector<unsigned char>& b, int& w, int& h, int& n) {
  static const unsigned char kSig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (b.size() < 29 || std::memcmp(b.data(), kSig, 8) != 0 || std::memcmp(b.data() + 12, "IHDR", 4) != 0) return false;
  auto be32 = [&](size_t i) {
    return (static_cast<uint32_t>(b[i]) << 24) | (static_cast<uint32_t>(b[i + 1]) << 16) |
           (static_cast<uint32_t>(b[i + 2]) << 8) | b[i + 3];
  };
  const uint32_t width = be32(16), height = be32(20);
  w = static_cast<int>(std::min<uint32_t>(width, 0x7fffffff));
  h = static_cast<int>(std::min<uint32_t>(height, 0x7fffffff));
  switch (b[25]) {
    case 0: n = 1; break;
    case 4: n = 2; break;
    case 6: n = 4; break;
    default: n = 3; break;  // RGB, palette
  }
  return true;
}

}  // namespace

bool is_image_file(const std::string& path) {
  const std::string ext = lower_extension(path);
  static const char* kExts[] = {".png", ".jpg", ".jpeg", ".bmp", ".tga", ".pgm", ".ppm", ".pnm", ".tif", ".tiff"};
  for (const char* e : kExts) {
    if (ext == e) return true;
  }
  return false;
}

at::Tensor convert_channels(const at::Tensor& unit, int channels, int bit_depth) {
  TORCH_CHECK(unit.dim() == 3, "convert_channels expects [C,H,W], got ", unit.sizes());
  const int64_t c = unit.size(0);
  if (c == channels) return unit;
  TORCH_CHECK((c == 1 || c == 3 || c == 4) && (channels == 1 || channels == 3 || channels == 4),
              "convert_channels: cannot convert ", c, " channels to ", channels);
  if (channels == 4) {  // opaque alpha appended to RGB
    at::Tensor rgb = convert_channels(unit, 3, bit_depth);
    return at::cat({rgb, at::ones({1, unit.size(1), unit.size(2)}, rgb.options())}, 0);
  }
  if (c == 4) return convert_channels(unit.narrow(0, 0, 3), channels, bit_depth);  // alpha dropped
  if (c == 1) return unit.expand({3, unit.size(1), unit.size(2)}).contiguous();
  if (bit_depth == 8) {
    // PIL's convert('L'): fixed-point weights 19595/38470/7471 (sum 65536) with rounding. Exact in
    // double: every term is an integer below 2^24.
    at::Tensor v = (unit.to(at::kDouble) * 255.0).round();
    at::Tensor y = ((v[0] * 19595.0 + v[1] * 38470.0 + v[2] * 7471.0 + 32768.0) / 65536.0).floor();
    return (y / 255.0).to(at::kFloat).unsqueeze(0);
  }
  at::Tensor y = unit[0] * 0.299 + unit[1] * 0.587 + unit[2] * 0.114;
  return y.clamp(0.0, 1.0).to(at::kFloat).unsqueeze(0);
}

at::Tensor load_image(const std::string& path, int channels, int& bit_depth, const std::string& channel_flag) {
  if (is_tiff_file(path)) {
    at::Tensor bands = load_tiff(path, bit_depth);
    if (bands.size(0) != channels) {
      const int pages = tiff_pages(path);
      fail(path + " has " + std::to_string(bands.size(0)) + " band" + (bands.size(0) == 1 ? "" : "s") + " but " +
           asked_for(channels, channel_flag) + " (TIFF bands are used as they are, never converted" +
           (pages > 1 ? "; the file has " + std::to_string(pages) +
                            " pages and only the first is read: store the bands as samples of one image"
                      : std::string()) +
           ")");
    }
    return bands;
  }
  const DecodedImage decoded = decode_image(path, channels, channel_flag);
  bit_depth = decoded.bit_depth;
  return decoded_to_unit(decoded, 0, 0, decoded.samples.size(1), decoded.samples.size(0));
}

DecodedImage decode_image(const std::string& path, int channels, const std::string& channel_flag) {
  if (is_tiff_file(path)) {
    fail("decoding " + path + ": TIFF bands are read by load_image or open_raster, not as colour samples");
  }
  check_channels(channels, path, channel_flag);
  DecodedImage out;
  out.channels = channels;
  const std::vector<unsigned char> bytes = read_image_bytes(path);
  const int len = static_cast<int>(std::min<size_t>(bytes.size(), 0x7fffffff));
  out.samples = decode_pnm16(bytes, path);
  if (out.samples.defined()) {
    out.bit_depth = 16;
    return out;
  }
  int w = 0, h = 0, n = 0;
  // The header's size is checked before stb allocates the decoded samples (what decode_image holds;
  // floats are made window by window). A PNG's is read here: stb refuses sides beyond 2^30 / channels
  // as "not of any known type".
  if (png_header(bytes, w, h, n)) {
    check_declared_size(path, w, h, n, 1, static_cast<int64_t>(bytes.size()));
  }
  if (!stbi_info_from_memory(bytes.data(), len, &w, &h, &n)) fail_decode(path);
  {
    const int bytes_per_sample = stbi_is_16_bit_from_memory(bytes.data(), len) ? 2 : 1;
    const double pixels = static_cast<double>(w) * static_cast<double>(h);
    check_declared_size(path, w, h, n, bytes_per_sample, static_cast<int64_t>(bytes.size()),
                        pixels * n * bytes_per_sample);
  }
  const auto free_stb = [](void* p) { stbi_image_free(p); };
  if (stbi_is_16_bit_from_memory(bytes.data(), len)) {
    std::unique_ptr<stbi_us, void (*)(void*)> data(stbi_load_16_from_memory(bytes.data(), len, &w, &h, &n, 0),
                                                   stbi_image_free);
    if (!data) fail_decode(path);
    // No uint16 dtype in older LibTorch: int16 holds the bits (decoded_to_unit reads them unsigned).
    out.samples = at::from_blob(data.get(), {h, w, n}, free_stb, at::TensorOptions().dtype(at::kShort));
    data.release();
    out.bit_depth = 16;
  } else {
    std::unique_ptr<stbi_uc, void (*)(void*)> data(stbi_load_from_memory(bytes.data(), len, &w, &h, &n, 0),
                                                   stbi_image_free);
    if (!data) fail_decode(path);
    out.samples = at::from_blob(data.get(), {h, w, n}, free_stb, at::TensorOptions().dtype(at::kByte));
    data.release();
    out.bit_depth = 8;
  }
  return out;
}

at::Tensor decoded_to_unit(const DecodedImage& image, int64_t x, int64_t y, int64_t w, int64_t h) {
  const at::Tensor& s = image.samples;
  TORCH_CHECK(s.dim() == 3 && x >= 0 && y >= 0 && w >= 1 && h >= 1 && x + w <= s.size(1) && y + h <= s.size(0),
              "decoded_to_unit: window ", w, "x", h, "+", x, "+", y, " outside the ", s.size(1), "x", s.size(0),
              " image");
  const at::Tensor window = s.narrow(0, y, h).narrow(1, x, w);
  at::Tensor hwc;
  switch (window.scalar_type()) {
    case at::kByte: hwc = window.to(at::kFloat) / 255.0; break;
    case at::kShort: hwc = window.to(at::kInt).bitwise_and_(0xFFFF).to(at::kFloat) / 65535.0; break;
    default: hwc = window.to(at::kFloat); break;  // 16-bit PGM/PPM, decoded to [0,1]
  }
  const int n = static_cast<int>(hwc.size(2)), channels = image.channels, bit_depth = image.bit_depth;
  // Alpha is dropped without compositing, as PIL's convert('RGB') does, unless RGBA is asked for.
  if (channels == 4 && (n == 2 || n == 4)) {
    at::Tensor rgb = convert_channels(hwc.narrow(2, 0, n - 1).permute({2, 0, 1}).contiguous(), 3, bit_depth);
    return at::cat({rgb, hwc.narrow(2, n - 1, 1).permute({2, 0, 1})}, 0).contiguous();
  }
  const int colour = (n == 1 || n == 2) ? 1 : 3;
  return convert_channels(hwc.narrow(2, 0, colour).permute({2, 0, 1}).contiguous(), channels, bit_depth);
}

at::Tensor load_image(const std::string& path, int channels) {
  int bit_depth = 8;
  return load_image(path, channels, bit_depth);
}

at::Tensor to_png_samples(const at::Tensor& chw) {
  // One float temporary, scaled and rounded in place: bands of a wide image are converted one at a time.
  at::Tensor v = chw.detach().to(at::kCPU, at::kFloat).clamp(0.0, 1.0);
  v.mul_(255.0).add_(0.5).floor_();
  return v.to(at::kByte).permute({1, 2, 0}).contiguous();
}

// What a PngRowWriter holds; its destructor cleans up after a writer that never finished (or whose
// constructor threw): libpng's structures, the open temp file and the temp file itself.
struct PngRowState {
  std::string path;
  int64_t width = 0, height = 0, rows = 0;
  int channels = 0;
  bool finished = false;
  bool failed = false;  // after a libpng error its structures must not be used again
#ifdef P2P_HAVE_PNG
  std::string tmp;
  FILE* file = nullptr;
  png_structp png = nullptr;
  png_infop info = nullptr;
  char error[256] = "";  // libpng's message of the error that jumped back
#else
  std::vector<uint8_t> pixels;  // every row, encoded by stb at finish
#endif
  ~PngRowState() {
#ifdef P2P_HAVE_PNG
    if (png) png_destroy_write_struct(&png, info ? &info : nullptr);
    if (file) std::fclose(file);
    if (!finished && !tmp.empty()) {
      std::error_code ec;
      fs::remove(tmp, ec);
    }
#endif
  }
};

namespace {

#ifdef P2P_HAVE_PNG
void on_png_error(png_structp png, png_const_charp message) {
  auto* s = static_cast<PngRowState*>(png_get_error_ptr(png));
  std::snprintf(s->error, sizeof s->error, "%s", message ? message : "libpng error");
  png_longjmp(png, 1);
}

void on_png_warning(png_structp, png_const_charp) {}

// libpng reports an error by longjmp to the last setjmp. The jump must not skip a C++ destructor, so
// every libpng call runs inside `calls`, from this frame, which owns nothing; false after an error.
template <typename Calls>
bool png_calls(PngRowState& s, Calls&& calls) {
  if (setjmp(png_jmpbuf(s.png))) {
    s.failed = true;
    return false;
  }
  calls();
  return true;
}
#endif

}  // namespace

PngRowWriter::PngRowWriter(const std::string& path, int64_t width, int64_t height, int channels)
    : state_(std::make_unique<PngRowState>()) {
  PngRowState& s = *state_;
  if (channels != 1 && channels != 3) {
    fail("cannot save " + path + ": PNG images are written with 1 (gray) or 3 (RGB) channels, not " +
         std::to_string(channels));
  }
  if (width < 1 || height < 1 || width > 0x7fffffff || height > 0x7fffffff) {
    fail("cannot save " + path + ": a PNG cannot be " + std::to_string(width) + "x" + std::to_string(height) +
         " pixels");
  }
  s.path = path;
  s.width = width;
  s.height = height;
  s.channels = channels;
  const fs::path target(path);
  if (target.has_parent_path()) make_dirs(target.parent_path().string());
#ifdef P2P_HAVE_PNG
  // Named like fs.h's temp files (<path>.tmp.<pid>.<n>), so a killed writer's file is recognised as stale.
  static std::atomic<uint64_t> counter{0};
  s.tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  s.file = std::fopen(s.tmp.c_str(), "wb");
  if (!s.file) fail("cannot open " + s.tmp + " for writing (while saving " + path + "): " + std::strerror(errno));
  s.png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &s, on_png_error, on_png_warning);
  if (s.png) s.info = png_create_info_struct(s.png);
  if (!s.png || !s.info) fail("cannot save " + path + ": libpng could not start (out of memory?)");
  const bool ok = png_calls(s, [&] {
    png_init_io(s.png, s.file);
    png_set_user_limits(s.png, 0x7fffffff, 0x7fffffff);  // libpng's default caps sides at 1,000,000
    png_set_IHDR(s.png, s.info, static_cast<png_uint_32>(width), static_cast<png_uint_32>(height), 8,
                 channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(s.png, s.info);
  });
  if (!ok) fail("cannot save " + path + ": " + s.error);
#endif
}

PngRowWriter::~PngRowWriter() = default;

int64_t PngRowWriter::rows_written() const { return state_->rows; }

void PngRowWriter::write_rows(const uint8_t* rows, int64_t count) {
  PngRowState& s = *state_;
  if (s.finished || s.failed) {
    fail("writing " + s.path + ": rows after the file was " + (s.failed ? "abandoned" : "finished"));
  }
  if (count < 0 || s.rows + count > s.height) {
    fail("writing " + s.path + ": " + std::to_string(s.rows + count) + " rows for an image " +
         std::to_string(s.height) + " rows high");
  }
  const size_t stride = static_cast<size_t>(s.width) * static_cast<size_t>(s.channels);
#ifdef P2P_HAVE_PNG
  const bool ok = png_calls(s, [&] {
    for (int64_t i = 0; i < count; ++i) png_write_row(s.png, rows + static_cast<size_t>(i) * stride);
  });
  if (!ok) fail("cannot write " + s.path + ": " + s.error + " (disk full?)");
#else
  s.pixels.insert(s.pixels.end(), rows, rows + static_cast<size_t>(count) * stride);
#endif
  s.rows += count;
}

void PngRowWriter::finish() {
  PngRowState& s = *state_;
  if (s.finished) return;
  if (s.failed) fail("cannot finish " + s.path + ": writing it failed");
  if (s.rows != s.height) {
    fail("cannot finish " + s.path + ": " + std::to_string(s.rows) + " of its " + std::to_string(s.height) +
         " rows were written");
  }
#ifdef P2P_HAVE_PNG
  if (!png_calls(s, [&] { png_write_end(s.png, nullptr); })) fail("cannot write " + s.path + ": " + s.error);
  png_destroy_write_struct(&s.png, &s.info);
  FILE* file = s.file;
  s.file = nullptr;
  const bool flushed = std::fflush(file) == 0 && !std::ferror(file);
  if (std::fclose(file) != 0 || !flushed) fail("cannot write " + s.path + " (disk full?)");
  if (::rename(s.tmp.c_str(), s.path.c_str()) != 0) fail("cannot write " + s.path + ": " + std::strerror(errno));
#else
  std::string png;
  auto append = [](void* ctx, void* data, int size) {
    static_cast<std::string*>(ctx)->append(static_cast<const char*>(data), static_cast<size_t>(size));
  };
  if (!stbi_write_png_to_func(append, &png, static_cast<int>(s.width), static_cast<int>(s.height), s.channels,
                              s.pixels.data(), static_cast<int>(s.width) * s.channels)) {
    fail("cannot encode " + s.path + " as PNG");
  }
  std::vector<uint8_t>().swap(s.pixels);
  write_atomically(s.path, [&](const std::string& tmp) {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) fail("cannot open " + tmp + " for writing (while saving " + s.path + ")");
    out.write(png.data(), static_cast<std::streamsize>(png.size()));
    out.flush();
    if (!out) fail("cannot write " + s.path + " (disk full?)");
  }, /*durable=*/false);  // an output image can be made again: no flush for each of the hundreds a test writes
#endif
  s.finished = true;
}

void save_png(const std::string& path, const at::Tensor& image) {
  at::Tensor img = image;
  if (img.dim() == 2) img = img.unsqueeze(0);
  if (img.dim() != 3 || (img.size(0) != 1 && img.size(0) != 3)) {
    fail("cannot save " + path + ": expected an image tensor [1|3,H,W], got " + c10::str(image.sizes()));
  }
  if (img.size(1) == 0 || img.size(2) == 0) {
    fail("cannot save " + path + ": the image is empty (" + c10::str(image.sizes()) + ")");
  }
  const at::Tensor hwc = to_png_samples(img);
  PngRowWriter png(path, img.size(2), img.size(1), static_cast<int>(img.size(0)));
  png.write_rows(hwc.data_ptr<uint8_t>(), hwc.size(0));
  png.finish();
}

at::Tensor to_display(const at::Tensor& unit) {
  TORCH_CHECK(unit.dim() == 3 && unit.size(0) >= 1, "to_display expects [C,H,W], got ", unit.sizes());
  const int64_t c = unit.size(0);
  if (c == 1 || c == 3) return unit;
  return unit.narrow(0, 0, c == 2 ? 1 : 3);
}

void image_size(const std::string& path, int& width, int& height) {
  std::error_code ec;
  if (!fs::exists(path, ec)) fail("cannot read image " + path + ": file does not exist");
  if (fs::is_directory(path, ec)) fail("cannot read image " + path + ": it is a folder, not a file");
  if (fs::file_size(path, ec) == 0 && !ec) fail("image file " + path + " is empty (0 bytes)");
  if (is_tiff_file(path)) {
    int bands = 0;
    tiff_info(path, width, height, bands);
    return;
  }
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), std::fclose);
  if (!f) fail("cannot open image " + path + " for reading (permissions?)");
  int n = 0;
  if (!stbi_info_from_file(f.get(), &width, &height, &n)) fail_decode(path);
}

at::Tensor to_network_range(const at::Tensor& unit) { return unit * 2.0 - 1.0; }

at::Tensor to_unit_range(const at::Tensor& net) { return (net + 1.0) * 0.5; }

}  // namespace p2p
