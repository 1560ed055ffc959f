// Multi-scale discriminator (pix2pixHD): num_D copies of the configured PatchGAN, scale k judging the
// input average-pooled k times (AvgPool2d(3, stride 2, padding 1, count_include_pad=False)). Coarse
// scales see global structure with the same small D, fine scales keep the detail; the GAN loss is the
// mean over scales. Scales are children "scale0", "scale1", ... so a stack's keys are
// scale<k>.<the plain discriminator's keys>.
#pragma once

#include "p2p/core/config.h"
#include "p2p/models/networks.h"

#include <ATen/Tensor.h>
#include <torch/nn/module.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace p2p {

// Create it with std::make_shared: init_weights and set_eval_mode walk modules(include_self), which
// LibTorch only allows for modules owned by a shared_ptr.
class MultiScaleDiscriminator : public torch::nn::Module {
 public:
  // cfg.num_D scales of make_discriminator(cfg, in_channels); num_D < 1 throws naming --num_D.
  MultiScaleDiscriminator(const NetConfig& cfg, int64_t in_channels);

  // Logits per scale, finest (the input's own resolution) first.
  std::vector<at::Tensor> forward(const at::Tensor& x);
  // Logits of scale k alone (its input pooled k times): what a per-scale gradient penalty differentiates.
  at::Tensor forward_scale(size_t k, const at::Tensor& x);
  // Per scale: that scale's forward_features (intermediate features, the last entry its logits).
  std::vector<std::vector<at::Tensor>> forward_features(const at::Tensor& x);

  size_t num_scales() const { return scales_.size(); }
  Network& scale(size_t i);

 private:
  std::vector<NetworkPtr> scales_;
};

// The input side scale k sees when scale 0 sees `side`: ceil(side / 2^k) (the pooling's output size).
int64_t multiscale_input_side(int64_t side, int k);

// Throws p2p::Error naming --num_D when num_D < 1 or when the coarsest scale's input, from square crops
// of crop_size, is too small for the PatchGAN (cfg.netD) to produce at least one logit; the message
// says which crop size or num_D would work.
void check_num_D(const NetConfig& cfg, int64_t crop_size);

}  // namespace p2p
