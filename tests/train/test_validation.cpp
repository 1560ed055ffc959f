// Tests for train/validation: validating in the paper's test mode (BatchNorm on batch statistics,
// dropout drawing random numbers) leaves training untouched — the buffers, the random state and the
// next step are identical with and without a validation pass — and the metric choice of --best_metric.
#include "p2p/core/error.h"
#include "p2p/core/runtime.h"
#include "p2p/io/image.h"
#include "p2p/io/state_dict.h"
#include "p2p/models/networks.h"
#include "p2p/train/validation.h"
#include "testutil/testutil.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <cmath>

#include <filesystem>
#include <mutex>

namespace p2p {
namespace {

NetConfig tiny_net() {
  NetConfig n;
  n.netG = "unet_32";
  n.ngf = 8;
  n.ndf = 8;
  n.dropout_placement = "paper";  // dropout on the first decoder layers, which unet_32 has: validation draws
  return n;                       // random numbers
}

at::Tensor rng_state() {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get_state();
}

void set_rng_state(const at::Tensor& s) {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(s);
}

Batch random_batch(uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  Batch b;
  b.A = at::rand({2, 3, 32, 32}, gen) * 2 - 1;
  b.B = at::rand({2, 3, 32, 32}, gen) * 2 - 1;
  b.stems = {"a", "b"};
  return b;
}

TEST(Validation, LeavesTrainingUntouched) {
  const std::string root = test::scratch_dir("validation");
  std::vector<PairRecord> records;
  for (int i = 0; i < 3; ++i) {
    const std::string path = root + "/" + std::to_string(i) + ".png";
    test::write_random_png(path, 64, 32, 3, 40 + i);
    records.push_back({path, path, std::to_string(i), true});
  }
  DataConfig data;
  data.preprocess = "none";
  PairedDataset val(records, data, /*augment=*/false);
  TrainConfig cfg;
  cfg.num_samples = 1;

  seed_everything(5, false);
  Pix2PixModel with(tiny_net(), cfg, c10::Device(c10::kCPU));
  seed_everything(5, false);
  Pix2PixModel without(tiny_net(), cfg, c10::Device(c10::kCPU));
  const Batch batch = random_batch(9);
  const at::Tensor rng_start = rng_state();
  with.optimize(batch);
  set_rng_state(rng_start);  // the same dropout draws for both
  without.optimize(batch);   // both have moved their BatchNorm running statistics once

  // What a validation pass without the restore would change: the running statistics.
  {
    NetworkPtr probe = make_generator(tiny_net());
    load_into(*probe, state_dict_of(with.generator()), "copy");
    probe->train();
    at::NoGradGuard no_grad;
    probe->forward(val.get(0, 0).A.unsqueeze(0));
    const StateDict p = state_dict_of(*probe), w = state_dict_of(with.generator());
    bool moved = false;
    for (size_t i = 0; i < p.size(); ++i) moved = moved || !at::equal(p[i].second, w[i].second);
    EXPECT_TRUE(moved) << "a forward in train mode should move the BatchNorm statistics";
  }

  const at::Tensor rng_before = rng_state();
  const ValResult v = validate(with, val, data, cfg, 1, root + "/samples");
  ASSERT_TRUE(v.has);
  EXPECT_EQ(v.count, 3);
  EXPECT_TRUE(std::isfinite(v.mean.l1));
  EXPECT_TRUE(at::equal(rng_state(), rng_before)) << "validation consumed training randomness";
  const StateDict a = state_dict_of(with.generator()), b = state_dict_of(without.generator());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(at::equal(a[i].second, b[i].second)) << a[i].first;
  EXPECT_TRUE(std::filesystem::exists(root + "/samples/epoch_001_0.png"));

  // The next step (dropout draws included) is the same with and without the validation pass.
  const Batch next = random_batch(10);
  set_rng_state(rng_before);
  const StepLosses la = with.optimize(next);
  set_rng_state(rng_before);
  const StepLosses lb = without.optimize(next);
  EXPECT_EQ(la["G_total"], lb["G_total"]);
  EXPECT_EQ(la["D_real"], lb["D_real"]);
  const StateDict a2 = state_dict_of(with.generator()), b2 = state_dict_of(without.generator());
  for (size_t i = 0; i < a2.size(); ++i) EXPECT_TRUE(at::equal(a2[i].second, b2[i].second)) << a2[i].first;
}

TEST(Validation, SampleTripletShowsInputAsLoadedUnderDatasetNormalisation) {
  // With --normalize dataset the network sees (A - mean)/std; the sample's left panel must undo that
  // mapping (not unit*2-1), so it reproduces the file's A byte for byte.
  const std::string root = test::scratch_dir("validation_norm");
  const std::string path = root + "/0.png";
  test::write_random_png(path, 64, 32, 3, 77);
  DataConfig data;
  data.preprocess = "none";
  data.normalize = "dataset";
  data.mean_A = {0.2, 0.5, 0.7};
  data.std_A = {0.1, 0.3, 0.05};
  PairedDataset val({{path, path, "0", true}}, data, /*augment=*/false);
  TrainConfig cfg;
  cfg.num_samples = 1;
  seed_everything(5, false);
  Pix2PixModel model(tiny_net(), cfg, c10::Device(c10::kCPU));
  ASSERT_TRUE(validate(model, val, data, cfg, 2, root + "/samples").has);
  int bits = 0;
  const at::Tensor sample = load_image(root + "/samples/epoch_002_0.png", 3, bits);
  const at::Tensor ab = load_image(path, 3, bits);
  ASSERT_EQ(sample.size(2), 96);
  const at::Tensor shown_A = sample.narrow(2, 0, 32), file_A = ab.narrow(2, 0, 32);
  EXPECT_LE((shown_A - file_A).abs().max().item<double>(), 0.5 / 255 + 1e-6);
}

TEST(Validation, BestMetricValueAndDirection) {
  ValResult m;
  m.has = m.has_image = true;
  m.mean.l1 = 0.3, m.mean.psnr = 14.5, m.mean.ssim = 0.4;
  EXPECT_EQ(metric_value(m, "val_l1"), 0.3);
  EXPECT_EQ(metric_value(m, "val_psnr"), 14.5);
  EXPECT_EQ(metric_value(m, "val_ssim"), 0.4);
  EXPECT_TRUE(std::isnan(metric_value(m, "val_miou")));  // no segmenter: no value, never best
  m.seg = SegmentationScores{};
  m.seg->mean_iou = 0.25, m.seg->pixel_acc = 0.6;
  EXPECT_EQ(metric_value(m, "val_miou"), 0.25);
  EXPECT_EQ(metric_value(m, "val_pixel_acc"), 0.6);
  EXPECT_EQ(val_json(m).value("miou", -1.0), 0.25);
  EXPECT_EQ(val_json(m).value("l1", -1.0), 0.3);
  EXPECT_FALSE(higher_is_better("val_l1"));
  EXPECT_TRUE(higher_is_better("val_psnr"));
  EXPECT_TRUE(higher_is_better("val_ssim"));
  EXPECT_TRUE(higher_is_better("val_miou"));
  EXPECT_NE(test::error_of([&] { metric_value(m, "val_fid"); }).find("--best_metric"), std::string::npos);
}

}  // namespace
}  // namespace p2p
