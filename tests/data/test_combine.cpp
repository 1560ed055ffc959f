// Tests for `p2p data` helpers: combine_ab writes [A | B] PNGs named by stem; split_train_val holds out
// the same files train_val_split would.
#include "p2p/core/error.h"
#include "p2p/data/combine.h"
#include "p2p/data/dataset.h"
#include "p2p/io/fs.h"
#include "p2p/io/image.h"
#include "testutil/testutil.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>

namespace fs = std::filesystem;
using namespace p2p;
using namespace p2p::test;

TEST(Combine, WritesSideBySidePngs) {
  const std::string dir = scratch_dir("combine");
  fs::create_directories(dir + "/A");
  fs::create_directories(dir + "/B");
  write_random_png(dir + "/A/x_s1_1.png", 10, 6, 1, 1);
  write_random_png(dir + "/B/x_s2_1.png", 10, 6, 3, 2);
  write_random_png(dir + "/A/x_s1_2.jpg", 4, 4, 3, 3);  // PNG bytes under a .jpg name
  write_random_png(dir + "/B/x_s2_2.png", 4, 4, 3, 4);
  EXPECT_EQ(combine_ab(dir + "/A", dir + "/B", dir + "/AB", "_s1_:_s2_"), 2);
  at::Tensor ab = load_image(dir + "/AB/x_s1_1.png", 3);
  ASSERT_EQ(ab.sizes(), (at::IntArrayRef{3, 6, 20}));
  EXPECT_TRUE(at::equal(ab.narrow(2, 0, 10), load_image(dir + "/A/x_s1_1.png", 3)));
  EXPECT_TRUE(at::equal(ab.narrow(2, 10, 10), load_image(dir + "/B/x_s2_1.png", 3)));
  EXPECT_TRUE(file_exists(dir + "/AB/x_s1_2.png"));
  // The combined folder is a valid aligned dataset.
  EXPECT_EQ(find_pairs(DataConfig{}, dir + "/AB").size(), 2u);
}

TEST(Combine, SizeMismatchAndUnmatchedNamesAreErrors) {
  const std::string dir = scratch_dir("combine_bad");
  fs::create_directories(dir + "/A");
  fs::create_directories(dir + "/B");
  write_random_png(dir + "/A/1.png", 10, 6, 3, 1);
  write_random_png(dir + "/B/1.png", 10, 8, 3, 2);
  try {
    combine_ab(dir + "/A", dir + "/B", dir + "/AB", "");
    FAIL() << "expected p2p::Error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find(dir + "/A/1.png"), std::string::npos) << m;
    EXPECT_NE(m.find(dir + "/B/1.png"), std::string::npos) << m;
  }
  write_random_png(dir + "/B/1.png", 10, 6, 3, 2);
  write_random_png(dir + "/A/2.png", 10, 6, 3, 1);
  try {
    combine_ab(dir + "/A", dir + "/B", dir + "/AB", "");
    FAIL() << "expected p2p::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("2.png"), std::string::npos) << e.what();
  }
}

TEST(Combine, SplitTrainValMatchesTrainValSplit) {
  const std::string dir = scratch_dir("split_files");
  fs::create_directories(dir + "/all");
  for (int i = 1; i <= 12; ++i) write_random_png(dir + "/all/" + std::to_string(i) + ".png", 8, 4, 3, i);
  split_train_val(dir + "/all", dir + "/out", 0.25);
  std::vector<std::string> val = list_images(dir + "/out/val");
  EXPECT_EQ(list_images(dir + "/out/train").size(), 9u);
  ASSERT_EQ(val.size(), 3u);
  // Stem order 1, 10, 11, 12, 2, 3, 4, 5, 6, 7, 8, 9: every 4th is 12, 5, 9.
  EXPECT_EQ(file_stem(val[0]), "12");
  EXPECT_EQ(file_stem(val[1]), "5");
  EXPECT_EQ(file_stem(val[2]), "9");
  DataConfig cfg;
  cfg.dataroot = dir;
  cfg.phase = "all";
  cfg.val_fraction = 0.25;
  Splits s = train_val_split(cfg);
  ASSERT_EQ(s.val.size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(s.val[i].stem, file_stem(val[i]));
  EXPECT_THROW(split_train_val(dir + "/nothing", dir + "/o2", 0.1), Error);
}
