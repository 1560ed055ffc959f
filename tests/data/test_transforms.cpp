// Tests for pair preprocessing: the bicubic resampler equals PIL's byte for byte, resize sizes per
// --preprocess mode, crop/flip parameter drawing, and --augment strong (warp and colour jitter, known
// answers and torchvision references; basic stays bit for bit what it was).
#include "p2p/core/error.h"
#include "p2p/data/dataset.h"
#include "p2p/data/sampling.h"
#include "p2p/data/transforms.h"
#include "p2p/io/image.h"
#include "testutil/testutil.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <vector>

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

TEST(Transforms, BicubicKeepsFloatBandRangeButClampsIntegerDepths) {
  // A step from 0 to 40 (e.g. linear backscatter): upsampling a step with a = -0.5 overshoots on both
  // sides, which float data keeps (PIL mode 'F'); 16-bit data is clipped to [0,1] like PIL's I;16.
  at::Tensor step = at::zeros({1, 4, 8});
  step.narrow(2, 4, 4).fill_(40.0);
  at::Tensor f = resize_bicubic(step, 16, 8, 32);
  EXPECT_GT(f.max().item<double>(), 40.0);
  EXPECT_LT(f.min().item<double>(), 0.0);
  at::Tensor i16 = resize_bicubic(step / 40.0, 16, 8, 16);
  EXPECT_LE(i16.max().item<double>(), 1.0);
  EXPECT_GE(i16.min().item<double>(), 0.0);
  // Away from the overshoot the float result is the 16-bit one scaled back.
  EXPECT_NEAR(f[0][2][0].item<double>(), 40.0 * i16[0][2][0].item<double>(), 1e-4);
  EXPECT_NEAR(f[0][2][15].item<double>(), 40.0 * i16[0][2][15].item<double>(), 1e-4);
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

// ---- --augment basic is unchanged ----

namespace {

// FNV-1a over the 8-bit levels of a [-1,1] tensor (8-bit sources give exact levels on the basic path).
uint64_t fnv_levels(uint64_t h, const at::Tensor& net) {
  at::Tensor q = ((net.to(at::kDouble) + 1.0) * 127.5).round().to(at::kByte).contiguous();
  const uint8_t* d = q.data_ptr<uint8_t>();
  for (int64_t i = 0; i < q.numel(); ++i) h = (h ^ d[i]) * 1099511628211ull;
  return h;
}

std::vector<PairRecord> tiny_pairs(const std::string& tag, DataConfig& cfg) {
  const std::string root = write_ab_dataset(scratch_dir(tag), 3, 0);
  cfg.dataroot = root;
  cfg.load_size = 40;
  cfg.crop_size = 32;
  cfg.val_fraction = 0.0;
  return find_pairs(cfg, root + "/train");
}

}  // namespace

TEST(BasicAugment, SamplesEqualThoseBeforeStrongExisted) {
  // Checksum of 24 samples (two configurations, RGB and gray/BtoA/scale_width_and_crop) taken with the
  // code as it was before --augment strong was added: the basic path's draws and pixels are unchanged.
  DataConfig cfg;
  const std::vector<PairRecord> recs = tiny_pairs("basic_capture", cfg);
  uint64_t h = 1469598103934665603ull;
  for (int variant = 0; variant < 2; ++variant) {
    DataConfig c = cfg;
    if (variant == 1) {
      c.input_nc = 1;
      c.direction = "BtoA";
      c.preprocess = "scale_width_and_crop";
      c.load_size = 36;
    }
    PairedDataset ds(recs, c, true);
    for (int k = 0; k < 6; ++k) {
      Sample s = ds.get(static_cast<size_t>(k % 3), sample_seed(11, 1, k));
      h = fnv_levels(h, s.A);
      h = fnv_levels(h, s.B);
    }
  }
  EXPECT_EQ(h, 15291449723667335310ull);
}

// ---- --augment strong ----

namespace {

// Writes [C,H,W] (float) to a raw little-endian file a Python script can np.fromfile.
void write_raw(const std::string& path, const at::Tensor& t) {
  at::Tensor c = t.to(at::kFloat).contiguous();
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(c.data_ptr<float>()), static_cast<std::streamsize>(c.numel() * sizeof(float)));
}

at::Tensor read_raw(const std::string& path, at::IntArrayRef sizes) {
  std::ifstream f(path, std::ios::binary);
  at::Tensor t = at::empty(sizes, at::kFloat);
  f.read(reinterpret_cast<char*>(t.data_ptr<float>()), static_cast<std::streamsize>(t.numel() * sizeof(float)));
  EXPECT_TRUE(f.good()) << "short read of " << path;
  return t;
}

}  // namespace

TEST(Strong, OptionValidationNamesTheFlag) {
  DataConfig cfg;
  EXPECT_EQ(error_of([&] { check_augment_config(cfg); }), "");
  cfg.jitter_side = "none";
  EXPECT_EQ(error_of([&] { check_augment_config(cfg); }), "");
  auto expect_flag = [](DataConfig c, const std::string& flag) {
    const std::string m = error_of([&] { draw_augment(c, 40, 40, 0, true, "x.png"); });
    EXPECT_NE(m.find(flag), std::string::npos) << "'" << m << "' should name " << flag;
  };
  DataConfig bad;
  bad.augment = "heavy";
  expect_flag(bad, "--augment");
  bad = DataConfig();
  bad.jitter_side = "left";
  expect_flag(bad, "--jitter_side");
  bad = DataConfig();
  bad.jitter = -0.1;
  expect_flag(bad, "--jitter");
  bad = DataConfig();
  bad.rotate = 181;
  expect_flag(bad, "--rotate");
  bad.rotate = -1;
  expect_flag(bad, "--rotate");
  bad = DataConfig();
  bad.scale_jitter = 1.0;
  expect_flag(bad, "--scale_jitter");
  bad.scale_jitter = -0.01;
  expect_flag(bad, "--scale_jitter");
}

TEST(Strong, DrawsKeepBasicCropAndFlipAndStayInRange) {
  DataConfig basic = config("resize_and_crop", 40, 32);
  DataConfig strong = basic;
  strong.augment = "strong";
  strong.jitter = 0.4;
  strong.rotate = 30;
  strong.scale_jitter = 0.2;
  // By default no side gets colour jitter: the usual input is a label map, whose colours are its classes.
  for (uint64_t seed = 0; seed < 20; ++seed) {
    const AugmentParams d = draw_augment(strong, 20, 20, seed, true, "f.png");
    EXPECT_TRUE(d.warp);
    EXPECT_FALSE(d.color_A || d.color_B) << "seed " << seed;
  }
  strong.jitter_side = "input";
  std::set<std::vector<int>> orders;
  double min_angle = 1e9, max_angle = -1e9, min_hue = 1, max_hue = -1;
  for (uint64_t seed = 0; seed < 300; ++seed) {
    const AugmentParams b = draw_augment(basic, 20, 20, seed, true, "f.png");
    const AugmentParams s = draw_augment(strong, 20, 20, seed, true, "f.png");
    EXPECT_EQ(b.crop_x, s.crop_x);
    EXPECT_EQ(b.crop_y, s.crop_y);
    EXPECT_EQ(b.flip, s.flip);
    EXPECT_FALSE(b.warp || b.color_A || b.color_B);
    EXPECT_TRUE(s.warp);
    EXPECT_TRUE(s.color_A);  // jitter_side input
    EXPECT_FALSE(s.color_B);
    EXPECT_GE(s.angle, -30.0);
    EXPECT_LE(s.angle, 30.0);
    EXPECT_GE(s.scale, 0.8);
    EXPECT_LE(s.scale, 1.2);
    for (double f : {s.color.brightness, s.color.contrast, s.color.saturation}) {
      EXPECT_GE(f, 0.6);
      EXPECT_LE(f, 1.4);
    }
    EXPECT_GE(s.color.hue, -0.2);
    EXPECT_LE(s.color.hue, 0.2);
    min_angle = std::min(min_angle, s.angle);
    max_angle = std::max(max_angle, s.angle);
    min_hue = std::min(min_hue, s.color.hue);
    max_hue = std::max(max_hue, s.color.hue);
    orders.insert(std::vector<int>(s.color.order, s.color.order + 4));
  }
  EXPECT_LT(min_angle, -25.0);
  EXPECT_GT(max_angle, 25.0);
  EXPECT_LT(min_hue, -0.15);
  EXPECT_GT(max_hue, 0.15);
  EXPECT_EQ(orders.size(), 24u);  // every order of the four steps occurs
  // jitter_side picks the side; none = geometry only. Large jitter clamps the factor range at 0.
  strong.jitter_side = "both";
  AugmentParams s = draw_augment(strong, 20, 20, 1, true, "f.png");
  EXPECT_TRUE(s.color_A && s.color_B);
  strong.jitter_side = "target";
  s = draw_augment(strong, 20, 20, 1, true, "f.png");
  EXPECT_TRUE(!s.color_A && s.color_B);
  strong.jitter_side = "none";
  s = draw_augment(strong, 20, 20, 1, true, "f.png");
  EXPECT_TRUE(!s.color_A && !s.color_B && s.warp);
  strong.jitter = 3.0;
  for (uint64_t seed = 0; seed < 50; ++seed) {
    s = draw_augment(strong, 20, 20, seed, true, "f.png");
    EXPECT_GE(s.color.brightness, 0.0);
    EXPECT_LE(std::abs(s.color.hue), 0.5);
  }
  // Validation and test sets (augment = false) never get strong parameters, nor does --augment none.
  strong.jitter_side = "both";
  s = draw_augment(strong, 20, 20, 1, false, "f.png");
  EXPECT_FALSE(s.warp || s.color_A || s.color_B || s.flip);
  EXPECT_EQ(s.crop_x, 4);
}

TEST(Strong, AugmentNoneIsCentreCropWithoutFlip) {
  DataConfig cfg = config("resize_and_crop", 40, 32);
  cfg.augment = "none";
  for (uint64_t seed = 0; seed < 40; ++seed) {
    const AugmentParams p = draw_augment(cfg, 20, 20, seed, true, "f.png");
    EXPECT_EQ(p.crop_x, 4);
    EXPECT_EQ(p.crop_y, 4);
    EXPECT_FALSE(p.flip || p.warp || p.color_A || p.color_B);
  }
}

TEST(Strong, RotationMovesAPixelWhereTheFormulaSays) {
  // 32x32 window centred on (15.5, 15.5). A bright pixel at (x 18, y 15), offset (2.5, -0.5) from the
  // centre, rotated 90 degrees counter-clockwise on screen lands at offset (-0.5, -2.5): (x 15, y 13).
  at::Tensor img = at::zeros({1, 32, 32});
  img[0][15][18] = 1.0;
  at::Tensor out = warp_affine(img, 15.5, 15.5, 32, 32, 90.0, 1.0);
  EXPECT_NEAR(out[0][13][15].item<double>(), 1.0, 1e-9);
  EXPECT_NEAR(out.sum().item<double>(), 1.0, 1e-9);
  // 180 degrees: offset (-2.5, 0.5) -> (x 13, y 16); -90: offset (0.5, 2.5) -> (x 16, y 18).
  out = warp_affine(img, 15.5, 15.5, 32, 32, 180.0, 1.0);
  EXPECT_NEAR(out[0][16][13].item<double>(), 1.0, 1e-9);
  out = warp_affine(img, 15.5, 15.5, 32, 32, -90.0, 1.0);
  EXPECT_NEAR(out[0][18][16].item<double>(), 1.0, 1e-9);
  // Scale 2 about the centre halves the source offsets: output (16, 16), offset (0.5, 0.5), samples the
  // source at (15.75, 15.75), where a lone bright pixel at (16, 16) has bilinear weight 0.75 * 0.75;
  // output (17, 17) samples (16.25, 16.25), the same weight.
  img = at::zeros({1, 32, 32});
  img[0][16][16] = 1.0;
  out = warp_affine(img, 15.5, 15.5, 32, 32, 0.0, 2.0);
  const double v = out[0][16][16].item<double>();
  EXPECT_NEAR(v, 0.5625, 1e-9);
  EXPECT_NEAR(out[0][17][17].item<double>(), v, 1e-9);
  EXPECT_NEAR(out[0][16][17].item<double>(), v, 1e-9);
  EXPECT_NEAR(out[0][17][16].item<double>(), v, 1e-9);
  // A window off-centre: identity warp is exactly the crop.
  at::Tensor r = at::rand({3, 20, 24});
  EXPECT_TRUE(at::equal(warp_affine(r, 5 + 4.5, 3 + 4.5, 10, 10, 0.0, 1.0), r.narrow(1, 3, 10).narrow(2, 5, 10)));
}

TEST(Strong, BordersMirrorWithTheEdgePixelRepeated) {
  // An 8-wide window centred on column 1.5 of a 4-wide image samples source columns -2..5, which
  // mirror (edge pixel repeated) to 1 0 0 1 2 3 3 2.
  at::Tensor img = at::tensor({10.f, 20.f, 30.f, 40.f}).reshape({1, 1, 4}).expand({1, 2, 4}).contiguous() / 100.0;
  at::Tensor out = warp_affine(img, 1.5, 0.5, 8, 2, 0.0, 1.0);
  at::Tensor expect = at::tensor({20.f, 10.f, 10.f, 20.f, 30.f, 40.f, 40.f, 30.f}) / 100.0;
  EXPECT_TRUE(at::allclose(out[0][0], expect, 0, 1e-6)) << out[0][0];
  EXPECT_TRUE(at::allclose(out[0][1], expect, 0, 1e-6));
}

TEST(Strong, ColourJitterKnownAnswers) {
  ColorJitterParams c;
  // Brightness multiplies (then clamps).
  c.brightness = 1.5;
  at::Tensor flat = at::full({3, 4, 4}, 0.4f);
  EXPECT_TRUE(at::allclose(color_jitter(flat, c), at::full({3, 4, 4}, 0.6f), 0, 1e-6));
  EXPECT_TRUE(at::allclose(color_jitter(at::full({1, 4, 4}, 0.8f), c), at::ones({1, 4, 4}), 0, 0));
  // Contrast blends with the mean luma, whose weights sum to 0.9999 (torchvision's): a constant RGB
  // image 0.4 becomes 0.3 * 0.4 + 0.7 * 0.39996; a constant gray image stays as it is.
  c = ColorJitterParams();
  c.contrast = 0.3;
  EXPECT_TRUE(at::allclose(color_jitter(flat, c), at::full({3, 4, 4}, 0.3f * 0.4f + 0.7f * 0.39996f), 0, 1e-6));
  EXPECT_TRUE(at::allclose(color_jitter(at::full({1, 4, 4}, 0.4f), c), at::full({1, 4, 4}, 0.4f), 0, 1e-6));
  c.contrast = 0.0;
  at::Tensor ramp = at::arange(16, at::kFloat).reshape({1, 4, 4}) / 15.0;
  EXPECT_TRUE(at::allclose(color_jitter(ramp, c), at::full({1, 4, 4}, 0.5f), 0, 1e-6));
  // Saturation 0 gives gray: every channel equals 0.2989 R + 0.587 G + 0.114 B.
  c = ColorJitterParams();
  c.saturation = 0.0;
  at::Tensor rgb = at::rand({3, 5, 6});
  at::Tensor gray = rgb[0] * 0.2989 + rgb[1] * 0.587 + rgb[2] * 0.114;
  at::Tensor out = color_jitter(rgb, c);
  for (int ch = 0; ch < 3; ++ch) EXPECT_TRUE(at::allclose(out[ch], gray, 0, 1e-6)) << ch;
  // A third of a turn of hue: red -> green -> blue -> red; gray stays gray.
  c = ColorJitterParams();
  c.hue = 1.0 / 3.0;
  at::Tensor prim = at::tensor({1.f, 0.f, 0.f, 0.5f, 0.f, 1.f, 0.f, 0.5f, 0.f, 0.f, 1.f, 0.5f}).reshape({3, 1, 4});
  at::Tensor expect = at::tensor({0.f, 0.f, 1.f, 0.5f, 1.f, 0.f, 0.f, 0.5f, 0.f, 1.f, 0.f, 0.5f}).reshape({3, 1, 4});
  EXPECT_TRUE(at::allclose(color_jitter(prim, c), expect, 0, 1e-6)) << color_jitter(prim, c);
  // 1 channel: saturation and hue do nothing. 4 channels: contrast against each channel's own mean.
  c.saturation = 0.0;
  EXPECT_TRUE(at::equal(color_jitter(ramp, c), ramp));
  c = ColorJitterParams();
  c.contrast = 0.0;
  at::Tensor four = at::stack({ramp[0], ramp[0] * 0.5, 1.0 - ramp[0], at::full({4, 4}, 0.2f)});
  at::Tensor means = at::tensor({0.5f, 0.25f, 0.5f, 0.2f}).reshape({4, 1, 1}).expand({4, 4, 4});
  EXPECT_TRUE(at::allclose(color_jitter(four, c), means, 0, 1e-6));
  // All factors 1 and no hue shift: the image bit for bit.
  EXPECT_TRUE(at::equal(color_jitter(rgb, ColorJitterParams()), rgb));
}

TEST(Strong, MatchesTorchvisionAffineAndColourJitter) {
  ASSERT_TRUE(python_can_import("torch, torchvision, numpy", "python3-torch python3-torchvision python3-numpy"));
  const std::string dir = scratch_dir("strong_torchvision");
  auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
  at::Tensor img = at::rand({3, 32, 32}, gen, at::kFloat);
  at::Tensor gray = at::rand({1, 32, 32}, gen, at::kFloat);
  write_raw(dir + "/rgb.raw", img);
  write_raw(dir + "/gray.raw", gray);
  // Two jitter orders for the colour reference.
  ColorJitterParams c1;
  c1.brightness = 1.15;
  c1.contrast = 0.7;
  c1.saturation = 1.3;
  c1.hue = -0.12;
  ColorJitterParams c2 = c1;
  const int order2[4] = {3, 2, 0, 1};
  std::copy(order2, order2 + 4, c2.order);
  c2.hue = 0.31;
  const std::string script =
      "import numpy as np, torch\n"
      "import torchvision.transforms.functional as F\n"
      "from torchvision.transforms import InterpolationMode\n"
      "d = '" + dir + "'\n"
      "x = torch.from_numpy(np.fromfile(d + '/rgb.raw', dtype=np.float32).reshape(3, 32, 32))\n"
      "g = torch.from_numpy(np.fromfile(d + '/gray.raw', dtype=np.float32).reshape(1, 32, 32))\n"
      // F.affine's angle is clockwise; ours (like F.rotate) counter-clockwise.
      "w = F.affine(x, angle=-25.0, translate=[0, 0], scale=1.3, shear=[0.0, 0.0], interpolation=InterpolationMode.BILINEAR)\n"
      "w.numpy().astype(np.float32).tofile(d + '/warp.raw')\n"
      "def jitter(img, order, b, c, s, h):\n"
      "    for step in order:\n"
      "        if step == 0: img = F.adjust_brightness(img, b)\n"
      "        if step == 1: img = F.adjust_contrast(img, c)\n"
      "        if step == 2 and img.shape[0] == 3: img = F.adjust_saturation(img, s)\n"
      "        if step == 3 and img.shape[0] == 3: img = F.adjust_hue(img, h)\n"
      "    return img\n"
      "jitter(x, [0, 1, 2, 3], 1.15, 0.7, 1.3, -0.12).numpy().tofile(d + '/c1.raw')\n"
      "jitter(x, [3, 2, 0, 1], 1.15, 0.7, 1.3, 0.31).numpy().tofile(d + '/c2.raw')\n"
      "jitter(g, [3, 2, 0, 1], 1.15, 0.7, 1.3, 0.31).numpy().tofile(d + '/g2.raw')\n";
  std::ofstream(dir + "/ref.py") << script;
  auto r = run_command(std::string(P2P_TEST_PYTHON) + " " + dir + "/ref.py");
  ASSERT_EQ(r.exit_code, 0) << r.output;

  // Warp: compare where torchvision samples inside the image (it fills outside with 0, we mirror):
  // within radius 12 of the centre the source lies within 12 / 1.3 < 14.5 pixels of it.
  at::Tensor ours = warp_affine(img, 15.5, 15.5, 32, 32, 25.0, 1.3);
  at::Tensor ref = read_raw(dir + "/warp.raw", {3, 32, 32});
  at::Tensor yy = at::arange(32, at::kFloat).view({32, 1}) - 15.5, xx = at::arange(32, at::kFloat).view({1, 32}) - 15.5;
  at::Tensor inner = (xx * xx + yy * yy) < 144.0;
  const double warp_err = ((ours - ref).abs() * inner).max().item<double>();
  EXPECT_LT(warp_err, 1e-4) << "max |ours - torchvision affine| inside radius 12";
  EXPECT_GT(inner.sum().item<int64_t>(), 400);

  // Colour jitter: every pixel, float32 tolerance (torchvision's HSV round trip is in float32).
  EXPECT_LT((color_jitter(img, c1) - read_raw(dir + "/c1.raw", {3, 32, 32})).abs().max().item<double>(), 2e-5);
  EXPECT_LT((color_jitter(img, c2) - read_raw(dir + "/c2.raw", {3, 32, 32})).abs().max().item<double>(), 2e-5);
  EXPECT_LT((color_jitter(gray, c2) - read_raw(dir + "/g2.raw", {1, 32, 32})).abs().max().item<double>(), 2e-6);
}

// ---- --augment strong through PairedDataset ----

TEST(StrongDataset, ColourJitterTouchesOnlyTheChosenSide) {
  DataConfig cfg;
  const std::vector<PairRecord> recs = tiny_pairs("strong_side", cfg);
  DataConfig strong = cfg;
  strong.augment = "strong";
  strong.rotate = 0.0;  // identity warp: the geometry is exactly basic's
  strong.scale_jitter = 0.0;
  strong.jitter = 0.4;
  const PairedDataset basic_ds(recs, cfg, true);
  for (const char* side : {"input", "target"}) {
    strong.jitter_side = side;
    const PairedDataset ds(recs, strong, true);
    for (uint64_t seed = 0; seed < 4; ++seed) {
      const Sample b = basic_ds.get(seed % 3, seed);
      const Sample s = ds.get(seed % 3, seed);
      const bool input = std::string(side) == "input";
      EXPECT_TRUE(at::equal(input ? s.B : s.A, input ? b.B : b.A)) << side << " seed " << seed;
      EXPECT_GT((input ? s.A - b.A : s.B - b.B).abs().max().item<double>(), 1e-3) << side << " seed " << seed;
    }
  }
  // With a real warp, the untouched side equals that of --jitter_side none bit for bit.
  strong.rotate = 20.0;
  strong.scale_jitter = 0.2;
  strong.jitter_side = "none";
  const PairedDataset plain(recs, strong, true);
  strong.jitter_side = "input";
  const PairedDataset jittered(recs, strong, true);
  for (uint64_t seed = 0; seed < 3; ++seed) {
    EXPECT_TRUE(at::equal(plain.get(1, seed).B, jittered.get(1, seed).B));
    EXPECT_FALSE(at::equal(plain.get(1, seed).A, jittered.get(1, seed).A));
  }
}

TEST(StrongDataset, GeometryKeepsAAndBAligned) {
  // An AB file holding the same image twice: after the strong warp (and flip) A must still equal B.
  const std::string root = scratch_dir("strong_aligned");
  std::filesystem::create_directories(root + "/train");
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  at::Tensor half = at::rand({3, 40, 40}, gen, at::kFloat);
  save_png(root + "/train/0.png", at::cat({half, half}, 2));
  DataConfig cfg;
  cfg.dataroot = root;
  cfg.load_size = 48;
  cfg.crop_size = 32;
  cfg.val_fraction = 0.0;
  cfg.augment = "strong";
  cfg.rotate = 45.0;
  cfg.scale_jitter = 0.3;
  cfg.jitter_side = "none";
  const PairedDataset ds(find_pairs(cfg, root + "/train"), cfg, true);
  const PairedDataset basic(find_pairs(cfg, root + "/train"), [&] { DataConfig b = cfg; b.augment = "basic"; return b; }(), true);
  for (uint64_t seed = 0; seed < 6; ++seed) {
    const Sample s = ds.get(0, seed);
    ASSERT_EQ(s.A.sizes(), (at::IntArrayRef{3, 32, 32}));
    EXPECT_TRUE(at::equal(s.A, s.B)) << "seed " << seed;
    // And the warp really moved pixels.
    EXPECT_GT((s.A - basic.get(0, seed).A).abs().max().item<double>(), 0.1) << "seed " << seed;
  }
}

TEST(StrongDataset, ZeroStrengthReproducesBasic) {
  DataConfig cfg;
  const std::vector<PairRecord> recs = tiny_pairs("strong_zero", cfg);
  DataConfig strong = cfg;
  strong.augment = "strong";
  strong.rotate = 0.0;
  strong.scale_jitter = 0.0;
  strong.jitter = 0.0;
  strong.jitter_side = "both";
  for (const char* mode : {"resize_and_crop", "scale_width"}) {
    DataConfig b = cfg, s = strong;
    b.preprocess = s.preprocess = mode;
    const PairedDataset basic_ds(recs, b, true), strong_ds(recs, s, true);
    for (uint64_t seed = 0; seed < 5; ++seed) {
      const Sample x = basic_ds.get(seed % 3, seed), y = strong_ds.get(seed % 3, seed);
      EXPECT_TRUE(at::equal(x.A, y.A)) << mode << " seed " << seed;
      EXPECT_TRUE(at::equal(x.B, y.B)) << mode << " seed " << seed;
    }
  }
}

TEST(StrongDataset, AugmentNoneTrainsOnTheValidationPreprocessing) {
  DataConfig cfg;
  const std::vector<PairRecord> recs = tiny_pairs("augment_none", cfg);
  DataConfig none = cfg;
  none.augment = "none";
  const PairedDataset train_none(recs, none, true), val(recs, cfg, false);
  for (uint64_t seed = 0; seed < 4; ++seed) {
    EXPECT_TRUE(at::equal(train_none.get(2, seed).A, val.get(2, 0).A));
    EXPECT_TRUE(at::equal(train_none.get(2, seed).B, val.get(2, 0).B));
  }
}
