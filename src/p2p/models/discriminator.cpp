// PatchGAN discriminators in the reference layout. n_layers (basic = 3): child "model" Sequential
// [Conv k4 s2 (bias), LReLU] + (n-1) x [Conv k4 s2, norm, LReLU] + [Conv k4 s1, norm, LReLU] +
// [Conv k4 s1 -> 1 (bias)], widths ndf * min(2^i, 8). pixel (1x1 PatchGAN): child "net" Sequential of
// 1x1 convs. Both return raw logits; the GAN loss applies the sigmoid (or none, for lsgan/wgangp).
#include "p2p/models/layers.h"

#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>

#include <algorithm>

namespace p2p::detail {
namespace {

torch::nn::LeakyReLU leaky() { return torch::nn::LeakyReLU(torch::nn::LeakyReLUOptions().negative_slope(0.2).inplace(true)); }

class SequentialNetwork : public Network {
 public:
  SequentialNetwork(const std::string& child_name, torch::nn::Sequential seq)
      : seq_(register_module(child_name, seq)) {}

  at::Tensor forward(const at::Tensor& x) override { return run_sequential(seq_, x, nullptr); }
  at::Tensor forward_counting(const at::Tensor& x, MacCounter& counter) override {
    return run_sequential(seq_, x, &counter);
  }
  int64_t size_multiple() const override { return 1; }

 private:
  torch::nn::Sequential seq_;
};

}  // namespace

NetworkPtr make_nlayer_discriminator(const NetConfig& cfg, int64_t in_channels, int n_layers, NormKind norm) {
  namespace nn = torch::nn;
  const int64_t ndf = cfg.ndf;
  const bool bias = conv_has_bias(norm);
  auto conv = [](int64_t in, int64_t out, int64_t stride, bool b) {
    return nn::Conv2d(nn::Conv2dOptions(in, out, 4).stride(stride).padding(1).bias(b));
  };
  nn::Sequential seq;
  seq->push_back(conv(in_channels, ndf, 2, true));
  seq->push_back(leaky());
  int64_t mult = 1;
  for (int n = 1; n <= n_layers; ++n) {
    const int64_t prev = mult;
    mult = std::min<int64_t>(mult * 2, 8);
    // The last of these keeps the resolution (stride 1) so the patch grows without shrinking the map.
    seq->push_back(conv(ndf * prev, ndf * mult, n < n_layers ? 2 : 1, bias));
    push_norm(seq, norm, ndf * mult);
    seq->push_back(leaky());
  }
  seq->push_back(conv(ndf * mult, 1, 1, true));
  return std::make_shared<SequentialNetwork>("model", seq);
}

NetworkPtr make_pixel_discriminator(const NetConfig& cfg, int64_t in_channels, NormKind norm) {
  namespace nn = torch::nn;
  const int64_t ndf = cfg.ndf;
  const bool bias = conv_has_bias(norm);
  auto conv = [](int64_t in, int64_t out, bool b) { return nn::Conv2d(nn::Conv2dOptions(in, out, 1).bias(b)); };
  nn::Sequential seq;
  seq->push_back(conv(in_channels, ndf, true));
  seq->push_back(leaky());
  seq->push_back(conv(ndf, ndf * 2, bias));
  push_norm(seq, norm, ndf * 2);
  seq->push_back(leaky());
  seq->push_back(conv(ndf * 2, 1, bias));  // the reference ties this bias to the norm choice too
  return std::make_shared<SequentialNetwork>("net", seq);
}

}  // namespace p2p::detail
