// Forward-only PNG rows through libpng (png_rows.h). Samples are expanded as stb expands them (palette
// to RGB, low-bit gray to 8 bits, a tRNS chunk to an alpha channel; 16-bit kept), then converted by
// decoded_to_unit, so a window equals load_image's.
#include "p2p/io/png_rows.h"

#include "p2p/core/error.h"
#include "p2p/io/image.h"

#include <ATen/ATen.h>

#include <csetjmp>
#include <cstdio>
#include <filesystem>

#ifdef P2P_HAVE_PNG
#include <png.h>
#endif

namespace p2p {

#ifdef P2P_HAVE_PNG
namespace {

struct PngReadState {
  FILE* file = nullptr;
  png_structp png = nullptr;
  png_infop info = nullptr;
  char error[256] = "";
  ~PngReadState() {
    if (png) png_destroy_read_struct(&png, info ? &info : nullptr, nullptr);
    if (file) std::fclose(file);
  }
};

void on_error(png_structp png, png_const_charp message) {
  auto* s = static_cast<PngReadState*>(png_get_error_ptr(png));
  std::snprintf(s->error, sizeof s->error, "%s", message ? message : "libpng error");
  png_longjmp(png, 1);
}
void on_warning(png_structp, png_const_charp) {}

// Every libpng call runs inside `calls` from this frame, which owns nothing (a longjmp skips no
// destructor); false after an error.
template <typename Calls>
bool png_calls(PngReadState& s, Calls&& calls) {
  if (setjmp(png_jmpbuf(s.png))) return false;
  calls();
  return true;
}

class PngRowsReader : public RasterReader {
 public:
  PngRowsReader(std::unique_ptr<PngReadState> s, int channels, int n, int bit_depth, int64_t width, int64_t height,
                std::string path)
      : s_(std::move(s)), channels_(channels), n_(n), bit_depth_(bit_depth), path_(std::move(path)) {
    name_ = path_;
    info_.width = width;
    info_.height = height;
    info_.bands = channels;
    info_.type = bit_depth == 8 ? SampleType::u8 : SampleType::u16;
    info_.bit_depth = bit_depth;
    cache_ = at::empty({0, width, n}, bit_depth == 8 ? at::kByte : at::kShort);
  }

  at::Tensor read(int64_t x, int64_t y, int64_t w, int64_t h) override {
    if (x < 0 || w < 1 || x + w > info_.width || y < 0 || h < 1 || y + h > info_.height || y < cache_y0_) {
      fail(path_ + ": rows " + std::to_string(y) + "+" + std::to_string(h) + " cannot be read here (the file is read " +
           "forward, from row " + std::to_string(cache_y0_) + ", of " + std::to_string(info_.height) + ")");
    }
    // Drop the rows above the window, then decode rows until the window's last.
    const int64_t keep_from = std::min<int64_t>(y - cache_y0_, cache_.size(0));
    cache_ = cache_.narrow(0, keep_from, cache_.size(0) - keep_from);
    cache_y0_ += keep_from;
    const int64_t missing = (y + h) - (cache_y0_ + cache_.size(0));
    if (missing > 0) {
      at::Tensor fresh = at::empty({missing, info_.width, n_}, cache_.options());
      PngReadState& s = *s_;
      uint8_t* base = static_cast<uint8_t*>(fresh.data_ptr());
      const int64_t stride = info_.width * n_ * (bit_depth_ == 8 ? 1 : 2);
      const bool ok = png_calls(s, [&] {
        for (int64_t r = 0; r < missing; ++r) png_read_row(s.png, base + r * stride, nullptr);
      });
      if (!ok) fail(path_ + ": cannot decode PNG rows (" + s.error + ")");
      cache_ = cache_.size(0) > 0 ? at::cat({cache_, fresh}, 0) : fresh;
    }
    DecodedImage window;
    window.samples = cache_.narrow(0, y - cache_y0_, h);
    window.bit_depth = bit_depth_;
    window.channels = channels_;
    return decoded_to_unit(window, x, 0, w, h);
  }

 private:
  std::unique_ptr<PngReadState> s_;
  int channels_, n_, bit_depth_;
  std::string path_;
  at::Tensor cache_;  // rows [cache_y0_, cache_y0_ + rows) as decoded samples [rows, width, n]
  int64_t cache_y0_ = 0;
};

}  // namespace
#endif

std::unique_ptr<RasterReader> open_png_rows(const std::string& path, int channels, const std::string& channel_flag) {
#ifdef P2P_HAVE_PNG
  (void)channel_flag;  // 1 and 3 channels are made from any PNG, as load_image makes them
  if (channels != 1 && channels != 3) return nullptr;
  auto s = std::make_unique<PngReadState>();
  s->file = std::fopen(path.c_str(), "rb");
  if (!s->file) return nullptr;
  unsigned char sig[8] = {0};
  if (std::fread(sig, 1, 8, s->file) != 8 || png_sig_cmp(sig, 0, 8) != 0) return nullptr;
  s->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, s.get(), on_error, on_warning);
  if (!s->png) return nullptr;
  s->info = png_create_info_struct(s->png);
  if (!s->info) return nullptr;
  png_uint_32 width = 0, height = 0;
  int depth = 0, colour = 0, interlace = 0, n = 0;
  const bool ok = png_calls(*s, [&] {
    png_init_io(s->png, s->file);
    png_set_sig_bytes(s->png, 8);
    png_set_user_limits(s->png, 0x7fffffff, 0x7fffffff);
    png_read_info(s->png, s->info);
    png_get_IHDR(s->png, s->info, &width, &height, &depth, &colour, &interlace, nullptr, nullptr);
    if (interlace != PNG_INTERLACE_NONE) return;
    if (colour == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(s->png);
    if (colour == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(s->png);
    if (png_get_valid(s->png, s->info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(s->png);
    if (depth == 16) png_set_swap(s->png);  // native (little-endian) uint16 bits in int16 samples
    png_read_update_info(s->png, s->info);
    n = png_get_channels(s->png, s->info);
  });
  if (!ok || interlace != PNG_INTERLACE_NONE || n < 1 || n > 4) return nullptr;  // open_raster says what is wrong
  std::error_code ec;
  const auto file_bytes = static_cast<int64_t>(std::filesystem::file_size(path, ec));
  if (ec) return nullptr;
  const int bit_depth = depth == 16 ? 16 : 8;
  check_declared_size(path, width, height, n, bit_depth / 8, file_bytes);
  return std::make_unique<PngRowsReader>(std::move(s), channels, n, bit_depth, width, height, path);
#else
  (void)path, (void)channels, (void)channel_flag;
  return nullptr;
#endif
}

}  // namespace p2p
