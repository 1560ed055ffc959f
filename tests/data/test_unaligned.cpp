// Tests for unaligned (CycleGAN) data: the reference's sampling (A[i mod |A|], B random or i mod |B|
// with --serial_batches, max(|A|, |B|) samples), independent augmentation of the two sides, --direction,
// and refusals that name the folder or flag.
#include "p2p/core/error.h"
#include "p2p/data/dataset.h"
#include "p2p/data/unaligned.h"
#include "p2p/io/image.h"
#include "testutil/testutil.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

namespace fs = std::filesystem;
using namespace p2p;
using namespace p2p::test;

namespace {

#define EXPECT_CONTAINS(text, part) EXPECT_NE(std::string(text).find(part), std::string::npos) << (text)

// <root>/trainA with n_a images, <root>/trainB with n_b; each image a flat colour whose red value encodes
// its side and index (A: i/64, B: 0.5 + i/64) so a sample tells which files it came from.
std::string write_unaligned(const std::string& root, int n_a, int n_b, int size = 32) {
  for (const char* side : {"A", "B"}) fs::create_directories(root + "/train" + side);
  for (int i = 0; i < n_a; ++i) {
    save_png(root + "/trainA/a" + std::to_string(i) + ".png", at::full({3, size, size}, i / 64.0f));
  }
  for (int i = 0; i < n_b; ++i) {
    save_png(root + "/trainB/b" + std::to_string(i) + ".png", at::full({3, size, size}, 0.5f + i / 64.0f));
  }
  return root;
}

// The file index a flat sample came from (B side: offset by 0.5).
int index_of(const at::Tensor& net_range, double offset) {
  const double unit = (net_range.mean().item<double>() + 1) / 2;
  return static_cast<int>(std::lround((unit - offset) * 64));
}

DataConfig tiny(const std::string& root) {
  DataConfig cfg;
  cfg.dataroot = root;
  cfg.dataset_mode = "unaligned";
  cfg.load_size = 32;
  cfg.crop_size = 32;
  return cfg;
}

}  // namespace

TEST(UnalignedData, LengthIsTheLargerSideAndAWraps) {
  const std::string root = write_unaligned(scratch_dir("unaligned_len"), 3, 5);
  const DataConfig cfg = tiny(root);
  UnalignedDataset ds(find_unaligned(cfg, root, "train"), cfg, /*augment=*/true);
  EXPECT_EQ(ds.size(), 5u);
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(index_of(ds.get(i, 7).A, 0.0), static_cast<int>(i % 3)) << i;
  EXPECT_EQ(ds.get(4, 7).stem, "a1");
}

TEST(UnalignedData, SerialBatchesTakeBInOrderOtherwiseBIsDrawnFromTheSeed) {
  const std::string root = write_unaligned(scratch_dir("unaligned_b"), 2, 6);
  DataConfig cfg = tiny(root);
  cfg.serial_batches = true;
  UnalignedDataset serial(find_unaligned(cfg, root, "train"), cfg, true);
  for (size_t i = 0; i < 6; ++i) EXPECT_EQ(index_of(serial.get(i, 123 + i).B, 0.5), static_cast<int>(i)) << i;
  cfg.serial_batches = false;
  UnalignedDataset random(find_unaligned(cfg, root, "train"), cfg, true);
  std::set<int> drawn;
  for (uint64_t seed = 0; seed < 60; ++seed) {
    const int b = index_of(random.get(0, seed).B, 0.5);
    EXPECT_EQ(b, index_of(random.get(0, seed).B, 0.5)) << "same seed, same B";
    drawn.insert(b);
  }
  EXPECT_EQ(drawn.size(), 6u) << "every B is drawn for sample 0 over 60 seeds";
  // Validation (no augmentation) sees fixed pairs.
  UnalignedDataset fixed(find_unaligned(cfg, root, "train"), cfg, false);
  EXPECT_EQ(index_of(fixed.get(3, 99).B, 0.5), 3);
}

TEST(UnalignedData, SidesAreAugmentedIndependently) {
  const std::string root = scratch_dir("unaligned_aug");
  for (const char* side : {"A", "B"}) fs::create_directories(root + "/train" + side);
  // One image on each side with the same content: a horizontal ramp, so a flip shows.
  const at::Tensor ramp = at::linspace(0, 1, 32).reshape({1, 1, 32}).expand({3, 32, 32}).contiguous();
  save_png(root + "/trainA/x.png", ramp);
  save_png(root + "/trainB/x.png", ramp);
  DataConfig cfg = tiny(root);
  cfg.load_size = 40;
  int differ = 0;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    UnalignedDataset ds(find_unaligned(cfg, root, "train"), cfg, true);
    const Sample s = ds.get(0, seed);
    ASSERT_EQ(s.A.sizes(), s.B.sizes());
    if (!at::allclose(s.A, s.B)) ++differ;
  }
  EXPECT_GT(differ, 5) << "A and B share crop and flip: the sides are not augmented independently";
}

TEST(UnalignedData, BtoAMakesTheBFolderTheInput) {
  const std::string root = write_unaligned(scratch_dir("unaligned_btoa"), 2, 3);
  DataConfig cfg = tiny(root);
  cfg.direction = "BtoA";
  cfg.serial_batches = true;
  UnalignedDataset ds(find_unaligned(cfg, root, "train"), cfg, true);
  EXPECT_EQ(ds.size(), 3u);
  const Sample s = ds.get(2, 0);
  EXPECT_EQ(index_of(s.A, 0.5), 2);
  EXPECT_EQ(index_of(s.B, 0.0), 0);
  EXPECT_EQ(s.stem, "b2");
}

TEST(UnalignedData, RefusalsNameTheFolderOrFlag) {
  const std::string root = write_unaligned(scratch_dir("unaligned_bad"), 2, 2);
  DataConfig cfg = tiny(root);
  EXPECT_CONTAINS(error_of([&] { find_unaligned(cfg, root, "test"); }), root + "/testA");
  fs::remove_all(root + "/trainB");
  fs::create_directories(root + "/trainB");
  EXPECT_CONTAINS(error_of([&] { find_unaligned(cfg, root, "train"); }), "no image files in " + root + "/trainB");
  write_unaligned(root, 2, 2);
  cfg.normalize = "dataset";
  EXPECT_CONTAINS(error_of([&] { UnalignedDataset(find_unaligned(cfg, root, "train"), cfg, true); }), "--normalize");
  EXPECT_FALSE(has_unaligned(root, "val"));
  EXPECT_TRUE(has_unaligned(root, "train"));
}
