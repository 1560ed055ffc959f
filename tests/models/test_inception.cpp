// Tests for models/inception: pool3 features of pytorch-fid's Inception v3, rebuilt in Python from
// torchvision 0.14 with the FID blocks (tests/fixtures/fid_inception_reference.py; random weights and
// batch-norm statistics, saved in the legacy format under torchvision's key names), agree with ours to
// 1e-4 relative (max |ours - ref| / max |ref|) for a batch of two 64x64 images and one 100x80 image, with
// batch norm folded and convs packed, and without; weight files lacking fc / num_batches_tracked load;
// wrong files give messages naming the file, the key, the expected shape and where the file comes from.
#include "p2p/models/inception.h"

#include "p2p/core/error.h"
#include "p2p/core/runtime.h"
#include "p2p/io/state_dict.h"
#include "testutil/testutil.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>

namespace p2p {
namespace {

const std::string& fixtures() {
  static const std::string dir = test::cached_python_fixture(
      "fid_inception", "fixtures/fid_inception_reference.py", "", "done",
      "needs python3-torch and python3-torchvision, as scripts/setup.sh installs");
  return dir;
}

at::Tensor find(const StateDict& d, const std::string& key) {
  for (const auto& [k, v] : d) {
    if (k == key) return v;
  }
  ADD_FAILURE() << "no " << key;
  return {};
}

double relative_error(const at::Tensor& got, const at::Tensor& want) {
  return (got - want).abs().max().item<double>() / want.abs().max().item<double>();
}

class Inception : public ::testing::Test {
 protected:
  void SetUp() override {
    // No separate import check (importing torch takes seconds per test process): making the fixture
    // fails with the script's output and the packages it needs when PyTorch is missing.
    dir_ = fixtures();
    weights_ = dir_ + "/fid_inception.pth";
  }
  // The reference dict once per process (95 MB).
  const StateDict& dict() {
    static const StateDict d = read_state_dict(weights_);
    return d;
  }
  std::string dir_, weights_;
};

TEST_F(Inception, PreparedNetworkMatchesPytorchFid) {
  FidInception net = load_fid_inception(weights_);
  EXPECT_TRUE(net->prepared());
  EXPECT_FALSE(net->is_training());
  const StateDict ref = read_state_dict(dir_ + "/fid_features.pth");
  at::NoGradGuard no_grad;
  const at::Tensor f64 = net->forward(find(ref, "x64"));
  ASSERT_EQ(f64.sizes(), (std::vector<int64_t>{2, kFidFeatureDim}));
  EXPECT_LT(relative_error(f64, find(ref, "f64")), 1e-4);
  const at::Tensor f100 = net->forward(find(ref, "x100x80"));
  ASSERT_EQ(f100.sizes(), (std::vector<int64_t>{1, kFidFeatureDim}));
  EXPECT_LT(relative_error(f100, find(ref, "f100x80")), 1e-4);
  std::printf("max |ours - pytorch-fid| / max |pytorch-fid|: 64x64 batch %.1e, 100x80 %.1e\n",
              relative_error(f64, find(ref, "f64")), relative_error(f100, find(ref, "f100x80")));
  // The features are not trivially small, and the two images differ.
  EXPECT_GT(find(ref, "f64").abs().max().item<double>(), 0.1);
  EXPECT_GT((f64[0] - f64[1]).abs().max().item<double>(), 1e-2);
}

TEST_F(Inception, UnpreparedNetworkMatchesToo) {
  // Without folding and packing: the layers as written, in eval mode (running statistics).
  FidInception net;
  load_inception_weights(net, dict(), weights_);
  net->eval();
  const StateDict ref = read_state_dict(dir_ + "/fid_features.pth");
  at::NoGradGuard no_grad;
  const double err = relative_error(net->forward(find(ref, "x100x80")), find(ref, "f100x80"));
  EXPECT_LT(err, 1e-4);
  std::printf("unprepared: max |ours - pytorch-fid| / max |pytorch-fid|: 100x80 %.1e\n", err);
}

TEST_F(Inception, ZipFileWithoutFcAndBatchCounters) {
  StateDict stripped;
  for (const auto& [k, v] : dict()) {
    if (k.rfind("fc.", 0) != 0 && k.find("num_batches_tracked") == std::string::npos) stripped.emplace_back(k, v);
  }
  EXPECT_EQ(dict().size() - stripped.size(), 2u + 94u);  // fc.weight, fc.bias and one counter per batch norm
  const std::string path = test::scratch_dir("inception_zip") + "/stripped.pth";
  write_state_dict(path, stripped);  // zip format
  FidInception net;
  load_inception_weights(net, path);
  const StateDict ours = state_dict_of(*net);
  EXPECT_TRUE(at::equal(find(ours, "Mixed_7c.branch_pool.0.weight"), find(dict(), "Mixed_7c.branch_pool.conv.weight")));
  EXPECT_TRUE(at::equal(find(ours, "Conv2d_1a_3x3.1.running_var"), find(dict(), "Conv2d_1a_3x3.bn.running_var")));
}

// Expects loading `d` to fail naming the source, every needle, and pytorch-fid's release.
void expect_load_error(const StateDict& d, const std::vector<std::string>& needles) {
  FidInception net;
  const std::string msg = test::error_of([&] { load_inception_weights(net, d, "weights.pth"); });
  ASSERT_FALSE(msg.empty()) << "no error";
  for (const std::string& n : needles) EXPECT_NE(msg.find(n), std::string::npos) << "no '" << n << "' in: " << msg;
  EXPECT_NE(msg.find("weights.pth"), std::string::npos) << msg;
  EXPECT_NE(msg.find("fid_weights"), std::string::npos) << msg;
  EXPECT_NE(msg.find(kFidInceptionFile), std::string::npos) << msg;
}

TEST_F(Inception, WrongFilesNameKeyShapeAndSource) {
  StateDict missing;
  for (const auto& [k, v] : dict()) {
    if (k != "Mixed_5b.branch1x1.conv.weight") missing.emplace_back(k, v);
  }
  expect_load_error(missing, {"missing key 'Mixed_5b.branch1x1.conv.weight'", "[64, 192, 1, 1]"});

  StateDict reshaped = dict();
  for (auto& [k, v] : reshaped) {
    if (k == "Mixed_6b.branch7x7_2.conv.weight") v = v.transpose(2, 3);  // a 7x1 kernel where 1x7 belongs
  }
  expect_load_error(reshaped, {"Mixed_6b.branch7x7_2.conv.weight", "[128, 128, 7, 1]", "expected [128, 128, 1, 7]"});

  StateDict imagenet = dict();  // torchvision's own Inception v3: 1000 classes (and AuxLogits)
  for (auto& [k, v] : imagenet) {
    if (k == "fc.weight") v = at::zeros({1000, 2048});
  }
  expect_load_error(imagenet, {"ImageNet", "fc.weight"});

  StateDict extra = dict();
  extra.emplace_back("Mixed_8a.conv.weight", at::zeros({1}));
  expect_load_error(extra, {"unexpected key 'Mixed_8a.conv.weight'"});
}

TEST_F(Inception, MissingFileNamesItAndTheRelease) {
  FidInception net;
  const std::string path = test::scratch_dir("inception_missing") + "/" + kFidInceptionFile;
  const std::string msg = test::error_of([&] { load_inception_weights(net, path); });
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("fid_weights"), std::string::npos) << msg;
  EXPECT_NE(msg.find("github.com/mseitzer/pytorch-fid"), std::string::npos) << msg;
  EXPECT_NE(test::error_of([&] { load_inception_weights(net, ""); }).find(kFidInceptionFile), std::string::npos);
}

TEST(InceptionPaths, DefaultWeightsPathFollowsXdgDataHome) {
  {
    const test::ScopedEnv xdg("XDG_DATA_HOME", "/data/x");
    EXPECT_EQ(default_weights_path("w.pth"), "/data/x/p2p/weights/w.pth");
  }
  const test::ScopedEnv empty("XDG_DATA_HOME", "");  // empty counts as unset, as the XDG spec says
  const std::string home = std::getenv("HOME") ? std::getenv("HOME") : "";
  if (!home.empty()) {
    EXPECT_EQ(default_weights_path("w.pth"), home + "/.local/share/p2p/weights/w.pth");
  }
}

TEST(InceptionShapes, ResizeInputMapsToMinusOneOne) {
  // A constant image stays constant through bilinear resizing: 0.25 -> -0.5 at 299x299.
  const at::Tensor x = at::full({1, 3, 40, 50}, 0.25);
  const at::Tensor r = FidInceptionImpl::resize_input(x);
  EXPECT_EQ(r.sizes(), (std::vector<int64_t>{1, 3, 299, 299}));
  EXPECT_NEAR((r + 0.5).abs().max().item<double>(), 0.0, 1e-7);
  EXPECT_NE(test::error_of([] { FidInceptionImpl::resize_input(at::zeros({1, 1, 8, 8})); }).find("[1, 1, 8, 8]"),
            std::string::npos);
}


// Feature-extraction speed for bench/fid_features.sh (not part of the suite: run with
// --gtest_also_run_disabled_tests --gtest_filter=InceptionBench.*). Reads P2P_BENCH_FID_WEIGHTS (a weight
// file), P2P_BENCH_FID_IMAGES / _SIZE / _BATCH / _THREADS (32, 128, 8, 2) and prints one JSON line.
TEST(InceptionBench, DISABLED_Throughput) {
  auto env = [](const char* name, int fallback) {
    const char* v = std::getenv(name);
    return v && *v ? std::atoi(v) : fallback;
  };
  const char* weights = std::getenv("P2P_BENCH_FID_WEIGHTS");
  ASSERT_TRUE(weights && *weights) << "set P2P_BENCH_FID_WEIGHTS to a weight file";
  const int images = env("P2P_BENCH_FID_IMAGES", 32), side = env("P2P_BENCH_FID_SIZE", 128);
  const int batch = env("P2P_BENCH_FID_BATCH", 8), threads = env("P2P_BENCH_FID_THREADS", 2);
  configure_threads(threads);
  set_blas_threads(threads);
  using clock = std::chrono::steady_clock;
  auto seconds = [](clock::time_point a) { return std::chrono::duration<double>(clock::now() - a).count(); };
  auto t0 = clock::now();
  FidInception net;
  load_inception_weights(net, weights);
  const double load_s = seconds(t0);
  t0 = clock::now();
  net->prepare_for_inference();
  const double prepare_s = seconds(t0);
  const at::Tensor x = at::rand({images, 3, side, side}, at::make_generator<at::CPUGeneratorImpl>(1));
  at::NoGradGuard no_grad;
  net->forward(x.narrow(0, 0, batch));  // warm-up: oneDNN primitives are created on first use
  t0 = clock::now();
  const std::clock_t cpu0 = std::clock();  // process CPU time: less sensitive than wall time to a busy machine
  double best = 1e30;  // the fastest batch: the least disturbed by other work on a shared machine
  for (int i = 0; i < images; i += batch) {
    const auto b0 = clock::now();
    const int n = std::min(batch, images - i);
    net->forward(x.narrow(0, i, n));
    best = std::min(best, seconds(b0) / n);
  }
  const double run_s = seconds(t0);
  const double cpu_s = static_cast<double>(std::clock() - cpu0) / CLOCKS_PER_SEC;
  std::printf(
      "{\"impl\": \"pix2pix.cpp\", \"images\": %d, \"size\": %d, \"batch\": %d, \"threads\": %d, "
      "\"seconds\": %.3f, \"images_per_s\": %.3f, \"best_images_per_s\": %.3f, \"cpu_s_per_image\": %.3f, \"load_s\": "
      "%.3f, "
      "\"prepare_s\": %.3f}\n",
      images, side, batch, threads, run_s, images / run_s, 1 / best, cpu_s / images, load_s, prepare_s);
}

}  // namespace
}  // namespace p2p
