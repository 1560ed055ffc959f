// Tests for pair preprocessing: the bicubic resampler equals PIL's byte for byte, resize sizes per
// --preprocess mode, and crop/flip parameter drawing.
#include "p2p/core/error.h"
#include "p2p/data/transforms.h"
#include "p2p/io/image.h"
#include "testutil/testutil.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

using namespace p2p;
using namespace p2p::test;

namespace {

DataConfig config(const std::string& preprocess, int load, int crop) {
  DataConfig cfg;
  cfg.preprocess = preprocess;
  cfg.load_size = load;
  cfg.crop_size = crop;
  return cfg;
}

}  // namespace

TEST(Transforms, BicubicEqualsPilExactly) {
  ASSERT_TRUE(python_can_import("PIL", "python3-pil"));
  const std::string dir = scratch_dir("resize_pil");
  write_random_png(dir + "/rgb.png", 37, 29, 3, 5);
  write_random_png(dir + "/gray.png", 37, 29, 1, 6);
  // Upscale, downscale (antialiased), mixed, one axis only.
  const int sizes[][2] = {{50, 41}, {16, 12}, {50, 12}, {37, 60}, {9, 29}};
  std::string script = "from PIL import Image\nfor name in ['rgb', 'gray']:\n  im = Image.open('" + dir + "/' + name + '.png')\n";
  for (auto& s : sizes) {
    const std::string tag = std::to_string(s[0]) + "x" + std::to_string(s[1]);
    script += "  im.resize((" + std::to_string(s[0]) + ", " + std::to_string(s[1]) + "), Image.BICUBIC).save('" + dir +
              "/' + name + '_" + tag + ".png')\n";
  }
  auto r = run_command(std::string(P2P_TEST_PYTHON) + " -c \"" + script + "\"");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* name : {"rgb", "gray"}) {
    const int nc = std::string(name) == "rgb" ? 3 : 1;
    at::Tensor src = load_image(dir + "/" + name + ".png", nc);
    for (auto& s : sizes) {
      const std::string tag = std::to_string(s[0]) + "x" + std::to_string(s[1]);
      at::Tensor ours = resize_bicubic(src, s[0], s[1], 8);
      at::Tensor pil = load_image(dir + "/" + name + "_" + tag + ".png", nc);
      ASSERT_EQ(ours.sizes(), pil.sizes()) << name << " " << tag;
      EXPECT_TRUE(at::equal(ours, pil)) << name << " " << tag << " max diff "
                                         << (ours - pil).abs().max().item<float>() * 255;
    }
  }
}

TEST(Transforms, BicubicKeepsConstantsAndSixteenBitPrecision) {
  at::Tensor c = at::full({1, 10, 14}, 12345.0 / 65535.0);
  at::Tensor r = resize_bicubic(c, 31, 7, 16);
  ASSERT_EQ(r.sizes(), (at::IntArrayRef{1, 7, 31}));
  EXPECT_NEAR(r.min().item<double>(), 12345.0 / 65535.0, 1e-6);
  EXPECT_NEAR(r.max().item<double>(), 12345.0 / 65535.0, 1e-6);
  // 16-bit data is not snapped to 8-bit levels.
  const double v = r[0][3][5].item<double>() * 255.0;
  EXPECT_GT(std::abs(v - std::round(v)), 1e-3);
  at::Tensor same = at::rand({3, 5, 6});
  EXPECT_TRUE(at::equal(resize_bicubic(same, 6, 5, 8), same));
}

TEST(Transforms, ResizeSizePerMode) {
  int w = 0, h = 0;
  preprocess_size(config("resize_and_crop", 286, 256), 256, 256, w, h);
  EXPECT_EQ(w, 286);
  EXPECT_EQ(h, 286);
  preprocess_size(config("crop", 286, 256), 300, 260, w, h);
  EXPECT_EQ(w, 300);
  EXPECT_EQ(h, 260);
  // Width to load_size keeping the aspect ratio ...
  preprocess_size(config("scale_width", 286, 256), 400, 600, w, h);
  EXPECT_EQ(w, 286);
  EXPECT_EQ(h, 429);
  // ... but never shorter than crop_size.
  preprocess_size(config("scale_width_and_crop", 286, 256), 512, 256, w, h);
  EXPECT_EQ(w, 286);
  EXPECT_EQ(h, 256);
  DataConfig none = config("none", 286, 256);
  none.size_multiple = 256;
  preprocess_size(none, 700, 100, w, h);
  EXPECT_EQ(w, 768);  // 700/256 = 2.73 -> 3 multiples
  EXPECT_EQ(h, 256);  // at least one multiple
  none.size_multiple = 4;
  preprocess_size(none, 255, 130, w, h);
  EXPECT_EQ(w, 256);
  EXPECT_EQ(h, 128);  // 32.5 -> 32: ties go to even, as Python's round
  EXPECT_THROW(preprocess_size(config("zoom", 1, 1), 4, 4, w, h), Error);
}

TEST(Transforms, DrawAugmentRangesFlipsAndCentre) {
  DataConfig cfg = config("resize_and_crop", 40, 32);
  int flips = 0;
  std::set<int> xs;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    AugmentParams p = draw_augment(cfg, 20, 20, seed, true, "f.png");
    EXPECT_EQ(p.resize_w, 40);
    EXPECT_TRUE(p.crop);
    EXPECT_GE(p.crop_x, 0);
    EXPECT_LE(p.crop_x, 8);
    EXPECT_GE(p.crop_y, 0);
    EXPECT_LE(p.crop_y, 8);
    xs.insert(p.crop_x);
    flips += p.flip;
    // Same seed, same parameters.
    AugmentParams q = draw_augment(cfg, 20, 20, seed, true, "f.png");
    EXPECT_EQ(p.crop_x, q.crop_x);
    EXPECT_EQ(p.crop_y, q.crop_y);
    EXPECT_EQ(p.flip, q.flip);
  }
  EXPECT_EQ(xs.size(), 9u);  // every position 0..8 occurs
  EXPECT_GT(flips, 70);
  EXPECT_LT(flips, 130);
  AugmentParams centre = draw_augment(cfg, 20, 20, 3, false, "f.png");
  EXPECT_EQ(centre.crop_x, 4);
  EXPECT_EQ(centre.crop_y, 4);
  EXPECT_FALSE(centre.flip);
  cfg.no_flip = true;
  for (uint64_t seed = 0; seed < 50; ++seed) EXPECT_FALSE(draw_augment(cfg, 20, 20, seed, true, "f.png").flip);
}

TEST(Transforms, TooSmallForCropNamesFileAndSizes) {
  DataConfig cfg = config("crop", 286, 256);
  try {
    draw_augment(cfg, 200, 300, 0, true, "data/7.png");
    FAIL() << "expected p2p::Error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("data/7.png"), std::string::npos) << m;
    EXPECT_NE(m.find("200x300"), std::string::npos) << m;
    EXPECT_NE(m.find("256"), std::string::npos) << m;
  }
  EXPECT_THROW(draw_augment(config("resize_and_crop", 200, 256), 512, 512, 0, true, "x.png"), Error);
}

TEST(Transforms, ApplyCropsThenFlips) {
  at::Tensor img = at::arange(24, at::kFloat).reshape({1, 4, 6}) / 255.0;
  AugmentParams p;
  p.resize_w = 6;
  p.resize_h = 4;
  p.crop = true;
  p.crop_x = 1;
  p.crop_y = 2;
  p.flip = true;
  at::Tensor out = apply_augment(img, p, 2, 8);
  // Rows 2..3, columns 1..2, mirrored: [[14,13],[20,19]].
  at::Tensor expect = at::tensor({14.f, 13.f, 20.f, 19.f}).reshape({1, 2, 2}) / 255.0;
  EXPECT_TRUE(at::equal(out, expect));
}
