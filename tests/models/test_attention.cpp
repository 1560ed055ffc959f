// U-Net attention (--attention): parsing and refusals, unchanged shapes, parameter counts against the
// formulas in attention.h worked by hand for unet_64 / ngf 8, unchanged default names, alpha = 0.5
// known answers for both modules and for whole networks (a gate at 0.5 equals halving the weights that
// read the gated tensor), MAC accounting, gradients and a state_dict round trip.
#include "p2p/core/error.h"
#include "p2p/io/state_dict.h"
#include "p2p/models/attention.h"
#include "p2p/models/info.h"
#include "p2p/models/networks.h"
#include "testutil/testutil.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/utils.h>

#include <algorithm>
#include <array>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using p2p::NetConfig;

NetConfig g_cfg(const std::string& attention, const std::string& netG = "unet_32") {
  NetConfig cfg;
  cfg.netG = netG;
  cfg.ngf = 8;
  cfg.attention = attention;
  cfg.no_dropout = true;
  return cfg;
}

std::string attention_error(const std::string& attention, const std::string& netG) {
  return p2p::test::error_of([&] { p2p::make_generator(g_cfg(attention, netG)); });
}

std::vector<std::string> names_of(const torch::nn::Module& m) {
  std::vector<std::string> names;
  for (const auto& [name, t] : p2p::state_dict_of(m)) names.push_back(name);
  return names;
}

at::Tensor& tensor_named(torch::nn::Module& m, const std::string& name) {
  for (auto& p : m.named_parameters()) {
    if (p.key() == name) return p.value();
  }
  throw std::runtime_error("no parameter " + name);
}

// A default network holding the attention network's other weights.
p2p::NetworkPtr default_twin(p2p::Network& att_net, const std::string& netG = "unet_32") {
  auto plain = p2p::make_generator(g_cfg("none", netG));
  p2p::StateDict shared;
  for (auto& [name, t] : p2p::state_dict_of(att_net)) {
    if (name.find("att_") == std::string::npos) shared.emplace_back(name, t);
  }
  p2p::load_into(*plain, shared, "attention model");
  return plain;
}

void zero_attention(torch::nn::Module& net) {
  torch::NoGradGuard no_grad;
  for (auto& p : net.named_parameters()) {
    if (p.key().find("att_") != std::string::npos) p.value().zero_();
  }
}

// unet_32 up convs of the blocks at depth 0..3 (outermost first); each reads cat(skip, decoder feature)
// of the block below, C channels each.
const std::vector<std::pair<std::string, int64_t>> kUpConvsReadingChildren = {
    {"model.model.3.weight", 8},
    {"model.model.1.model.5.weight", 16},
    {"model.model.1.model.3.model.5.weight", 32},
    {"model.model.1.model.3.model.3.model.5.weight", 64}};

TEST(Attention, ParsesNamesAndRefusesUnknownOnes) {
  p2p::AttentionSet all = p2p::parse_attention(" down, up ,skip", "unet_256");
  EXPECT_TRUE(all.down && all.up && all.skip);
  EXPECT_FALSE(p2p::parse_attention("none", "unet_256").any());
  EXPECT_FALSE(p2p::parse_attention("none", "resnet_9blocks").any());
  p2p::AttentionSet up = p2p::parse_attention("up", "encoder_decoder_64");
  EXPECT_TRUE(up.up && !up.down && !up.skip);
  for (const std::string bad : {"channel", "down,foo", "none,up", "down,", ""}) {
    if (bad.empty()) continue;
    const std::string msg = p2p::test::error_of([&] { p2p::parse_attention(bad, "unet_32"); });
    EXPECT_NE(msg.find("--attention"), std::string::npos) << bad << ": " << msg;
  }
}

TEST(Attention, RefusedForResnetsAndSkipWithoutSkips) {
  for (const std::string netG : {"resnet_9blocks", "resnet_6blocks"}) {
    const std::string msg = attention_error("down", netG);
    EXPECT_NE(msg.find("--attention"), std::string::npos) << msg;
    EXPECT_NE(msg.find("U-Net"), std::string::npos) << msg;
  }
  const std::string msg = attention_error("up,skip", "encoder_decoder_32");
  EXPECT_NE(msg.find("--attention"), std::string::npos) << msg;
  EXPECT_NE(msg.find("skip"), std::string::npos) << msg;
  EXPECT_EQ(attention_error("down,up", "encoder_decoder_32"), "");
  // An unknown generator is still reported as such.
  EXPECT_NE(attention_error("down", "unet_33").find("--netG"), std::string::npos);
}

TEST(Attention, ShapesUnchangedForEveryCombination) {
  torch::NoGradGuard no_grad;
  const at::Tensor x = at::randn({2, 3, 32, 32});
  for (const std::string att : {"down", "up", "skip", "down,up", "down,skip", "up,skip", "down,up,skip"}) {
    SCOPED_TRACE(att);
    auto g = p2p::make_generator(g_cfg(att));
    EXPECT_GT(p2p::attention_parameter_count(*g), 0);
    EXPECT_EQ(g->forward(x).sizes().vec(), (std::vector<int64_t>{2, 3, 32, 32}));
    EXPECT_EQ(g->size_multiple(), 32);
  }
  for (const std::string att : {"down", "up", "down,up"}) {
    auto g = p2p::make_generator(g_cfg(att, "encoder_decoder_32"));
    EXPECT_EQ(g->forward(x).sizes().vec(), (std::vector<int64_t>{2, 3, 32, 32}));
  }
}

// attention.h: SpatialAttention 2*49 + 1; AttentionGate (C_x + C_g + 1) C_i + 2 C_i + 1, C_i = C_x / 2.
int64_t gate_params(int64_t cx, int64_t cg) {
  const int64_t ci = std::max<int64_t>(1, cx / 2);
  return (cx + cg + 1) * ci + 2 * ci + 1;
}

TEST(Attention, ParameterCountsMatchTheFormulas) {
  // unet_64, ngf 8: blocks (outer_nc, inner_nc) innermost (64, 64), middle (64, 64), (32, 64), (16, 32),
  // (8, 16), outermost (3, 8). down: the 5 blocks with a submodule; up: the 5 non-outermost blocks;
  // skip: a gate per non-outermost block, C_x = outer_nc, C_g = the up conv's input (inner, or 2 inner).
  const int64_t spatial = 2 * 49 + 1;
  EXPECT_EQ(spatial, 99);
  const int64_t skip = gate_params(64, 64) + gate_params(64, 128) + gate_params(32, 128) + gate_params(16, 64) +
                       gate_params(8, 32);
  EXPECT_EQ(gate_params(64, 64), 4193);
  EXPECT_EQ(gate_params(8, 32), 173);
  EXPECT_EQ(skip, 13881);
  const int64_t base = p2p::count_parameters(*p2p::make_generator(g_cfg("none", "unet_64")));
  const std::map<std::string, int64_t> want = {
      {"down", 5 * spatial}, {"up", 5 * spatial}, {"skip", skip}, {"down,up,skip", 10 * spatial + skip}};
  for (const auto& [att, count] : want) {
    SCOPED_TRACE(att);
    auto g = p2p::make_generator(g_cfg(att, "unet_64"));
    EXPECT_EQ(p2p::attention_parameter_count(*g), count);
    EXPECT_EQ(p2p::count_parameters(*g), base + count);
  }
  EXPECT_EQ(p2p::attention_parameter_count(*p2p::make_generator(g_cfg("none", "unet_64"))), 0);
}

TEST(Attention, NoneKeepsTheDefaultNamesAndAttentionOnlyAddsAttNames) {
  NetConfig plain_cfg = g_cfg("none", "unet_64");
  plain_cfg.attention = NetConfig{}.attention;
  auto plain = p2p::make_generator(plain_cfg);
  EXPECT_EQ(names_of(*p2p::make_generator(g_cfg("none", "unet_64"))), names_of(*plain));
  EXPECT_EQ(names_of(*p2p::make_generator(g_cfg("", "unet_64"))), names_of(*plain));
  auto att = p2p::make_generator(g_cfg("down,up,skip", "unet_64"));
  std::vector<std::string> others;
  for (const std::string& n : names_of(*att)) {
    if (n.find("att_") == std::string::npos) others.push_back(n);
  }
  EXPECT_EQ(others, names_of(*plain));
  std::set<std::string> all;
  for (const std::string& n : names_of(*att)) all.insert(n);
  EXPECT_TRUE(all.count("model.model.1.att_down.conv.weight"));
  EXPECT_TRUE(all.count("model.att_down.conv.bias"));
  EXPECT_TRUE(all.count("model.model.1.att_up.conv.weight"));
  EXPECT_TRUE(all.count("model.model.1.att_skip.w_x.weight"));
  EXPECT_TRUE(all.count("model.model.1.att_skip.psi.bias"));
  EXPECT_FALSE(all.count("model.att_up.conv.weight"));   // the outermost returns the image
  EXPECT_FALSE(all.count("model.att_skip.w_x.weight"));  // the outermost has no skip
}

TEST(Attention, ModulesAtHalfAttentionScaleByExactlyOneHalf) {
  at::manual_seed(1);
  p2p::SpatialAttentionImpl spatial;
  p2p::AttentionGateImpl gate(6, 10);
  {
    torch::NoGradGuard no_grad;
    for (auto& p : spatial.parameters()) p.zero_();
    for (auto& p : gate.parameters()) p.zero_();
  }
  torch::NoGradGuard no_grad;
  const at::Tensor f = at::randn({2, 6, 8, 8});
  EXPECT_TRUE(at::equal(spatial.forward(f), f * 0.5));
  EXPECT_TRUE(at::equal(gate.forward(f, at::randn({2, 10, 4, 4})), f * 0.5));
}

TEST(Attention, ModulesFollowTheirFormulas) {
  at::manual_seed(2);
  p2p::SpatialAttentionImpl spatial;
  p2p::AttentionGateImpl gate(6, 10);
  torch::NoGradGuard no_grad;
  const at::Tensor f = at::randn({2, 6, 8, 8});
  const at::Tensor g = at::randn({2, 10, 4, 4});
  // CBAM spatial: sigmoid(conv7x7([mean_c; max_c])), with the conv written as its definition.
  const at::Tensor desc = at::cat({f.mean(1, true), std::get<0>(f.max(1, true))}, 1);
  const at::Tensor w = spatial.conv->weight, b = spatial.conv->bias;
  const at::Tensor padded = at::constant_pad_nd(desc, {3, 3, 3, 3}, 0);
  at::Tensor logits = at::zeros({2, 1, 8, 8});
  for (int64_t dy = 0; dy < 7; ++dy) {
    for (int64_t dx = 0; dx < 7; ++dx) {
      logits += (padded.slice(2, dy, dy + 8).slice(3, dx, dx + 8) * w.slice(2, dy, dy + 1).slice(3, dx, dx + 1))
                    .sum(1, true);
    }
  }
  logits += b.view({1, 1, 1, 1});
  EXPECT_LT((spatial.forward(f) - at::sigmoid(logits) * f).abs().max().item<double>(), 1e-5);
  // Gate: g resampled (bilinear) to x's size before W_g gives the same as W_g then resampling.
  const at::Tensor g_up = at::upsample_bilinear2d(g, {8, 8}, false);
  const at::Tensor q = gate.psi->forward(at::relu(gate.w_x->forward(f) + gate.w_g->forward(g_up)));
  EXPECT_LT((gate.forward(f, g) - at::sigmoid(q) * f).abs().max().item<double>(), 1e-5);
  EXPECT_EQ(gate.w_x->weight.size(0), 3);  // C_i = C_x / 2
}

// eval: running statistics; otherwise batch statistics, which keep every layer's activations O(1) for
// any weight scale (no dropout in these configs, so both are deterministic).
at::Tensor run(p2p::Network& net, const at::Tensor& x, bool eval) {
  p2p::set_eval_mode(net, eval);
  torch::NoGradGuard no_grad;
  return net.forward(x);
}

// alpha = 0.5 on the skips (or on the decoder features) equals halving the matching input channels of
// the up convs that read them: a whole-network known answer for where the modules sit.
void check_half_equals_halved_weights(const std::string& att, int64_t channel_half) {
  SCOPED_TRACE(att);
  at::manual_seed(3);
  auto g = p2p::make_generator(g_cfg(att));
  p2p::init_weights(*g, "normal", 0.1);
  zero_attention(*g);
  auto plain = default_twin(*g);
  {
    torch::NoGradGuard no_grad;
    for (const auto& [name, c] : kUpConvsReadingChildren) {
      tensor_named(*plain, name).slice(0, channel_half * c, (channel_half + 1) * c).mul_(0.5);
    }
  }
  const at::Tensor x = at::randn({2, 3, 32, 32});
  const at::Tensor got = run(*g, x, false), want = run(*plain, x, false);
  EXPECT_GT(got.abs().mean().item<double>(), 0.05);
  EXPECT_LT((got - want).abs().max().item<double>(), 1e-5);
  // And the halving matters: the untouched default network differs.
  EXPECT_GT((got - run(*default_twin(*g), x, false)).abs().max().item<double>(), 1e-3);
}

TEST(Attention, HalfGatesOnSkipsEqualHalvedSkipWeights) { check_half_equals_halved_weights("skip", 0); }
TEST(Attention, HalfAttentionOnDecoderFeaturesEqualsHalvedWeights) { check_half_equals_halved_weights("up", 1); }

TEST(Attention, AllThreeChangeTheOutputAndTrain) {
  at::manual_seed(4);
  auto g = p2p::make_generator(g_cfg("down,up,skip"));
  p2p::init_weights(*g, "normal", 0.02);
  const at::Tensor x = at::randn({2, 3, 32, 32});
  EXPECT_GT((run(*g, x, false) - run(*default_twin(*g), x, false)).abs().max().item<double>(), 1e-3);
  // Training-mode backward through the in-place activations reaches every attention parameter.
  p2p::set_eval_mode(*g, false);
  g->forward(x).pow(2).mean().backward();
  for (const auto& p : g->named_parameters()) {
    if (p.key().find("att_") == std::string::npos) continue;
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0.0) << p.key();
  }
}

TEST(Attention, MacsIncludeTheAttentionConvs) {
  // unet_32 at 32x32: the blocks below the outermost see 16, 8, 4, 2 px; spatial attention costs
  // 2 * 49 per output pixel. Gates: W_x at x's size, W_g at half of it, psi at x's size.
  const double base = p2p::summarize_network(*p2p::make_generator(g_cfg("none")), 3, 32, 32).gmacs * 1e9;
  const double spatial = 98.0 * (16 * 16 + 8 * 8 + 4 * 4 + 2 * 2);
  double gates = 0.0;
  const std::vector<std::array<int64_t, 3>> blocks = {{16, 8, 32}, {8, 16, 64}, {4, 32, 128}, {2, 64, 64}};
  for (const auto& [s, cx, cg] : blocks) {
    const int64_t ci = cx / 2;
    gates += static_cast<double>(s * s * ci * cx + (s / 2) * (s / 2) * ci * cg + s * s * ci);
  }
  EXPECT_DOUBLE_EQ(gates, 61312.0);
  auto macs = [](const std::string& att) {
    return p2p::summarize_network(*p2p::make_generator(g_cfg(att)), 3, 32, 32).gmacs * 1e9;
  };
  EXPECT_NEAR(macs("down") - base, spatial, 1e-3);
  EXPECT_NEAR(macs("up") - base, spatial, 1e-3);
  EXPECT_NEAR(macs("skip") - base, gates, 1e-3);
}

TEST(Attention, StateDictRoundTrip) {
  at::manual_seed(5);
  auto g = p2p::make_generator(g_cfg("down,up,skip"));
  p2p::init_weights(*g, "normal", 0.2);
  const std::string file = p2p::test::scratch_dir("attention_sd") + "/g.pth";
  p2p::write_state_dict(file, p2p::state_dict_of(*g));
  at::manual_seed(6);
  auto fresh = p2p::make_generator(g_cfg("down,up,skip"));
  const at::Tensor x = at::randn({1, 3, 32, 32});
  EXPECT_FALSE(at::equal(run(*fresh, x, true), run(*g, x, true)));
  p2p::load_into(*fresh, p2p::read_state_dict(file), file);
  EXPECT_TRUE(at::equal(run(*fresh, x, true), run(*g, x, true)));
  // A default network refuses the file by name (the att_ entries are unexpected).
  auto plain = p2p::make_generator(g_cfg("none"));
  const std::string msg = p2p::test::error_of([&] { p2p::load_into(*plain, p2p::read_state_dict(file), file); });
  EXPECT_NE(msg.find("att_"), std::string::npos) << msg;
}

}  // namespace
