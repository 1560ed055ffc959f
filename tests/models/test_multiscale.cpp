// Multi-scale discriminator: logit shapes per scale (known answers from the conv arithmetic), the
// pooling between scales against a hand-written AvgPool2d(3, 2, 1, count_include_pad=False), feature
// lists for feature matching, check_num_D's limits, and a one-scale stack equal to the plain D.
#include "p2p/core/error.h"
#include "p2p/io/state_dict.h"
#include "p2p/models/multiscale.h"
#include "p2p/models/networks.h"
#include "testutil/testutil.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/utils.h>

#include <algorithm>
#include <string>
#include <vector>

namespace {

using p2p::NetConfig;

NetConfig ms_cfg(int num_D, const std::string& netD = "basic") {
  NetConfig cfg;
  cfg.ndf = 8;
  cfg.netD = netD;
  cfg.num_D = num_D;
  return cfg;
}

// AvgPool2d(kernel 3, stride 2, padding 1) averaging only the in-image taps, written out by loops.
at::Tensor pool_by_hand(const at::Tensor& x) {
  const int64_t h = x.size(2), w = x.size(3);
  const int64_t oh = (h - 1) / 2 + 1, ow = (w - 1) / 2 + 1;
  at::Tensor out = at::zeros({x.size(0), x.size(1), oh, ow}, at::kDouble);
  const at::Tensor xd = x.to(at::kDouble);
  auto in = xd.accessor<double, 4>();
  auto o = out.accessor<double, 4>();
  for (int64_t n = 0; n < x.size(0); ++n) {
    for (int64_t c = 0; c < x.size(1); ++c) {
      for (int64_t i = 0; i < oh; ++i) {
        for (int64_t j = 0; j < ow; ++j) {
          double sum = 0.0;
          int count = 0;
          for (int64_t y = 2 * i - 1; y <= 2 * i + 1; ++y) {
            for (int64_t z = 2 * j - 1; z <= 2 * j + 1; ++z) {
              if (y < 0 || z < 0 || y >= h || z >= w) continue;
              sum += in[n][c][y][z];
              ++count;
            }
          }
          o[n][c][i][j] = sum / count;
        }
      }
    }
  }
  return out.to(at::kFloat);
}

std::vector<int64_t> side_of(const at::Tensor& t) { return {t.size(2), t.size(3)}; }

TEST(MultiScale, LogitShapesPerScale) {
  torch::NoGradGuard no_grad;
  {
    p2p::MultiScaleDiscriminator d(ms_cfg(2), 6);
    ASSERT_EQ(d.num_scales(), 2u);
    auto out = d.forward(at::randn({2, 6, 64, 64}));
    ASSERT_EQ(out.size(), 2u);
    // basic D: 64 -> 32 -> 16 -> 8 -> 7 -> 6; the 32 px scale: 16, 8, 4, 3, 2.
    EXPECT_EQ(out[0].sizes().vec(), (std::vector<int64_t>{2, 1, 6, 6}));
    EXPECT_EQ(out[1].sizes().vec(), (std::vector<int64_t>{2, 1, 2, 2}));
  }
  {
    p2p::MultiScaleDiscriminator d(ms_cfg(3), 6);
    auto out = d.forward(at::randn({1, 6, 128, 96}));
    ASSERT_EQ(out.size(), 3u);
    EXPECT_EQ(side_of(out[0]), (std::vector<int64_t>{14, 10}));
    EXPECT_EQ(side_of(out[1]), (std::vector<int64_t>{6, 4}));
    EXPECT_EQ(side_of(out[2]), (std::vector<int64_t>{2, 1}));
  }
  {
    // Odd sides pool to ceil(side / 2): 66 -> 33 -> 17 for the 1x1 pixel D.
    p2p::MultiScaleDiscriminator d(ms_cfg(3, "pixel"), 6);
    auto out = d.forward(at::randn({1, 6, 66, 66}));
    EXPECT_EQ(side_of(out[1]), (std::vector<int64_t>{33, 33}));
    EXPECT_EQ(side_of(out[2]), (std::vector<int64_t>{17, 17}));
  }
  EXPECT_EQ(p2p::multiscale_input_side(66, 2), 17);
}

TEST(MultiScale, ScalesAreNamedAndIndependent) {
  p2p::MultiScaleDiscriminator d(ms_cfg(3), 6);
  std::vector<std::string> names;
  for (const auto& c : d.named_children()) names.push_back(c.key());
  EXPECT_EQ(names, (std::vector<std::string>{"scale0", "scale1", "scale2"}));
  auto plain = p2p::make_discriminator(ms_cfg(1), 6);
  EXPECT_EQ(p2p::count_parameters(d), 3 * p2p::count_parameters(*plain));
  bool has_key = false;
  for (const auto& p : d.named_parameters()) has_key |= p.key() == "scale2.model.0.weight";
  EXPECT_TRUE(has_key);
}

TEST(MultiScale, CoarserScalesSeeTheInputPooledWithoutPadding) {
  at::manual_seed(1);
  p2p::MultiScaleDiscriminator d(ms_cfg(3, "pixel"), 6);
  p2p::set_eval_mode(d, true);
  torch::NoGradGuard no_grad;
  const at::Tensor x = at::randn({2, 6, 37, 30});
  auto out = d.forward(x);
  const at::Tensor x1 = pool_by_hand(x), x2 = pool_by_hand(x1);
  EXPECT_LT((out[1] - d.scale(1).forward(x1)).abs().max().item<double>(), 1e-5);
  EXPECT_LT((out[2] - d.scale(2).forward(x2)).abs().max().item<double>(), 1e-5);
  for (size_t k = 0; k < 3; ++k) EXPECT_TRUE(at::equal(d.forward_scale(k, x), out[k])) << "scale " << k;
  // count_include_pad=True would darken the borders: the padded average differs there.
  const at::Tensor padded = at::avg_pool2d(x, {3, 3}, {2, 2}, {1, 1}, false, /*count_include_pad=*/true);
  EXPECT_GT((out[1] - d.scale(1).forward(padded)).abs().max().item<double>(), 1e-3);
}

TEST(MultiScale, FeaturesPerScaleEndWithTheLogits) {
  at::manual_seed(2);
  NetConfig cfg = ms_cfg(2, "n_layers");
  cfg.n_layers_D = 2;
  p2p::MultiScaleDiscriminator d(cfg, 6);
  p2p::set_eval_mode(d, true);
  torch::NoGradGuard no_grad;
  const at::Tensor x = at::randn({1, 6, 64, 64});
  auto feats = d.forward_features(x);
  auto logits = d.forward(x);
  ASSERT_EQ(feats.size(), 2u);
  for (size_t k = 0; k < 2; ++k) {
    // n_layers_D + 1 [conv, norm, LeakyReLU] groups, then the logits.
    ASSERT_EQ(feats[k].size(), static_cast<size_t>(cfg.n_layers_D + 2));
    EXPECT_TRUE(at::equal(feats[k].back(), logits[k]));
    EXPECT_EQ(feats[k][0].size(1), 8);
    EXPECT_EQ(feats[k][1].size(1), 16);
    EXPECT_EQ(feats[k][2].size(1), 32);
  }
  EXPECT_EQ(side_of(feats[0][0]), (std::vector<int64_t>{32, 32}));
  EXPECT_EQ(side_of(feats[1][0]), (std::vector<int64_t>{16, 16}));
  // The basic D on its own: 3 + 1 groups and logits; pixel: 2 and logits; generators: just the output.
  auto basic = p2p::make_discriminator(ms_cfg(1), 6);
  EXPECT_EQ(basic->forward_features(x).size(), 5u);
  EXPECT_EQ(p2p::make_discriminator(ms_cfg(1, "pixel"), 6)->forward_features(x).size(), 3u);
  NetConfig g;
  g.netG = "unet_32";
  g.ngf = 8;
  EXPECT_EQ(p2p::make_generator(g)->forward_features(at::randn({1, 3, 32, 32})).size(), 1u);
}

TEST(MultiScale, FeaturesAreTheLeakyReluOutputs) {
  // Known answer on the first group: LeakyReLU(0.2) of conv0(x), computed from conv0's weights.
  at::manual_seed(4);
  auto d = p2p::make_discriminator(ms_cfg(1), 6);
  torch::NoGradGuard no_grad;
  const at::Tensor x = at::randn({1, 6, 32, 32});
  auto feats = d->forward_features(x);
  at::Tensor w, b;
  for (const auto& p : d->named_parameters()) {
    if (p.key() == "model.0.weight") w = p.value();
    if (p.key() == "model.0.bias") b = p.value();
  }
  const at::Tensor pre = at::conv2d(x, w, b, {2, 2}, {1, 1});
  const at::Tensor want = at::where(pre > 0, pre, pre * 0.2);
  EXPECT_LT((feats[0] - want).abs().max().item<double>(), 1e-6);
}

TEST(MultiScale, OneScaleEqualsThePlainDiscriminator) {
  at::manual_seed(8);
  auto holder = std::make_shared<p2p::MultiScaleDiscriminator>(ms_cfg(1), 6);
  p2p::MultiScaleDiscriminator& stack = *holder;  // modules(include_self) needs a shared_ptr owner
  p2p::init_weights(stack, "normal", 0.02);
  at::manual_seed(9);
  auto plain = p2p::make_discriminator(ms_cfg(1), 6);
  p2p::load_into(*plain, p2p::state_dict_of(stack.scale(0)), "scale0");
  p2p::set_eval_mode(stack, false);
  p2p::set_eval_mode(*plain, false);
  torch::NoGradGuard no_grad;
  const at::Tensor x = at::randn({2, 6, 64, 64});
  auto out = stack.forward(x);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(at::equal(out[0], plain->forward(x)));
}

TEST(MultiScale, CheckNumDRefusesTooSmallCrops) {
  // The basic D needs 24 px for one logit; 3 scales from 64 px leave 16 px at the coarsest.
  const std::string msg = p2p::test::error_of([] { p2p::check_num_D(ms_cfg(3), 64); });
  EXPECT_NE(msg.find("--num_D"), std::string::npos) << msg;
  EXPECT_NE(msg.find("16x16"), std::string::npos) << msg;
  EXPECT_NE(msg.find("24x24"), std::string::npos) << msg;
  EXPECT_NE(msg.find("--crop_size >= 93"), std::string::npos) << msg;
  EXPECT_NE(msg.find("--num_D <= 2"), std::string::npos) << msg;
  EXPECT_NO_THROW(p2p::check_num_D(ms_cfg(2), 64));
  EXPECT_NO_THROW(p2p::check_num_D(ms_cfg(3), 93));
  EXPECT_THROW(p2p::check_num_D(ms_cfg(3), 92), p2p::Error);
  EXPECT_NO_THROW(p2p::check_num_D(ms_cfg(6, "pixel"), 32));
  EXPECT_THROW(p2p::check_num_D(ms_cfg(1), 16), p2p::Error);
  // Exactly the boundary the networks show: a 93 px crop runs with 3 scales.
  p2p::MultiScaleDiscriminator d(ms_cfg(3), 6);
  torch::NoGradGuard no_grad;
  EXPECT_EQ(side_of(d.forward(at::randn({1, 6, 93, 93}))[2]), (std::vector<int64_t>{1, 1}));
  const std::string zero = p2p::test::error_of([] { p2p::check_num_D(ms_cfg(0), 256); });
  EXPECT_NE(zero.find("--num_D"), std::string::npos) << zero;
  EXPECT_THROW(p2p::MultiScaleDiscriminator(ms_cfg(0), 6), p2p::Error);
}

}  // namespace
