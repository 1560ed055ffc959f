// Statistics of the reference weight initialisations (normal, xavier, kaiming, orthogonal), batch-norm
// init, zeroed biases, seeding, count_parameters and bad --init_type / --init_gain values.
// Tolerances: a 1M-element sample estimates a std to ~0.1%, so 2% is far outside chance.
#include "p2p/core/error.h"
#include "p2p/models/networks.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/utils.h>

#include <cmath>
#include <string>

namespace {

namespace nn = torch::nn;

// A bag of every layer kind init_weights touches: a large conv (256*256*16 = 1M weights), a transposed
// conv, a linear layer and a wide batch norm.
nn::Sequential make_layers() {
  return nn::Sequential(nn::Conv2d(nn::Conv2dOptions(256, 256, 4).bias(true)),
                        nn::ConvTranspose2d(nn::ConvTranspose2dOptions(128, 64, 3).bias(true)),
                        nn::Linear(nn::LinearOptions(512, 256).bias(true)),
                        nn::BatchNorm2d(nn::BatchNorm2dOptions(4096)));
}

at::Tensor param(nn::Sequential& seq, const std::string& key) { return seq->named_parameters()[key]; }

double stddev(const at::Tensor& t) { return t.std().item<double>(); }

TEST(Init, NormalHasMeanZeroStdGain) {
  for (double gain : {0.02, 0.5}) {
    auto seq = make_layers();
    p2p::init_weights(*seq, "normal", gain);
    const at::Tensor w = param(seq, "0.weight");
    EXPECT_NEAR(stddev(w), gain, 0.02 * gain);
    EXPECT_NEAR(w.mean().item<double>(), 0.0, 0.01 * gain);
    EXPECT_NEAR(stddev(param(seq, "1.weight")), gain, 0.02 * gain);
    EXPECT_NEAR(stddev(param(seq, "2.weight")), gain, 0.02 * gain);
    for (const char* bias : {"0.bias", "1.bias", "2.bias", "3.bias"}) {
      EXPECT_EQ(param(seq, bias).abs().max().item<double>(), 0.0) << bias;
    }
    // Batch norm scales ~ N(1, gain): 4096 samples estimate the std to ~1.1%.
    const at::Tensor bn = param(seq, "3.weight");
    EXPECT_NEAR(bn.mean().item<double>(), 1.0, 0.1 * gain);
    EXPECT_NEAR(stddev(bn), gain, 0.06 * gain);
  }
}

TEST(Init, XavierNormalStd) {
  auto seq = make_layers();
  const double gain = 0.02;
  p2p::init_weights(*seq, "xavier", gain);
  // Conv [256, 256, 4, 4]: fan_in = fan_out = 256 * 16.
  const double conv_expected = gain * std::sqrt(2.0 / (4096 + 4096));
  EXPECT_NEAR(stddev(param(seq, "0.weight")), conv_expected, 0.02 * conv_expected);
  // Linear [256, 512]: fan_in 512, fan_out 256 (131k samples).
  const double expected = gain * std::sqrt(2.0 / (512 + 256));
  EXPECT_NEAR(stddev(param(seq, "2.weight")), expected, 0.02 * expected);
  EXPECT_EQ(param(seq, "0.bias").abs().max().item<double>(), 0.0);
}

TEST(Init, KaimingNormalIgnoresGainAndUsesFanIn) {
  auto seq = make_layers();
  p2p::init_weights(*seq, "kaiming", 0.02);
  // ReLU gain sqrt(2) over fan_in = 256 * 16.
  const double expected = std::sqrt(2.0 / 4096.0);
  EXPECT_NEAR(stddev(param(seq, "0.weight")), expected, 0.02 * expected);
  EXPECT_NEAR(stddev(param(seq, "2.weight")), std::sqrt(2.0 / 512.0), 0.03 * std::sqrt(2.0 / 512.0));
  // Batch norm follows the same N(1, gain) rule under every init type.
  EXPECT_NEAR(param(seq, "3.weight").mean().item<double>(), 1.0, 0.002);
}

TEST(Init, OrthogonalRowsAreOrthonormalTimesGain) {
  const double gain = 0.5;
  auto seq = nn::Sequential(nn::Conv2d(nn::Conv2dOptions(32, 64, 3)), nn::Linear(300, 40));
  p2p::init_weights(*seq, "orthogonal", gain);
  for (const char* key : {"0.weight", "1.weight"}) {
    const at::Tensor w = param(seq, key).reshape({param(seq, key).size(0), -1}).to(at::kDouble);
    ASSERT_LE(w.size(0), w.size(1));
    const at::Tensor gram = at::matmul(w, w.t());
    const at::Tensor target = at::eye(w.size(0), at::kDouble) * (gain * gain);
    EXPECT_LT((gram - target).abs().max().item<double>(), 1e-5) << key;
  }
}

TEST(Init, WholeGeneratorBiasesZeroAndRunningStatsUntouched) {
  p2p::NetConfig cfg;
  cfg.netG = "unet_64";
  cfg.ngf = 8;
  cfg.norm = "instance";  // every conv has a bias
  auto g = p2p::make_generator(cfg);
  p2p::init_weights(*g, "normal", 0.02);
  int biases = 0;
  for (const auto& item : g->named_parameters()) {
    if (item.key().size() >= 5 && item.key().compare(item.key().size() - 5, 5, ".bias") == 0) {
      ++biases;
      EXPECT_EQ(item.value().abs().max().item<double>(), 0.0) << item.key();
    } else {
      EXPECT_LT(item.value().abs().max().item<double>(), 0.2) << item.key();  // 10 sigma of N(0, 0.02)
    }
  }
  EXPECT_EQ(biases, 12);

  cfg.norm = "batch";
  auto gb = p2p::make_generator(cfg);
  p2p::init_weights(*gb, "xavier", 0.02);
  for (const auto& item : gb->named_buffers()) {
    if (item.key().find("running_mean") != std::string::npos) {
      EXPECT_EQ(item.value().abs().max().item<double>(), 0.0) << item.key();
    } else if (item.key().find("running_var") != std::string::npos) {
      EXPECT_TRUE(at::equal(item.value(), at::ones_like(item.value()))) << item.key();
    }
  }
}

TEST(Init, SeededInitIsReproducible) {
  auto a = nn::Conv2d(nn::Conv2dOptions(8, 8, 3));
  auto b = nn::Conv2d(nn::Conv2dOptions(8, 8, 3));
  torch::manual_seed(7);
  p2p::init_weights(*a, "orthogonal", 0.02);
  torch::manual_seed(7);
  p2p::init_weights(*b, "orthogonal", 0.02);
  EXPECT_TRUE(at::equal(a->weight, b->weight));
  torch::manual_seed(8);
  p2p::init_weights(*b, "orthogonal", 0.02);
  EXPECT_FALSE(at::equal(a->weight, b->weight));
}

TEST(Init, BadValuesNameTheFlag) {
  auto conv = nn::Conv2d(nn::Conv2dOptions(2, 2, 1));
  try {
    p2p::init_weights(*conv, "uniform", 0.02);
    FAIL() << "expected p2p::Error";
  } catch (const p2p::Error& e) {
    EXPECT_NE(std::string(e.what()).find("--init_type"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("orthogonal"), std::string::npos) << e.what();
  }
  EXPECT_THROW(p2p::init_weights(*conv, "normal", -1.0), p2p::Error);
  try {
    p2p::init_weights(*conv, "normal", std::nan(""));
    FAIL() << "expected p2p::Error";
  } catch (const p2p::Error& e) {
    EXPECT_NE(std::string(e.what()).find("--init_gain"), std::string::npos) << e.what();
  }
}

TEST(Init, CountParameters) {
  EXPECT_EQ(p2p::count_parameters(*nn::Conv2d(nn::Conv2dOptions(3, 8, 3))), 3 * 8 * 9 + 8);
  EXPECT_EQ(p2p::count_parameters(*nn::Conv2d(nn::Conv2dOptions(3, 8, 3).bias(false))), 3 * 8 * 9);
  // Buffers (running statistics) are not parameters.
  EXPECT_EQ(p2p::count_parameters(*nn::BatchNorm2d(nn::BatchNorm2dOptions(5))), 10);
}

}  // namespace
