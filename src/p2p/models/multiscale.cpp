// Multi-scale discriminator stack and its input-size check (see multiscale.h).
#include "p2p/models/multiscale.h"

#include "p2p/core/error.h"

#include <ATen/ATen.h>
#include <torch/nn/modules/conv.h>

#include <algorithm>
#include <array>
#include <string>
#include <type_traits>
#include <vector>

namespace p2p {
namespace {

at::Tensor downsample(const at::Tensor& x) {
  // count_include_pad false: border averages are not darkened by the zero padding.
  return at::avg_pool2d(x, {3, 3}, {2, 2}, {1, 1}, /*ceil_mode=*/false, /*count_include_pad=*/false);
}

// (kernel, stride, padding) of each conv of the discriminator described by cfg, read from a width-1
// copy so the geometry follows the builder.
std::vector<std::array<int64_t, 3>> conv_geometry(const NetConfig& cfg) {
  NetConfig tiny = cfg;
  tiny.ndf = 1;
  if (tiny.norm_D == "spectral") tiny.norm_D = "none";  // plain Conv2d layers to read; same geometry
  NetworkPtr d = make_discriminator(tiny, 1);
  std::vector<std::array<int64_t, 3>> layers;
  for (const auto& m : d->modules(/*include_self=*/false)) {
    if (auto* conv = dynamic_cast<torch::nn::Conv2dImpl*>(m.get())) {
      int64_t padding = 0;
      // The padding option is a variant (c10:: in LibTorch 1.x, std:: in 2.x); the unqualified call
      // finds the matching visit by argument-dependent lookup. Our builders only use explicit sizes.
      visit(
          [&padding](const auto& p) {
            if constexpr (std::is_same_v<std::decay_t<decltype(p)>, torch::ExpandingArray<2>>) padding = (*p)[0];
          },
          conv->options.padding());
      layers.push_back({(*conv->options.kernel_size())[0], (*conv->options.stride())[0], padding});
    }
  }
  return layers;
}

// Output side for a square input of `side`; 0 when some kernel is larger than its padded input.
int64_t output_side(const std::vector<std::array<int64_t, 3>>& layers, int64_t side) {
  for (const auto& [k, s, p] : layers) {
    if (side < 1 || side + 2 * p < k) return 0;
    side = (side + 2 * p - k) / s + 1;
  }
  return side;
}

}  // namespace

MultiScaleDiscriminator::MultiScaleDiscriminator(const NetConfig& cfg, int64_t in_channels) {
  if (cfg.num_D < 1) fail("--num_D: must be at least 1 (got " + std::to_string(cfg.num_D) + ")");
  for (int k = 0; k < cfg.num_D; ++k) {
    scales_.push_back(register_module("scale" + std::to_string(k), make_discriminator(cfg, in_channels)));
  }
}

std::vector<at::Tensor> MultiScaleDiscriminator::forward(const at::Tensor& x) {
  std::vector<at::Tensor> logits;
  at::Tensor input = x;
  for (size_t k = 0; k < scales_.size(); ++k) {
    if (k > 0) input = downsample(input);
    logits.push_back(scales_[k]->forward(input));
  }
  return logits;
}

at::Tensor MultiScaleDiscriminator::forward_scale(size_t k, const at::Tensor& x) {
  at::Tensor input = x;
  for (size_t i = 0; i < k; ++i) input = downsample(input);
  return scales_.at(k)->forward(input);
}

std::vector<std::vector<at::Tensor>> MultiScaleDiscriminator::forward_features(const at::Tensor& x) {
  std::vector<std::vector<at::Tensor>> features;
  at::Tensor input = x;
  for (size_t k = 0; k < scales_.size(); ++k) {
    if (k > 0) input = downsample(input);
    features.push_back(scales_[k]->forward_features(input));
  }
  return features;
}

Network& MultiScaleDiscriminator::scale(size_t i) {
  TORCH_CHECK(i < scales_.size(), "MultiScaleDiscriminator::scale: index ", i, " of ", scales_.size());
  return *scales_[i];
}

int64_t multiscale_input_side(int64_t side, int k) {
  // AvgPool2d(3, 2, 1): floor((side + 2 - 3) / 2) + 1 = ceil(side / 2).
  for (int i = 0; i < k; ++i) side = (side + 1) / 2;
  return side;
}

void check_num_D(const NetConfig& cfg, int64_t crop_size) {
  if (cfg.num_D < 1) fail("--num_D: must be at least 1 (got " + std::to_string(cfg.num_D) + ")");
  const auto d = conv_geometry(cfg);
  const int64_t coarsest = multiscale_input_side(crop_size, cfg.num_D - 1);
  if (output_side(d, coarsest) >= 1) return;
  // What would work: the smallest side the PatchGAN accepts, the crop that gives it at the coarsest
  // scale, and the most scales this crop allows.
  int64_t min_side = 1;
  while (output_side(d, min_side) < 1) ++min_side;
  // ceil(crop / 2^k) >= min_side  <=>  crop >= (min_side - 1) * 2^k + 1.
  const int shifts = std::min(cfg.num_D - 1, 40);
  const int64_t min_crop = (min_side - 1) * (int64_t{1} << shifts) + 1;
  int max_scales = 0;
  while (max_scales < 64 && output_side(d, multiscale_input_side(crop_size, max_scales)) >= 1) {
    ++max_scales;
  }
  std::string msg = "--num_D: with " + std::to_string(cfg.num_D) + " scales the coarsest discriminator input is " +
                    std::to_string(coarsest) + "x" + std::to_string(coarsest) + " (from --crop_size " +
                    std::to_string(crop_size) + "), but the '" + cfg.netD + "' PatchGAN needs at least " +
                    std::to_string(min_side) + "x" + std::to_string(min_side) +
                    " to produce one logit; use --crop_size >= " + std::to_string(min_crop);
  msg += max_scales > 0 ? " or --num_D <= " + std::to_string(max_scales) : " (no --num_D works at this crop size)";
  fail(msg);
}

}  // namespace p2p
