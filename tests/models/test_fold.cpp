// Tests for fold_batch_norm: in eval mode a generator with batch norm (U-Net: conv and transposed conv
// followed by BN; ResNet) computes the same function after folding to float rounding, with no BN layer
// left in it; instance-norm networks have nothing to fold. A wrongly folded channel would show: the
// running statistics are moved far from 0/1 first.
#include "p2p/core/config.h"
#include "p2p/models/networks.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/nn/modules/batchnorm.h>

namespace p2p {
namespace {

int batch_norms(torch::nn::Module& net) {
  int n = 0;
  for (const auto& m : net.modules()) n += dynamic_cast<torch::nn::BatchNorm2dImpl*>(m.get()) != nullptr;
  return n;
}

TEST(Fold, SameOutputsWithNoBatchNormLeft) {
  for (const std::string netG : {"unet_32", "resnet_6blocks", "encoder_decoder_32"}) {
    NetConfig n;
    n.netG = netG;
    n.ngf = 8;
    at::manual_seed(5);
    NetworkPtr G = make_generator(n);
    init_weights(*G, "normal", 0.02);
    {
      torch::NoGradGuard no_grad;
      for (const auto& m : G->modules()) {  // statistics and affine terms far from their start
        if (auto* bn = dynamic_cast<torch::nn::BatchNorm2dImpl*>(m.get())) {
          bn->running_mean.uniform_(-0.5, 0.5);
          bn->running_var.uniform_(0.2, 3.0);
          bn->weight.uniform_(0.5, 1.5);
          bn->bias.uniform_(-0.3, 0.3);
        }
      }
    }
    set_eval_mode(*G, true);
    const int before = batch_norms(*G);
    ASSERT_GT(before, 0) << netG;
    const at::Tensor x = at::rand({2, 3, 32, 32}) * 2 - 1;
    torch::NoGradGuard no_grad;
    const at::Tensor y = G->forward(x);
    EXPECT_EQ(fold_batch_norm(*G), before) << netG;
    EXPECT_EQ(batch_norms(*G), 0) << netG;
    const at::Tensor z = G->forward(x);
    EXPECT_LT((y - z).abs().max().item<double>(), 1e-5) << netG;
    EXPECT_GT(y.abs().max().item<double>(), 1e-2) << netG;  // a real output, not all zeros
  }
}

TEST(Fold, InstanceNormHasNothingToFold) {
  NetConfig n;
  n.netG = "unet_32";
  n.ngf = 8;
  n.norm = "instance";
  NetworkPtr G = make_generator(n);
  set_eval_mode(*G, true);
  EXPECT_EQ(fold_batch_norm(*G), 0);
}

}  // namespace
}  // namespace p2p
