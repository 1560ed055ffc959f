// Tests for io/raster: windows read through GDAL equal the same region of the whole image read by
// libtiff (load_tiff, an independent decoder) for every sample type; typed writes round-trip; an
// unfinished writer leaves no file; PNG inputs serve windows of the decoded image; bad requests name
// the file.
#include "p2p/io/raster.h"
#include "p2p/io/image.h"
#include "p2p/io/tiff.h"
#include "testutil/testutil.h"

#include <ATen/ATen.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace p2p {
namespace {

// Writes a typed TIFF with Python's tifffile (independent of this code) and returns its path.
std::string typed_tiff(const std::string& dir, const std::string& dtype) {
  const std::string path = dir + "/" + dtype + ".tif";
  const auto r = test::run_python_script(
      "io/write_typed_tiff.py", "'" + path + "' " + dtype);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return path;
}

TEST(Raster, WindowsEqualTheWholeImageForEverySampleType) {
  if (!windowed_tiff_supported()) GTEST_SKIP() << "built without GDAL";
  ASSERT_TRUE(test::python_can_import("numpy, tifffile", "python3-numpy python3-tifffile"));
  const std::string dir = test::scratch_dir("raster_types");
  for (const std::string dtype : {"uint8", "uint16", "int16", "float32"}) {
    const std::string path = typed_tiff(dir, dtype);
    int bits = 0;
    const at::Tensor whole = load_tiff(path, bits);
    auto in = open_raster(path, 3, "--input_nc");
    EXPECT_EQ(sample_type_name(in->info().type), dtype);
    EXPECT_EQ(in->info().width, 53);
    EXPECT_EQ(in->info().height, 37);
    EXPECT_EQ(in->info().bit_depth, bits);
    const at::Tensor win = in->read(5, 7, 30, 20);
    EXPECT_TRUE(at::equal(win, whole.narrow(1, 7, 20).narrow(2, 5, 30))) << dtype;

    // Written back with the same type, read again: the same values (integers exactly).
    const std::string copy = dir + "/copy_" + dtype + ".tif";
    {
      auto out = create_raster(copy, {53, 37, 3, in->info().type}, path);
      out->write(0, 0, in->read(0, 0, 53, 20));
      out->write(0, 20, in->read(0, 20, 53, 17));
      out->finish();
    }
    int bits2 = 0;
    EXPECT_TRUE(at::equal(load_tiff(copy, bits2), whole)) << dtype;
    EXPECT_EQ(bits2, bits);
  }
  // A band count other than asked for names the flag.
  try {
    open_raster(dir + "/uint8.tif", 1, "--input_nc");
    FAIL() << "expected an error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("--input_nc"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("uint8.tif"), std::string::npos) << e.what();
  }
}

TEST(Raster, IntegerWritesClampAndRound) {
  if (!windowed_tiff_supported()) GTEST_SKIP() << "built without GDAL";
  const std::string dir = test::scratch_dir("raster_round");
  const at::Tensor v = at::tensor({-0.5f, 0.0f, 0.25f, 1.0f, 1.7f}).view({1, 1, 5});
  {
    auto out = create_raster(dir + "/u16.tif", {5, 1, 1, SampleType::u16});
    out->write(0, 0, v);
    out->finish();
  }
  int bits = 0;
  const at::Tensor back = load_tiff(dir + "/u16.tif", bits) * 65535.0;
  EXPECT_EQ(bits, 16);
  EXPECT_TRUE(at::equal(back.round(), at::tensor({0.0f, 0.0f, 16384.0f, 65535.0f, 65535.0f}).view({1, 1, 5})))
      << back;
}

TEST(Raster, UnfinishedWriterLeavesNothing) {
  const std::string dir = test::scratch_dir("raster_abandon");
  {
    auto out = create_raster(dir + "/x.tif", {8, 8, 2, SampleType::f32});
    out->write(0, 0, at::zeros({2, 4, 8}));
  }
  EXPECT_TRUE(std::filesystem::is_empty(dir)) << "a partial output or temp file was left";
}

TEST(Raster, PngWindowsComeFromTheDecodedImage) {
  const std::string dir = test::scratch_dir("raster_png");
  test::write_random_png(dir + "/a.png", 31, 17, 3, 2);
  auto in = open_raster(dir + "/a.png", 1, "--input_nc");  // converted to gray as load_image does
  EXPECT_TRUE(at::equal(in->read(3, 4, 10, 9), load_image(dir + "/a.png", 1).narrow(1, 4, 9).narrow(2, 3, 10)));
  EXPECT_THROW(in->read(25, 0, 10, 5), std::exception);  // outside the image
  EXPECT_THROW(open_raster(dir + "/missing.png", 3, "--input_nc"), std::exception);
  std::ofstream(dir + "/junk.tif") << "not a tiff";
  try {
    open_raster(dir + "/junk.tif", 3, "--input_nc");
    FAIL() << "expected an error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("junk.tif"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace p2p
