// Label maps in the data pipeline (--palette): nearest resizing equals PIL's NEAREST, a pair's crop and
// flip reach the class ids exactly as they reach the photo, and the strong warp (which interpolates) is
// refused.
#include "p2p/core/config.h"
#include "p2p/data/dataset.h"
#include "p2p/data/palette.h"
#include "p2p/data/transforms.h"
#include "p2p/io/image.h"
#include "p2p/io/npz.h"
#include "testutil/testutil.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;

namespace p2p {
namespace {

TEST(LabelMaps, NearestResizeEqualsPil) {
  ASSERT_TRUE(test::python_can_import("PIL, numpy", "python3-pil python3-numpy"));
  const std::string dir = test::scratch_dir("label_resize");
  at::manual_seed(4);
  const at::Tensor ids = at::randint(0, 12, {37, 53}, at::kLong);
  write_npy(dir + "/in.npy", ids);
  for (const auto& [w, h] : std::vector<std::pair<int, int>>{{72, 72}, {20, 31}, {53, 37}, {106, 17}}) {
    SCOPED_TRACE(std::to_string(w) + "x" + std::to_string(h));
    const std::string out = dir + "/out_" + std::to_string(w) + "x" + std::to_string(h) + ".npy";
    const auto r = test::run_python_script("fixtures/label_resize_reference.py",
                                           "'" + dir + "/in.npy' " + std::to_string(w) + " " + std::to_string(h) + " '" + out + "'");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const at::Tensor ref = read_npy(out);
    const at::Tensor ours = resize_nearest(ids.unsqueeze(0), w, h).squeeze(0);
    ASSERT_EQ(ours.sizes(), ref.sizes());
    EXPECT_TRUE(at::equal(ours, ref.to(at::kLong))) << "mismatches: " << (ours != ref).sum().item<int64_t>();
  }
}

// An AB image [photo | labels] where the photo's gray level is the class id / 10, so after any geometry the
// ids must equal round(10 * photo) wherever the photo was not interpolated across classes.
TEST(LabelMaps, PairGeometryReachesTheIdsByNearestSampling) {
  const std::string root = test::scratch_dir("label_pairs");
  fs::create_directories(root + "/train");
  const std::string palette_file = root + "/p.json";
  std::ofstream(palette_file) << R"({"name": "p", "classes": [{"name": "a", "color": [255, 0, 0]},
      {"name": "b", "color": [0, 255, 0]}, {"name": "c", "color": [0, 0, 255]},
      {"name": "void", "color": [0, 0, 0], "ignore": true}]})";
  const Palette palette = load_palette(palette_file);
  // Blocks of 8x8 pixels of one class each: nearest and bicubic agree away from block edges.
  at::manual_seed(5);
  const at::Tensor blocks = at::randint(0, 4, {6, 6}, at::kLong);
  at::Tensor ids = blocks.repeat_interleave(8, 0).repeat_interleave(8, 1);  // [48,48]; 3 = void
  ids.masked_fill_(ids == 3, kIgnoreClass);
  const at::Tensor labels = encode_labels(ids, palette);
  const at::Tensor photo = (ids.clamp_max(3).to(at::kFloat) / 10.0).unsqueeze(0).expand({3, 48, 48});
  save_png(root + "/train/0.png", at::cat({photo, labels}, 2));

  DataConfig cfg;
  cfg.dataroot = root;
  cfg.palette = palette_file;
  cfg.load_size = 64;
  cfg.crop_size = 40;
  PairedDataset data(find_pairs(cfg, root + "/train"), cfg, /*augment=*/true);
  int flipped = 0;
  for (uint64_t seed = 0; seed < 6; ++seed) {
    const Sample s = data.get(0, seed);
    ASSERT_EQ(s.B.sizes(), (at::IntArrayRef{1, 40, 40}));
    const at::Tensor got = s.B.squeeze(0).to(at::kLong);
    // Every id is a class or the ignore id: nothing was interpolated.
    EXPECT_TRUE(((got >= 0) & (got <= 2) | (got == kIgnoreClass)).all().item<bool>());
    // The same geometry on the ids directly, by the pair's own parameters.
    const AugmentParams p = draw_augment(cfg, 48, 48, seed, true, "0.png");
    flipped += p.flip;
    const at::Tensor expect = apply_augment_labels(ids.unsqueeze(0).to(at::kFloat), p, cfg.crop_size).squeeze(0).to(at::kLong);
    EXPECT_TRUE(at::equal(got, expect));
    // And it lines up with the photo: where the photo is flat (inside a block), round(10 * photo) is the id.
    const at::Tensor a = (s.A[0] + 1) / 2 * 10;  // network range back to 10 * unit
    const at::Tensor interior = (a - a.round()).abs() < 0.05;
    const at::Tensor photo_ids = a.round().to(at::kLong);
    const at::Tensor label_ids = got.masked_fill(got == kIgnoreClass, 3);
    EXPECT_GT(interior.sum().item<int64_t>(), 600);
    EXPECT_LT(((photo_ids != label_ids) & interior).sum().item<int64_t>(), 40);  // only at block edges
  }
  EXPECT_GT(flipped, 0);

  cfg.augment = "strong";
  EXPECT_NE(test::error_of([&] { PairedDataset(find_pairs(cfg, root + "/train"), cfg, true).get(0, 1); }).find("--augment strong"),
            std::string::npos);
}

}  // namespace
}  // namespace p2p
