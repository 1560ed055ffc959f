// Spatial attention, attention gates and the --attention parser (see attention.h).
#include "p2p/models/attention.h"

#include "p2p/core/error.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <sstream>

namespace p2p {
namespace {

std::string trim(const std::string& s) {
  const size_t begin = s.find_first_not_of(" \t");
  if (begin == std::string::npos) return "";
  return s.substr(begin, s.find_last_not_of(" \t") - begin + 1);
}

void count_conv(MacCounter* counter, const at::Tensor& out, const torch::nn::Conv2d& conv) {
  if (counter != nullptr) {
    counter->macs += static_cast<double>(out.numel()) * static_cast<double>(conv->weight[0].numel());
  }
}

torch::nn::Conv2d conv1x1(int64_t in, int64_t out) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 1).bias(true));
}

}  // namespace

AttentionSet parse_attention(const std::string& attention, const std::string& netG) {
  AttentionSet set;
  const std::string all = trim(attention);
  if (all.empty() || all == "none") return set;
  std::stringstream items(all);
  std::string item;
  while (std::getline(items, item, ',')) {
    item = trim(item);
    if (item == "down") {
      set.down = true;
    } else if (item == "up") {
      set.up = true;
    } else if (item == "skip") {
      set.skip = true;
    } else if (item == "none") {
      fail("--attention: 'none' cannot be combined with other entries (got '" + attention + "')");
    } else {
      fail("--attention: unknown attention '" + item + "' in '" + attention +
           "' (expected none, or a comma list of down, up, skip)");
    }
  }
  if (!all.empty() && all.back() == ',') fail("--attention: empty entry in '" + attention + "'");
  const bool unet = netG.rfind("unet_", 0) == 0;
  const bool encoder_decoder = netG.rfind("encoder_decoder_", 0) == 0;
  if (!unet && !encoder_decoder) {
    fail("--attention: '" + attention + "' needs a U-Net generator (--netG unet_<N> or encoder_decoder_<N>), " +
         "but --netG is '" + netG + "'; use --attention none");
  }
  if (encoder_decoder && set.skip) {
    fail("--attention: 'skip' gates the U-Net's skip connections, which --netG " + netG +
         " does not have (use down and/or up, or a unet_<N>)");
  }
  return set;
}

SpatialAttentionImpl::SpatialAttentionImpl() {
  conv = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(2, 1, 7).padding(3).bias(true)));
}

at::Tensor SpatialAttentionImpl::attention_map(const at::Tensor& f, MacCounter* counter) {
  // Channel mean and max describe where the feature is active, independent of its width.
  const at::Tensor pooled = at::cat({f.mean(1, /*keepdim=*/true), std::get<0>(f.max(1, /*keepdim=*/true))}, 1);
  at::Tensor logits = conv->forward(pooled);
  count_conv(counter, logits, conv);
  return at::sigmoid(logits);
}

at::Tensor SpatialAttentionImpl::forward(const at::Tensor& f, MacCounter* counter) {
  return attention_map(f, counter) * f;
}

AttentionGateImpl::AttentionGateImpl(int64_t x_channels, int64_t g_channels) {
  const int64_t inter = std::max<int64_t>(1, x_channels / 2);
  w_x = register_module("w_x", conv1x1(x_channels, inter));
  w_g = register_module("w_g", conv1x1(g_channels, inter));
  psi = register_module("psi", conv1x1(inter, 1));
}

at::Tensor AttentionGateImpl::attention_map(const at::Tensor& x, const at::Tensor& g, MacCounter* counter) {
  const at::Tensor theta = w_x->forward(x);
  count_conv(counter, theta, w_x);
  at::Tensor phi = w_g->forward(g);
  count_conv(counter, phi, w_g);
  if (phi.size(2) != x.size(2) || phi.size(3) != x.size(3)) {
    phi = at::upsample_bilinear2d(phi, {x.size(2), x.size(3)}, /*align_corners=*/false);
  }
  const at::Tensor q = psi->forward(at::relu(theta + phi));
  count_conv(counter, q, psi);
  return at::sigmoid(q);
}

at::Tensor AttentionGateImpl::forward(const at::Tensor& x, const at::Tensor& g, MacCounter* counter) {
  return attention_map(x, g, counter) * x;
}

}  // namespace p2p
