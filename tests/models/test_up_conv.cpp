// Tests for the U-Net's training convolutions. The up-convolution (UpConv2dImpl): while gradients are
// recorded on the CPU it runs as the passes of the convolution it is the adjoint of (its autograd node
// says so), by oneDNN or by matrix products over patches (models/unet_passes.cpp), and its output and
// all three gradients equal LibTorch's own ConvTranspose2d on the same weights (an independent
// implementation: im2col GEMM) to float rounding either way; without gradients it is LibTorch's layer.
// The down-convolution likewise against LibTorch's Conv2d.
#include "p2p/core/config.h"
#include "p2p/core/precision.h"
#include "p2p/models/layers.h"
#include "p2p/models/networks.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/nn/modules/conv.h>

#include <array>
#include <set>
#include <string>

namespace p2p::detail {
namespace {

double max_relative(const at::Tensor& got, const at::Tensor& want) {
  return ((got - want).abs().max() / (want.abs().max() + 1e-12)).item<double>();
}

// How many nodes of the graph ending in `y` are the oneDNN function.
int onednn_nodes(const at::Tensor& y) { return onednn_up_convolution_nodes(y); }

// Both ways of computing each pass (oneDNN's, one GEMM over patches; the layer times them per shape and
// keeps the faster) give LibTorch's output and gradients: over a batch of 2 (the batch folded into the
// GEMM's columns), one image, and the innermost layer's 1x1 input.
TEST(UpConv, OutputAndGradientsEqualLibTorchs) {
  for (const auto path : {ConvPassPath::onednn, ConvPassPath::gemm})
  for (const bool bias : {true, false})
  for (const std::array<int64_t, 3> nhw : {std::array<int64_t, 3>{2, 5, 7}, {1, 1, 1}, {1, 3, 2}}) {
    set_unet_conv_path(path);
    at::manual_seed(4);
    const auto options = torch::nn::ConvTranspose2dOptions(6, 5, 4).stride(2).padding(1).bias(bias);
    auto ours = std::make_shared<UpConv2dImpl>(options);
    torch::nn::ConvTranspose2d theirs(options);
    {
      torch::NoGradGuard no_grad;
      theirs->weight.copy_(ours->weight);
      if (bias) theirs->bias.copy_(ours->bias.uniform_(-1, 1));
    }
    const at::Tensor x = at::randn({nhw[0], 6, nhw[1], nhw[2]});
    const at::Tensor target = at::randn({nhw[0], 5, 2 * nhw[1], 2 * nhw[2]});
    const at::Tensor x1 = x.clone().requires_grad_(true), x2 = x.clone().requires_grad_(true);
    const at::Tensor y1 = ours->forward(x1), y2 = theirs->forward(x2);
    EXPECT_EQ(onednn_nodes(y1), 1) << y1.grad_fn()->name();
    ASSERT_EQ(y1.sizes(), y2.sizes());
    EXPECT_LT(max_relative(y1, y2), 1e-5);
    (y1 * target).sum().backward();
    (y2 * target).sum().backward();
    EXPECT_LT(max_relative(x1.grad(), x2.grad()), 1e-5) << "bias " << bias << " batch " << nhw[0];
    EXPECT_LT(max_relative(ours->weight.grad(), theirs->weight.grad()), 1e-5) << "bias " << bias << " " << nhw[1];
    if (bias) {
      EXPECT_LT(max_relative(ours->bias.grad(), theirs->bias.grad()), 1e-5);
    }
    EXPECT_FALSE(ours->named_parameters().contains("bias") != bias);  // the same parameters as the layer
  }
  set_unet_conv_path(ConvPassPath::measured);
}

// Under bf16 autocast (core/precision.h) the passes run in bf16 (LibTorch 1.13 itself would autocast a
// transposed convolution to fp32), the fp32 master weight gets an fp32 gradient, and all of it stays
// within bf16's rounding of LibTorch's fp32 layer: 8 significant bits per operand, fp32 sums, so 2 %
// of the largest value bounds every element (a wrong tap or phase would be off by the value itself).
TEST(UpConv, UnderBf16AutocastItComputesInBf16WithFp32MasterWeights) {
  if (cpu_bf16_instructions().empty()) GTEST_SKIP() << "this CPU has no native bf16 instructions";
  for (const auto path : {ConvPassPath::onednn, ConvPassPath::gemm}) {
    set_unet_conv_path(path);
    at::manual_seed(9);
    const auto options = torch::nn::ConvTranspose2dOptions(16, 8, 4).stride(2).padding(1);
    auto ours = std::make_shared<UpConv2dImpl>(options);
    torch::nn::ConvTranspose2d theirs(options);
    {
      torch::NoGradGuard no_grad;
      theirs->weight.copy_(ours->weight);
      theirs->bias.copy_(ours->bias.uniform_(-1, 1));
    }
    const at::Tensor x = at::randn({2, 16, 6, 6});
    const at::Tensor target = at::randn({2, 8, 12, 12});
    const at::Tensor x1 = x.clone().requires_grad_(true), x2 = x.clone().requires_grad_(true);
    at::Tensor y1;
    {
      const PrecisionScope bf16(Precision::kBf16);
      y1 = ours->forward(x1);
      EXPECT_EQ(y1.scalar_type(), at::kBFloat16);
      EXPECT_EQ(onednn_nodes(y1), 1);
      (y1.to(at::kFloat) * target).sum().backward();
    }
    EXPECT_FALSE(bf16_autocast_active());
    const at::Tensor y2 = theirs->forward(x2);
    (y2 * target).sum().backward();
    EXPECT_EQ(ours->weight.grad().scalar_type(), at::kFloat);
    EXPECT_EQ(x1.grad().scalar_type(), at::kFloat);
    EXPECT_LT(max_relative(y1.to(at::kFloat), y2), 2e-2);
    EXPECT_LT(max_relative(x1.grad(), x2.grad()), 2e-2);
    EXPECT_LT(max_relative(ours->weight.grad(), theirs->weight.grad()), 2e-2);
    EXPECT_LT(max_relative(ours->bias.grad(), theirs->bias.grad()), 2e-2);
    EXPECT_GT(max_relative(y1.to(at::kFloat), y2), 1e-5);  // it did round: bf16, not fp32 relabelled
  }
  set_unet_conv_path(ConvPassPath::measured);
}

TEST(UpConv, WithoutGradientsItIsLibTorchsLayer) {
  auto up = std::make_shared<UpConv2dImpl>(torch::nn::ConvTranspose2dOptions(3, 2, 4).stride(2).padding(1));
  const at::Tensor x = at::randn({1, 3, 4, 4});
  {
    torch::NoGradGuard no_grad;
    EXPECT_TRUE(at::equal(up->forward(x), up->torch::nn::ConvTranspose2dImpl::forward(x)));
  }
  // Nothing asks for a gradient (how a trace for TorchScript runs it): LibTorch's traceable op.
  for (auto& p : up->parameters()) p.set_requires_grad(false);
  const at::Tensor y = up->forward(x);
  EXPECT_FALSE(y.requires_grad());
  EXPECT_TRUE(at::equal(y, up->torch::nn::ConvTranspose2dImpl::forward(x)));
}

TEST(UpConv, OtherGeometriesAreLibTorchsLayer) {
  // The oneDNN passes are written for the 4x4, stride 2, padding 1 geometry only: stride 1, an output
  // padding, or another kernel size with the same stride and padding (kernel 3 gives 2H-1 x 2W-1, not
  // 2H x 2W) must run LibTorch's layer, at LibTorch's output size.
  for (const auto& options : {torch::nn::ConvTranspose2dOptions(3, 2, 4).stride(1).padding(1),
                              torch::nn::ConvTranspose2dOptions(3, 2, 3).stride(2).padding(1).output_padding(1),
                              torch::nn::ConvTranspose2dOptions(3, 2, 3).stride(2).padding(1),
                              torch::nn::ConvTranspose2dOptions(3, 2, 5).stride(2).padding(1),
                              torch::nn::ConvTranspose2dOptions(3, 2, {4, 3}).stride(2).padding(1)}) {
    auto up = std::make_shared<UpConv2dImpl>(options);
    const at::Tensor x = at::randn({1, 3, 5, 5}).requires_grad_(true);
    const at::Tensor y = up->forward(x);
    const at::Tensor theirs = up->torch::nn::ConvTranspose2dImpl::forward(x);
    EXPECT_EQ(onednn_nodes(y), 0) << y.grad_fn()->name() << " kernel " << (*options.kernel_size())[0];
    ASSERT_EQ(y.sizes(), theirs.sizes());
    EXPECT_TRUE(at::allclose(y, theirs));
  }
}

TEST(UpConv, TheUNetTrainsOnItAndCanBeSwitchedBack) {
  NetConfig cfg;
  cfg.netG = "unet_32";
  cfg.ngf = 8;
  NetworkPtr G = make_generator(cfg);
  const at::Tensor x = at::randn({1, 3, 32, 32});
  EXPECT_EQ(onednn_nodes(G->forward(x)), 5);  // unet_32: 5 up-convolutions
  EXPECT_EQ(use_onednn_up_convolutions(*G, false), 5);
  const at::Tensor theirs = G->forward(x);
  EXPECT_EQ(onednn_nodes(theirs), 0);
  EXPECT_EQ(use_onednn_up_convolutions(*G, true), 5);
  EXPECT_EQ(onednn_nodes(G->forward(x)), 5);
}

// The encoder's down-convolution: output and gradients equal LibTorch's Conv2d on the same weights with
// either path for its passes, over a batch of 2 and an odd-sized input, one image, and the innermost
// layer's 2x2 input; an input that needs no gradient (the image) gets none. Under bf16 autocast it
// computes in bf16 with an fp32 weight gradient.
TEST(DownConv, OutputAndGradientsEqualLibTorchs) {
  for (const auto path : {ConvPassPath::onednn, ConvPassPath::gemm})
  for (const bool bias : {true, false})
  for (const std::array<int64_t, 3> nhw : {std::array<int64_t, 3>{2, 10, 13}, {1, 2, 2}, {1, 7, 4}}) {
    set_unet_conv_path(path);
    at::manual_seed(6);
    const auto options = torch::nn::Conv2dOptions(5, 7, 4).stride(2).padding(1).bias(bias);
    auto ours = std::make_shared<DownConv2dImpl>(options);
    torch::nn::Conv2d theirs(options);
    {
      torch::NoGradGuard no_grad;
      theirs->weight.copy_(ours->weight);
      if (bias) theirs->bias.copy_(ours->bias.uniform_(-1, 1));
    }
    for (const bool input_grad : {true, false}) {
      ours->zero_grad();
      theirs->zero_grad();
      const at::Tensor x = at::randn({nhw[0], 5, nhw[1], nhw[2]});
      const at::Tensor x1 = x.clone().requires_grad_(input_grad), x2 = x.clone().requires_grad_(input_grad);
      const at::Tensor y1 = ours->forward(x1), y2 = theirs->forward(x2);
      ASSERT_EQ(y1.sizes(), y2.sizes());
      const auto* fn = y1.grad_fn().get();
      if (bias) fn = fn->next_edges()[0].function.get();  // y = conv + bias
      EXPECT_NE(fn->name().find("DownConvFunction"), std::string::npos) << fn->name();
      EXPECT_LT(max_relative(y1, y2), 1e-5);
      const at::Tensor target = at::randn(y2.sizes());
      (y1 * target).sum().backward();
      (y2 * target).sum().backward();
      if (input_grad) {
        EXPECT_LT(max_relative(x1.grad(), x2.grad()), 1e-5) << "batch " << nhw[0] << " " << nhw[1];
      }
      if (!input_grad) {
        EXPECT_FALSE(x1.grad().defined());
      }
      EXPECT_LT(max_relative(ours->weight.grad(), theirs->weight.grad()), 1e-5) << "bias " << bias;
      if (bias) {
        EXPECT_LT(max_relative(ours->bias.grad(), theirs->bias.grad()), 1e-5);
      }
    }
  }
  set_unet_conv_path(ConvPassPath::measured);
}

TEST(DownConv, UnderBf16AutocastItComputesInBf16WithFp32MasterWeights) {
  if (cpu_bf16_instructions().empty()) GTEST_SKIP() << "this CPU has no native bf16 instructions";
  for (const auto path : {ConvPassPath::onednn, ConvPassPath::gemm}) {
    set_unet_conv_path(path);
    at::manual_seed(8);
    const auto options = torch::nn::Conv2dOptions(16, 8, 4).stride(2).padding(1);
    auto ours = std::make_shared<DownConv2dImpl>(options);
    torch::nn::Conv2d theirs(options);
    {
      torch::NoGradGuard no_grad;
      theirs->weight.copy_(ours->weight);
      theirs->bias.copy_(ours->bias);
    }
    const at::Tensor x = at::randn({2, 16, 12, 12});
    const at::Tensor target = at::randn({2, 8, 6, 6});
    const at::Tensor x1 = x.clone().requires_grad_(true), x2 = x.clone().requires_grad_(true);
    at::Tensor y1;
    {
      const PrecisionScope bf16(Precision::kBf16);
      y1 = ours->forward(x1);
      EXPECT_EQ(y1.scalar_type(), at::kBFloat16);
      (y1.to(at::kFloat) * target).sum().backward();
    }
    const at::Tensor y2 = theirs->forward(x2);
    (y2 * target).sum().backward();
    EXPECT_EQ(ours->weight.grad().scalar_type(), at::kFloat);
    EXPECT_LT(max_relative(y1.to(at::kFloat), y2), 2e-2);
    EXPECT_LT(max_relative(x1.grad(), x2.grad()), 2e-2);
    EXPECT_LT(max_relative(ours->weight.grad(), theirs->weight.grad()), 2e-2);
    EXPECT_GT(max_relative(y1.to(at::kFloat), y2), 1e-5);
  }
  set_unet_conv_path(ConvPassPath::measured);
}

}  // namespace
}  // namespace p2p::detail
