// Tests for train/fused_adam: the fused CPU update follows LibTorch's Adam step for step, keeps its
// state where checkpoints look for it, and falls back to LibTorch's Adam where it does not apply.
#include "p2p/train/fused_adam.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

namespace p2p {
namespace {

// Runs `steps` updates of both optimizers on identical parameters and gradients; returns max |diff|.
double run_both(torch::optim::AdamOptions opts, int steps, bool lr_change) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  at::Tensor init = at::randn({1000, 37}, gen);
  at::Tensor a = init.clone().requires_grad_(true), b = init.clone().requires_grad_(true);
  torch::optim::Adam reference({a}, opts);
  FusedAdam fused({b}, opts);
  for (int s = 0; s < steps; ++s) {
    at::Tensor g = at::randn({1000, 37}, gen) * (s + 1);
    a.mutable_grad() = g.clone();
    b.mutable_grad() = g.clone();
    reference.step();
    fused.step();
    if (lr_change && s == 2) {
      static_cast<torch::optim::AdamOptions&>(reference.param_groups()[0].options()).lr(1e-4);
      static_cast<torch::optim::AdamOptions&>(fused.param_groups()[0].options()).lr(1e-4);
    }
  }
  // Same state layout: the moments live in AdamParamState under LibTorch's key.
  EXPECT_EQ(fused.state().size(), 1u);
  return (a - b).abs().max().item<double>();
}

TEST(FusedAdam, MatchesLibTorchAdamOverManySteps) {
  auto opts = torch::optim::AdamOptions(2e-4).betas(std::make_tuple(0.5, 0.999));
  // Float rounding only: a few ulps of parameters of order 1 (each step moves them by ~2e-4).
  EXPECT_LT(run_both(opts, 10, /*lr_change=*/true), 1e-6);
}

TEST(FusedAdam, WeightDecayFallsBackToLibTorch) {
  auto opts = torch::optim::AdamOptions(1e-3).weight_decay(0.1);
  EXPECT_EQ(run_both(opts, 4, false), 0.0);  // the very same code path
}

TEST(FusedAdam, ParametersWithoutGradientsAreLeftAlone) {
  at::Tensor a = at::ones({4}).requires_grad_(true), b = at::ones({4}).requires_grad_(true);
  FusedAdam opt({a, b}, torch::optim::AdamOptions(0.1));
  a.mutable_grad() = at::ones({4});
  opt.step();
  EXPECT_TRUE(at::equal(b, at::ones({4})));
  EXPECT_LT(a.max().item<double>(), 1.0);  // first Adam step moves by lr in the gradient's sign: 1 - 0.1
  EXPECT_NEAR(a[0].item<double>(), 0.9, 1e-6);
}

}  // namespace
}  // namespace p2p
