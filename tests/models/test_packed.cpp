// Tests for pack_for_cpu_inference. The reference is LibTorch's own kernels on the same weights
// (slow_conv_transpose2d's im2col GEMM for the transposed convolution, an independent implementation of
// the same sums): single layers of several shapes, then whole generators in both test modes. A
// wrong phase, tap or bias would move outputs by the size of a weight, far beyond the 1e-5 allowed.
#include "p2p/core/config.h"
#include "p2p/core/precision.h"
#include "p2p/models/networks.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>

#include <string>

namespace p2p {
namespace {

double max_relative(const at::Tensor& got, const at::Tensor& want) {
  return ((got - want).abs().max() / (want.abs().max() + 1e-12)).item<double>();
}

int count_convs(torch::nn::Module& net) {
  int n = 0;
  for (const auto& m : net.modules()) {
    n += dynamic_cast<torch::nn::Conv2dImpl*>(m.get()) != nullptr;
    n += dynamic_cast<torch::nn::ConvTranspose2dImpl*>(m.get()) != nullptr;
  }
  return n;
}

TEST(Packed, TransposedConvolutionEqualsLibTorchAtEverySize) {
  torch::NoGradGuard no_grad;
  at::manual_seed(3);
  for (const bool bias : {true, false}) {
    torch::nn::Sequential seq(torch::nn::ConvTranspose2d(torch::nn::ConvTranspose2dOptions(5, 7, 4).stride(2).padding(1).bias(bias)));
    if (bias) seq->ptr<torch::nn::ConvTranspose2dImpl>(0)->bias.uniform_(-1, 1);  // init leaves it near 0
    // odd, non-square, batch of 2 and a 1x1 bottleneck (the innermost U-Net layer)
    const std::vector<at::Tensor> inputs = {at::randn({2, 5, 7, 11}), at::randn({1, 5, 1, 1}), at::randn({1, 5, 6, 6})};
    std::vector<at::Tensor> want;
    for (const auto& x : inputs) want.push_back(seq->forward(x));
    ASSERT_EQ(pack_for_cpu_inference(*seq), 1);
    EXPECT_EQ(count_convs(*seq), 0);  // the layer was replaced, not kept
    for (size_t i = 0; i < inputs.size(); ++i) {
      const at::Tensor got = seq->forward(inputs[i]);
      ASSERT_EQ(got.sizes(), want[i].sizes());
      EXPECT_LT(max_relative(got, want[i]), 1e-5) << "bias " << bias << " input " << i;
    }
  }
}

TEST(Packed, ConvolutionsOfTheNetworksShapesEqualLibTorch) {
  torch::NoGradGuard no_grad;
  at::manual_seed(4);
  namespace nn = torch::nn;
  // U-Net down conv, PatchGAN-like stride 1, ResNet 7x7 (padding 0 after reflection) and 3x3.
  nn::Sequential seq(nn::Conv2d(nn::Conv2dOptions(3, 8, 4).stride(2).padding(1)),
                     nn::Conv2d(nn::Conv2dOptions(8, 6, 4).stride(1).padding(1).bias(false)),
                     nn::Conv2d(nn::Conv2dOptions(6, 4, 7)), nn::Conv2d(nn::Conv2dOptions(4, 4, 3).padding(1)));
  const at::Tensor x = at::randn({2, 3, 40, 36});
  const at::Tensor want = seq->forward(x);
  ASSERT_EQ(pack_for_cpu_inference(*seq), 4);
  EXPECT_LT(max_relative(seq->forward(x), want), 1e-5);
}

TEST(Packed, LayersItCannotRunKeepLibTorchKernels) {
  torch::NoGradGuard no_grad;
  namespace nn = torch::nn;
  nn::Sequential seq(nn::ConvTranspose2d(nn::ConvTranspose2dOptions(4, 4, 3).stride(2).padding(1).output_padding(1)),
                     nn::Conv2d(nn::Conv2dOptions(4, 4, 3).padding(1).groups(2)),
                     nn::Conv2d(nn::Conv2dOptions(4, 4, 3).padding(1).padding_mode(torch::kReflect)));
  EXPECT_EQ(pack_for_cpu_inference(*seq), 0);
  EXPECT_EQ(count_convs(*seq), 3);
  nn::Sequential dbl(nn::Conv2d(nn::Conv2dOptions(3, 4, 3)));
  dbl->to(at::kDouble);
  EXPECT_EQ(pack_for_cpu_inference(*dbl), 0);  // oneDNN path is float only
}

// Whole generators: every conv of a U-Net is packed; in the paper's test mode (batch statistics,
// dropout drawn from the global generator, re-seeded) and with --eval's folded batch norm.
// Running statistics as a trained net has them, not 0 / 1: means near 0, variances drawn from
// [var_low, var_high], shifts in [-0.3, 0.3].
void set_trained_statistics(torch::nn::Module& G, double var_low, double var_high) {
  torch::NoGradGuard no_grad;
  for (const auto& m : G.modules()) {
    if (auto* bn = dynamic_cast<torch::nn::BatchNorm2dImpl*>(m.get())) {
      bn->running_mean.uniform_(-0.05, 0.05);
      bn->running_var.uniform_(var_low, var_high);
      bn->bias.uniform_(-0.3, 0.3);
    }
  }
}

// A small generator (ngf 8, seed 5) initialised by `init` with `gain` and trained-looking statistics,
// in the paper's test mode (eval false: batch statistics, dropout) or --eval's (running statistics,
// batch norm folded into the convolutions).
NetworkPtr test_mode_generator(const std::string& netG, const std::string& init, double gain, double var_low,
                               double var_high, bool eval) {
  NetConfig n;
  n.netG = netG;
  n.ngf = 8;
  at::manual_seed(5);
  NetworkPtr G = make_generator(n);
  init_weights(*G, init, gain);
  set_trained_statistics(*G, var_low, var_high);
  set_eval_mode(*G, eval);
  if (eval) fold_batch_norm(*G);
  return G;
}

TEST(Packed, GeneratorsComputeTheSameInBothTestModes) {
  for (const std::string netG : {"unet_32", "resnet_6blocks"}) {
    for (const bool eval : {false, true}) {
      NetworkPtr G = test_mode_generator(netG, "normal", 0.02, 1e-3, 1e-2, eval);
      torch::NoGradGuard no_grad;
      const at::Tensor x = at::rand({2, 3, 32, 32}) * 2 - 1;
      at::manual_seed(11);
      const at::Tensor want = G->forward(x);
      const int convs = count_convs(*G);
      const int packed = pack_for_cpu_inference(*G);
      // unet_32: 5 down, 5 up, all packed. resnet: its two 3x3/stride-2/output-padding-1 up convs stay.
      EXPECT_EQ(packed, netG == "unet_32" ? convs : convs - 2) << netG;
      EXPECT_EQ(count_convs(*G), convs - packed) << netG;
      at::manual_seed(11);
      const at::Tensor got = G->forward(x);
      EXPECT_LT(max_relative(got, want), 1e-5) << netG << " eval " << eval;
      EXPECT_GT(want.abs().max().item<double>(), 1e-2) << netG;
    }
  }
}

// bf16 inference (Network::infer after packing in bf16) against LibTorch's fp32 forward of the same
// weights: in bf16 each operand keeps 8 significant bits and oneDNN sums in fp32, so through a whole
// generator outputs in [-1, 1] stay within 0.05 of fp32 for unet_32 and 0.1 for the 20-layer
// resnet_6blocks (measured 0.03 and 0.08; mean within 0.01); a wrong tap, phase or cast
// would be off by the size of the output itself. The output is fp32 and visibly not fp32's (bf16 ran).
TEST(Packed, Bf16InferenceStaysWithinBf16RoundingOfFp32) {
  if (cpu_bf16_instructions().empty()) GTEST_SKIP() << "this CPU has no native bf16 instructions";
  for (const std::string netG : {"unet_32", "resnet_6blocks"}) {
    for (const bool eval : {false, true}) {
      // Xavier init is variance-preserving: rounding is neither drowned nor blown up.
      NetworkPtr G = test_mode_generator(netG, "xavier", 1.0, 0.5, 2.0, eval);
      torch::NoGradGuard no_grad;
      const at::Tensor x = at::rand({2, 3, 32, 32}) * 2 - 1;
      at::manual_seed(11);
      const at::Tensor want = G->forward(x);
      const int packed = pack_for_cpu_inference(*G, Precision::kBf16);
      EXPECT_GT(packed, 0) << netG;
      G->inference_precision = Precision::kBf16;
      at::manual_seed(11);
      const at::Tensor got = G->infer(x);
      ASSERT_EQ(got.scalar_type(), at::kFloat);
      const double worst = (got - want).abs().max().item<double>();
      EXPECT_LT(worst, netG == "unet_32" ? 0.05 : 0.1) << netG << " eval " << eval;  // resnet: 20 layers deep
      EXPECT_LT((got - want).abs().mean().item<double>(), 0.01) << netG << " eval " << eval;
      EXPECT_GT(worst, 1e-4) << netG << " eval " << eval << ": no bf16 rounding seen";
      EXPECT_GT(want.abs().max().item<double>(), 1e-2) << netG;
    }
  }
}

// Packing draws its check inputs from a generator of its own: the paper's test mode seeds dropout
// before packing in some callers, and packing must not move that stream.
TEST(Packed, LeavesTheGlobalRandomStreamAlone) {
  torch::NoGradGuard no_grad;
  torch::nn::Sequential seq(torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 4, 3)));
  at::manual_seed(21);
  const at::Tensor before = at::rand({4});
  at::manual_seed(21);
  ASSERT_EQ(pack_for_cpu_inference(*seq), 1);
  EXPECT_TRUE(at::equal(at::rand({4}), before));
}

}  // namespace
}  // namespace p2p
