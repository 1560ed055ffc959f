// Tests for models/alexnet: the five LPIPS taps of torchvision's AlexNet `features` (random weights made
// by tests/fixtures/lpips_reference.py with Debian's python3-torchvision) agree with PyTorch's on a 48x80
// image, with LibTorch's kernels and on the packed CPU path; tap shapes are known answers.
#include "p2p/models/alexnet.h"

#include "p2p/core/error.h"
#include "p2p/io/state_dict.h"
#include "testutil/testutil.h"

#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <gtest/gtest.h>

namespace p2p {
namespace {

const std::string& lpips_fixtures() {
  static const std::string dir = test::cached_python_fixture(
      "lpips", "fixtures/lpips_reference.py", "", "done", "needs python3-torchvision, as scripts/setup.sh installs");
  return dir;
}

class AlexNet : public ::testing::Test {
 protected:
  void SetUp() override {
    static const ::testing::AssertionResult can_import =
        test::python_can_import("torch, torchvision, PIL, numpy", "python3-torch python3-torchvision python3-pil python3-numpy");
    ASSERT_TRUE(can_import);
    dir_ = lpips_fixtures();
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

void expect_taps_match(AlexNetFeaturesImpl& net, const StateDict& ref) {
  const std::vector<at::Tensor> taps = net.forward(find(ref, "input"));
  ASSERT_EQ(taps.size(), 5u);
  for (size_t k = 0; k < taps.size(); ++k) {
    SCOPED_TRACE("tap " + std::to_string(k));
    const at::Tensor expected = find(ref, "tap" + std::to_string(k));
    ASSERT_EQ(taps[k].sizes(), expected.sizes());
    // Float kernels in another summation order: max |diff| / max |ref| within 1e-5.
    const double scale = expected.abs().max().item<double>();
    EXPECT_GT(scale, 1e-3);  // not trivially zero
    EXPECT_LT((taps[k] - expected).abs().max().item<double>(), 1e-5 * scale);
  }
}

TEST(AlexNetShape, TapChannelsAndSizesFor64x64) {
  AlexNetFeatures net;
  at::NoGradGuard no_grad;
  const std::vector<at::Tensor> taps = net->forward(at::rand({2, 3, 64, 64}));
  // torchvision's AlexNet on 64x64: 15, 7, 3, 3, 3 (REFERENCE_EVAL.md §3).
  const std::vector<int64_t> sides = {15, 7, 3, 3, 3};
  ASSERT_EQ(taps.size(), 5u);
  for (size_t k = 0; k < 5; ++k) {
    EXPECT_EQ(taps[k].sizes(), at::IntArrayRef({2, AlexNetFeaturesImpl::kTapChannels[k], sides[k], sides[k]}));
    EXPECT_GE(taps[k].min().item<float>(), 0.f);  // post-ReLU
  }
  // Keys as in torchvision's file: features.{0,3,6,8,10}.{weight,bias}, nothing else.
  const StateDict sd = state_dict_of(*net);
  ASSERT_EQ(sd.size(), 10u);
  EXPECT_EQ(sd[0].first, "features.0.weight");
  EXPECT_EQ(sd[9].first, "features.10.bias");
  for (const auto& p : net->parameters()) EXPECT_FALSE(p.requires_grad());
}

TEST(AlexNetShape, SmallestInputIs31) {
  AlexNetFeatures net;
  at::NoGradGuard no_grad;
  EXPECT_EQ(net->forward(at::rand({1, 3, 31, 31}))[4].sizes(), at::IntArrayRef({1, 256, 1, 1}));
  const std::string msg = test::error_of([&] { net->forward(at::rand({1, 3, 30, 64})); });
  EXPECT_NE(msg.find("at least 31x31"), std::string::npos) << msg;
  EXPECT_NE(msg.find("64x30"), std::string::npos) << msg;
}

TEST_F(AlexNet, TapsMatchTorchvision) {
  const StateDict ref = read_state_dict(dir_ + "/taps.pth");
  AlexNetFeatures plain;
  load_alexnet_weights(*plain, dir_ + "/alexnet-owt-7be5be79.pth");
  expect_taps_match(*plain, ref);
}

TEST_F(AlexNet, PackedTapsMatchTorchvision) {
  AlexNetFeatures net = load_alexnet_features(dir_ + "/alexnet-owt-7be5be79.pth");
  // On the CPU with oneDNN every convolution runs packed: their weights leave the state dict.
  if (at::hasMKLDNN()) {
    EXPECT_TRUE(state_dict_of(*net).empty());
  }
  expect_taps_match(*net, read_state_dict(dir_ + "/taps.pth"));
}

}  // namespace
}  // namespace p2p
