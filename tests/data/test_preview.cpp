// Tests for the augmentation preview: file count, names and size, and that each file shows exactly
// the sample the training loader gives at that position of epoch 1.
#include "p2p/core/error.h"
#include "p2p/data/dataset.h"
#include "p2p/data/preview.h"
#include "p2p/data/sampling.h"
#include "p2p/io/image.h"
#include "testutil/testutil.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>

using namespace p2p;
using namespace p2p::test;

namespace {

DataConfig preview_config(const std::string& root) {
  DataConfig cfg;
  cfg.dataroot = root;
  cfg.load_size = 40;
  cfg.crop_size = 32;
  cfg.val_fraction = 0.0;
  cfg.augment = "strong";
  cfg.jitter_side = "input";
  return cfg;
}

}  // namespace

TEST(Preview, WritesLoaderSamplesSideBySide) {
  const std::string root = write_ab_dataset(scratch_dir("preview_data"), 5, 0);
  const DataConfig cfg = preview_config(root);
  const std::string out = scratch_dir("preview_out") + "/sub";
  const uint64_t seed = 42;
  const std::vector<std::string> files = write_augment_preview(cfg, 3, seed, out);
  ASSERT_EQ(files.size(), 3u);

  // The loader's view of epoch 1: shuffled order, sample k seeded by sample_seed(seed, 1, k).
  const Splits splits = train_val_split(cfg);
  const PairedDataset ds(splits.train, cfg, true);
  DataLoader loader(ds, 1, /*shuffle=*/true, 0);
  loader.start_epoch(seed, 1);
  for (size_t k = 0; k < files.size(); ++k) {
    Batch batch;
    ASSERT_TRUE(loader.next(batch));
    const std::string name = std::filesystem::path(files[k]).filename().string();
    EXPECT_EQ(name, std::to_string(k) + "_" + batch.stems[0] + ".png");
    at::Tensor img = load_image(files[k], 3);
    ASSERT_EQ(img.sizes(), (at::IntArrayRef{3, 32, 64})) << name;
    // The PNG holds 8-bit levels: half a level of rounding at most.
    const at::Tensor a = to_unit_range(batch.A[0]);
    const at::Tensor b = to_unit_range(batch.B[0]);
    EXPECT_LE((img.narrow(2, 0, 32) - a).abs().max().item<double>(), 0.5 / 255 + 1e-6) << name;
    EXPECT_LE((img.narrow(2, 32, 32) - b).abs().max().item<double>(), 0.5 / 255 + 1e-6) << name;
  }
  // The order is the shuffled one, not the sorted one (with 5 pairs, seed 42 differs from 0 1 2).
  std::vector<int64_t> order = epoch_order(5, true, seed, 1);
  EXPECT_NE(std::vector<int64_t>(order.begin(), order.begin() + 3), (std::vector<int64_t>{0, 1, 2}));
}

TEST(Preview, CapsAtTheTrainingSetAndChecksN) {
  const std::string root = write_ab_dataset(scratch_dir("preview_cap"), 2, 0);
  DataConfig cfg = preview_config(root);
  const std::string out = scratch_dir("preview_cap_out");
  EXPECT_EQ(write_augment_preview(cfg, 8, 1, out).size(), 2u);
  EXPECT_NE(error_of([&] { write_augment_preview(cfg, 0, 1, out); }).find("--n"), std::string::npos);
  cfg.augment = "wild";
  EXPECT_NE(error_of([&] { write_augment_preview(cfg, 1, 1, out); }).find("--augment"), std::string::npos);
}

TEST(Preview, GrayBesideRgbAndManyChannels) {
  at::Tensor gray = at::full({1, 4, 4}, 0.25f);
  at::Tensor rgb = at::rand({3, 4, 4});
  at::Tensor both = preview_image(gray, rgb);
  ASSERT_EQ(both.sizes(), (at::IntArrayRef{3, 4, 8}));
  EXPECT_TRUE(at::equal(both.narrow(2, 0, 4), gray.expand({3, 4, 4})));
  EXPECT_TRUE(at::equal(both.narrow(2, 4, 4), rgb));
  EXPECT_EQ(preview_image(gray, gray).size(0), 1);
  at::Tensor five = at::rand({5, 4, 4});
  EXPECT_TRUE(at::equal(preview_image(five, five).narrow(2, 0, 4), five.narrow(0, 0, 3)));
}
