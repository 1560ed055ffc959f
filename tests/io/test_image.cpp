// Tests for image I/O: exact 8-bit PNG round trips, PIL-equal gray conversion, 16-bit sources, alpha,
// and errors that name the file for every way a file can be bad; decoded samples held as 8 bits whose
// windows equal the loaded image's; PNG written row by row in any chunks, refusing missing or extra
// rows and leaving nothing behind when unfinished.
#include "p2p/core/error.h"
#include "p2p/io/image.h"
#include "p2p/io/raster.h"
#include "testutil/testutil.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <fstream>
#include <filesystem>

namespace fs = std::filesystem;
using namespace p2p;
using namespace p2p::test;

namespace {

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
}

}  // namespace

TEST(Image, PngRoundTripIsExactAt8Bits) {
  const std::string dir = scratch_dir("image_roundtrip");
  write_random_png(dir + "/a.png", 17, 13, 3, 7);
  at::Tensor a = load_image(dir + "/a.png", 3);
  ASSERT_EQ(a.sizes(), (at::IntArrayRef{3, 13, 17}));
  EXPECT_EQ(a.scalar_type(), at::kFloat);
  // Every value is a multiple of 1/255 ...
  at::Tensor levels = a * 255.0;
  EXPECT_LT((levels - levels.round()).abs().max().item<float>(), 1e-4);
  // ... and saving + loading again gives back exactly the same tensor and bytes.
  save_png(dir + "/b.png", a);
  EXPECT_TRUE(at::equal(load_image(dir + "/b.png", 3), a));
  save_png(dir + "/c.png", load_image(dir + "/b.png", 3));
  EXPECT_EQ(read_file(dir + "/b.png"), read_file(dir + "/c.png"));
}

TEST(Image, SaveRoundsAndClamps) {
  const std::string dir = scratch_dir("image_round");
  at::Tensor t = at::tensor({0.5f, 0.498f, -1.0f, 2.0f, 1.0f / 255.0f, 0.0f}).reshape({1, 1, 6});
  save_png(dir + "/g.png", t);
  at::Tensor back = load_image(dir + "/g.png", 1) * 255.0;
  std::vector<float> expect = {128, 127, 0, 255, 1, 0};
  for (int i = 0; i < 6; ++i) EXPECT_FLOAT_EQ(std::round(back[0][0][i].item<float>()), expect[i]) << i;
  // No temp files left beside the image.
  int files = 0;
  for (auto& e : fs::directory_iterator(dir)) files += e.is_regular_file();
  EXPECT_EQ(files, 1);
}

TEST(Image, RgbToGrayMatchesPilKnownAnswers) {
  const std::string dir = scratch_dir("image_gray");
  // Pure red, green, blue, white, and a mid colour: PIL convert('L') gives 76, 150, 29, 255, 128.
  at::Tensor rgb = at::zeros({3, 1, 5});
  rgb[0][0][0] = 1.0;
  rgb[1][0][1] = 1.0;
  rgb[2][0][2] = 1.0;
  rgb.select(2, 3).fill_(1.0);
  rgb.select(2, 4).fill_(128.0 / 255.0);
  save_png(dir + "/c.png", rgb);
  at::Tensor gray = load_image(dir + "/c.png", 1);
  ASSERT_EQ(gray.sizes(), (at::IntArrayRef{1, 1, 5}));
  std::vector<float> expect = {76, 150, 29, 255, 128};
  for (int i = 0; i < 5; ++i) EXPECT_FLOAT_EQ(gray[0][0][i].item<float>() * 255.0f, expect[i]) << i;
}

TEST(Image, RgbToGrayEqualsPilOnRandomImage) {
  ASSERT_TRUE(python_can_import("PIL, numpy", "python3-pil python3-numpy"));
  const std::string dir = scratch_dir("image_gray_pil");
  write_random_png(dir + "/c.png", 40, 30, 3, 3);
  auto r = run_command(std::string(P2P_TEST_PYTHON) + " -c \"from PIL import Image; Image.open('" + dir +
                       "/c.png').convert('L').save('" + dir + "/l.png')\"");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(at::equal(load_image(dir + "/c.png", 1), load_image(dir + "/l.png", 1)));
}

TEST(Image, GrayIsReplicatedToRgb) {
  const std::string dir = scratch_dir("image_rep");
  write_random_png(dir + "/g.png", 9, 5, 1, 11);
  at::Tensor g = load_image(dir + "/g.png", 1);
  at::Tensor rgb = load_image(dir + "/g.png", 3);
  ASSERT_EQ(rgb.sizes(), (at::IntArrayRef{3, 5, 9}));
  for (int c = 0; c < 3; ++c) EXPECT_TRUE(at::equal(rgb[c], g[0]));
}

TEST(Image, SixteenBitPgmKeepsPrecision) {
  const std::string dir = scratch_dir("image_16pgm");
  // Hand-made binary PGM, maxval 65535, big-endian samples: 0, 1, 1000, 65535.
  std::string pgm = "P5\n4 1\n65535\n";
  for (int v : {0, 1, 1000, 65535}) {
    pgm.push_back(static_cast<char>(v >> 8));
    pgm.push_back(static_cast<char>(v & 0xff));
  }
  write_bytes(dir + "/d.pgm", pgm);
  int bits = 0;
  at::Tensor t = load_image(dir + "/d.pgm", 1, bits);
  EXPECT_EQ(bits, 16);
  ASSERT_EQ(t.sizes(), (at::IntArrayRef{1, 1, 4}));
  const double expect[] = {0.0, 1.0 / 65535, 1000.0 / 65535, 1.0};
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(t[0][0][i].item<double>(), expect[i], 1e-7) << i;
  at::Tensor rgb = load_image(dir + "/d.pgm", 3);
  EXPECT_TRUE(at::equal(rgb[2], t[0]));
}

TEST(Image, SixteenBitPngFromPil) {
  ASSERT_TRUE(python_can_import("PIL, numpy", "python3-pil python3-numpy"));
  const std::string dir = scratch_dir("image_16png");
  auto r = run_command(std::string(P2P_TEST_PYTHON) +
                       " -c \"import numpy as np; from PIL import Image; "
                       "a = np.array([[0, 257, 40000, 65535]], dtype=np.uint16); "
                       "Image.fromarray(a, 'I;16').save('" + dir + "/d.png')\"");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  int bits = 0;
  at::Tensor t = load_image(dir + "/d.png", 1, bits);
  EXPECT_EQ(bits, 16);
  EXPECT_NEAR(t[0][0][1].item<double>(), 257.0 / 65535, 1e-7);
  EXPECT_NEAR(t[0][0][2].item<double>(), 40000.0 / 65535, 1e-7);
  EXPECT_NEAR(t[0][0][3].item<double>(), 1.0, 1e-7);
}

TEST(Image, AlphaIsDropped) {
  ASSERT_TRUE(python_can_import("PIL, numpy", "python3-pil python3-numpy"));
  const std::string dir = scratch_dir("image_alpha");
  auto r = run_command(std::string(P2P_TEST_PYTHON) +
                       " -c \"from PIL import Image; Image.new('RGBA', (3, 2), (10, 20, 30, 0)).save('" + dir +
                       "/a.png')\"");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  at::Tensor t = load_image(dir + "/a.png", 3) * 255.0;
  ASSERT_EQ(t.sizes(), (at::IntArrayRef{3, 2, 3}));
  EXPECT_FLOAT_EQ(t[0][1][2].item<float>(), 10.0f);
  EXPECT_FLOAT_EQ(t[2][0][0].item<float>(), 30.0f);
}

TEST(Image, RgbaKeepsAlphaOrAddsAnOpaqueOne) {
  ASSERT_TRUE(python_can_import("PIL, numpy", "python3-pil python3-numpy"));
  const std::string dir = scratch_dir("image_rgba");
  auto r = run_command(std::string(P2P_TEST_PYTHON) +
                       " -c \"from PIL import Image; Image.new('RGBA', (3, 2), (10, 20, 30, 40)).save('" + dir +
                       "/a.png'); Image.new('LA', (3, 2), (50, 60)).save('" + dir + "/la.png')\"");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  at::Tensor t = load_image(dir + "/a.png", 4) * 255.0;
  ASSERT_EQ(t.sizes(), (at::IntArrayRef{4, 2, 3}));
  EXPECT_FLOAT_EQ(t[0][1][2].item<float>(), 10.0f);
  EXPECT_FLOAT_EQ(t[2][0][0].item<float>(), 30.0f);
  EXPECT_FLOAT_EQ(t[3][1][1].item<float>(), 40.0f);
  at::Tensor la = load_image(dir + "/la.png", 4) * 255.0;  // gray + alpha: PIL 'RGBA' replicates the gray
  EXPECT_FLOAT_EQ(la[1][0][0].item<float>(), 50.0f);
  EXPECT_FLOAT_EQ(la[3][0][0].item<float>(), 60.0f);
  write_random_png(dir + "/rgb.png", 5, 4, 3, 3);
  at::Tensor rgba = load_image(dir + "/rgb.png", 4);
  EXPECT_TRUE(at::equal(rgba.narrow(0, 0, 3), load_image(dir + "/rgb.png", 3)));
  EXPECT_TRUE(at::equal(rgba[3], at::ones({4, 5})));
}

TEST(Image, BadFilesThrowNamingTheFile) {
  const std::string dir = scratch_dir("image_bad");
  write_random_png(dir + "/good.png", 32, 32, 3, 1);
  const std::string png = read_file(dir + "/good.png");
  write_bytes(dir + "/empty.png", "");
  write_bytes(dir + "/truncated.png", png.substr(0, png.size() / 2));
  write_bytes(dir + "/text.png", "this is not an image at all");
  std::string m = error_of([&] { load_image(dir + "/missing.png", 3); });
  EXPECT_NE(m.find(dir + "/missing.png"), std::string::npos) << m;
  EXPECT_NE(m.find("does not exist"), std::string::npos) << m;
  m = error_of([&] { load_image(dir + "/empty.png", 3); });
  EXPECT_NE(m.find("empty.png"), std::string::npos) << m;
  EXPECT_NE(m.find("0 bytes"), std::string::npos) << m;
  m = error_of([&] { load_image(dir + "/truncated.png", 3); });
  EXPECT_NE(m.find("truncated.png"), std::string::npos) << m;
  EXPECT_NE(m.find("cannot decode"), std::string::npos) << m;
  m = error_of([&] { load_image(dir + "/text.png", 1); });
  EXPECT_NE(m.find("text.png"), std::string::npos) << m;
  m = error_of([&] { load_image(dir, 1); });
  EXPECT_NE(m.find("folder"), std::string::npos) << m;
  m = error_of([&] { load_image(dir + "/good.png", 5); });
  EXPECT_NE(m.find("good.png"), std::string::npos) << m;
  EXPECT_NE(m.find("needs TIFF"), std::string::npos) << m;
  int bits = 0;
  m = error_of([&] { load_image(dir + "/good.png", 2, bits, "--output_nc"); });
  EXPECT_NE(m.find("--output_nc asks for 2 channels"), std::string::npos) << m;
  int w = 0, h = 0;
  m = error_of([&] { image_size(dir + "/text.png", w, h); });
  EXPECT_NE(m.find("text.png"), std::string::npos) << m;
  m = error_of([&] { image_size(dir + "/nope.png", w, h); });
  EXPECT_NE(m.find("nope.png"), std::string::npos) << m;
  m = error_of([&] { save_png(dir + "/x.png", at::zeros({2, 4, 4})); });
  EXPECT_NE(m.find("x.png"), std::string::npos) << m;
}

TEST(Image, ImageSizeReadsTheHeader) {
  const std::string dir = scratch_dir("image_size");
  write_random_png(dir + "/a.png", 17, 13, 1, 2);
  int w = 0, h = 0;
  image_size(dir + "/a.png", w, h);
  EXPECT_EQ(w, 17);
  EXPECT_EQ(h, 13);
}

TEST(Image, ImageExtensions) {
  EXPECT_TRUE(is_image_file("a/b/1.PNG"));
  EXPECT_TRUE(is_image_file("x.jpeg"));
  EXPECT_TRUE(is_image_file("x.JPG"));
  EXPECT_TRUE(is_image_file("x.bmp"));
  EXPECT_TRUE(is_image_file("x.tif"));
  EXPECT_TRUE(is_image_file("dir/x.TIFF"));
  EXPECT_FALSE(is_image_file("x.tfw"));
  EXPECT_FALSE(is_image_file("png"));
  EXPECT_FALSE(is_image_file("notes.txt"));
}

TEST(Image, RangeConversions) {
  at::Tensor u = at::tensor({0.0f, 0.5f, 1.0f});
  at::Tensor n = to_network_range(u);
  EXPECT_TRUE(at::allclose(n, at::tensor({-1.0f, 0.0f, 1.0f})));
  EXPECT_TRUE(at::allclose(to_unit_range(n), u));
}

TEST(Image, RealFacadesJpegDecodesLikePil) {
  const std::string facades = shared_dataset("facades");
  if (facades.empty()) GTEST_SKIP() << "facades dataset not present";
  const std::string file = facades + "/train/1.jpg";
  at::Tensor t = load_image(file, 3);
  ASSERT_EQ(t.sizes(), (at::IntArrayRef{3, 256, 512}));
  ASSERT_TRUE(python_can_import("PIL, numpy", "python3-pil python3-numpy"));
  const std::string dir = scratch_dir("image_jpeg");
  auto r = run_command(std::string(P2P_TEST_PYTHON) + " -c \"from PIL import Image; Image.open('" + file +
                       "').convert('RGB').save('" + dir + "/ref.png')\"");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // Different JPEG decoders (IDCT, chroma upsampling) differ by a few levels; the mean stays close.
  const double mad = (t - load_image(dir + "/ref.png", 3)).abs().mean().item<double>() * 255.0;
  EXPECT_LT(mad, 2.0);
}

TEST(Image, DisplayPicksPngChannels) {
  const at::Tensor t = at::rand({13, 4, 5});
  EXPECT_TRUE(at::equal(to_display(t), t.narrow(0, 0, 3)));
  EXPECT_TRUE(at::equal(to_display(t.narrow(0, 0, 2)), t.narrow(0, 0, 1)));
  EXPECT_TRUE(at::equal(to_display(t.narrow(0, 0, 1)), t.narrow(0, 0, 1)));
  EXPECT_TRUE(at::equal(to_display(t.narrow(0, 0, 3)), t.narrow(0, 0, 3)));
}

TEST(Image, DecodedSamplesStayEightBitAndTheirWindowsEqualTheLoadedImage) {
  ASSERT_TRUE(python_can_import("PIL, numpy", "python3-pil python3-numpy"));
  const std::string dir = scratch_dir("image_decoded");
  write_random_png(dir + "/rgb.png", 37, 29, 3, 9);
  // 16-bit gray with values above 32767 (held in int16 bits), RGBA, gray + alpha, and a JPEG.
  auto r = run_command(std::string(P2P_TEST_PYTHON) +
                       " -c \"import numpy as np; from PIL import Image; g = np.random.default_rng(2); "
                       "u8 = lambda *s: g.integers(0, 256, (29, 37) + s, dtype=np.uint8); "
                       "Image.fromarray(g.integers(0, 65536, (29, 37)).astype(np.uint16), 'I;16').save('" + dir +
                       "/g16.png'); Image.fromarray(u8(4), 'RGBA').save('" + dir + "/rgba.png'); "
                       "Image.fromarray(u8(2), 'LA').save('" + dir + "/la.png'); "
                       "Image.fromarray(u8(3)).save('" + dir + "/c.jpg', quality=85)\"");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const DecodedImage rgb = decode_image(dir + "/rgb.png", 3);
  EXPECT_EQ(rgb.samples.scalar_type(), at::kByte);  // a quarter of the float image
  EXPECT_EQ(rgb.samples.sizes(), (at::IntArrayRef{29, 37, 3}));
  EXPECT_EQ(rgb.bit_depth, 8);
  for (const char* file : {"rgb.png", "g16.png", "rgba.png", "la.png", "c.jpg"}) {
    const std::string path = dir + "/" + file;
    for (int channels : {1, 3, 4}) {
      const DecodedImage d = decode_image(path, channels, "--input_nc");
      int bits = 0;
      const at::Tensor whole = load_image(path, channels, bits);
      EXPECT_EQ(d.bit_depth, bits) << file;
      EXPECT_TRUE(at::equal(decoded_to_unit(d, 0, 0, 37, 29), whole)) << file << " " << channels;
      EXPECT_TRUE(at::equal(decoded_to_unit(d, 5, 7, 20, 11), whole.narrow(1, 7, 11).narrow(2, 5, 20)))
          << file << " " << channels;
      EXPECT_TRUE(at::equal(decoded_to_unit(d, 36, 28, 1, 1), whole.narrow(1, 28, 1).narrow(2, 36, 1)))
          << file << " " << channels;
    }
  }
  // The 16-bit samples read back unsigned: the top of the range is near 1, not negative.
  EXPECT_GT(decoded_to_unit(decode_image(dir + "/g16.png", 1), 0, 0, 37, 29).max().item<float>(), 0.99f);
  EXPECT_THROW(decoded_to_unit(rgb, 30, 0, 8, 1), std::exception);  // outside the image
  try {
    decode_image(dir + "/rgb.png", 2, "--input_nc");
    FAIL() << "expected an error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("--input_nc"), std::string::npos) << e.what();
  }
}

namespace {

// An image whose every row and column differs from its neighbours, as HWC bytes.
std::vector<uint8_t> gradient_rows(int64_t w, int64_t h, int c) {
  std::vector<uint8_t> v(static_cast<size_t>(w * h * c));
  for (int64_t y = 0; y < h; ++y) {
    for (int64_t x = 0; x < w; ++x) {
      for (int k = 0; k < c; ++k) {
        v[static_cast<size_t>((y * w + x) * c + k)] = static_cast<uint8_t>((3 * y + 7 * x + 50 * k) % 256);
      }
    }
  }
  return v;
}

at::Tensor as_chw_levels(const std::vector<uint8_t>& v, int64_t w, int64_t h, int c) {
  return at::from_blob(const_cast<uint8_t*>(v.data()), {h, w, c}, at::kByte).permute({2, 0, 1}).to(at::kFloat);
}

}  // namespace

TEST(Image, PngRowWriterWritesRowsInAnyChunks) {
  const std::string dir = scratch_dir("image_png_rows");
  for (int c : {1, 3}) {
    const int64_t w = 13, h = 20;
    const std::vector<uint8_t> v = gradient_rows(w, h, c);
    const std::string path = dir + "/g" + std::to_string(c) + ".png";
    PngRowWriter png(path, w, h, c);
    int64_t y = 0;
    for (int64_t n : {1, 6, 13}) {  // uneven chunks, as bands of tile rows are
      png.write_rows(v.data() + y * w * c, n);
      y += n;
    }
    EXPECT_EQ(png.rows_written(), h);
    EXPECT_FALSE(fs::exists(path)) << "the file appears only when finished";
    png.finish();
    EXPECT_TRUE(at::equal((load_image(path, c) * 255.0).round(), as_chw_levels(v, w, h, c))) << c << " channels";
  }
  // save_png writes the same pixels through the same writer.
  save_png(dir + "/s.png", as_chw_levels(gradient_rows(13, 20, 3), 13, 20, 3) / 255.0);
  EXPECT_TRUE(at::equal(load_image(dir + "/s.png", 3), load_image(dir + "/g3.png", 3)));

  // Rows missing: finish refuses, and the abandoned writer leaves no file behind.
  const std::vector<uint8_t> v = gradient_rows(13, 20, 3);
  try {
    PngRowWriter png(dir + "/short.png", 13, 20, 3);
    png.write_rows(v.data(), 12);
    png.finish();
    FAIL() << "expected an error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("short.png: 12 of its 20 rows"), std::string::npos) << e.what();
  }
  {
    PngRowWriter png(dir + "/long.png", 13, 20, 3);
    png.write_rows(v.data(), 20);
    EXPECT_THROW(png.write_rows(v.data(), 1), Error);  // a row past the bottom
  }
  EXPECT_THROW(PngRowWriter(dir + "/two.png", 13, 20, 2), Error);
  int files = 0;
  for (auto& e : fs::directory_iterator(dir)) files += e.is_regular_file();
  EXPECT_EQ(files, 3) << "only g1.png, g3.png and s.png; no partial or temp files";
}

TEST(Image, PngRasterTakesWholeRowsTopToBottom) {
  const std::string dir = scratch_dir("image_png_raster");
  const at::Tensor image = as_chw_levels(gradient_rows(11, 9, 3), 11, 9, 3) / 255.0;
  {
    auto out = create_raster(dir + "/a.png", {11, 9, 3, SampleType::u8});
    out->write(0, 0, image.narrow(1, 0, 4));
    EXPECT_THROW(out->write(0, 5, image.narrow(1, 5, 4)), Error);  // row 4 skipped
    EXPECT_THROW(out->write(0, 0, image.narrow(1, 0, 4)), Error);  // rows again
    EXPECT_THROW(out->write(3, 4, image.narrow(1, 4, 5).narrow(2, 3, 8)), Error);  // not whole rows
    out->write(0, 4, image.narrow(1, 4, 5));
    out->finish();
  }
  EXPECT_TRUE(at::equal(load_image(dir + "/a.png", 3), image));
  {
    auto out = create_raster(dir + "/b.png", {11, 9, 3, SampleType::u8});
    out->write(0, 0, image.narrow(1, 0, 4));
  }
  EXPECT_FALSE(fs::exists(dir + "/b.png"));
  int files = 0;
  for (auto& e : fs::directory_iterator(dir)) files += e.is_regular_file();
  EXPECT_EQ(files, 1) << "an unfinished PNG leaves no partial or temp file";
}
