// ResNet generators (resnet_9blocks, resnet_6blocks) in the reference layout: child "model" is one
// Sequential [ReflectionPad2d(3), Conv7, norm, ReLU, 2 x (Conv3 s2, norm, ReLU), N residual blocks,
// 2 x (ConvTranspose3 s2 output_padding 1, norm, ReLU), ReflectionPad2d(3), Conv7 (bias), Tanh];
// each residual block registers "conv_block". Two stride-2 stages: input sides must be multiples of 4.
#include "p2p/models/layers.h"

#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/padding.h>

namespace p2p::detail {
namespace {

class ResnetBlockImpl : public torch::nn::Module, public BlockForward {
 public:
  ResnetBlockImpl(int64_t dim, NormKind norm, bool dropout) {
    namespace nn = torch::nn;
    const bool bias = conv_has_bias(norm);
    nn::Sequential seq;
    auto conv = [&] { return nn::Conv2d(nn::Conv2dOptions(dim, dim, 3).bias(bias)); };
    seq->push_back(nn::ReflectionPad2d(1));
    seq->push_back(conv());
    push_norm(seq, norm, dim);
    seq->push_back(nn::ReLU(nn::ReLUOptions().inplace(true)));
    if (dropout) seq->push_back(nn::Dropout(nn::DropoutOptions(0.5)));
    seq->push_back(nn::ReflectionPad2d(1));
    seq->push_back(conv());
    push_norm(seq, norm, dim);
    conv_block_ = register_module("conv_block", seq);
  }

  at::Tensor forward(at::Tensor x) { return forward_impl(x, nullptr); }
  at::Tensor forward_impl(const at::Tensor& x, MacCounter* counter) override {
    return x + run_sequential(conv_block_, x, counter);
  }

 private:
  torch::nn::Sequential conv_block_{nullptr};
};

class ResnetGenerator : public Network {
 public:
  ResnetGenerator(const NetConfig& cfg, int n_blocks, NormKind norm) {
    namespace nn = torch::nn;
    const int64_t ngf = cfg.ngf;
    const bool bias = conv_has_bias(norm);
    nn::Sequential seq;
    seq->push_back(nn::ReflectionPad2d(3));
    seq->push_back(nn::Conv2d(nn::Conv2dOptions(cfg.input_nc, ngf, 7).bias(bias)));
    push_norm(seq, norm, ngf);
    seq->push_back(nn::ReLU(nn::ReLUOptions().inplace(true)));
    for (int64_t mult : {1, 2}) {
      seq->push_back(nn::Conv2d(nn::Conv2dOptions(ngf * mult, ngf * mult * 2, 3).stride(2).padding(1).bias(bias)));
      push_norm(seq, norm, ngf * mult * 2);
      seq->push_back(nn::ReLU(nn::ReLUOptions().inplace(true)));
    }
    for (int i = 0; i < n_blocks; ++i) {
      seq->push_back(std::make_shared<ResnetBlockImpl>(ngf * 4, norm, !cfg.no_dropout));
    }
    for (int64_t mult : {4, 2}) {
      seq->push_back(nn::ConvTranspose2d(nn::ConvTranspose2dOptions(ngf * mult, ngf * mult / 2, 3)
                                             .stride(2)
                                             .padding(1)
                                             .output_padding(1)
                                             .bias(bias)));
      push_norm(seq, norm, ngf * mult / 2);
      seq->push_back(nn::ReLU(nn::ReLUOptions().inplace(true)));
    }
    seq->push_back(nn::ReflectionPad2d(3));
    seq->push_back(nn::Conv2d(nn::Conv2dOptions(ngf, cfg.output_nc, 7).bias(true)));
    seq->push_back(nn::Tanh());
    model_ = register_module("model", seq);
  }

  at::Tensor forward(const at::Tensor& x) override { return run_sequential(model_, x, nullptr); }
  at::Tensor forward_counting(const at::Tensor& x, MacCounter& counter) override {
    return run_sequential(model_, x, &counter);
  }
  int64_t size_multiple() const override { return 4; }

 private:
  torch::nn::Sequential model_{nullptr};
};

}  // namespace

NetworkPtr make_resnet(const NetConfig& cfg, int n_blocks, NormKind norm) {
  return std::make_shared<ResnetGenerator>(cfg, n_blocks, norm);
}

}  // namespace p2p::detail
