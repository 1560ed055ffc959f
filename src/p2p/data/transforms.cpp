// Pair preprocessing (see transforms.h). The bicubic resampler follows PIL's published algorithm
// (separable passes, horizontal first; kernel support scaled by the shrink factor; 8-bit data in
// fixed point with a clip after each pass) because the reference pipeline resizes with PIL: the
// same weights give the same training images, where at::upsample_bicubic2d (a = -0.75, no
// antialiasing) would alias when shrinking and differ in every pixel.
#include "p2p/data/transforms.h"

#include "p2p/core/error.h"
#include "p2p/data/sampling.h"

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

// Tag of the second random stream (--augment strong), mixed into the per-pair seed so its draws are
// independent of the crop/flip stream, which therefore stays exactly that of --augment basic.
constexpr uint64_t kStrongStream = 0x5354524f4e47ull;  // "STRONG"
constexpr double kPi = 3.14159265358979323846;

// Uniform double in [0,1) from the top 53 bits: the same on every standard library.
double uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

double uniform(std::mt19937_64& rng, double lo, double hi) { return lo + (hi - lo) * uniform01(rng); }

// Index into [0, n) mirrored about the edges with the edge pixel repeated: -1 -> 0, n -> n-1, 2n -> 0.
inline int64_t mirror(int64_t i, int64_t n) {
  const int64_t period = 2 * n;
  i %= period;
  if (i < 0) i += period;
  return i < n ? i : period - 1 - i;
}

// torchvision's blend for float images: clamp(f * img + (1 - f) * other, 0, 1).
at::Tensor blend(const at::Tensor& img, const at::Tensor& other, double f) {
  return (img * f + other * (1.0 - f)).clamp(0.0, 1.0);
}

// ITU-R 601 luma with the coefficients torchvision's rgb_to_grayscale uses on float images: [1,H,W].
at::Tensor luma(const at::Tensor& rgb) { return (rgb[0] * 0.2989 + rgb[1] * 0.587 + rgb[2] * 0.114).unsqueeze(0); }

// Hexcone HSV of one pixel; h in turns [0,1).
void to_hsv(double r, double g, double b, double& h, double& s, double& v) {
  const double hi = std::max({r, g, b});
  const double lo = std::min({r, g, b});
  const double span = hi - lo;
  v = hi;
  s = hi > 0.0 ? span / hi : 0.0;
  if (span == 0.0) {
    h = 0.0;
    return;
  }
  double sixths;
  if (hi == r) {
    sixths = (g - b) / span;  // in (-1, 1]: wraps below
  } else if (hi == g) {
    sixths = 2.0 + (b - r) / span;
  } else {
    sixths = 4.0 + (r - g) / span;
  }
  h = sixths / 6.0;
  if (h < 0.0) h += 1.0;
}

void from_hsv(double h, double s, double v, double& r, double& g, double& b) {
  const double h6 = h * 6.0;
  const double base = std::floor(h6);
  const double f = h6 - base;
  const int sector = static_cast<int>(base) % 6;
  const double p = v * (1.0 - s);
  const double q = v * (1.0 - s * f);         // falling edge
  const double t = v * (1.0 - s * (1.0 - f));  // rising edge
  switch (sector < 0 ? sector + 6 : sector) {
    case 0: r = v; g = t; b = p; break;
    case 1: r = q; g = v; b = p; break;
    case 2: r = p; g = v; b = t; break;
    case 3: r = p; g = q; b = v; break;
    case 4: r = t; g = p; b = v; break;
    default: r = v; g = p; b = q; break;
  }
}

// Rotates every pixel's hue by `turns` (a float [3,H,W] image in [0,1]).
at::Tensor shift_hue(const at::Tensor& rgb, double turns) {
  at::Tensor src = rgb.to(at::kFloat).contiguous();
  at::Tensor out = at::empty_like(src);
  const int64_t n = src.size(1) * src.size(2);
  const float* in = src.data_ptr<float>();
  float* dst = out.data_ptr<float>();
  for (int64_t i = 0; i < n; ++i) {
    double h, s, v, r, g, b;
    to_hsv(in[i], in[n + i], in[2 * n + i], h, s, v);
    h += turns;
    h -= std::floor(h);
    from_hsv(h, s, v, r, g, b);
    dst[i] = static_cast<float>(r);
    dst[n + i] = static_cast<float>(g);
    dst[2 * n + i] = static_cast<float>(b);
  }
  return out;
}

// The 2x2 taps of bilinear sampling at continuous pixel coordinate (x, y), mirrored at the borders.
template <typename F>
void bilinear_taps(double x, double y, int64_t w, int64_t h, F&& tap) {
  const double x0 = std::floor(x), y0 = std::floor(y);
  const double fx = x - x0, fy = y - y0;
  const int64_t ix = static_cast<int64_t>(x0), iy = static_cast<int64_t>(y0);
  const int64_t xa = mirror(ix, w), xb = mirror(ix + 1, w);
  const int64_t ya = mirror(iy, h), yb = mirror(iy + 1, h);
  tap(ya * w + xa, (1.0 - fx) * (1.0 - fy));
  tap(ya * w + xb, fx * (1.0 - fy));
  tap(yb * w + xa, (1.0 - fx) * fy);
  tap(yb * w + xb, fx * fy);
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
  // Integer samples live in [0,1] (PIL clips its integer modes); float bands are physical values
  // (backscatter, reflectance) that --normalize dataset rescales later, so they keep their range.
  if (bit_depth == 32) return out.to(at::kFloat);
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

void check_augment_config(const DataConfig& cfg) {
  check_choice("--augment", cfg.augment, "none|basic|strong");
  check_choice("--jitter_side", cfg.jitter_side, "input|target|both|none");
  if (!(cfg.jitter >= 0.0)) fail("--jitter must be 0 or more (got " + std::to_string(cfg.jitter) + ")");
  if (!(cfg.rotate >= 0.0 && cfg.rotate <= 180.0)) {
    fail("--rotate must be in [0, 180] degrees (got " + std::to_string(cfg.rotate) + ")");
  }
  if (!(cfg.scale_jitter >= 0.0 && cfg.scale_jitter < 1.0)) {
    fail("--scale_jitter must be in [0, 1) (got " + std::to_string(cfg.scale_jitter) + "): the scale is drawn from [1 - s, 1 + s]");
  }
  if (!cfg.palette.empty() && cfg.augment == "strong") {
    fail("--augment strong: its rotation/scale warp interpolates, and label maps (--palette) are never "
         "interpolated; use --augment basic (resize, crop and flip reach the labels by nearest sampling)");
  }
}

AugmentParams draw_augment(const DataConfig& cfg, int w, int h, uint64_t seed, bool augment,
                           const std::string& file) {
  check_augment_config(cfg);
  // --augment none trains on the deterministic preprocessing of validation and test.
  const bool random = augment && cfg.augment != "none";
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
    if (random) {
      p.crop_x = static_cast<int>(random_below(rng, p.resize_w - c + 1));
      p.crop_y = static_cast<int>(random_below(rng, p.resize_h - c + 1));
    } else {
      p.crop_x = (p.resize_w - c) / 2;
      p.crop_y = (p.resize_h - c) / 2;
    }
  }
  const bool coin = (rng() >> 63) != 0;
  p.flip = random && !cfg.no_flip && coin;
  if (random && cfg.augment == "strong") {
    // Every value is drawn whatever the options, so --jitter_side or a zero --rotate leaves the other
    // parameters of a pair as they were.
    std::mt19937_64 srng(mix_seed(seed, kStrongStream));
    p.angle = uniform(srng, -cfg.rotate, cfg.rotate);
    p.scale = uniform(srng, 1.0 - cfg.scale_jitter, 1.0 + cfg.scale_jitter);
    p.warp = true;
    for (int i = 3; i > 0; --i) std::swap(p.color.order[i], p.color.order[random_below(srng, i + 1)]);
    const double lo = std::max(0.0, 1.0 - cfg.jitter), hi = 1.0 + cfg.jitter;
    p.color.brightness = uniform(srng, lo, hi);
    p.color.contrast = uniform(srng, lo, hi);
    p.color.saturation = uniform(srng, lo, hi);
    const double hue = std::min(0.5, cfg.jitter / 2.0);
    p.color.hue = uniform(srng, -hue, hue);
    p.color_A = cfg.jitter_side == "input" || cfg.jitter_side == "both";
    p.color_B = cfg.jitter_side == "target" || cfg.jitter_side == "both";
  }
  return p;
}

at::Tensor warp_affine(const at::Tensor& unit, double cx, double cy, int width, int height, double angle_deg,
                       double scale) {
  TORCH_CHECK(unit.dim() == 3, "warp_affine expects [C,H,W], got ", unit.sizes());
  TORCH_CHECK(width > 0 && height > 0 && scale > 0.0, "warp_affine: bad window or scale");
  const at::Tensor src = unit.to(at::kFloat).contiguous();
  const int64_t channels = src.size(0), in_h = src.size(1), in_w = src.size(2);
  at::Tensor out = at::empty({channels, height, width}, at::kFloat);
  const float* in = src.data_ptr<float>();
  float* dst = out.data_ptr<float>();
  const double cosa = std::cos(angle_deg * kPi / 180.0), sina = std::sin(angle_deg * kPi / 180.0);
  const double ox = (width - 1) / 2.0, oy = (height - 1) / 2.0;
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      // Inverse map: the output offset rotated back (clockwise on screen, y pointing down) and shrunk.
      const double dx = x - ox, dy = y - oy;
      const double sx = cx + (dx * cosa - dy * sina) / scale;
      const double sy = cy + (dx * sina + dy * cosa) / scale;
      for (int64_t c = 0; c < channels; ++c) {
        const float* plane = in + c * in_h * in_w;
        double acc = 0.0;
        bilinear_taps(sx, sy, in_w, in_h, [&](int64_t at, double weight) { acc += plane[at] * weight; });
        dst[(c * height + y) * width + x] = static_cast<float>(acc);
      }
    }
  }
  return out;
}

at::Tensor color_jitter(const at::Tensor& unit, const ColorJitterParams& cj) {
  TORCH_CHECK(unit.dim() == 3, "color_jitter expects [C,H,W], got ", unit.sizes());
  const int64_t channels = unit.size(0);
  at::Tensor img = unit.to(at::kFloat);
  for (int step : cj.order) {
    if (step == 0 && cj.brightness != 1.0) {
      img = (img * cj.brightness).clamp(0.0, 1.0);
    } else if (step == 1 && cj.contrast != 1.0) {
      // Against one mean gray level for gray and RGB (as torchvision); per channel otherwise, since
      // the channels of multispectral or stacked inputs are not commensurable.
      at::Tensor mean = channels == 3 ? luma(img).mean() : channels == 1 ? img.mean() : img.mean({1, 2}, true);
      img = blend(img, mean, cj.contrast);
    } else if (step == 2 && cj.saturation != 1.0 && channels == 3) {
      img = blend(img, luma(img), cj.saturation);
    } else if (step == 3 && cj.hue != 0.0 && channels == 3) {
      img = shift_hue(img, cj.hue);
    }
  }
  return img;
}

at::Tensor resize_nearest(const at::Tensor& chw, int width, int height) {
  const int64_t in_h = chw.size(1), in_w = chw.size(2);
  if (in_h == height && in_w == width) return chw;
  // PIL's NEAREST: output pixel x samples input floor((x + 0.5) * in / out), pixel centres aligned.
  auto index = [](int64_t in, int out) {
    at::Tensor x = at::arange(out, at::kDouble);
    return ((x + 0.5) * (static_cast<double>(in) / out)).floor().clamp_max(static_cast<double>(in - 1)).to(at::kLong);
  };
  return chw.index_select(1, index(in_h, height)).index_select(2, index(in_w, width));
}

at::Tensor apply_augment_labels(const at::Tensor& ids, const AugmentParams& p, int crop_size) {
  if (p.warp) fail("internal: label maps take no strong warp (check_augment_config refuses it)");
  at::Tensor out = resize_nearest(ids, p.resize_w, p.resize_h);
  if (p.crop) out = out.narrow(1, p.crop_y, crop_size).narrow(2, p.crop_x, crop_size);
  if (p.flip) out = out.flip({2});
  return out.contiguous();
}

at::Tensor apply_augment(const at::Tensor& unit, const AugmentParams& p, int crop_size, int bit_depth, bool photometric) {
  at::Tensor img = resize_bicubic(unit, p.resize_w, p.resize_h, bit_depth);
  if (p.warp) {
    // The window is the crop (or the whole image); sampling the full resized image lets rotated
    // corners show real content from around the crop before any mirrored border.
    const int w = p.crop ? crop_size : p.resize_w, h = p.crop ? crop_size : p.resize_h;
    const double cx = (p.crop ? p.crop_x : 0) + (w - 1) / 2.0, cy = (p.crop ? p.crop_y : 0) + (h - 1) / 2.0;
    img = warp_affine(img, cx, cy, w, h, p.angle, p.scale);
  } else if (p.crop) {
    img = img.narrow(1, p.crop_y, crop_size).narrow(2, p.crop_x, crop_size);
  }
  if (p.flip) img = img.flip({2});
  if (photometric) img = color_jitter(img, p.color);
  return img.contiguous();
}

}  // namespace p2p
