// TIFF reading and writing against tifffile (python3-tifffile): synthetic rasters of every supported
// sample type, band counts 1-13, chunky and planar-separate layouts, strips, tiles and compression are
// written by tifffile and must read back as numpy computes them (exact for integers, 1e-7 after scaling);
// save_tiff's files must read back in tifffile bit for bit. Also the band-count and sample-type errors.
#include "p2p/core/error.h"
#include "p2p/io/image.h"
#include "p2p/io/tiff.h"
#include "testutil/testutil.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

using namespace p2p;
using namespace p2p::test;

namespace {

// Writes each case as <dir>/<name>.tif and its expected [C,H,W] unit values as <name>.f64 (float64).
const char* kMakeTiffs = R"PY(
import sys, numpy as np, tifffile
d = sys.argv[1]
rng = np.random.default_rng(3)
def case(name, data, bands_last, scale, offset, **kw):
    tifffile.imwrite(f'{d}/{name}.tif', data, **kw)
    chw = np.moveaxis(data, -1, 0) if bands_last else (data if data.ndim == 3 else data[None])
    ((chw.astype(np.float64) + offset) * scale).tofile(f'{d}/{name}.f64')
H, W = 24, 40
case('u8_rgb', rng.integers(0, 256, (H, W, 3), dtype=np.uint8), True, 1/255, 0, photometric='rgb')
case('u16_1', rng.integers(0, 65536, (H, W), dtype=np.uint16), False, 1/65535, 0, photometric='minisblack')
case('i16_2', rng.integers(-32768, 32768, (H, W, 2), dtype=np.int16), True, 1/65535, 32768,
     photometric='minisblack', planarconfig='contig', rowsperstrip=5, compression='zlib')
case('f32_4_sep', rng.normal(0, 3, (4, H, W)).astype(np.float32), False, 1, 0,
     photometric='minisblack', planarconfig='separate', rowsperstrip=7)
case('f32_13_tiled', rng.random((H, W, 13), dtype=np.float32), True, 1, 0,
     photometric='minisblack', planarconfig='contig', tile=(16, 16))
case('u16_13_sep_tiled', rng.integers(0, 65536, (13, H, W), dtype=np.uint16), False, 1/65535, 0,
     photometric='minisblack', planarconfig='separate', tile=(16, 32))
case('u8_2_be', rng.integers(0, 256, (H, W, 2), dtype=np.uint8), True, 1/255, 0,
     photometric='minisblack', planarconfig='contig', byteorder='>')
case('f32_1_be', rng.random((H, W), dtype=np.float32), False, 1, 0, photometric='minisblack', byteorder='>')
tifffile.imwrite(f'{d}/f64.tif', np.zeros((4, 4), np.float64), photometric='minisblack')
tifffile.imwrite(f'{d}/i32.tif', np.zeros((4, 4), np.int32), photometric='minisblack')
tifffile.imwrite(f'{d}/pages.tif', np.zeros((3, 8, 8), np.uint8), photometric='minisblack')  # 3 pages of 1 band
)PY";

std::vector<double> read_f64(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<double> v(bytes.size() / sizeof(double));
  std::memcpy(v.data(), bytes.data(), v.size() * sizeof(double));
  return v;
}

const std::string& tiff_cases() {
  static const std::string dir = [] {
    const std::string d = scratch_dir("tiff_cases");
    std::ofstream(d + "/make.py") << kMakeTiffs;
    const CommandResult r = run_command(std::string(P2P_TEST_PYTHON) + " " + d + "/make.py " + d);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return d;
  }();
  return dir;
}

}  // namespace

TEST(Tiff, ReadsEveryLayoutAndSampleTypeAsNumpyDoes) {
  ASSERT_TRUE(tiff_supported()) << "this build has no libtiff";
  ASSERT_TRUE(python_can_import("numpy, tifffile", "python3-numpy python3-tifffile"));
  const std::string dir = tiff_cases();
  struct Case {
    const char* name;
    int bands;
    int bits;
  };
  for (const Case& c : {Case{"u8_rgb", 3, 8}, Case{"u16_1", 1, 16}, Case{"i16_2", 2, 16}, Case{"f32_4_sep", 4, 32},
                        Case{"f32_13_tiled", 13, 32}, Case{"u16_13_sep_tiled", 13, 16}, Case{"u8_2_be", 2, 8},
                        Case{"f32_1_be", 1, 32}}) {
    SCOPED_TRACE(c.name);
    const std::string path = dir + "/" + c.name + ".tif";
    int bits = 0;
    const at::Tensor t = load_image(path, c.bands, bits, "--input_nc");
    ASSERT_EQ(t.sizes(), (at::IntArrayRef{c.bands, 24, 40}));
    EXPECT_EQ(t.scalar_type(), at::kFloat);
    EXPECT_EQ(bits, c.bits);
    const std::vector<double> expect = read_f64(dir + "/" + c.name + ".f64");
    ASSERT_EQ(expect.size(), static_cast<size_t>(t.numel()));
    const at::Tensor ref = at::tensor(expect, at::kDouble).view({c.bands, 24, 40});
    // Float bands exactly as stored; scaled integers within float32 rounding.
    const double tol = c.bits == 32 ? 0.0 : 1e-7;
    EXPECT_LE((t.to(at::kDouble) - ref).abs().max().item<double>(), tol);
    int w = 0, h = 0;
    image_size(path, w, h);
    EXPECT_EQ(w, 40);
    EXPECT_EQ(h, 24);
  }
  // Known answers on top of numpy's: int16 -32768 -> 0, float bands may leave [0,1].
  const at::Tensor f = load_image(dir + "/f32_4_sep.tif", 4);
  EXPECT_LT(f.min().item<float>(), -1.0f);
  EXPECT_GT(f.max().item<float>(), 1.0f);
}

TEST(Tiff, BandCountMustMatchTheFlag) {
  ASSERT_TRUE(python_can_import("numpy, tifffile", "python3-numpy python3-tifffile"));
  const std::string path = tiff_cases() + "/f32_4_sep.tif";
  int bits = 0;
  std::string m = error_of([&] { load_image(path, 3, bits, "--input_nc"); });
  EXPECT_NE(m.find(path), std::string::npos) << m;
  EXPECT_NE(m.find("4 bands"), std::string::npos) << m;
  EXPECT_NE(m.find("--input_nc asks for 3"), std::string::npos) << m;
  // Bands written as pages: only the first page is an image of its own, and the message says so.
  m = error_of([&] { load_image(tiff_cases() + "/pages.tif", 3, bits, "--input_nc"); });
  EXPECT_NE(m.find("1 band but --input_nc asks for 3"), std::string::npos) << m;
  EXPECT_NE(m.find("3 pages"), std::string::npos) << m;
}

TEST(Tiff, UnsupportedSampleTypesAreNamed) {
  ASSERT_TRUE(python_can_import("numpy, tifffile", "python3-numpy python3-tifffile"));
  const std::string dir = tiff_cases();
  std::string m = error_of([&] { load_image(dir + "/f64.tif", 1); });
  EXPECT_NE(m.find("f64.tif"), std::string::npos) << m;
  EXPECT_NE(m.find("float64"), std::string::npos) << m;
  m = error_of([&] { load_image(dir + "/i32.tif", 1); });
  EXPECT_NE(m.find("int32"), std::string::npos) << m;
  // Not a TIFF at all, and a truncated one.
  const std::string bad = scratch_dir("tiff_bad");
  std::ofstream(bad + "/text.tif") << "this is not a tiff";
  m = error_of([&] { load_image(bad + "/text.tif", 1); });
  EXPECT_NE(m.find("text.tif"), std::string::npos) << m;
  const std::string whole = read_file(dir + "/u16_1.tif");
  std::ofstream(bad + "/cut.tif", std::ios::binary) << whole.substr(0, whole.size() / 2);
  m = error_of([&] { load_image(bad + "/cut.tif", 1); });
  EXPECT_NE(m.find("cut.tif"), std::string::npos) << m;
  m = error_of([&] { load_image(bad + "/missing.tif", 1); });
  EXPECT_NE(m.find("does not exist"), std::string::npos) << m;
}

TEST(Tiff, SaveTiffReadsBackInTifffile) {
  ASSERT_TRUE(python_can_import("numpy, tifffile", "python3-numpy python3-tifffile"));
  const std::string dir = scratch_dir("tiff_save");
  at::manual_seed(5);
  for (int c : {1, 3, 5}) {
    SCOPED_TRACE(c);
    const at::Tensor t = at::randn({c, 7, 9}) * 2.0;  // outside [0,1] on purpose: values are kept as given
    const std::string base = dir + "/o" + std::to_string(c);
    save_tiff(base + ".tif", t);
    std::ofstream(base + ".raw", std::ios::binary)
        .write(reinterpret_cast<const char*>(t.contiguous().data_ptr<float>()), t.numel() * sizeof(float));
    const CommandResult r = run_command(
        std::string(P2P_TEST_PYTHON) + " -c \"import numpy as np, tifffile; a = tifffile.imread('" + base +
        ".tif'); a = a[None] if a.ndim == 2 else np.moveaxis(a, -1, 0); e = np.fromfile('" + base +
        ".raw', np.float32).reshape(a.shape); assert a.dtype == np.float32, a.dtype; "
        "assert a.shape == (" + std::to_string(c) + ", 7, 9), a.shape; assert np.array_equal(a, e); print('same')\"");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("same"), std::string::npos) << r.output;
    // And our own reader gives the tensor back.
    EXPECT_TRUE(at::equal(load_image(base + ".tif", c), t));
  }
  EXPECT_NE(error_of([&] { save_tiff(dir + "/e.tif", at::zeros({2, 0, 3})); }).find("e.tif"), std::string::npos);
}
