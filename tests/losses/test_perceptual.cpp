// Tests for losses/perceptual: features of torchvision's VGG16 and VGG19 (random weights made by
// tests/losses/vgg_reference.py with Debian's python3-torchvision) at every named layer agree to 1e-4;
// the loss, frozen parameters, partial evaluation, and errors for foreign files and unknown layers.
#include "p2p/losses/perceptual.h"

#include "p2p/core/error.h"
#include "p2p/io/state_dict.h"
#include "testutil/testutil.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

namespace p2p {
namespace {

namespace fs = std::filesystem;

const char* const kVgg16Layers =
    "relu1_1,relu1_2,relu2_1,relu2_2,relu3_1,relu3_2,relu3_3,relu4_1,relu4_2,relu4_3,relu5_1,relu5_2,relu5_3";
const char* const kVgg19Layers =
    "relu1_1,relu1_2,relu2_1,relu2_2,relu3_1,relu3_2,relu3_3,relu3_4,relu4_1,relu4_2,relu4_3,relu4_4,"
    "relu5_1,relu5_2,relu5_3,relu5_4";

// The Python fixtures, made once per script version and shared by test processes (~140 MB of weights).
const std::string& vgg_fixtures() {
  static const std::string dir = test::cached_python_fixture("vgg", "losses/vgg_reference.py", "", "done",
                                                             "needs python3-torchvision, as scripts/setup.sh installs");
  return dir;
}

class Perceptual : public ::testing::Test {
 protected:
  void SetUp() override {
    // Importing torch takes seconds: check once per process.
    static const ::testing::AssertionResult can_import =
        test::python_can_import("torch, torchvision", "python3-torch python3-torchvision");
    ASSERT_TRUE(can_import);
    dir_ = vgg_fixtures();
  }
  std::string dir_;
};

at::Tensor find(const StateDict& d, const std::string& key) {
  for (const auto& [k, v] : d) {
    if (k == key) return v;
  }
  ADD_FAILURE() << "no " << key;
  return {};
}

void expect_matches_torchvision(const std::string& dir, const std::string& net, const char* layers, int depth) {
  auto vgg = load_vgg(dir + "/" + net + ".pth", layers);
  EXPECT_EQ(vgg->depth(), depth);
  const StateDict ref = read_state_dict(dir + "/" + net + "_feats.pth");
  const std::vector<at::Tensor> feats = vgg->forward(find(ref, "input"));
  ASSERT_EQ(feats.size(), vgg->layers().size());
  for (size_t i = 0; i < feats.size(); ++i) {
    SCOPED_TRACE(net + " " + vgg->layers()[i]);
    const at::Tensor expected = find(ref, vgg->layers()[i]);
    ASSERT_EQ(feats[i].sizes(), expected.sizes());
    // With Debian's torch on both sides the kernels are the same and the features agree exactly; the
    // contract, for other builds and devices, is 1e-4.
    EXPECT_LT((feats[i] - expected).abs().max().item<double>(), 1e-4);
    EXPECT_GT(expected.abs().max().item<double>(), 1e-3);  // not trivially zero
  }
}

TEST_F(Perceptual, Vgg16MatchesTorchvisionAtEveryLayer) { expect_matches_torchvision(dir_, "vgg16", kVgg16Layers, 16); }

TEST_F(Perceptual, Vgg19MatchesTorchvisionAtEveryLayer) { expect_matches_torchvision(dir_, "vgg19", kVgg19Layers, 19); }

TEST_F(Perceptual, FrozenEvalAndOnlyUpToDeepestLayer) {
  auto vgg = load_vgg(dir_ + "/vgg16.pth", "relu2_1, relu1_1");
  EXPECT_EQ(vgg->layers(), (std::vector<std::string>{"relu2_1", "relu1_1"}));
  // relu2_1 needs conv1_1, conv1_2, conv2_1: three convs, six tensors.
  EXPECT_EQ(vgg->parameters().size(), 6u);
  for (const auto& p : vgg->parameters()) EXPECT_FALSE(p.requires_grad());
  vgg->train(true);
  EXPECT_FALSE(vgg->is_training());
  // The order of the requested names is the order of the outputs; shapes say which is which.
  const std::vector<at::Tensor> f = vgg->forward(at::zeros({2, 3, 32, 32}));
  EXPECT_EQ(f[0].sizes(), (std::vector<int64_t>{2, 128, 16, 16}));
  EXPECT_EQ(f[1].sizes(), (std::vector<int64_t>{2, 64, 32, 32}));
}

TEST_F(Perceptual, GrayInputIsReplicated) {
  auto vgg = load_vgg(dir_ + "/vgg19.pth", "relu1_2,relu3_1");
  const at::Tensor gray = at::rand({1, 1, 24, 24}) * 2 - 1;
  const auto a = vgg->forward(gray);
  const auto b = vgg->forward(gray.expand({1, 3, 24, 24}).contiguous());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(at::allclose(a[i], b[i], 0, 1e-6));
  const std::string msg = test::error_of([&] { vgg->forward(at::zeros({1, 2, 24, 24})); });
  EXPECT_NE(msg.find("--lambda_perc"), std::string::npos) << msg;
}

TEST_F(Perceptual, LossIsMeanOfLayerL1AndOnlyFakeGetsGradient) {
  auto vgg = load_vgg(dir_ + "/vgg16.pth", "relu1_1,relu2_2");
  const at::Tensor real = (at::rand({1, 3, 32, 32}) * 2 - 1).requires_grad_(true);
  const at::Tensor fake = (at::rand({1, 3, 32, 32}) * 2 - 1).requires_grad_(true);
  at::Tensor loss = perceptual_loss(*vgg, fake, real);
  at::Tensor expected;
  {
    at::NoGradGuard g;
    const auto f = vgg->forward(fake), r = vgg->forward(real);
    expected = ((f[0] - r[0]).abs().mean() + (f[1] - r[1]).abs().mean()) / 2;
  }
  EXPECT_NEAR(loss.item<double>(), expected.item<double>(), 1e-6);
  EXPECT_GT(loss.item<double>(), 0.0);
  loss.backward();
  ASSERT_TRUE(fake.grad().defined());
  EXPECT_GT(fake.grad().abs().sum().item<double>(), 0.0);
  EXPECT_FALSE(real.grad().defined());
  EXPECT_NEAR(perceptual_loss(*vgg, real.detach(), real.detach()).item<double>(), 0.0, 1e-12);
}

TEST_F(Perceptual, UnknownLayerNamesFlagAndValidNames) {
  const std::string p16 = dir_ + "/vgg16.pth";
  std::string msg = test::error_of([&] { load_vgg(p16, "relu1_1,relu3_4"); });  // relu3_4 is VGG19 only
  EXPECT_NE(msg.find("--perc_layers"), std::string::npos) << msg;
  EXPECT_NE(msg.find("relu3_4"), std::string::npos) << msg;
  EXPECT_NE(msg.find("relu5_3"), std::string::npos) << "lists the valid names: " << msg;
  EXPECT_NO_THROW(load_vgg(dir_ + "/vgg19.pth", "relu3_4"));
  msg = test::error_of([&] { load_vgg(p16, "conv1_1"); });
  EXPECT_NE(msg.find("--perc_layers"), std::string::npos) << msg;
  msg = test::error_of([&] { load_vgg(p16, " , "); });
  EXPECT_NE(msg.find("--perc_layers"), std::string::npos) << msg;
  msg = test::error_of([&] { load_vgg(p16, "relu1_1,relu1_1"); });
  EXPECT_NE(msg.find("twice"), std::string::npos) << msg;
}

// Expects load_vgg(path) to fail naming --vgg_weights, the file and `needle`.
void expect_vgg_error(const std::string& path, const std::string& needle) {
  const std::string msg = test::error_of([&] { load_vgg(path, "relu1_1"); });
  EXPECT_NE(msg.find("--vgg_weights"), std::string::npos) << msg;
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find(needle), std::string::npos) << msg;
}

TEST_F(Perceptual, ForeignFilesAreRefused) {
  const std::string dir = test::scratch_dir("vgg_bad");
  // A resnet-like state_dict.
  write_state_dict(dir + "/resnet.pth", {{"conv1.weight", at::zeros({64, 3, 7, 7})}, {"bn1.weight", at::zeros({64})},
                                         {"fc.weight", at::zeros({10, 512})}});
  expect_vgg_error(dir + "/resnet.pth", "conv1.weight");
  // Truncated VGG16: the first eight entries only (convs at features.0, 2, 5, 7), so features.10 is missing.
  const StateDict full = read_state_dict(dir_ + "/vgg16.pth");
  StateDict truncated(full.begin(), full.begin() + 8);
  write_state_dict(dir + "/truncated.pth", truncated);
  expect_vgg_error(dir + "/truncated.pth", "missing features.10.weight");
  // A conv of the wrong shape (a gray-input first layer).
  StateDict wrong = truncated;
  wrong[0].second = at::zeros({64, 1, 3, 3});
  write_state_dict(dir + "/wrong.pth", wrong);
  expect_vgg_error(dir + "/wrong.pth", "[64, 3, 3, 3]");
  // Batch-norm VGG (vgg16_bn puts BatchNorm at features.1).
  StateDict bn = truncated;
  bn.emplace_back("features.1.running_mean", at::zeros({64}));
  write_state_dict(dir + "/bn.pth", bn);
  expect_vgg_error(dir + "/bn.pth", "features.1.running_mean");
  // Not a torch.save file at all, and no file.
  std::ofstream(dir + "/text.pth") << "not a checkpoint";
  expect_vgg_error(dir + "/text.pth", "VGG16");
  expect_vgg_error(dir + "/absent.pth", "absent.pth");
  EXPECT_NE(test::error_of([] { load_vgg("", "relu1_1"); }).find("--vgg_weights"), std::string::npos);
}

}  // namespace
}  // namespace p2p
