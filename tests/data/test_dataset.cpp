// Tests for paired datasets: finding pairs (aligned, folders, pair_replace, errors), the train/val
// split, and PairedDataset::get (shapes per mode, one set of random parameters for A and B,
// direction, channels, size errors).
#include "p2p/core/error.h"
#include "p2p/data/dataset.h"
#include "p2p/io/image.h"
#include "testutil/testutil.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;
using namespace p2p;
using namespace p2p::test;

namespace {

#define EXPECT_CONTAINS(text, part) EXPECT_NE(std::string(text).find(part), std::string::npos) << (text)

// AB image whose two halves are `left` and `right` ([C,H,W] in [0,1]).
void write_ab(const std::string& path, const at::Tensor& left, const at::Tensor& right) {
  save_png(path, at::cat({left, right}, 2));
}

at::Tensor colour(float r, float g, float b, int h, int w) {
  return at::tensor({r, g, b}).reshape({3, 1, 1}).expand({3, h, w}).contiguous();
}

std::vector<std::string> stems(const std::vector<PairRecord>& pairs) {
  std::vector<std::string> out;
  for (auto& p : pairs) out.push_back(p.stem);
  return out;
}

}  // namespace

TEST(FindPairs, AlignedSortedByStem) {
  const std::string dir = scratch_dir("pairs_aligned");
  for (const char* n : {"3.png", "1.png", "2.jpg"}) write_random_png(dir + "/" + n, 8, 4, 3, 1);
  std::ofstream(dir + "/notes.txt") << "ignored";
  DataConfig cfg;
  std::vector<PairRecord> pairs = find_pairs(cfg, dir);
  EXPECT_EQ(stems(pairs), (std::vector<std::string>{"1", "2", "3"}));
  EXPECT_TRUE(pairs[1].aligned);
  EXPECT_EQ(pairs[1].a_path, dir + "/2.jpg");
  EXPECT_EQ(pairs[1].b_path, pairs[1].a_path);
  cfg.max_dataset_size = 2;
  EXPECT_EQ(stems(find_pairs(cfg, dir)), (std::vector<std::string>{"1", "2"}));
  write_random_png(dir + "/3.jpg", 8, 4, 3, 1);  // same stem twice: outputs would collide
  EXPECT_CONTAINS(error_of([&] { find_pairs(cfg, dir); }), "3");
}

TEST(FindPairs, FoldersPairByNameWithReplace) {
  const std::string dir = scratch_dir("pairs_folders");
  fs::create_directories(dir + "/A");
  fs::create_directories(dir + "/B");
  for (int i : {2, 1, 10}) {
    write_random_png(dir + "/A/roi_s1_" + std::to_string(i) + ".png", 4, 4, 1, i);
    write_random_png(dir + "/B/roi_s2_" + std::to_string(i) + ".png", 4, 4, 3, i);
  }
  DataConfig cfg;
  cfg.pair_replace = "_s1_:_s2_";
  std::vector<PairRecord> pairs = find_pairs(cfg, dir);  // auto: A/ and B/ exist
  ASSERT_EQ(pairs.size(), 3u);
  EXPECT_EQ(stems(pairs), (std::vector<std::string>{"roi_s1_1", "roi_s1_10", "roi_s1_2"}));
  EXPECT_FALSE(pairs[0].aligned);
  EXPECT_EQ(pairs[1].a_path, dir + "/A/roi_s1_10.png");
  EXPECT_EQ(pairs[1].b_path, dir + "/B/roi_s2_10.png");
  // Without the replace rule nothing pairs, and the error says how to fix it.
  cfg.pair_replace.clear();
  std::string m = error_of([&] { find_pairs(cfg, dir); });
  EXPECT_CONTAINS(m, "roi_s1_1.png");
  EXPECT_CONTAINS(m, "--pair_replace");
  cfg.pair_replace = "nocolon";
  EXPECT_CONTAINS(error_of([&] { find_pairs(cfg, dir); }), "--pair_replace");
}

TEST(FindPairs, FolderNamesPickOtherSubfolders) {
  const std::string dir = scratch_dir("pairs_folder_names");
  fs::create_directories(dir + "/s1");
  fs::create_directories(dir + "/s2");
  write_random_png(dir + "/s1/roi_s1_5.png", 4, 4, 1, 1);
  write_random_png(dir + "/s2/roi_s2_5.png", 4, 4, 3, 2);
  DataConfig cfg;
  cfg.folder_names = "s1:s2";
  cfg.pair_replace = "_s1_:_s2_";
  std::vector<PairRecord> pairs = find_pairs(cfg, dir);  // auto: s1/ and s2/ exist
  ASSERT_EQ(pairs.size(), 1u);
  EXPECT_EQ(pairs[0].b_path, dir + "/s2/roi_s2_5.png");
  cfg.folder_names = "s1:s3";
  cfg.dataset_mode = "folders";
  EXPECT_CONTAINS(error_of([&] { find_pairs(cfg, dir); }), "s3/ is missing");
  for (const char* bad : {"s1", ":s2", "s1:", "a/b:c", "a:b:c"}) {
    cfg.folder_names = bad;
    EXPECT_CONTAINS(error_of([&] { find_pairs(cfg, dir); }), "--folder_names");
  }
}

TEST(FindPairs, Sen12SampleLoadsAsGrayToRgbPairs) {
  const std::string root = p2p::test::shared_dataset("sen12_sample");
  if (root.empty()) GTEST_SKIP() << "../shared/datasets/sen12_sample not present";
  DataConfig cfg;
  cfg.dataroot = root;
  cfg.phase = "test";
  cfg.folder_names = "s1:s2";
  cfg.pair_replace = "_s1_:_s2_";
  cfg.input_nc = 1;
  cfg.output_nc = 3;
  cfg.load_size = 256;
  cfg.crop_size = 256;
  std::vector<PairRecord> pairs = find_pairs(cfg, root + "/test");
  ASSERT_EQ(pairs.size(), 15u);
  PairedDataset ds(pairs, cfg, false);
  Sample s = ds.get(0, 0);
  EXPECT_EQ(s.A.sizes(), (c10::IntArrayRef{1, 256, 256}));
  EXPECT_EQ(s.B.sizes(), (c10::IntArrayRef{3, 256, 256}));
}

TEST(FindPairs, FoldersMatchStemAcrossExtensions) {
  const std::string dir = scratch_dir("pairs_ext");
  fs::create_directories(dir + "/A");
  fs::create_directories(dir + "/B");
  write_random_png(dir + "/A/7.png", 4, 4, 3, 1);
  write_random_png(dir + "/B/7.jpg", 4, 4, 3, 2);  // PNG bytes; decoding goes by content
  DataConfig cfg;
  cfg.dataset_mode = "folders";
  std::vector<PairRecord> pairs = find_pairs(cfg, dir);
  ASSERT_EQ(pairs.size(), 1u);
  EXPECT_EQ(pairs[0].b_path, dir + "/B/7.jpg");
}

TEST(FindPairs, UnmatchedFilesNameTheFolderLackingThePartner) {
  const std::string dir = scratch_dir("pairs_unmatched");
  fs::create_directories(dir + "/A");
  fs::create_directories(dir + "/B");
  for (int i = 0; i < 8; ++i) write_random_png(dir + "/A/" + std::to_string(i) + ".png", 4, 4, 3, i);
  for (int i = 0; i < 2; ++i) write_random_png(dir + "/B/" + std::to_string(i) + ".png", 4, 4, 3, i);
  DataConfig cfg;
  std::string m = error_of([&] { find_pairs(cfg, dir); });
  EXPECT_CONTAINS(m, "6 image(s) in " + dir + "/A have no partner in " + dir + "/B");
  EXPECT_CONTAINS(m, "2.png");
  EXPECT_CONTAINS(m, "1 more");  // at most 5 names listed
  for (int i = 2; i < 8; ++i) write_random_png(dir + "/B/" + std::to_string(i) + ".png", 4, 4, 3, i);
  write_random_png(dir + "/B/extra.png", 4, 4, 3, 0);
  m = error_of([&] { find_pairs(cfg, dir); });
  EXPECT_CONTAINS(m, "in " + dir + "/B have no partner in " + dir + "/A");
  EXPECT_CONTAINS(m, "extra.png");
}

TEST(FindPairs, EmptyOrMissingFolderExplainsLayout) {
  const std::string dir = scratch_dir("pairs_empty");
  DataConfig cfg;
  std::string m = error_of([&] { find_pairs(cfg, dir); });
  EXPECT_CONTAINS(m, dir);
  EXPECT_CONTAINS(m, "A/ and B/");
  m = error_of([&] { find_pairs(cfg, dir + "/missing"); });
  EXPECT_CONTAINS(m, dir + "/missing");
  EXPECT_CONTAINS(m, "does not exist");
  std::ofstream(dir + "/scan.jp2") << "x";
  EXPECT_CONTAINS(error_of([&] { find_pairs(cfg, dir); }), "scan.jp2");
  cfg.dataset_mode = "folders";
  fs::create_directories(dir + "/A");
  EXPECT_CONTAINS(error_of([&] { find_pairs(cfg, dir); }), "B/ is missing");
  cfg.dataset_mode = "paired";
  EXPECT_CONTAINS(error_of([&] { find_pairs(cfg, dir); }), "--dataset_mode");
}

TEST(Split, UsesValFolderOrEveryKthPair) {
  const std::string root = scratch_dir("split");
  fs::create_directories(root + "/train");
  for (int i = 0; i < 10; ++i) write_random_png(root + "/train/" + std::to_string(i) + ".png", 8, 4, 3, i);
  DataConfig cfg;
  cfg.dataroot = root;
  cfg.val_fraction = 0.25;
  Splits s = train_val_split(cfg);
  EXPECT_EQ(stems(s.val), (std::vector<std::string>{"3", "7"}));
  EXPECT_EQ(s.train.size(), 8u);
  Splits again = train_val_split(cfg);
  EXPECT_EQ(stems(again.train), stems(s.train));
  cfg.val_fraction = 0.0;
  EXPECT_TRUE(train_val_split(cfg).val.empty());
  cfg.val_fraction = 0.9;
  EXPECT_CONTAINS(error_of([&] { train_val_split(cfg); }), "--val_fraction");
  cfg.val_fraction = 0.1;
  fs::create_directories(root + "/val");
  write_random_png(root + "/val/v1.png", 8, 4, 3, 1);
  s = train_val_split(cfg);
  EXPECT_EQ(s.train.size(), 10u);
  EXPECT_EQ(stems(s.val), (std::vector<std::string>{"v1"}));
  cfg.dataroot.clear();
  EXPECT_CONTAINS(error_of([&] { train_val_split(cfg); }), "--dataroot");
}

TEST(PairedDataset, ShapesPerPreprocessMode) {
  const std::string dir = scratch_dir("ds_shapes");
  write_ab(dir + "/1.png", at::rand({3, 30, 40}), at::rand({3, 30, 40}));
  std::vector<PairRecord> pairs = find_pairs(DataConfig{}, dir);
  struct Case {
    const char* mode;
    int64_t h, w;
  } cases[] = {{"resize_and_crop", 24, 24}, {"crop", 24, 24}, {"scale_width", 36, 48},
               {"scale_width_and_crop", 24, 24}, {"none", 32, 40}};
  for (const Case& c : cases) {
    DataConfig cfg;
    cfg.preprocess = c.mode;
    cfg.load_size = 48;
    cfg.crop_size = 24;
    cfg.size_multiple = 8;  // none: 40x30 -> 40x32
    PairedDataset ds(pairs, cfg, true);
    Sample s = ds.get(0, 1);
    EXPECT_EQ(s.A.sizes(), (at::IntArrayRef{3, c.h, c.w})) << c.mode;
    EXPECT_EQ(s.B.sizes(), (at::IntArrayRef{3, c.h, c.w})) << c.mode;
    EXPECT_GE(s.A.min().item<float>(), -1.0f);
    EXPECT_LE(s.A.max().item<float>(), 1.0f);
    EXPECT_EQ(s.stem, "1");
  }
}

TEST(PairedDataset, AAndBGetTheSameCropAndFlip) {
  const std::string dir = scratch_dir("ds_same");
  at::Tensor half = at::rand({3, 20, 26});
  write_ab(dir + "/1.png", half, half);
  std::vector<PairRecord> pairs = find_pairs(DataConfig{}, dir);
  for (const char* mode : {"resize_and_crop", "crop", "scale_width_and_crop", "none"}) {
    for (const char* direction : {"AtoB", "BtoA"}) {
      DataConfig cfg;
      cfg.preprocess = mode;
      cfg.direction = direction;
      cfg.load_size = 30;
      cfg.crop_size = 16;
      PairedDataset ds(pairs, cfg, true);
      std::set<std::string> distinct;  // the augmentation really varies
      for (uint64_t seed = 0; seed < 12; ++seed) {
        Sample s = ds.get(0, seed);
        ASSERT_TRUE(at::equal(s.A, s.B)) << mode << " " << direction << " seed " << seed;
        distinct.insert(std::to_string(s.A.sum().item<double>()) + std::to_string(s.A[0][0][0].item<float>()));
      }
      EXPECT_GT(distinct.size(), 1u) << mode;
    }
  }
}

TEST(PairedDataset, FlipMirrorsExactlyAndAugmentOffIsCentred) {
  const std::string dir = scratch_dir("ds_flip");
  at::Tensor half = at::rand({3, 8, 12});
  write_ab(dir + "/1.png", half, half);
  const at::Tensor unit = load_image(dir + "/1.png", 3).narrow(2, 0, 12);
  DataConfig cfg;
  cfg.preprocess = "none";
  PairedDataset ds(find_pairs(cfg, dir), cfg, true);
  int flipped = 0, plain = 0;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    at::Tensor a = to_unit_range(ds.get(0, seed).A);
    if (at::allclose(a, unit.flip({2}), 0, 1e-6)) {
      ++flipped;
    } else {
      EXPECT_TRUE(at::allclose(a, unit, 0, 1e-6));
      ++plain;
    }
  }
  EXPECT_GT(flipped, 0);
  EXPECT_GT(plain, 0);
  cfg.preprocess = "crop";
  cfg.crop_size = 4;
  PairedDataset fixed(find_pairs(cfg, dir), cfg, false);
  for (uint64_t seed = 0; seed < 5; ++seed) {
    at::Tensor a = to_unit_range(fixed.get(0, seed).A);
    EXPECT_TRUE(at::allclose(a, unit.narrow(1, 2, 4).narrow(2, 4, 4), 0, 1e-6));
  }
}

TEST(PairedDataset, DirectionAndChannels) {
  const std::string dir = scratch_dir("ds_dir");
  write_ab(dir + "/1.png", colour(1, 0, 0, 8, 8), colour(0, 0, 1, 8, 8));  // red | blue
  DataConfig cfg;
  cfg.preprocess = "none";
  cfg.no_flip = true;
  PairedDataset atob(find_pairs(cfg, dir), cfg, true);
  Sample s = atob.get(0, 0);
  EXPECT_FLOAT_EQ(s.A[0][3][3].item<float>(), 1.0f);   // red
  EXPECT_FLOAT_EQ(s.B[2][3][3].item<float>(), 1.0f);   // blue
  EXPECT_FLOAT_EQ(s.B[0][3][3].item<float>(), -1.0f);
  cfg.direction = "BtoA";
  cfg.input_nc = 1;
  PairedDataset btoa(find_pairs(cfg, dir), cfg, true);
  s = btoa.get(0, 0);
  ASSERT_EQ(s.A.size(0), 1);
  ASSERT_EQ(s.B.size(0), 3);
  // A is the blue half in gray: PIL luminance of pure blue is 29.
  EXPECT_NEAR(to_unit_range(s.A)[0][2][2].item<float>() * 255.0f, 29.0f, 1e-3);
  EXPECT_FLOAT_EQ(s.B[0][2][2].item<float>(), 1.0f);  // B is red
  cfg.direction = "AtoB";
  cfg.input_nc = 3;
  cfg.output_nc = 1;
  PairedDataset gray_b(find_pairs(cfg, dir), cfg, true);
  s = gray_b.get(0, 0);
  EXPECT_EQ(s.B.size(0), 1);
  EXPECT_NEAR(to_unit_range(s.B)[0][0][0].item<float>() * 255.0f, 29.0f, 1e-3);
  cfg.direction = "sideways";
  EXPECT_CONTAINS(error_of([&] { PairedDataset(find_pairs(cfg, dir), cfg, true); }), "--direction");
}

TEST(PairedDataset, SizeErrorsNameTheFile) {
  const std::string dir = scratch_dir("ds_errors");
  write_random_png(dir + "/odd.png", 41, 20, 3, 1);
  DataConfig cfg;
  PairedDataset odd(find_pairs(cfg, dir), cfg, true);
  std::string m = error_of([&] { odd.get(0, 0); });
  EXPECT_CONTAINS(m, dir + "/odd.png");
  EXPECT_CONTAINS(m, "41");
  const std::string dir2 = scratch_dir("ds_small");
  write_random_png(dir2 + "/small.png", 64, 20, 3, 1);
  cfg.preprocess = "crop";
  cfg.crop_size = 24;
  PairedDataset small(find_pairs(cfg, dir2), cfg, true);
  m = error_of([&] { small.get(0, 0); });
  EXPECT_CONTAINS(m, "small.png");
  EXPECT_CONTAINS(m, "32x20");
  EXPECT_CONTAINS(m, "--crop_size 24");
}

TEST(PairedDataset, FoldersModeLoadsBothFilesAndChecksSizes) {
  const std::string dir = scratch_dir("ds_folders");
  fs::create_directories(dir + "/A");
  fs::create_directories(dir + "/B");
  write_random_png(dir + "/A/1.png", 16, 16, 1, 1);
  write_random_png(dir + "/B/1.png", 16, 16, 3, 2);
  write_random_png(dir + "/A/2.png", 16, 16, 1, 1);
  write_random_png(dir + "/B/2.png", 16, 12, 3, 2);
  DataConfig cfg;
  cfg.input_nc = 1;
  cfg.preprocess = "none";
  cfg.no_flip = true;
  PairedDataset ds(find_pairs(cfg, dir), cfg, true);
  Sample s = ds.get(0, 0);
  EXPECT_TRUE(at::allclose(to_unit_range(s.A), load_image(dir + "/A/1.png", 1), 0, 1e-6));
  EXPECT_TRUE(at::allclose(to_unit_range(s.B), load_image(dir + "/B/1.png", 3), 0, 1e-6));
  std::string m = error_of([&] { ds.get(1, 0); });
  EXPECT_CONTAINS(m, dir + "/A/2.png");
  EXPECT_CONTAINS(m, dir + "/B/2.png");
}

TEST(PairedDataset, RealFacadesDefaults) {
  const std::string facades = shared_dataset("facades");
  if (facades.empty()) GTEST_SKIP() << "facades dataset not present";
  DataConfig cfg;
  cfg.max_dataset_size = 2;
  std::vector<PairRecord> pairs = find_pairs(cfg, facades + "/test");
  ASSERT_EQ(pairs.size(), 2u);
  PairedDataset ds(pairs, cfg, true);
  for (size_t i = 0; i < 2; ++i) {
    Sample s = ds.get(i, 42);
    EXPECT_EQ(s.A.sizes(), (at::IntArrayRef{3, 256, 256}));
    EXPECT_EQ(s.B.sizes(), (at::IntArrayRef{3, 256, 256}));
    EXPECT_GE(s.A.min().item<float>(), -1.0f);
    EXPECT_LE(s.B.max().item<float>(), 1.0f);
    EXPECT_FALSE(at::allclose(s.A, s.B));  // photo and label map differ
  }
}
