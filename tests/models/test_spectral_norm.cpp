// --norm_D: choices and errors, the spectral discriminator's names and buffers, the power iteration's
// fixed point (top singular value of W_orig / sigma -> 1), train/eval behaviour, and one training and
// one eval forward against torch.nn.utils.spectral_norm on the same weights and u, v (1e-5).
#include "p2p/core/error.h"
#include "p2p/io/state_dict.h"
#include "p2p/models/info.h"
#include "p2p/models/networks.h"
#include "p2p/models/spectral_norm.h"
#include "testutil/testutil.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/instancenorm.h>
#include <torch/utils.h>

#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

using p2p::NetConfig;

NetConfig d_cfg(const std::string& norm_D, const std::string& netD = "basic") {
  NetConfig cfg;
  cfg.ndf = 8;
  cfg.netD = netD;
  cfg.norm_D = norm_D;
  return cfg;
}

template <typename M>
int count_modules(torch::nn::Module& net) {
  int n = 0;
  for (const auto& m : net.modules(/*include_self=*/false)) n += dynamic_cast<M*>(m.get()) != nullptr;
  return n;
}

std::vector<p2p::SpectralConv2dImpl*> spectral_convs(torch::nn::Module& net) {
  std::vector<p2p::SpectralConv2dImpl*> out;
  for (const auto& m : net.modules(/*include_self=*/false)) {
    if (auto* sn = dynamic_cast<p2p::SpectralConv2dImpl*>(m.get())) out.push_back(sn);
  }
  return out;
}

// Largest singular value in double, the independent reference for sigma.
double top_singular_value(const at::Tensor& w) {
  return at::linalg_svdvals(w.detach().to(at::kDouble).reshape({w.size(0), -1}))[0].item<double>();
}

void write_f32(const std::string& path, const at::Tensor& t) {
  at::Tensor c = t.detach().contiguous().to(at::kFloat);
  std::ofstream(path, std::ios::binary).write(static_cast<const char*>(c.data_ptr()), c.nbytes());
}

at::Tensor read_f32(const std::string& path, const std::vector<int64_t>& shape) {
  const std::string bytes = p2p::test::read_file(path);
  at::Tensor t = at::empty(shape, at::kFloat);
  EXPECT_EQ(bytes.size(), static_cast<size_t>(t.nbytes())) << path;
  if (bytes.size() == static_cast<size_t>(t.nbytes())) std::memcpy(t.data_ptr(), bytes.data(), bytes.size());
  return t;
}

TEST(NormD, EmptyFollowsNormAndNamedChoicesOverrideIt) {
  NetConfig cfg = d_cfg("");
  cfg.norm = "instance";
  EXPECT_EQ(count_modules<torch::nn::InstanceNorm2dImpl>(*p2p::make_discriminator(cfg, 6)), 3);
  cfg.norm_D = "batch";
  auto d = p2p::make_discriminator(cfg, 6);
  EXPECT_EQ(count_modules<torch::nn::BatchNorm2dImpl>(*d), 3);
  EXPECT_EQ(count_modules<torch::nn::InstanceNorm2dImpl>(*d), 0);
  cfg.norm_D = "none";
  d = p2p::make_discriminator(cfg, 6);
  EXPECT_EQ(count_modules<torch::nn::BatchNorm2dImpl>(*d) + count_modules<torch::nn::InstanceNorm2dImpl>(*d), 0);
  // G keeps following --norm.
  cfg.netG = "unet_32";
  cfg.ngf = 8;
  EXPECT_GT(count_modules<torch::nn::InstanceNorm2dImpl>(*p2p::make_generator(cfg)), 0);
}

TEST(NormD, UnknownNameIsAnErrorNamingTheFlag) {
  const std::string msg = p2p::test::error_of([] { p2p::make_discriminator(d_cfg("layer"), 6); });
  EXPECT_NE(msg.find("--norm_D"), std::string::npos) << msg;
  EXPECT_NE(msg.find("spectral"), std::string::npos) << msg;
}

TEST(SpectralNorm, KeysFollowTorchAndNormIndicesHoldIdentities) {
  for (const std::string netD : {"basic", "pixel"}) {
    SCOPED_TRACE(netD);
    auto sn = p2p::make_discriminator(d_cfg("spectral", netD), 6);
    auto plain = p2p::make_discriminator(d_cfg("none", netD), 6);
    EXPECT_EQ(count_modules<torch::nn::Conv2dImpl>(*sn), 0);
    EXPECT_EQ(count_modules<torch::nn::BatchNorm2dImpl>(*sn), 0);
    EXPECT_EQ(spectral_convs(*sn).size(), static_cast<size_t>(count_modules<torch::nn::Conv2dImpl>(*plain)));
    // Same parameters as norm none, with the conv weight renamed weight_orig; u and v are buffers.
    EXPECT_EQ(p2p::count_parameters(*sn), p2p::count_parameters(*plain));
    std::vector<std::string> want, got;
    for (const auto& [name, t] : p2p::state_dict_of(*plain)) {
      const std::string stem = name.substr(0, name.rfind('.') + 1);
      if (name.substr(stem.size()) == "weight") {
        want.push_back(stem + "weight_orig");
        want.push_back(stem + "weight_u");
        want.push_back(stem + "weight_v");
      } else {
        want.push_back(name);
      }
    }
    for (const auto& [name, t] : p2p::state_dict_of(*sn)) got.push_back(name);
    std::set<std::string> buffers;
    for (const auto& b : sn->named_buffers()) buffers.insert(b.key());
    const std::string first = netD == "pixel" ? "net.0." : "model.0.";
    EXPECT_TRUE(buffers.count(first + "weight_u"));
    EXPECT_TRUE(buffers.count(first + "weight_v"));
    // PyTorch's order within a conv: bias, weight_orig (re-registered last), then the buffers.
    EXPECT_EQ(got[0], first + "bias");
    EXPECT_EQ(got[1], first + "weight_orig");
    EXPECT_EQ(got[2], first + "weight_u");
    EXPECT_EQ(std::set<std::string>(got.begin(), got.end()), std::set<std::string>(want.begin(), want.end()));
  }
  // Norm index 3 of the basic D is an Identity now: the second conv sits at index 2 as before.
  auto sn = p2p::make_discriminator(d_cfg("spectral"), 6);
  std::set<std::string> names;
  for (const auto& p : sn->named_parameters()) names.insert(p.key());
  EXPECT_TRUE(names.count("model.2.weight_orig"));
  EXPECT_TRUE(names.count("model.11.weight_orig"));
  EXPECT_EQ(p2p::receptive_field(d_cfg("spectral")), 70);
}

TEST(SpectralNorm, UAndVStartNormalised) {
  auto sn = p2p::make_discriminator(d_cfg("spectral"), 6);
  for (auto* conv : spectral_convs(*sn)) {
    EXPECT_NEAR(conv->weight_u.norm().item<double>(), 1.0, 1e-6);
    EXPECT_NEAR(conv->weight_v.norm().item<double>(), 1.0, 1e-6);
    EXPECT_EQ(conv->weight_u.size(0), conv->weight_orig.size(0));
    EXPECT_EQ(conv->weight_v.size(0), conv->weight_orig[0].numel());
  }
}

TEST(SpectralNorm, InitWeightsInitialisesWeightOrig) {
  at::manual_seed(3);
  auto sn = p2p::make_discriminator(d_cfg("spectral"), 6);
  p2p::init_weights(*sn, "normal", 0.02);
  auto convs = spectral_convs(*sn);
  // The 4th conv is [64, 32, 4, 4]: 32768 draws of N(0, 0.02).
  EXPECT_NEAR(convs[3]->weight_orig.std().item<double>(), 0.02, 0.001);
  EXPECT_NEAR(convs[3]->weight_orig.mean().item<double>(), 0.0, 0.001);
  for (auto* c : convs) EXPECT_EQ(c->bias.abs().max().item<double>(), 0.0);
}

TEST(SpectralNorm, TopSingularValueConvergesToOneInTraining) {
  at::manual_seed(5);
  auto sn = p2p::make_discriminator(d_cfg("spectral"), 6);
  p2p::init_weights(*sn, "normal", 0.02);
  p2p::set_eval_mode(*sn, false);
  const at::Tensor x = at::randn({1, 6, 32, 32});
  torch::NoGradGuard no_grad;
  for (int i = 0; i < 300; ++i) sn->forward(x);
  for (auto* conv : spectral_convs(*sn)) {
    conv->eval();
    const at::Tensor w = conv->normalized_weight();
    // sigma converges to the top singular value, so W_orig / sigma has spectral norm 1.
    EXPECT_NEAR(top_singular_value(w), 1.0, 1e-3) << "weight " << conv->weight_orig.sizes();
    EXPECT_GT(top_singular_value(conv->weight_orig), 0.05);  // W_orig itself is far from norm 1
  }
}

TEST(SpectralNorm, TrainingIteratesEvalDoesNot) {
  at::manual_seed(6);
  auto sn = p2p::make_discriminator(d_cfg("spectral"), 6);
  const at::Tensor x = at::randn({2, 6, 32, 32});
  auto* conv = spectral_convs(*sn)[1];
  const at::Tensor u0 = conv->weight_u.clone(), v0 = conv->weight_v.clone();
  torch::NoGradGuard no_grad;
  p2p::set_eval_mode(*sn, true);
  const at::Tensor y_eval = sn->forward(x);
  EXPECT_TRUE(at::equal(conv->weight_u, u0));
  EXPECT_TRUE(at::equal(sn->forward(x), y_eval));  // no state change in eval
  p2p::set_eval_mode(*sn, false);
  sn->forward(x);
  EXPECT_FALSE(at::equal(conv->weight_u, u0));
  EXPECT_FALSE(at::equal(conv->weight_v, v0));
  // The power iteration's own definition: v = normalize(Wᵀ u0), u = normalize(W v).
  const at::Tensor w_mat = conv->weight_orig.reshape({conv->weight_orig.size(0), -1});
  const at::Tensor v1 = at::mv(w_mat.t(), u0);
  const at::Tensor v_want = v1 / v1.norm();
  const at::Tensor u1 = at::mv(w_mat, v_want);
  EXPECT_LT((conv->weight_v - v_want).abs().max().item<double>(), 1e-6);
  EXPECT_LT((conv->weight_u - u1 / u1.norm()).abs().max().item<double>(), 1e-6);
}

TEST(SpectralNorm, TwoTrainingForwardsThenOneBackward) {
  // D sees real and fake pairs before one backward: the in-place buffer update of the second forward
  // must not invalidate the first forward's graph.
  at::manual_seed(7);
  auto sn = p2p::make_discriminator(d_cfg("spectral"), 6);
  p2p::set_eval_mode(*sn, false);
  at::Tensor loss = sn->forward(at::randn({1, 6, 32, 32})).mean() + sn->forward(at::randn({1, 6, 32, 32})).mean();
  ASSERT_NO_THROW(loss.backward());
  for (auto* conv : spectral_convs(*sn)) {
    ASSERT_TRUE(conv->weight_orig.grad().defined());
    EXPECT_GT(conv->weight_orig.grad().abs().sum().item<double>(), 0.0);
  }
}

TEST(SpectralNorm, MacsEqualThePlainDiscriminators) {
  auto sn = p2p::make_discriminator(d_cfg("spectral"), 6);
  auto plain = p2p::make_discriminator(d_cfg("none"), 6);
  EXPECT_DOUBLE_EQ(p2p::summarize_network(*sn, 6, 64, 64).gmacs, p2p::summarize_network(*plain, 6, 64, 64).gmacs);
}

TEST(SpectralNorm, MatchesTorchSpectralNormForwardInTrainingAndEval) {
  ASSERT_TRUE(p2p::test::python_can_import("torch, numpy", "python3-torch python3-numpy"));
  at::manual_seed(11);
  NetConfig cfg = d_cfg("spectral", "n_layers");
  cfg.n_layers_D = 2;
  auto sn = p2p::make_discriminator(cfg, 4);
  // init_weights's N(0, 0.02) would shrink activations; use larger weights so outputs are O(1).
  p2p::init_weights(*sn, "normal", 0.2);
  const std::string dir = p2p::test::scratch_dir("spectral_ref");
  const std::vector<int64_t> shape{2, 4, 40, 36};
  const at::Tensor x = at::randn(shape);
  p2p::write_state_dict(dir + "/d.pth", p2p::state_dict_of(*sn));
  write_f32(dir + "/x.bin", x);

  std::ostringstream cmd;
  cmd << "'" << P2P_TEST_PYTHON << "' '" << P2P_TEST_SOURCE_DIR << "/tests/models/spectral_norm_reference.py' '" << dir
      << "/d.pth' '" << dir << "/x.bin' 2 4 40 36 8 2 '" << dir << "/train.bin' '" << dir << "/eval.bin' '" << dir
      << "/after.pth'";
  const p2p::test::CommandResult r = p2p::test::run_command(cmd.str());
  ASSERT_EQ(r.exit_code, 0) << r.output;

  p2p::set_eval_mode(*sn, false);
  at::Tensor y_train;
  {
    torch::NoGradGuard no_grad;
    y_train = sn->forward(x);
  }
  // 40x36 -> 20x18 -> 10x9 -> (s1) 9x8 -> 8x7.
  ASSERT_EQ(y_train.sizes().vec(), (std::vector<int64_t>{2, 1, 8, 7}));
  const at::Tensor want_train = read_f32(dir + "/train.bin", y_train.sizes().vec());
  EXPECT_GT(want_train.abs().mean().item<double>(), 0.05);
  EXPECT_LT((y_train - want_train).abs().max().item<double>(), 1e-5);

  // Updated u, v (and unchanged weights) agree too, under the same names in the same order.
  const p2p::StateDict after = p2p::read_state_dict(dir + "/after.pth");
  const p2p::StateDict ours = p2p::state_dict_of(*sn);
  ASSERT_EQ(after.size(), ours.size());
  for (size_t i = 0; i < ours.size(); ++i) {
    EXPECT_EQ(after[i].first, ours[i].first);
    EXPECT_LT((after[i].second - ours[i].second).abs().max().item<double>(), 1e-6) << ours[i].first;
  }

  p2p::set_eval_mode(*sn, true);
  torch::NoGradGuard no_grad;
  const at::Tensor y_eval = sn->forward(x);
  EXPECT_LT((y_eval - read_f32(dir + "/eval.bin", y_eval.sizes().vec())).abs().max().item<double>(), 1e-5);
}

}  // namespace
