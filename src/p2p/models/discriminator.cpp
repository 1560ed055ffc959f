// PatchGAN discriminators in the reference layout. n_layers (basic = 3): child "model" Sequential
// [Conv k4 s2 (bias), LReLU] + (n-1) x [Conv k4 s2, norm, LReLU] + [Conv k4 s1, norm, LReLU] +
// [Conv k4 s1 -> 1 (bias)], widths ndf * min(2^i, 8). pixel (1x1 PatchGAN): child "net" Sequential of
// 1x1 convs. Both return raw logits; the GAN loss applies the sigmoid (or none, for lsgan/wgangp).
// With --norm_D spectral every conv is a SpectralConv2d (weight_orig / weight_u / weight_v at the same
// index) and each norm index holds an Identity, so indices and the remaining names do not move.
// forward_features returns the output of every [conv, (norm), LeakyReLU] group and then the logits,
// the features pix2pixHD's feature-matching loss compares.
#include "p2p/models/layers.h"
#include "p2p/models/spectral_norm.h"

#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>

#include <algorithm>
#include <memory>
#include <vector>

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
  std::vector<at::Tensor> forward_features(const at::Tensor& x) override {
    std::vector<at::Tensor> features;
    at::Tensor h = x;
    for (size_t i = 0; i < seq_->size(); ++i) {
      h = run_sequential(seq_, h, nullptr, i, i + 1);
      // LeakyReLU runs in place on a fresh conv/norm output that no later layer modifies, so `h` is safe
      // to keep.
      if (dynamic_cast<torch::nn::LeakyReLUImpl*>(seq_->ptr(i).get()) != nullptr) features.push_back(h);
    }
    features.push_back(h);
    return features;
  }
  int64_t size_multiple() const override { return 1; }

 private:
  torch::nn::Sequential seq_;
};

// Appends a conv (square kernel), spectrally normalised when asked.
void push_conv(torch::nn::Sequential& seq, int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding,
               bool bias, bool spectral) {
  namespace nn = torch::nn;
  if (spectral) {
    seq->push_back(std::make_shared<SpectralConv2dImpl>(in, out, kernel, stride, padding, bias));
  } else {
    seq->push_back(nn::Conv2d(nn::Conv2dOptions(in, out, kernel).stride(stride).padding(padding).bias(bias)));
  }
}

}  // namespace

NetworkPtr make_nlayer_discriminator(const NetConfig& cfg, int64_t in_channels, int n_layers, DiscriminatorNorm dn) {
  namespace nn = torch::nn;
  const int64_t ndf = cfg.ndf;
  const NormKind norm = dn.kind;
  const bool bias = conv_has_bias(norm);
  auto conv = [&](nn::Sequential& s, int64_t in, int64_t out, int64_t stride, bool b) {
    push_conv(s, in, out, 4, stride, 1, b, dn.spectral);
  };
  nn::Sequential seq;
  conv(seq, in_channels, ndf, 2, true);
  seq->push_back(leaky());
  int64_t mult = 1;
  for (int n = 1; n <= n_layers; ++n) {
    const int64_t prev = mult;
    mult = std::min<int64_t>(mult * 2, 8);
    // The last of these keeps the resolution (stride 1) so the patch grows without shrinking the map.
    conv(seq, ndf * prev, ndf * mult, n < n_layers ? 2 : 1, bias);
    push_norm(seq, norm, ndf * mult);
    seq->push_back(leaky());
  }
  conv(seq, ndf * mult, 1, 1, true);
  return std::make_shared<SequentialNetwork>("model", seq);
}

NetworkPtr make_pixel_discriminator(const NetConfig& cfg, int64_t in_channels, DiscriminatorNorm dn) {
  namespace nn = torch::nn;
  const int64_t ndf = cfg.ndf;
  const NormKind norm = dn.kind;
  const bool bias = conv_has_bias(norm);
  auto conv = [&](nn::Sequential& s, int64_t in, int64_t out, bool b) {
    push_conv(s, in, out, 1, 1, 0, b, dn.spectral);
  };
  nn::Sequential seq;
  conv(seq, in_channels, ndf, true);
  seq->push_back(leaky());
  conv(seq, ndf, ndf * 2, bias);
  push_norm(seq, norm, ndf * 2);
  seq->push_back(leaky());
  conv(seq, ndf * 2, 1, bias);  // the reference ties this bias to the norm choice too
  return std::make_shared<SequentialNetwork>("net", seq);
}

}  // namespace p2p::detail
