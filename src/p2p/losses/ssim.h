// The one SSIM of the project, as differentiable tensor ops: `p2p metrics` reports it (eval/metrics.cpp,
// in double precision) and --lambda_ssim trains with it (image_losses.h), so a loss that improves is the
// number that is reported. It reproduces skimage.metrics.structural_similarity(gaussian_weights=True,
// sigma=1.5, use_sample_covariance=False, data_range=1): an 11x11 Gaussian window (sigma 1.5, truncate
// 3.5), K1 0.01, K2 0.03, borders extended by symmetric reflection (d c b a | a b c d) for filtering and
// then cropped by the window radius 5 before the mean, so edge pixels never see invented data.
#pragma once

#include <ATen/Tensor.h>

#include <string>

namespace p2p {

// Mean SSIM of x and y, [N,C,H,W] images in [0,1] of one shape, floating dtype, any device: the mean over
// every image, channel and valid (cropped) pixel. A 0-dim tensor in x's dtype with autograd through both
// inputs. `context` starts the error message (a flag or the metric's name): images smaller than 11x11
// or mismatched shapes throw p2p::Error.
at::Tensor ssim_mean(const at::Tensor& x, const at::Tensor& y, const std::string& context);

// The same SSIM map for the metrics, streamed: x and y are [C,h,w] (any floating dtype, CPU), and the
// result is the SUM of SSIM over every channel and every pixel whose window lies inside the image,
// rows 5..h-6 and columns 5..w-6 (so C·(h-10)·(w-10) values, and ssim_mean = sum / count). Only those
// pixels are computed: no border is ever extended, so a caller can feed bands of rows that overlap by
// 10 and add the sums. Separable 11-tap filtering in double with memory of one band (no autograd).
// h and w must be at least 11.
double ssim_valid_sum(const at::Tensor& x, const at::Tensor& y, const std::string& context);

}  // namespace p2p
