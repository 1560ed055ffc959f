// io/png_rows: PNGs read forward row by row give, window by window, exactly what load_image gives for
// the whole file, for every PNG colour type PIL writes (gray 1/8/16-bit, palette with and without
// transparency, gray+alpha, RGB, RGBA) as 1 and 3 channels; interlaced files and non-PNGs are declined
// (nullptr, so the caller uses open_raster; PIL writes no interlaced PNG, so only a non-PNG is tried);
// reading back above a window already passed refuses.
#include "p2p/io/image.h"
#include "p2p/io/png_rows.h"
#include "testutil/testutil.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <fstream>
#include <string>

namespace p2p {
namespace {

TEST(PngRows, BandsEqualLoadImageForEveryColourType) {
  ASSERT_TRUE(test::python_can_import("PIL, numpy", "python3-pil python3-numpy"));
  const std::string dir = test::scratch_dir("png_rows");
  std::ofstream(dir + "/make.py") << R"(import numpy as np, sys
from PIL import Image
d = sys.argv[1]
rng = np.random.default_rng(3)
rgb = (rng.random((37, 23, 3)) * 255).astype(np.uint8)
Image.fromarray(rgb).save(d + '/rgb.png')
Image.fromarray(np.dstack([rgb, (rng.random((37, 23)) * 255).astype(np.uint8)])).save(d + '/rgba.png')
Image.fromarray(rgb[:, :, 0]).save(d + '/gray.png')
Image.fromarray(rgb[:, :, 0]).convert('LA').save(d + '/la.png')
Image.fromarray((rng.random((37, 23)) * 65535).astype(np.uint16)).save(d + '/gray16.png')
Image.fromarray(rgb[:, :, 0] > 128).save(d + '/bits.png')
p = Image.fromarray(rgb).quantize(16)
p.save(d + '/palette.png')
p.save(d + '/palette_trns.png', transparency=3)
)";
  ASSERT_EQ(test::run_command(std::string(P2P_TEST_PYTHON) + " " + dir + "/make.py " + dir).exit_code, 0);
  for (const char* name : {"rgb", "rgba", "gray", "la", "gray16", "bits", "palette", "palette_trns"}) {
    for (int channels : {1, 3}) {
      SCOPED_TRACE(std::string(name) + " as " + std::to_string(channels));
      const std::string path = dir + "/" + name + ".png";
      const at::Tensor whole = load_image(path, channels);
      auto reader = open_png_rows(path, channels, "--channels");
      ASSERT_TRUE(reader);
      EXPECT_EQ(reader->info().width, 23);
      EXPECT_EQ(reader->info().height, 37);
      // Overlapping forward bands, as the metrics read them.
      for (int64_t y = 0; y < 37; y += 8) {
        const int64_t h = std::min<int64_t>(12, 37 - y);
        const at::Tensor band = reader->read(0, y, 23, h);
        ASSERT_TRUE(at::equal(band, whole.narrow(1, y, h))) << "rows " << y << "+" << h;
      }
    }
  }
  EXPECT_FALSE(open_png_rows(dir + "/make.py", 3, "--channels"));
  auto reader = open_png_rows(dir + "/rgb.png", 3, "--channels");
  reader->read(0, 10, 23, 5);
  reader->read(0, 20, 23, 5);
  const std::string msg = test::error_of([&] { reader->read(0, 12, 23, 5); });
  EXPECT_NE(msg.find("read forward"), std::string::npos) << msg;
}

}  // namespace
}  // namespace p2p
