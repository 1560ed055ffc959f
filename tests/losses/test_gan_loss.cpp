// Tests for losses/gan_loss: known values of each GAN loss (D and G sides, label smoothing, hinge) and
// the WGAN-GP penalty.
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
  EXPECT_EQ(parse_gan_mode("vanilla"), GanMode::kVanilla);
  EXPECT_EQ(parse_gan_mode("lsgan"), GanMode::kLsgan);
  EXPECT_EQ(parse_gan_mode("hinge"), GanMode::kHinge);
  EXPECT_EQ(parse_gan_mode("wgangp"), GanMode::kWgangp);
  try {
    parse_gan_mode("hinged");
    FAIL() << "expected p2p::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--gan_mode"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("hinge"), std::string::npos) << "the message lists the choices";
  }
}

// Logits with both margins active and inactive: relu(1 - p) = {3, 1, 0.5, 0}, relu(1 + p) = {0, 1, 1.5, 4}.
at::Tensor hinge_logits() { return at::tensor({-2.0f, 0.0f, 0.5f, 3.0f}).view({1, 1, 2, 2}); }

TEST(GanLoss, HingeDiscriminatorKnownValues) {
  const at::Tensor p = hinge_logits();
  EXPECT_NEAR(gan_loss(p, true, GanMode::kHinge).item<double>(), 4.5 / 4, 1e-7);
  EXPECT_NEAR(gan_loss(p, false, GanMode::kHinge).item<double>(), 6.5 / 4, 1e-7);
  // The label is a probability target; hinge has margins instead and ignores it.
  EXPECT_NEAR(discriminator_loss(p, true, GanMode::kHinge, 0.9).item<double>(), 4.5 / 4, 1e-7);
  EXPECT_NEAR(discriminator_loss(p, false, GanMode::kHinge, 0.1).item<double>(), 6.5 / 4, 1e-7);
}

TEST(GanLoss, GeneratorLossPerMode) {
  const at::Tensor p = hinge_logits();  // mean 0.375
  EXPECT_NEAR(generator_gan_loss(p, GanMode::kHinge).item<double>(), -0.375, 1e-7);
  EXPECT_NEAR(generator_gan_loss(p, GanMode::kWgangp).item<double>(), -0.375, 1e-7);
  // vanilla / lsgan: exactly the reference's gan_loss(pred, true).
  const at::Tensor r = at::randn({2, 1, 5, 5});
  EXPECT_TRUE(at::equal(generator_gan_loss(r, GanMode::kVanilla), gan_loss(r, true, GanMode::kVanilla)));
  EXPECT_TRUE(at::equal(generator_gan_loss(r, GanMode::kLsgan), gan_loss(r, true, GanMode::kLsgan)));
  EXPECT_NEAR(generator_gan_loss(at::zeros({1, 1, 2, 2}), GanMode::kVanilla).item<double>(), std::log(2.0), 1e-6);
}

TEST(GanLoss, LabelSmoothingTargets) {
  // BCE(p, t) = t * log(1 + e^-x) + (1 - t) * log(1 + e^x).
  auto bce = [](double x, double t) { return t * std::log1p(std::exp(-x)) + (1 - t) * std::log1p(std::exp(x)); };
  // Logit 0: sigmoid 1/2, so ln 2 for any target.
  auto d = [](double logit, bool real, double label) {
    return discriminator_loss(at::full({1, 1, 2, 2}, logit), real, GanMode::kVanilla, label).item<double>();
  };
  EXPECT_NEAR(d(0.0, true, 0.9), std::log(2.0), 1e-6);
  EXPECT_NEAR(d(2.0, true, 0.9), bce(2, 0.9), 1e-6);
  EXPECT_NEAR(d(-1.0, false, 0.1), bce(-1, 0.1), 1e-6);
  // Smoothing makes a confident real verdict cost more than with target 1.
  EXPECT_GT(bce(2, 0.9), bce(2, 1.0));
  // lsgan: MSE to the label.
  const at::Tensor p = at::full({1, 1, 2, 2}, 0.25);
  EXPECT_NEAR(discriminator_loss(p, true, GanMode::kLsgan, 0.9).item<double>(), 0.65 * 0.65, 1e-7);
  EXPECT_NEAR(discriminator_loss(p, false, GanMode::kLsgan, 0.1).item<double>(), 0.15 * 0.15, 1e-7);
}

TEST(GanLoss, DefaultLabelsAreBitIdenticalToGanLoss) {
  const at::Tensor p = at::randn({3, 1, 7, 7});
  for (GanMode mode : {GanMode::kVanilla, GanMode::kLsgan, GanMode::kHinge, GanMode::kWgangp}) {
    SCOPED_TRACE(static_cast<int>(mode));
    EXPECT_TRUE(at::equal(discriminator_loss(p, true, mode, 1.0), gan_loss(p, true, mode)));
    EXPECT_TRUE(at::equal(discriminator_loss(p, false, mode, 0.0), gan_loss(p, false, mode)));
  }
}

TEST(GanLoss, VanillaLabelOutsideUnitIntervalNamesFlag) {
  const at::Tensor p = at::zeros({1, 1, 2, 2});
  try {
    discriminator_loss(p, true, GanMode::kVanilla, 1.5);
    FAIL() << "expected p2p::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--real_label"), std::string::npos) << e.what();
  }
  try {
    discriminator_loss(p, false, GanMode::kVanilla, -0.1);
    FAIL() << "expected p2p::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--fake_label"), std::string::npos) << e.what();
  }
  // lsgan has no probability constraint.
  EXPECT_NO_THROW(discriminator_loss(p, true, GanMode::kLsgan, 1.5));
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
