// Gaussian SSIM (see ssim.h). Separable filtering with index_select for the symmetric border and two 1-D
// convolutions over planes [N*C,1,H,W]: every op is differentiable, and in double precision the result
// matches scikit-image to ~1e-12 (tests/losses/test_image_losses.cpp).
#include "p2p/losses/ssim.h"

#include "p2p/core/error.h"
#include "p2p/core/shape.h"

#include <ATen/ATen.h>
#include "p2p/core/parallel.h"

#include <cmath>
#include <sstream>
#include <vector>

namespace p2p {

namespace {

// SSIM constants of Wang et al. 2004 (as skimage's defaults), for data range 1.
constexpr double kSsimK1 = 0.01;
constexpr double kSsimK2 = 0.03;
constexpr double kSsimSigma = 1.5;
// skimage fixes truncate = 3.5 for Gaussian weights: radius int(3.5 * 1.5 + 0.5) = 5, an 11-tap window.
constexpr int64_t kSsimRadius = 5;

// Indices that extend [0, n) by `r` samples on each side with scipy.ndimage's 'reflect' rule: the edge
// sample is repeated (d c b a | a b c d | d c b a), periodic with period 2n, so any n >= 1 works.
at::Tensor symmetric_indices(int64_t n, int64_t r, const at::Device& device) {
  std::vector<int64_t> idx;
  idx.reserve(static_cast<size_t>(n + 2 * r));
  const int64_t period = 2 * n;
  for (int64_t i = -r; i < n + r; ++i) {
    int64_t m = ((i % period) + period) % period;
    if (m >= n) m = period - 1 - m;
    idx.push_back(m);
  }
  return at::tensor(idx, at::kLong).to(device);
}

// Normalised 1-D Gaussian weights over [-r, r], as scipy.ndimage.gaussian_filter builds them (computed in
// double, then cast to the images' dtype).
at::Tensor gaussian_taps(const at::TensorOptions& options) {
  std::vector<double> w;
  double sum = 0;
  for (int64_t x = -kSsimRadius; x <= kSsimRadius; ++x) {
    double v = std::exp(-0.5 * static_cast<double>(x * x) / (kSsimSigma * kSsimSigma));
    w.push_back(v);
    sum += v;
  }
  for (double& v : w) v /= sum;
  return at::tensor(w, at::kDouble).to(options);
}

// Separable Gaussian filter of every [H,W] plane of x [M,1,H,W] with symmetric borders.
at::Tensor gaussian_filter(const at::Tensor& x, const at::Tensor& taps) {
  const int64_t h = x.size(2), w = x.size(3), k = taps.numel();
  at::Tensor padded = x.index_select(3, symmetric_indices(w, kSsimRadius, x.device()));
  at::Tensor out = at::conv2d(padded, taps.view({1, 1, 1, k}));
  padded = out.index_select(2, symmetric_indices(h, kSsimRadius, x.device()));
  return at::conv2d(padded, taps.view({1, 1, k, 1}));
}

}  // namespace

at::Tensor ssim_mean(const at::Tensor& x, const at::Tensor& y, const std::string& context) {
  if (x.dim() != 4 || y.dim() != 4 || x.sizes() != y.sizes()) {
    fail(context + ": expected two [N,C,H,W] images of the same shape, got " + shape_str(x.sizes()) + " and " + shape_str(y.sizes()));
  }
  if (!at::isFloatingType(x.scalar_type()) || x.scalar_type() != y.scalar_type()) {
    fail(context + ": expected two floating-point images of one dtype");
  }
  const int64_t planes = x.size(0) * x.size(1), h = x.size(2), w = x.size(3);
  const int64_t win = 2 * kSsimRadius + 1;
  if (h < win || w < win) {
    fail(context + ": images must be at least " + std::to_string(win) + "x" + std::to_string(win) +
         " pixels, got " + std::to_string(w) + "x" + std::to_string(h));
  }
  // Moments of x - cx and y - cy, cx/cy each plane's mean: (co)variances do not depend on the shift, but
  // E[x^2] - E[x]^2 loses digits to cancellation when the mean is large against the spread. In float32
  // (training) that error, ~1e-7, is not small against C2 = 9e-4 and moved flat regions' SSIM by ~1e-4;
  // centred, it is ~1e-9. The shifts are constants (detached): SSIM's value does not depend on them.
  at::Tensor xp = x.reshape({planes, 1, h, w}), yp = y.reshape({planes, 1, h, w});
  at::Tensor cx = xp.detach().mean({2, 3}, /*keepdim=*/true), cy = yp.detach().mean({2, 3}, /*keepdim=*/true);
  at::Tensor xs = xp - cx, ys = yp - cy;
  // Filter the five moment images of every plane in one batch: [5P,1,H,W].
  at::Tensor stack = at::cat({xs, ys, xs * xs, ys * ys, xs * ys}, 0);
  at::Tensor f = gaussian_filter(stack, gaussian_taps(x.options()));
  at::Tensor mx = f.narrow(0, 0, planes), my = f.narrow(0, planes, planes);
  at::Tensor mxx = f.narrow(0, 2 * planes, planes), myy = f.narrow(0, 3 * planes, planes);
  at::Tensor mxy = f.narrow(0, 4 * planes, planes);
  // Population (co)variances, as Wang et al. (use_sample_covariance=False); local means shifted back.
  at::Tensor vx = mxx - mx * mx, vy = myy - my * my, vxy = mxy - mx * my;
  at::Tensor ux = mx + cx, uy = my + cy;
  const double c1 = kSsimK1 * kSsimK1, c2 = kSsimK2 * kSsimK2;
  at::Tensor s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2));
  // The filter radius at each border saw reflected data; skimage leaves it out of the mean. Equal-size
  // planes make the mean of per-channel (and per-image) means the mean over all cropped values.
  at::Tensor valid = s.narrow(2, kSsimRadius, h - 2 * kSsimRadius).narrow(3, kSsimRadius, w - 2 * kSsimRadius);
  return valid.mean();
}

double ssim_valid_sum(const at::Tensor& x, const at::Tensor& y, const std::string& context) {
  if (x.dim() != 3 || y.dim() != 3 || x.sizes() != y.sizes()) {
    fail(context + ": expected two [C,H,W] images of the same shape, got " + shape_str(x.sizes()) + " and " + shape_str(y.sizes()));
  }
  const int64_t planes = x.size(0), h = x.size(1), w = x.size(2), k = 2 * kSsimRadius + 1;
  if (h < k || w < k) {
    fail(context + ": images must be at least " + std::to_string(k) + "x" + std::to_string(k) + " pixels, got " +
         std::to_string(w) + "x" + std::to_string(h));
  }
  const at::Tensor xd = x.detach().to(at::kCPU, at::kDouble).contiguous(), yd = y.detach().to(at::kCPU, at::kDouble).contiguous();
  const at::Tensor taps_t = gaussian_taps(at::TensorOptions().dtype(at::kDouble));
  const double* taps = taps_t.data_ptr<double>();
  const int64_t ow = w - 2 * kSsimRadius, oh = h - 2 * kSsimRadius;
  const double c1 = kSsimK1 * kSsimK1, c2 = kSsimK2 * kSsimK2;
  // Work items: (plane, chunk of kChunk output rows), so both cores work on a three-channel band. A chunk
  // filters its rows plus the 10 below horizontally, then vertically.
  constexpr int64_t kChunk = 32;
  const int64_t chunks = (oh + kChunk - 1) / kChunk;
  std::vector<double> means(static_cast<size_t>(2 * planes));
  for (int64_t p = 0; p < planes; ++p) {
    // A shift by the plane's mean keeps E[x²] - E[x]² free of cancellation (see ssim_mean).
    means[static_cast<size_t>(2 * p)] = xd[p].mean().item<double>();
    means[static_cast<size_t>(2 * p + 1)] = yd[p].mean().item<double>();
  }
  std::vector<double> sums(static_cast<size_t>(planes * chunks), 0.0);
  at::parallel_for(0, planes * chunks, 1, [&](int64_t begin, int64_t end) {
    std::vector<double> prod(static_cast<size_t>(5 * w)), hf, v(static_cast<size_t>(5 * ow));
    for (int64_t item = begin; item < end; ++item) {
      const int64_t p = item / chunks, r0 = (item % chunks) * kChunk, r1 = std::min(oh, r0 + kChunk);
      const int64_t rows = (r1 - r0) + 2 * kSsimRadius;  // input rows [r0, r1 + 10)
      const double cx = means[static_cast<size_t>(2 * p)], cy = means[static_cast<size_t>(2 * p + 1)];
      const double* xp = xd.data_ptr<double>() + p * h * w;
      const double* yp = yd.data_ptr<double>() + p * h * w;
      hf.assign(static_cast<size_t>(5 * rows * ow), 0.0);  // [5][rows][ow]: moments filtered along rows
      for (int64_t r = 0; r < rows; ++r) {
        const double* xr = xp + (r0 + r) * w;
        const double* yr = yp + (r0 + r) * w;
        double *pa = prod.data(), *pb = pa + w, *paa = pb + w, *pbb = paa + w, *pab = pbb + w;
        for (int64_t c = 0; c < w; ++c) {
          const double a = xr[c] - cx, b = yr[c] - cy;
          pa[c] = a, pb[c] = b, paa[c] = a * a, pbb[c] = b * b, pab[c] = a * b;
        }
        for (int q = 0; q < 5; ++q) {
          const double* src = prod.data() + q * w;
          double* dst = hf.data() + (q * rows + r) * ow;
          for (int64_t t = 0; t < k; ++t) {
            const double wt = taps[t];
            for (int64_t c = 0; c < ow; ++c) dst[c] += wt * src[c + t];
          }
        }
      }
      double sum = 0;
      for (int64_t r = 0; r < r1 - r0; ++r) {
        std::fill(v.begin(), v.end(), 0.0);
        for (int q = 0; q < 5; ++q) {
          double* dst = v.data() + q * ow;
          for (int64_t t = 0; t < k; ++t) {
            const double wt = taps[t];
            const double* src = hf.data() + (q * rows + r + t) * ow;
            for (int64_t c = 0; c < ow; ++c) dst[c] += wt * src[c];
          }
        }
        const double *vmx = v.data(), *vmy = vmx + ow, *vxx = vmy + ow, *vyy = vxx + ow, *vxy = vyy + ow;
        for (int64_t c = 0; c < ow; ++c) {
          const double mx = vmx[c], my = vmy[c];
          const double sx = vxx[c] - mx * mx, sy = vyy[c] - my * my, sxy = vxy[c] - mx * my;
          const double ux = mx + cx, uy = my + cy;
          sum += ((2 * ux * uy + c1) * (2 * sxy + c2)) / ((ux * ux + uy * uy + c1) * (sx + sy + c2));
        }
      }
      sums[static_cast<size_t>(item)] = sum;
    }
  });
  double total = 0;
  for (double s : sums) total += s;
  return total;
}

}  // namespace p2p
