// Attention for the U-Net generators (--attention: none, or a comma list of down, up, skip).
// Two kinds of module, both multiplying a feature by a map alpha in (0, 1) of one channel:
//   SpatialAttention (CBAM's spatial branch): alpha = sigmoid(Conv7x7([mean_c(F); max_c(F)])), 2 -> 1
//     channels, padding 3, with bias; output alpha * F. Used on encoder features ("down") and decoder
//     features ("up"). 2*49 + 1 = 99 parameters whatever the width.
//   AttentionGate (Oktay et al., Attention U-Net): on a skip feature x (C_x channels) gated by the coarser
//     decoder feature g (C_g channels): q = psi(ReLU(W_x x + up(W_g g))), alpha = sigmoid(q), output
//     alpha * x; W_x: C_x -> C_i, W_g: C_g -> C_i, psi: C_i -> 1, all 1x1 with bias, C_i = max(1, C_x/2),
//     so (C_x + C_g + 1) * C_i + 2 * C_i + 1 parameters. up() is bilinear (align_corners false) resampling
//     to x's size. It is applied after W_g: a 1x1 conv and bilinear resampling commute (the bilinear
//     weights sum to 1), so this equals resampling g first, at a fraction of the cost.
// The U-Net registers these as children named att_down / att_up / att_skip of its blocks (never inside
// a block's "model" Sequential), so the default network keeps the reference state_dict keys and
// attention_parameter_count (info.h) is the attention's cost. Placement: see unet.cpp.
#pragma once

#include "p2p/models/networks.h"

#include <ATen/Tensor.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>

#include <cstdint>
#include <string>

namespace p2p {

struct AttentionSet {
  bool down = false;
  bool up = false;
  bool skip = false;
  bool any() const { return down || up || skip; }
};

// Parses --attention ("none", "" or a comma list of down, up, skip) for generator `netG`. Throws
// p2p::Error naming --attention for unknown names, for attention on a generator that is not a U-Net
// (unet_<N> or encoder_decoder_<N>), and for 'skip' on encoder_decoder_<N>, which has no skips.
AttentionSet parse_attention(const std::string& attention, const std::string& netG);

class SpatialAttentionImpl : public torch::nn::Module {
 public:
  SpatialAttentionImpl();
  // counter (optional) receives the conv's multiply-accumulates.
  at::Tensor forward(const at::Tensor& f, MacCounter* counter = nullptr);
  // alpha alone, [N, 1, H, W].
  at::Tensor attention_map(const at::Tensor& f, MacCounter* counter = nullptr);

  torch::nn::Conv2d conv{nullptr};
};

class AttentionGateImpl : public torch::nn::Module {
 public:
  AttentionGateImpl(int64_t x_channels, int64_t g_channels);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& g, MacCounter* counter = nullptr);
  // alpha alone, [N, 1, H_x, W_x].
  at::Tensor attention_map(const at::Tensor& x, const at::Tensor& g, MacCounter* counter = nullptr);

  torch::nn::Conv2d w_x{nullptr}, w_g{nullptr}, psi{nullptr};
};

}  // namespace p2p
