// Tests for eval/tiling: tile layout and blend window known answers; a per-pixel network gives the same
// output tiled and untiled whatever the tile, overlap and batch (so blending, row streaming and carry
// are exact); a U-Net trained briefly to reproduce smooth scenes, tiled, shows no seams: the jumps
// across tile borders are no larger than across the same lines of the untiled output (within 5 %),
// while tiles that abut without blending jump there several times as much (so the measure can fail).
// PNG and JPEG files translated from their 8-bit samples into a PNG written band by band equal, pixel
// for pixel, the same translation with the image and the output held whole as floats.
#include "p2p/core/config.h"
#include "p2p/eval/inference.h"
#include "p2p/eval/tiling.h"
#include "p2p/eval/translate.h"
#include "p2p/io/image.h"
#include "p2p/io/raster.h"
#include "p2p/models/networks.h"
#include "testutil/testutil.h"

#include <ATen/ATen.h>
#include <torch/optim/adam.h>
#include <torch/torch.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>

namespace p2p {
namespace {

const c10::Device kCpu(c10::kCPU);

TEST(Tiling, TileStartsCoverTheAxis) {
  EXPECT_EQ(tile_starts(100, 128, 16), (std::vector<int64_t>{0}));
  EXPECT_EQ(tile_starts(128, 128, 16), (std::vector<int64_t>{0}));
  EXPECT_EQ(tile_starts(200, 64, 16), (std::vector<int64_t>{0, 48, 96, 136}));  // last tile ends at 200
  EXPECT_EQ(tile_starts(192, 64, 0), (std::vector<int64_t>{0, 64, 128}));
}

TEST(Tiling, BlendRampIsPositiveSymmetricAndSumsToOneAcrossAnOverlap) {
  const int64_t n = 64, o = 16;
  const at::Tensor w = blend_ramp(n, o);
  EXPECT_GT(w.min().item<float>(), 0.0f);
  EXPECT_TRUE(at::allclose(w, w.flip({0})));
  EXPECT_TRUE(at::allclose(w.narrow(0, o, n - 2 * o), at::ones({n - 2 * o})));
  // Two tiles overlapping by exactly `o`: the end of one and the start of the next add up to 1 (sin² +
  // cos²), so a constant image stays constant even before normalising.
  EXPECT_TRUE(at::allclose(w.narrow(0, n - o, o) + w.narrow(0, 0, o), at::ones({o}), 1e-6, 1e-6));
  EXPECT_TRUE(at::equal(blend_ramp(10, 0), at::ones({10})));
}

TEST(Tiling, OptionsAreChecked) {
  auto message = [](const TileOptions& t) {
    try {
      check_tile_options(t, 32);
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_EQ(message({64, 16, 1}), "");
  EXPECT_NE(message({48, 16, 1}).find("--tile 48: must be a multiple of 32"), std::string::npos);
  EXPECT_NE(message({64, 64, 1}).find("--overlap"), std::string::npos);
  EXPECT_NE(message({64, -1, 1}).find("--overlap"), std::string::npos);
  EXPECT_NE(message({64, 16, 0}).find("--tile_batch"), std::string::npos);
}

// A network without spatial context (1x1 convolution + tanh): every output pixel depends on its input
// pixel only, so tiling must not change a single value.
struct PointwiseNet : Network {
  torch::nn::Conv2d conv{torch::nn::Conv2dOptions(3, 2, 1)};
  PointwiseNet() { register_module("conv", conv); }
  at::Tensor forward(const at::Tensor& x) override { return torch::tanh(conv->forward(x)); }
  at::Tensor forward_counting(const at::Tensor& x, MacCounter&) override { return forward(x); }
  int64_t size_multiple() const override { return 8; }
};

// Whole-image raster and assembled output, in memory.
struct TensorIn : RasterReader {
  at::Tensor image;
  explicit TensorIn(at::Tensor t) : image(std::move(t)) {
    info_.width = image.size(2);
    info_.height = image.size(1);
    info_.bands = static_cast<int>(image.size(0));
  }
  at::Tensor read(int64_t x, int64_t y, int64_t w, int64_t h) override {
    EXPECT_LE(h, 64) << "a tiled read asks for one tile, not the image";
    return image.narrow(1, y, h).narrow(2, x, w).contiguous();
  }
};
struct TensorOut : RasterWriter {
  at::Tensor image;
  int64_t rows_written = 0;
  TensorOut(int64_t c, int64_t h, int64_t w) : image(at::full({c, h, w}, -7.0f)) {}
  void write(int64_t x, int64_t y, const at::Tensor& v) override {
    EXPECT_EQ(y, rows_written) << "rows are written once, top to bottom";
    rows_written = y + v.size(1);
    image.narrow(1, y, v.size(1)).narrow(2, x, v.size(2)).copy_(v);
  }
  void finish() override {}
};

at::Tensor tiled(Network& g, const at::Tensor& image, int64_t out_c, const TileOptions& t) {
  TensorIn in(image);
  TensorOut out(out_c, image.size(1), image.size(2));
  std::ostringstream log;
  int64_t last_done = -1, last_total = -1;
  translate_raster(g, in, out, [](const at::Tensor& x) { return x * 2 - 1; }, t, kCpu, log,
                   [&](int64_t done, int64_t total) {
                     last_done = done;
                     last_total = total;
                   });
  EXPECT_EQ(last_done, last_total);
  EXPECT_EQ(out.rows_written, image.size(1));
  return out.image;
}

TEST(Tiling, PerPixelNetworkIsUnchangedByTiling) {
  torch::manual_seed(3);
  PointwiseNet g;
  const at::Tensor image = at::rand({3, 150, 221});
  const at::Tensor whole = to_unit_range(translate_tensor(g, image * 2 - 1, kCpu));
  for (const TileOptions t : {TileOptions{64, 16, 1}, TileOptions{64, 0, 3}, TileOptions{32, 24, 2},
                              TileOptions{64, 8, 100}}) {
    const at::Tensor got = tiled(g, image, 2, t);
    EXPECT_LT((got - whole).abs().max().item<float>(), 1e-5)
        << "tile " << t.tile << " overlap " << t.overlap << " batch " << t.tile_batch;
  }
  // An image smaller than the tile is one (padded) tile: exactly the untiled result.
  const at::Tensor small = at::rand({3, 20, 37});
  EXPECT_TRUE(at::allclose(tiled(g, small, 2, {64, 16, 1}), to_unit_range(translate_tensor(g, small * 2 - 1, kCpu)),
                           1e-6, 1e-6));
}

// Mean absolute jump between neighbouring pixels across each of `lines` (the border between line-1 and
// line; columns for dim 2, rows for dim 1).
double jump_across(const at::Tensor& img, int dim, const std::vector<int64_t>& lines) {
  double sum = 0;
  for (int64_t line : lines) sum += (img.select(dim, line) - img.select(dim, line - 1)).abs().mean().item<double>();
  return sum / static_cast<double>(lines.size());
}

// The same over every line of the axis.
double jump_everywhere(const at::Tensor& img, int dim) {
  const int64_t n = img.size(dim);
  return (img.narrow(dim, 1, n - 1) - img.narrow(dim, 0, n - 1)).abs().mean().item<double>();
}

// Where tiles of `tile` with `overlap` start and end inside an axis of length n (their borders).
std::vector<int64_t> tile_borders(int64_t n, int64_t tile, int64_t overlap) {
  std::vector<int64_t> lines;
  for (int64_t s : tile_starts(n, tile, overlap)) {
    if (s > 0) lines.push_back(s);
    if (s + tile < n) lines.push_back(s + tile);
  }
  return lines;
}

// Smooth random scenes: coarse noise upsampled bilinearly, [n, 3, size, size] in [0, 1].
at::Tensor smooth_scenes(int64_t n, int64_t size) {
  return at::upsample_bilinear2d(at::rand({n, 3, size / 8, size / 8}), {size, size}, false);
}

// A U-Net briefly trained to reproduce smooth scenes: like a trained generator, its output is smooth
// where its input is, so the zero-padding artefacts at tile edges — seams — are what stands out.
NetworkPtr smooth_unet() {
  torch::manual_seed(11);
  NetConfig cfg;
  cfg.ngf = 8;
  cfg.netG = "unet_32";
  cfg.no_dropout = true;
  NetworkPtr g = make_generator(cfg);
  init_weights(*g, "normal", 0.02);
  torch::optim::Adam opt(g->parameters(), torch::optim::AdamOptions(2e-3).betas({0.5, 0.999}));
  for (int step = 0; step < 150; ++step) {
    const at::Tensor x = smooth_scenes(4, 64) * 2 - 1;
    opt.zero_grad();
    (g->forward(x) - x).abs().mean().backward();
    opt.step();
  }
  set_eval_mode(*g, true);
  return g;
}

TEST(Tiling, NoSeamsInATiledUNet) {
  NetworkPtr g = smooth_unet();
  const at::Tensor image = smooth_scenes(1, 384).squeeze(0).narrow(1, 0, 256);  // 256 x 384
  const int64_t tile = 64, overlap = 32;
  const at::Tensor whole = to_unit_range(translate_tensor(*g, image * 2 - 1, kCpu));
  const at::Tensor blended = tiled(*g, image, 3, {tile, overlap, 4});
  const at::Tensor abutting = tiled(*g, image, 3, {tile, 0, 4});
  for (int dim : {1, 2}) {
    const int64_t n = image.size(dim);
    // The bound: across the tile borders the tiled output jumps no more than the untiled output does
    // across the same lines (which carry the image's and the network's own structure), within 5 %.
    const std::vector<int64_t> blend_lines = tile_borders(n, tile, overlap), hard_lines = tile_borders(n, tile, 0);
    const double untiled_jump = jump_across(whole, dim, blend_lines), blended_jump = jump_across(blended, dim, blend_lines);
    // The measure can fail: tiles that simply abut jump there several times as much.
    const double untiled_hard = jump_across(whole, dim, hard_lines), hard_jump = jump_across(abutting, dim, hard_lines);
    std::cerr << "dim " << dim << ": jump across tile borders: untiled " << untiled_jump << ", blended " << blended_jump
              << "; at abutting borders: untiled " << untiled_hard << ", abutting " << hard_jump
              << "; everywhere (untiled) " << jump_everywhere(whole, dim) << "\n";
    EXPECT_LT(blended_jump, 1.05 * untiled_jump) << "dim " << dim;
    EXPECT_GT(hard_jump, 2.0 * untiled_hard) << "dim " << dim << ": the measure does not see abutting tiles";
  }
  // Tiled and untiled differ (less context per tile), but only a little for this smooth network.
  EXPECT_LT((blended - whole).abs().mean().item<double>(), 0.02);
}

// A tiny U-Net with random weights, in eval mode: an output that varies from pixel to pixel and row to
// row, so a lost, repeated or shifted row shows.
NetworkPtr random_unet(int input_nc, int output_nc) {
  torch::manual_seed(5);
  NetConfig cfg;
  cfg.ngf = 8;
  cfg.netG = "unet_32";
  cfg.no_dropout = true;
  cfg.input_nc = input_nc;
  cfg.output_nc = output_nc;
  NetworkPtr g = make_generator(cfg);
  init_weights(*g, "normal", 0.02);
  set_eval_mode(*g, true);
  return g;
}

// The colour-file path as it was before band writing: the file decoded whole to floats, the output
// assembled whole, then rounded to 8-bit levels as save_png rounds ([C,H,W] levels as floats).
at::Tensor whole_image_levels(Network& g, const std::string& file, const DataConfig& data, const TileOptions& t) {
  int bits = 8;
  TensorRasterReader in(load_image(file, data.input_nc, bits), SampleType::u8, bits, file);
  RasterSpec spec;
  spec.width = in.info().width;
  spec.height = in.info().height;
  spec.bands = data.output_nc;
  TensorRasterWriter out(spec, "reference");
  std::ostringstream log;
  translate_raster(g, in, out, [&](const at::Tensor& w) { return input_window_to_network(w, data); }, t, kCpu, log);
  return (out.image().clamp(0.0, 1.0) * 255.0 + 0.5).floor();
}

// translate_file's output as 8-bit levels.
at::Tensor written_levels(Network& g, const std::string& file, const std::string& out, const DataConfig& data,
                          const TileOptions& t) {
  std::ostringstream log;
  translate_file(g, file, out, data, t, kCpu, log);
  return (load_image(out, data.output_nc) * 255.0).round();
}

// No two neighbouring rows alike: a row written twice (and its neighbour lost) would change the image.
bool rows_all_differ(const at::Tensor& levels) {
  const int64_t h = levels.size(1);
  const at::Tensor diff = (levels.narrow(1, 1, h - 1) - levels.narrow(1, 0, h - 1)).abs().sum(at::IntArrayRef{0, 2});
  return diff.min().item<float>() > 0;
}

TEST(Tiling, PngTranslatedInBandsEqualsTheWholeImagePath) {
  const std::string dir = test::scratch_dir("tiling_png_bands");
  test::write_random_png(dir + "/in.png", 150, 203, 3, 4);
  NetworkPtr g = random_unet(3, 3);
  DataConfig data;
  const TileOptions t{64, 16, 2};
  ASSERT_GE(tile_starts(203, 64, 16).size(), 4u) << "the image must span several bands of tile rows";
  const at::Tensor want = whole_image_levels(*g, dir + "/in.png", data, t);
  ASSERT_TRUE(rows_all_differ(want));
  const at::Tensor got = written_levels(*g, dir + "/in.png", dir + "/out.png", data, t);
  ASSERT_EQ(got.sizes(), want.sizes());
  EXPECT_EQ((got - want).abs().max().item<float>(), 0.0f) << "grey levels apart";
  // Untiled: the whole output is one band.
  EXPECT_TRUE(at::equal(written_levels(*g, dir + "/in.png", dir + "/whole.png", data, {}),
                        whole_image_levels(*g, dir + "/in.png", data, {})));
  // Only the outputs are left: no temp files.
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) files += e.is_regular_file();
  EXPECT_EQ(files, 3);
}

TEST(Tiling, JpegToGrayTranslatedInBandsEqualsTheWholeImagePath) {
  ASSERT_TRUE(test::python_can_import("PIL, numpy", "python3-pil python3-numpy"));
  const std::string dir = test::scratch_dir("tiling_jpeg_bands");
  const auto made = test::run_command(std::string(P2P_TEST_PYTHON) +
                                      " -c \"import numpy as np; from PIL import Image; r = np.random.default_rng(1); "
                                      "Image.fromarray(r.integers(0, 256, (141, 97, 3), dtype=np.uint8)).save('" +
                                      dir + "/in.jpg', quality=90)\" 2>&1");
  ASSERT_EQ(made.exit_code, 0) << made.output;
  // RGB JPEG -> gray input (PIL's rounding, per window) -> one-channel G -> gray PNG.
  NetworkPtr g = random_unet(1, 1);
  DataConfig data;
  data.input_nc = 1;
  data.output_nc = 1;
  const TileOptions t{32, 8, 3};
  const at::Tensor want = whole_image_levels(*g, dir + "/in.jpg", data, t);
  ASSERT_EQ(want.size(0), 1);
  ASSERT_TRUE(rows_all_differ(want));
  const at::Tensor got = written_levels(*g, dir + "/in.jpg", dir + "/out.png", data, t);
  ASSERT_EQ(got.sizes(), want.sizes());
  EXPECT_EQ((got - want).abs().max().item<float>(), 0.0f) << "grey levels apart";
}

}  // namespace
}  // namespace p2p
