// Image files <-> float tensors (see image.h), on stb. Files are read into memory first and decoded
// from there, so each failure (missing, empty, undecodable) gets its own message naming the file.
// The stb implementation is compiled into this file with internal linkage: nothing else links stb,
// and a machine that has only the stb headers builds the same code.
#include "p2p/io/image.h"

#include "p2p/core/error.h"
#include "p2p/io/fs.h"
#include "p2p/io/tiff.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <vector>

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
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include "stb_image_write.h"
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
  check_channels(channels, path, channel_flag);
  std::vector<unsigned char> bytes = read_image_bytes(path);
  const int len = static_cast<int>(std::min<size_t>(bytes.size(), 0x7fffffff));
  int w = 0, h = 0, n = 0;
  at::Tensor hwc = decode_pnm16(bytes, path);
  if (hwc.defined()) {
    n = static_cast<int>(hwc.size(2));
    bit_depth = 16;
  } else if (stbi_is_16_bit_from_memory(bytes.data(), len)) {
    std::unique_ptr<stbi_us, void (*)(void*)> data(stbi_load_16_from_memory(bytes.data(), len, &w, &h, &n, 0),
                                                   stbi_image_free);
    if (!data) fail_decode(path);
    // No uint16 dtype in older LibTorch: widen through int32.
    hwc = at::empty({h, w, n}, at::kInt);
    int32_t* dst = hwc.data_ptr<int32_t>();
    const int64_t count = static_cast<int64_t>(h) * w * n;
    for (int64_t i = 0; i < count; ++i) dst[i] = data.get()[i];
    hwc = hwc.to(at::kFloat) / 65535.0;
    bit_depth = 16;
  } else {
    std::unique_ptr<stbi_uc, void (*)(void*)> data(stbi_load_from_memory(bytes.data(), len, &w, &h, &n, 0),
                                                   stbi_image_free);
    if (!data) fail_decode(path);
    hwc = at::from_blob(data.get(), {h, w, n}, at::kByte).to(at::kFloat) / 255.0;
    bit_depth = 8;
  }
  // Alpha is dropped without compositing, as PIL's convert('RGB') does, unless RGBA is asked for.
  at::Tensor chw;
  if (channels == 4 && (n == 2 || n == 4)) {
    at::Tensor rgb = convert_channels(hwc.narrow(2, 0, n - 1).permute({2, 0, 1}).contiguous(), 3, bit_depth);
    chw = at::cat({rgb, hwc.narrow(2, n - 1, 1).permute({2, 0, 1})}, 0).contiguous();
    return chw;
  }
  const int colour = (n == 1 || n == 2) ? 1 : 3;
  chw = hwc.narrow(2, 0, colour).permute({2, 0, 1}).contiguous();
  return convert_channels(chw, channels, bit_depth);
}

at::Tensor load_image(const std::string& path, int channels) {
  int bit_depth = 8;
  return load_image(path, channels, bit_depth);
}

void save_png(const std::string& path, const at::Tensor& image) {
  at::Tensor img = image.detach().to(at::kCPU).to(at::kFloat);
  if (img.dim() == 2) img = img.unsqueeze(0);
  if (img.dim() != 3 || (img.size(0) != 1 && img.size(0) != 3)) {
    fail("cannot save " + path + ": expected an image tensor [1|3,H,W], got " + c10::str(image.sizes()));
  }
  const int c = static_cast<int>(img.size(0));
  const int h = static_cast<int>(img.size(1));
  const int w = static_cast<int>(img.size(2));
  if (h == 0 || w == 0) fail("cannot save " + path + ": the image is empty (" + c10::str(image.sizes()) + ")");
  at::Tensor hwc = (img.clamp(0.0, 1.0) * 255.0 + 0.5).floor().to(at::kByte).permute({1, 2, 0}).contiguous();
  std::string png;
  auto append = [](void* ctx, void* data, int size) {
    static_cast<std::string*>(ctx)->append(static_cast<const char*>(data), static_cast<size_t>(size));
  };
  if (!stbi_write_png_to_func(append, &png, w, h, c, hwc.data_ptr<uint8_t>(), w * c)) {
    fail("cannot encode " + path + " as PNG");
  }
  write_atomically(path, [&](const std::string& tmp) {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) fail("cannot open " + tmp + " for writing (while saving " + path + ")");
    out.write(png.data(), static_cast<std::streamsize>(png.size()));
    out.flush();
    if (!out) fail("cannot write " + path + " (disk full?)");
  }, /*durable=*/false);  // an output image can be made again: no flush for each of the hundreds a test writes
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
