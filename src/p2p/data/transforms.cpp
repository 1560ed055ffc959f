// Pair preprocessing (see transforms.h). The bicubic resampler follows PIL's published algorithm
// (separable passes, horizontal first; kernel support scaled by the shrink factor; 8-bit data in
// fixed point with a clip after each pass) because the reference pipeline resizes with PIL: the
// same weights give the same training images, where at::upsample_bicubic2d (a = -0.75, no
// antialiasing) would alias when shrinking and differ in every pixel.
#include "p2p/data/transforms.h"

#include "p2p/core/error.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace p2p {

namespace {

constexpr double kSupport = 2.0;
constexpr int kPrecisionBits = 32 - 8 - 2;

double cubic(double x) {
  constexpr double a = -0.5;
  x = std::fabs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
  if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
  return 0.0;
}

// Per output index: first source index, tap count and ksize normalised weights.
struct Coeffs {
  int ksize = 0;
  std::vector<int> first;
  std::vector<int> count;
  std::vector<double> weights;
};

Coeffs make_coeffs(int in_size, int out_size) {
  Coeffs c;
  const double scale = static_cast<double>(in_size) / out_size;
  const double filterscale = std::max(scale, 1.0);
  const double support = kSupport * filterscale;
  c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.first.resize(out_size);
  c.count.resize(out_size);
  c.weights.assign(static_cast<size_t>(out_size) * c.ksize, 0.0);
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = (xx + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    // Truncation toward zero, as in the C original; negatives clamp to 0 anyway.
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double* k = &c.weights[static_cast<size_t>(xx) * c.ksize];
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      k[x] = cubic((x + xmin - center + 0.5) * ss);
      ww += k[x];
    }
    if (ww != 0.0) {
      for (int x = 0; x < xmax; ++x) k[x] /= ww;
    }
    c.first[xx] = xmin;
    c.count[xx] = xmax;
  }
  return c;
}

std::vector<int> fixed_point(const Coeffs& c) {
  std::vector<int> out(c.weights.size());
  for (size_t i = 0; i < out.size(); ++i) {
    const double v = c.weights[i] * (1 << kPrecisionBits);
    out[i] = static_cast<int>(c.weights[i] < 0 ? v - 0.5 : v + 0.5);
  }
  return out;
}

inline uint8_t clip8(int v) {
  v >>= kPrecisionBits;  // arithmetic shift: floor division, like the original
  return static_cast<uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v));
}

// One separable pass over planes of `rows` lines: out[line][o] = sum_k in[line][first+k] * w[k], where
// `stride_in`/`stride_out` step along the resampled axis and `line_in`/`line_out` between lines.
void pass_8bit(const uint8_t* in, uint8_t* out, int lines, int out_len, int64_t line_in, int64_t stride_in,
               int64_t line_out, int64_t stride_out, const Coeffs& c, const std::vector<int>& kk) {
  for (int l = 0; l < lines; ++l) {
    const uint8_t* src = in + l * line_in;
    uint8_t* dst = out + l * line_out;
    for (int o = 0; o < out_len; ++o) {
      const int* k = &kk[static_cast<size_t>(o) * c.ksize];
      int acc = 1 << (kPrecisionBits - 1);
      const uint8_t* s = src + c.first[o] * stride_in;
      for (int t = 0; t < c.count[o]; ++t) acc += s[t * stride_in] * k[t];
      dst[o * stride_out] = clip8(acc);
    }
  }
}

void pass_float(const double* in, double* out, int lines, int out_len, int64_t line_in, int64_t stride_in,
                int64_t line_out, int64_t stride_out, const Coeffs& c) {
  for (int l = 0; l < lines; ++l) {
    const double* src = in + l * line_in;
    double* dst = out + l * line_out;
    for (int o = 0; o < out_len; ++o) {
      const double* k = &c.weights[static_cast<size_t>(o) * c.ksize];
      double acc = 0.0;
      const double* s = src + c.first[o] * stride_in;
      for (int t = 0; t < c.count[o]; ++t) acc += s[t * stride_in] * k[t];
      dst[o * stride_out] = acc;
    }
  }
}

// Resizes every [H,W] plane of `planes` ([P,H,W], contiguous) with element type T.
template <typename T, typename Pass>
at::Tensor resize_planes(const at::Tensor& planes, int out_w, int out_h, at::ScalarType dtype, Pass pass) {
  const int p = static_cast<int>(planes.size(0));
  const int in_h = static_cast<int>(planes.size(1));
  const int in_w = static_cast<int>(planes.size(2));
  at::Tensor cur = planes;
  if (out_w != in_w) {
    Coeffs c = make_coeffs(in_w, out_w);
    at::Tensor next = at::empty({p, in_h, out_w}, at::TensorOptions().dtype(dtype));
    pass(cur.data_ptr<T>(), next.data_ptr<T>(), p * in_h, out_w, in_w, 1, out_w, 1, c);
    cur = next;
  }
  if (out_h != in_h) {
    const int w = static_cast<int>(cur.size(2));
    Coeffs c = make_coeffs(in_h, out_h);
    at::Tensor next = at::empty({p, out_h, w}, at::TensorOptions().dtype(dtype));
    for (int plane = 0; plane < p; ++plane) {
      const T* src = cur.data_ptr<T>() + static_cast<int64_t>(plane) * in_h * w;
      T* dst = next.data_ptr<T>() + static_cast<int64_t>(plane) * out_h * w;
      // Lines are columns here: step 1 between them, `w` along the resampled axis.
      pass(src, dst, w, out_h, 1, w, 1, w, c);
    }
    cur = next;
  }
  return cur;
}

int64_t random_below(std::mt19937_64& rng, int64_t n) {
  // Plain modulo: the bias is below n / 2^64; std::uniform_int_distribution would differ across stdlibs.
  return n <= 1 ? 0 : static_cast<int64_t>(rng() % static_cast<uint64_t>(n));
}

}  // namespace

at::Tensor resize_bicubic(const at::Tensor& unit, int width, int height, int bit_depth) {
  TORCH_CHECK(unit.dim() == 3, "resize_bicubic expects [C,H,W], got ", unit.sizes());
  TORCH_CHECK(width > 0 && height > 0, "resize_bicubic: target size must be positive");
  if (unit.size(1) == height && unit.size(2) == width) return unit;
  if (bit_depth == 8) {
    at::Tensor bytes = (unit.to(at::kFloat).clamp(0.0, 1.0) * 255.0).round().to(at::kByte).contiguous();
    at::Tensor out = resize_planes<uint8_t>(
        bytes, width, height, at::kByte,
        [](const uint8_t* in, uint8_t* out, int lines, int out_len, int64_t li, int64_t si, int64_t lo,
           int64_t so, const Coeffs& c) { pass_8bit(in, out, lines, out_len, li, si, lo, so, c, fixed_point(c)); });
    return out.to(at::kFloat) / 255.0;
  }
  at::Tensor doubles = unit.to(at::kDouble).contiguous();
  at::Tensor out = resize_planes<double>(doubles, width, height, at::kDouble, pass_float);
  return out.clamp(0.0, 1.0).to(at::kFloat);
}

void preprocess_size(const DataConfig& cfg, int w, int h, int& out_w, int& out_h) {
  const std::string& mode = cfg.preprocess;
  if (mode == "resize_and_crop") {
    out_w = out_h = cfg.load_size;
  } else if (mode == "scale_width" || mode == "scale_width_and_crop") {
    out_w = cfg.load_size;
    out_h = static_cast<int>(std::max<int64_t>(static_cast<int64_t>(cfg.load_size) * h / w, cfg.crop_size));
  } else if (mode == "crop") {
    out_w = w;
    out_h = h;
  } else if (mode == "none") {
    const int m = std::max(1, cfg.size_multiple);
    // Nearest multiple, ties to even (as Python's round in the reference).
    auto round_to = [m](int v) { return std::max(m, static_cast<int>(std::nearbyint(static_cast<double>(v) / m)) * m); };
    out_w = round_to(w);
    out_h = round_to(h);
  } else {
    fail("--preprocess: unknown value '" + mode +
         "' (expected one of resize_and_crop|crop|scale_width|scale_width_and_crop|none)");
  }
}

AugmentParams draw_augment(const DataConfig& cfg, int w, int h, uint64_t seed, bool augment,
                           const std::string& file) {
  AugmentParams p;
  preprocess_size(cfg, w, h, p.resize_w, p.resize_h);
  p.crop = cfg.preprocess.find("crop") != std::string::npos;
  // Always draw in the same order so the flip does not depend on the preprocess mode.
  std::mt19937_64 rng(seed);
  if (p.crop) {
    const int c = cfg.crop_size;
    if (p.resize_w < c || p.resize_h < c) {
      std::string size = std::to_string(w) + "x" + std::to_string(h);
      if (p.resize_w != w || p.resize_h != h) {
        size += " (" + std::to_string(p.resize_w) + "x" + std::to_string(p.resize_h) + " after --preprocess " +
                cfg.preprocess + " with --load_size " + std::to_string(cfg.load_size) + ")";
      }
      fail(file + ": image of " + size + " is smaller than --crop_size " + std::to_string(c) +
           "; use a smaller --crop_size, a larger --load_size or another --preprocess");
    }
    if (augment) {
      p.crop_x = static_cast<int>(random_below(rng, p.resize_w - c + 1));
      p.crop_y = static_cast<int>(random_below(rng, p.resize_h - c + 1));
    } else {
      p.crop_x = (p.resize_w - c) / 2;
      p.crop_y = (p.resize_h - c) / 2;
    }
  }
  const bool coin = (rng() >> 63) != 0;
  p.flip = augment && !cfg.no_flip && coin;
  return p;
}

at::Tensor apply_augment(const at::Tensor& unit, const AugmentParams& p, int crop_size, int bit_depth) {
  at::Tensor img = resize_bicubic(unit, p.resize_w, p.resize_h, bit_depth);
  if (p.crop) img = img.narrow(1, p.crop_y, crop_size).narrow(2, p.crop_x, crop_size);
  if (p.flip) img = img.flip({2});
  return img.contiguous();
}

}  // namespace p2p
