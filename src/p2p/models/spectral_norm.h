// A 2-D convolution with spectral normalisation, the layer behind --norm_D spectral (SN-GAN). It keeps
// the state torch.nn.utils.spectral_norm(nn.Conv2d(...)) keeps, under the same names and in the same
// order (bias, weight_orig, weight_u, weight_v), so its state_dict loads into that PyTorch module and
// back. Bounding every layer's spectral norm by 1 makes D roughly 1-Lipschitz, which keeps its
// gradients to G informative without a gradient penalty.
//
// Semantics (those of torch.nn.utils.spectral_norm, n_power_iterations 1, eps 1e-12):
//   W_mat = weight_orig reshaped to (out, -1); in training mode one power iteration first updates the
//   buffers: v = normalize(W_matᵀ u), u = normalize(W_mat v) (normalize(a) = a / max(|a|, eps), no
//   gradient); in eval mode u, v are used as stored. sigma = uᵀ W_mat v (gradient flows through W_mat),
//   and the convolution uses W = weight_orig / sigma.
//   u and v start as normalised N(0, 1) draws. The older torch.nn.utils.spectral_norm (which this
//   mirrors) does no power iterations at construction; only the newer parametrizations.spectral_norm
//   runs 15. Here, as in the older one, the estimate converges over the first training forwards.
#pragma once

#include "p2p/models/layers.h"

#include <ATen/Tensor.h>
#include <torch/nn/module.h>

#include <cstdint>

namespace p2p {

class SpectralConv2dImpl : public torch::nn::Module, public detail::BlockForward {
 public:
  static constexpr double kEps = 1e-12;

  // Square kernel, same stride and padding on both sides; weights start as nn.Conv2d's do.
  SpectralConv2dImpl(int64_t in_channels, int64_t out_channels, int64_t kernel, int64_t stride, int64_t padding,
                     bool bias);

  at::Tensor forward(const at::Tensor& x) { return forward_impl(x, nullptr); }
  at::Tensor forward_impl(const at::Tensor& x, MacCounter* counter) override;

  // weight_orig / sigma; runs the power iteration (updating weight_u, weight_v) when is_training().
  at::Tensor normalized_weight();

  int64_t kernel() const { return kernel_; }
  int64_t stride() const { return stride_; }
  int64_t padding() const { return padding_; }

  at::Tensor bias;         // undefined when built without bias
  at::Tensor weight_orig;  // [out, in, k, k]
  at::Tensor weight_u;     // [out], buffer
  at::Tensor weight_v;     // [in * k * k], buffer

 private:
  int64_t kernel_, stride_, padding_;
};

}  // namespace p2p
