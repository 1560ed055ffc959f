// The SSIM the metrics report and the --lambda_ssim training loss are one implementation
// (losses/ssim.h): for the same pair, ssim_loss = 1 - ssim (within float32 rounding of the loss).
#include "p2p/eval/metrics.h"
#include "p2p/losses/image_losses.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

namespace p2p {
namespace {

TEST(MetricsSsimLoss, LossIsOneMinusReportedSsim) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(21);
  const at::Tensor target = at::rand({3, 32, 40}, gen);
  const at::Tensor pred = (target + 0.3 * (at::rand({3, 32, 40}, gen) - 0.5)).clamp(0, 1);
  const double reported = ssim(pred, target);
  ASSERT_GT(reported, 0.2);
  ASSERT_LT(reported, 0.99);
  const at::Tensor loss = ssim_loss((pred * 2 - 1).unsqueeze(0), (target * 2 - 1).unsqueeze(0));
  EXPECT_EQ(loss.scalar_type(), at::kFloat);
  EXPECT_NEAR(loss.item<double>(), 1 - reported, 1e-5);
  const at::Tensor pred64 = pred.to(at::kDouble).unsqueeze(0), target64 = target.to(at::kDouble).unsqueeze(0);
  const at::Tensor loss64 = ssim_loss(pred64 * 2 - 1, target64 * 2 - 1);
  EXPECT_NEAR(loss64.item<double>(), 1 - reported, 1e-12);
}

}  // namespace
}  // namespace p2p
