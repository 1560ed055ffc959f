// Tests for losses/gan_loss: known values of each GAN loss and the WGAN-GP penalty.
#include "p2p/core/error.h"
#include "p2p/losses/gan_loss.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

namespace p2p {
namespace {

TEST(GanLoss, VanillaIsBceWithLogits) {
  // Logit 0 -> p = 0.5 -> BCE = ln 2 for either label.
  at::Tensor zero = at::zeros({2, 1, 3, 3});
  EXPECT_NEAR(gan_loss(zero, true, GanMode::kVanilla).item<double>(), std::log(2.0), 1e-6);
  EXPECT_NEAR(gan_loss(zero, false, GanMode::kVanilla).item<double>(), std::log(2.0), 1e-6);
  // Logit 2 vs real: -log(sigmoid(2)) = log(1 + e^-2).
  at::Tensor two = at::full({1, 1, 2, 2}, 2.0);
  EXPECT_NEAR(gan_loss(two, true, GanMode::kVanilla).item<double>(), std::log1p(std::exp(-2.0)), 1e-6);
  EXPECT_NEAR(gan_loss(two, false, GanMode::kVanilla).item<double>(), std::log1p(std::exp(2.0)), 1e-5);
}

TEST(GanLoss, LsganIsMseToOneOrZero) {
  at::Tensor p = at::full({1, 1, 2, 2}, 0.25);
  EXPECT_NEAR(gan_loss(p, true, GanMode::kLsgan).item<double>(), 0.75 * 0.75, 1e-7);
  EXPECT_NEAR(gan_loss(p, false, GanMode::kLsgan).item<double>(), 0.25 * 0.25, 1e-7);
}

TEST(GanLoss, WganIsSignedMean) {
  at::Tensor p = at::tensor({1.0f, 2.0f, 3.0f, 6.0f});
  EXPECT_NEAR(gan_loss(p, true, GanMode::kWgangp).item<double>(), -3.0, 1e-6);
  EXPECT_NEAR(gan_loss(p, false, GanMode::kWgangp).item<double>(), 3.0, 1e-6);
}

TEST(GanLoss, ParseNamesFlag) {
  EXPECT_EQ(parse_gan_mode("lsgan"), GanMode::kLsgan);
  try {
    parse_gan_mode("hinge");
    FAIL() << "expected p2p::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--gan_mode"), std::string::npos);
  }
}

TEST(GradientPenalty, LinearCriticHasKnownPenaltyAndGradient) {
  // D(x) = sum(w * x): grad_x = w everywhere, so penalty = lambda * (||w|| - 1)^2 for any interpolate.
  at::Tensor w = at::full({1, 2, 2, 2}, 0.5).requires_grad_(true);  // ||w|| = sqrt(8 * 0.25) = sqrt(2)
  auto critic = [&](const at::Tensor& x) { return (x * w).sum({1, 2, 3}); };
  at::Tensor real = at::rand({3, 2, 2, 2});
  at::Tensor fake = at::rand({3, 2, 2, 2});
  at::Tensor gp = gradient_penalty(critic, real, fake, 10.0);
  const double expected = 10.0 * std::pow(std::sqrt(2.0) - 1.0, 2);
  EXPECT_NEAR(gp.item<double>(), expected, 1e-5);
  // The penalty must reach the critic's weights (the reference never applies it at all).
  gp.backward();
  ASSERT_TRUE(w.grad().defined());
  EXPECT_GT(w.grad().abs().sum().item<double>(), 0.0);
}

}  // namespace
}  // namespace p2p
