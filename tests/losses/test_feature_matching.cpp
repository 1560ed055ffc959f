// Tests for losses/feature_matching: pix2pixHD's weighting on hand-made feature lists, the logits left
// out, and no gradient into the real side.
#include "p2p/losses/feature_matching.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

namespace p2p {
namespace {

at::Tensor full(double v) { return at::full({1, 2, 3, 3}, v); }

TEST(FeatureMatching, PixHdWeightsAndLogitsExcluded) {
  // 2 scales x (2 intermediate maps + logits): weight (4 / 2) * (1 / 2) = 1 per term. The logits differ by
  // 100 and must not count.
  std::vector<std::vector<at::Tensor>> fake = {{full(1.0), full(2.0), full(100.0)},
                                               {full(0.25), full(-0.5), full(100.0)}};
  std::vector<std::vector<at::Tensor>> real = {{full(0.5), full(0.0), full(0.0)}, {full(0.0), full(0.25), full(0.0)}};
  // scale 0: 0.5 + 2.0, scale 1: 0.25 + 0.75.
  EXPECT_NEAR(feature_matching_loss(fake, real).item<double>(), 3.5, 1e-6);
}

TEST(FeatureMatching, WeightFollowsLayerAndScaleCounts) {
  // One scale, 4 intermediate maps each off by 1 (n_layers_D 3 in pix2pixHD): (4 / 4) * 1 * 4 = 4.
  std::vector<std::vector<at::Tensor>> fake = {{full(1), full(1), full(1), full(1), full(5)}};
  std::vector<std::vector<at::Tensor>> real = {{full(0), full(0), full(0), full(0), full(0)}};
  EXPECT_NEAR(feature_matching_loss(fake, real).item<double>(), 4.0, 1e-6);
  // Three scales of one intermediate map off by 0.3: 3 * (4 / 1) * (1 / 3) * 0.3 = 1.2.
  std::vector<std::vector<at::Tensor>> f3(3, {full(0.3), full(9)}), r3(3, {full(0.0), full(0)});
  EXPECT_NEAR(feature_matching_loss(f3, r3).item<double>(), 1.2, 1e-6);
}

TEST(FeatureMatching, GradientReachesFakeOnly) {
  at::Tensor f0 = full(1.0).requires_grad_(true), f1 = full(1.0).requires_grad_(true);
  at::Tensor r0 = full(0.0).requires_grad_(true), r1 = full(0.0).requires_grad_(true);
  at::Tensor loss = feature_matching_loss({{f0, f1}}, {{r0, r1}});
  loss.backward();
  ASSERT_TRUE(f0.grad().defined());
  // d/df of (4 / 1) * mean|f - r| = 4 / numel * sign(f - r).
  EXPECT_NEAR(f0.grad().mean().item<double>(), 4.0 / 18.0, 1e-7);
  EXPECT_FALSE(f1.grad().defined()) << "the logits are not part of the loss";
  EXPECT_FALSE(r0.grad().defined()) << "real features are a detached target";
  EXPECT_FALSE(r1.grad().defined());
}

TEST(FeatureMatching, MismatchedListsAreRejected) {
  EXPECT_THROW(feature_matching_loss({}, {}), c10::Error);
  EXPECT_THROW(feature_matching_loss({{full(1), full(1)}}, {{full(1), full(1)}, {full(1), full(1)}}), c10::Error);
  EXPECT_THROW(feature_matching_loss({{full(1)}}, {{full(1)}}), c10::Error);  // logits only
  EXPECT_THROW(feature_matching_loss({{at::zeros({1, 2, 4, 4}), full(1)}}, {{full(1), full(1)}}), c10::Error);
}

}  // namespace
}  // namespace p2p
