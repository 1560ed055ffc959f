// Gaussian SSIM (see ssim.h). Separable filtering with index_select for the symmetric border and two 1-D
// convolutions over planes [N*C,1,H,W]: every op is differentiable, and in double precision the result
// matches scikit-image to ~1e-12 (tests/losses/test_image_losses.cpp).
#include "p2p/losses/ssim.h"

#include "p2p/core/error.h"

#include <ATen/ATen.h>

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

std::string shape_str(const at::Tensor& t) {
  std::ostringstream s;
  s << t.sizes();
  return s.str();
}

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
    fail(context + ": expected two [N,C,H,W] images of the same shape, got " + shape_str(x) + " and " + shape_str(y));
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

}  // namespace p2p
