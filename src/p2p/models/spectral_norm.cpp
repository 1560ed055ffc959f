// Spectrally normalised convolution (see spectral_norm.h).
#include "p2p/models/spectral_norm.h"

#include <ATen/ATen.h>
#include <torch/nn/init.h>
#include <torch/utils.h>

#include <cmath>

namespace p2p {
namespace {

// a / max(|a|, eps), as torch.nn.functional.normalize along the only dimension.
at::Tensor normalize(const at::Tensor& a) {
  return a / a.norm().clamp_min(SpectralConv2dImpl::kEps);
}

}  // namespace

SpectralConv2dImpl::SpectralConv2dImpl(int64_t in_channels, int64_t out_channels, int64_t kernel, int64_t stride,
                                       int64_t padding, bool bias)
    : kernel_(kernel), stride_(stride), padding_(padding) {
  torch::NoGradGuard no_grad;
  at::Tensor w = at::empty({out_channels, in_channels, kernel, kernel});
  // nn.Conv2d's own default start (init_weights normally replaces it).
  torch::nn::init::kaiming_uniform_(w, std::sqrt(5.0));
  // PyTorch's order after spectral_norm: the conv's bias stays, weight_orig is re-registered after it.
  if (bias) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(in_channels * kernel * kernel));
    this->bias = register_parameter("bias", at::empty({out_channels}).uniform_(-bound, bound));
  }
  weight_orig = register_parameter("weight_orig", w);
  weight_u = register_buffer("weight_u", normalize(at::randn({out_channels})));
  weight_v = register_buffer("weight_v", normalize(at::randn({in_channels * kernel * kernel})));
}

at::Tensor SpectralConv2dImpl::normalized_weight() {
  const at::Tensor w_mat = weight_orig.reshape({weight_orig.size(0), -1});
  at::Tensor u = weight_u;
  at::Tensor v = weight_v;
  if (is_training()) {
    {
      torch::NoGradGuard no_grad;
      weight_v.copy_(normalize(at::mv(w_mat.t(), weight_u)));
      weight_u.copy_(normalize(at::mv(w_mat, weight_v)));
    }
    // Copies: the next forward updates the buffers in place, which must not touch tensors this
    // forward's graph saved for the backward pass (D runs on real and fake before one backward).
    u = weight_u.clone();
    v = weight_v.clone();
  }
  const at::Tensor sigma = at::dot(u, at::mv(w_mat, v));
  return weight_orig / sigma;
}

at::Tensor SpectralConv2dImpl::forward_impl(const at::Tensor& x, MacCounter* counter) {
  at::Tensor y = at::conv2d(x, normalized_weight(), bias, {stride_, stride_}, {padding_, padding_});
  if (counter != nullptr) {
    counter->macs += static_cast<double>(y.numel()) * static_cast<double>(weight_orig[0].numel());
  }
  return y;
}

}  // namespace p2p
