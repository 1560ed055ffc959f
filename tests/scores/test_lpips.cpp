// Tests for scores/lpips: LPIPS v0.1 (AlexNet) against the reference written out in Python
// (tests/fixtures/lpips_reference.py: torchvision's AlexNet with random weights, random non-negative
// linear weights in the lpips package's legacy alex.pth format) on image pairs of 64x64 and 48x80 — per
// pair, per tap, batched and by folder; identity gives 0; bad weight files and inputs give messages
// naming the file, the key and the expected shape.
#include "p2p/scores/lpips.h"

#include "p2p/core/error.h"
#include "p2p/io/image.h"
#include "p2p/io/state_dict.h"
#include "testutil/testutil.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <memory>

namespace p2p {
namespace {

namespace fs = std::filesystem;

// The reference's float32 trunk and head against ours (float trunk, double head): the distances agree
// to |d - ref| <= kRelTol * ref, and so does each tap's term (measured: <= 3e-7 per distance, <= 2e-6 per
// tap term, the largest on the nearly identical pair).
constexpr double kRelTol = 1e-5;
const std::vector<std::string> kStems = {"near", "noise", "smooth", "wide"};  // sorted, as pairing returns them

const std::string& lpips_fixtures() {
  static const std::string dir = test::cached_python_fixture(
      "lpips", "fixtures/lpips_reference.py", "", "done", "needs python3-torchvision, as scripts/setup.sh installs");
  return dir;
}

class LpipsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static const ::testing::AssertionResult can_import =
        test::python_can_import("torch, torchvision, PIL, numpy", "python3-torch python3-torchvision python3-pil python3-numpy");
    ASSERT_TRUE(can_import);
    dir_ = lpips_fixtures();
    alexnet_ = dir_ + "/alexnet-owt-7be5be79.pth";
    lin_ = dir_ + "/alex.pth";
    ref_ = nlohmann::json::parse(test::read_file(dir_ + "/reference.json"));
    static const std::shared_ptr<Lpips> shared = std::make_shared<Lpips>(alexnet_, lin_);  // loaded once
    lpips_ = shared.get();
  }
  at::Tensor pred(const std::string& stem) const { return load_image(dir_ + "/pred/" + stem + ".png", 3); }
  at::Tensor target(const std::string& stem) const { return load_image(dir_ + "/target/" + stem + ".png", 3); }
  double ref(const std::string& stem) const { return ref_["distances"][stem].get<double>(); }

  std::string dir_, alexnet_, lin_;
  nlohmann::json ref_;
  const Lpips* lpips_ = nullptr;
};

TEST_F(LpipsTest, MatchesReferencePerPairAndPerTap) {
  for (const std::string& stem : kStems) {
    SCOPED_TRACE(stem);
    const at::Tensor p = pred(stem), t = target(stem);
    EXPECT_NEAR(lpips_->distance(p, t), ref(stem), kRelTol * ref(stem));
    const at::Tensor taps = lpips_->layer_distances(p.unsqueeze(0), t.unsqueeze(0));
    ASSERT_EQ(taps.sizes(), at::IntArrayRef({1, 5}));
    for (int64_t k = 0; k < 5; ++k) {
      const double want = ref_["layers"][stem][k].get<double>();
      EXPECT_NEAR(taps[0][k].item<double>(), want, kRelTol * want) << "tap " << k;
    }
  }
  // The pairs span small and large distances, so the check is not of one magnitude only.
  EXPECT_LT(ref("near"), 0.01);
  EXPECT_GT(ref("noise"), 0.1);
}

TEST_F(LpipsTest, BatchedEqualsReference) {
  std::vector<at::Tensor> ps, ts;
  for (const char* stem : {"noise", "near", "smooth"}) {
    ps.push_back(pred(stem));
    ts.push_back(target(stem));
  }
  const std::vector<double> d = lpips_->distances(at::stack(ps), at::stack(ts));
  ASSERT_EQ(d.size(), 3u);
  EXPECT_NEAR(d[0], ref("noise"), kRelTol * ref("noise"));
  EXPECT_NEAR(d[1], ref("near"), kRelTol * ref("near"));
  EXPECT_NEAR(d[2], ref("smooth"), kRelTol * ref("smooth"));
}

TEST_F(LpipsTest, IdenticalImagesAreZeroAndOrderDoesNotMatter) {
  const at::Tensor p = pred("wide"), t = target("wide");
  EXPECT_EQ(lpips_->distance(p, p), 0.0);
  EXPECT_EQ(lpips_->distance(t, t), 0.0);
  EXPECT_NEAR(lpips_->distance(t, p), lpips_->distance(p, t), 1e-12);
}

TEST_F(LpipsTest, CudaMatchesReference) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device";
  const Lpips on_gpu(alexnet_, lin_, c10::Device(c10::kCUDA));
  for (const std::string& stem : kStems) {
    // CPU inputs are moved to the device; its convolutions run without TF32 (lpips.cpp), so the same bound.
    EXPECT_NEAR(on_gpu.distance(pred(stem), target(stem)), ref(stem), kRelTol * ref(stem)) << stem;
  }
}

TEST_F(LpipsTest, FoldersPairByStem) {
  const LpipsReport report = lpips_folders(dir_ + "/pred", dir_ + "/target", *lpips_);
  ASSERT_EQ(report.per_image.size(), kStems.size());
  double mean = 0;
  for (size_t i = 0; i < kStems.size(); ++i) {
    EXPECT_EQ(report.per_image[i].first, kStems[i]);
    EXPECT_NEAR(report.per_image[i].second, ref(kStems[i]), kRelTol * ref(kStems[i]));
    mean += ref(kStems[i]) / static_cast<double>(kStems.size());
  }
  EXPECT_NEAR(report.mean, mean, kRelTol * mean);
}

TEST_F(LpipsTest, FolderErrorsNameTheFiles) {
  const std::string root = test::scratch_dir("lpips_folders");
  fs::create_directories(root + "/pred");
  fs::create_directories(root + "/target");
  fs::copy_file(dir_ + "/pred/near.png", root + "/pred/near.png");
  fs::copy_file(dir_ + "/target/wide.png", root + "/target/near.png");  // 80x48 against 64x64
  std::string msg = test::error_of([&] { lpips_folders(root + "/pred", root + "/target", *lpips_); });
  EXPECT_NE(msg.find("image sizes differ"), std::string::npos) << msg;
  EXPECT_NE(msg.find("near.png is 64x64"), std::string::npos) << msg;

  fs::copy_file(dir_ + "/pred/noise.png", root + "/pred/noise.png");
  msg = test::error_of([&] { lpips_folders(root + "/pred", root + "/target", *lpips_); });
  EXPECT_NE(msg.find("noise.png has no target"), std::string::npos) << msg;

  // Below AlexNet's smallest input: the message names the pair and the size needed.
  const std::string small = test::scratch_dir("lpips_small");
  fs::create_directories(small + "/pred");
  fs::create_directories(small + "/target");
  test::write_random_png(small + "/pred/a.png", 40, 24, 3, 1);
  test::write_random_png(small + "/target/a.png", 40, 24, 3, 2);
  msg = test::error_of([&] { lpips_folders(small + "/pred", small + "/target", *lpips_); });
  EXPECT_NE(msg.find("a.png"), std::string::npos) << msg;
  EXPECT_NE(msg.find("at least 31x31"), std::string::npos) << msg;

  msg = test::error_of([&] { lpips_->distance(at::rand({3, 64, 64}), at::rand({3, 64, 48})); });
  EXPECT_NE(msg.find("same shape"), std::string::npos) << msg;
  msg = test::error_of([&] { lpips_->distance(at::rand({1, 64, 64}), at::rand({1, 64, 64})); });
  EXPECT_NE(msg.find("RGB"), std::string::npos) << msg;
}

// Writes the state_dict in `from` under `name` with `key` dropped or, given `shape`, replaced by (or added
// as) zeros of that shape.
std::string edited(const std::string& from, const std::string& name, const std::string& key,
                   std::vector<int64_t> shape = {}) {
  StateDict dict;
  for (auto& [k, v] : read_state_dict(from)) {
    if (k != key) dict.emplace_back(k, v);
  }
  if (!shape.empty()) dict.emplace_back(key, at::zeros(shape));  // replaced, or added when absent
  const std::string path = test::scratch_dir("lpips_weights") + "/" + name;
  write_state_dict(path, dict);
  return path;
}

TEST_F(LpipsTest, WeightFileErrorsNameFileKeyAndShape) {
  // Missing files: each message names the path and where such a file comes from.
  std::string msg = test::error_of([&] { Lpips{dir_ + "/nope.pth", lin_}; });
  EXPECT_NE(msg.find(dir_ + "/nope.pth"), std::string::npos) << msg;
  EXPECT_NE(msg.find("alexnet-owt-7be5be79.pth"), std::string::npos) << msg;
  EXPECT_NE(msg.find("https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"), std::string::npos) << msg;
  msg = test::error_of([&] { Lpips{alexnet_, dir_ + "/no_alex.pth"}; });
  EXPECT_NE(msg.find(dir_ + "/no_alex.pth"), std::string::npos) << msg;
  EXPECT_NE(msg.find("weights/v0.1/alex.pth"), std::string::npos) << msg;

  // A missing or misshapen linear layer.
  std::string bad = edited(lin_, "no_lin3.pth", "lin3.model.1.weight");
  msg = test::error_of([&] { Lpips{alexnet_, bad}; });
  EXPECT_NE(msg.find(bad), std::string::npos) << msg;
  EXPECT_NE(msg.find("missing key lin3.model.1.weight (shape [1, 256, 1, 1])"), std::string::npos) << msg;
  EXPECT_NE(msg.find("weights/v0.1/alex.pth"), std::string::npos) << msg;
  bad = edited(lin_, "lin2_shape.pth", "lin2.model.1.weight", {1, 383, 1, 1});
  msg = test::error_of([&] { Lpips{alexnet_, bad}; });
  EXPECT_NE(msg.find("lin2.model.1.weight has shape [1, 383, 1, 1], expected [1, 384, 1, 1]"), std::string::npos) << msg;

  // A missing or misshapen AlexNet tensor, and a file of another network.
  bad = edited(alexnet_, "no_conv6_bias.pth", "features.6.bias");
  msg = test::error_of([&] { Lpips{bad, lin_}; });
  EXPECT_NE(msg.find(bad), std::string::npos) << msg;
  EXPECT_NE(msg.find("missing key features.6.bias (shape [384])"), std::string::npos) << msg;
  EXPECT_NE(msg.find("alexnet-owt-7be5be79.pth"), std::string::npos) << msg;
  bad = edited(alexnet_, "conv0_shape.pth", "features.0.weight", {64, 3, 3, 3});
  msg = test::error_of([&] { Lpips{bad, lin_}; });
  EXPECT_NE(msg.find("features.0.weight has shape [64, 3, 3, 3], expected [64, 3, 11, 11]"), std::string::npos) << msg;
  bad = edited(alexnet_, "extra.pth", "features.1.weight", {4});
  msg = test::error_of([&] { Lpips{bad, lin_}; });
  EXPECT_NE(msg.find("unexpected key features.1.weight"), std::string::npos) << msg;
}

}  // namespace
}  // namespace p2p
