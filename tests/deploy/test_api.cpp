// Tests for the embeddable API (include/pix2pix/pix2pix.h, through libpix2pix.so): a Translator loaded
// from an exported file or a run folder gives what the library's own inference gives on the same
// weights; concurrent calls from several threads return what sequential calls do; tiled buffers match
// tiled files; errors are pix2pix::Error naming the file or option.
#include <pix2pix/pix2pix.h>

#include "p2p/core/config_json.h"
#include "p2p/eval/export.h"
#include "p2p/eval/inference.h"
#include "p2p/io/image.h"
#include "p2p/models/networks.h"
#include "testutil/testutil.h"
#include "tiny_generator.h"

#include <ATen/ATen.h>
#include <torch/torch.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

namespace p2p {
namespace {

const c10::Device kCpu(c10::kCPU);

// The tiny U-Net, exported; returned in eval mode for the reference outputs.
NetworkPtr exported_generator(const std::string& path) {
  const NetConfig cfg = test::tiny_net();
  NetworkPtr g = test::trained_looking(cfg, 21);
  export_generator_safetensors(path, *g, {{"net", to_json(cfg)}}, "test");
  return g;
}

pix2pix::Image to_image(const at::Tensor& chw) {
  const at::Tensor hwc = chw.permute({1, 2, 0}).contiguous();
  pix2pix::Image im;
  im.channels = chw.size(0);
  im.height = chw.size(1);
  im.width = chw.size(2);
  im.pixels.assign(hwc.data_ptr<float>(), hwc.data_ptr<float>() + hwc.numel());
  return im;
}

at::Tensor to_tensor(const pix2pix::Image& im) {
  return at::from_blob(const_cast<float*>(im.pixels.data()), {im.height, im.width, im.channels}, at::kFloat)
      .permute({2, 0, 1})
      .clone();
}

TEST(Api, TranslatesLikeTheLibrary) {
  const std::string dir = test::scratch_dir("api_translate");
  NetworkPtr g = exported_generator(dir + "/g.safetensors");
  pix2pix::Options o;
  o.eval = true;
  const pix2pix::Translator t(dir + "/g.safetensors", o);
  EXPECT_EQ(t.input_channels(), 3);
  EXPECT_EQ(t.output_channels(), 3);
  EXPECT_EQ(t.architecture(), "unet_32");
  torch::manual_seed(2);
  const at::Tensor a = at::rand({3, 45, 70});
  const at::Tensor expect = to_unit_range(translate_tensor(*g, a * 2 - 1, kCpu));
  const pix2pix::Image out = t.translate(to_image(a));
  EXPECT_EQ(out.width, 70);
  EXPECT_EQ(out.height, 45);
  EXPECT_LT((to_tensor(out) - expect).abs().max().item<float>(), 1e-5);
  EXPECT_FALSE(pix2pix::version().empty());
}

TEST(Api, ConcurrentCallsGiveTheSequentialResults) {
  const std::string dir = test::scratch_dir("api_threads");
  exported_generator(dir + "/g.safetensors");
  pix2pix::Options o;
  o.eval = true;
  const pix2pix::Translator t(dir + "/g.safetensors", o);
  std::vector<pix2pix::Image> inputs, sequential(4), parallel(4);
  for (int i = 0; i < 4; ++i) {
    torch::manual_seed(100 + i);
    inputs.push_back(to_image(at::rand({3, 32 + 8 * i, 40})));
    sequential[i] = t.translate(inputs[i]);
  }
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) threads.emplace_back([&, i] { parallel[i] = t.translate(inputs[i]); });
  for (auto& th : threads) th.join();
  for (int i = 0; i < 4; ++i) EXPECT_EQ(parallel[i].pixels, sequential[i].pixels) << i;
}

TEST(Api, TiledBufferMatchesTiledFile) {
  const std::string dir = test::scratch_dir("api_tiled");
  exported_generator(dir + "/g.safetensors");
  pix2pix::Options o;
  o.eval = true;
  o.tile = 64;
  o.overlap = 16;
  o.tile_batch = 2;
  const pix2pix::Translator t(dir + "/g.safetensors", o);
  test::write_random_png(dir + "/in.png", 150, 90, 3, 4);
  t.translate_file(dir + "/in.png", dir + "/out.png");
  const pix2pix::Image out = t.translate(to_image(load_image(dir + "/in.png", 3)));
  const at::Tensor file = load_image(dir + "/out.png", 3);
  // The PNG holds 8 bits: within half a step of the buffer's floats.
  EXPECT_LE((to_tensor(out).clamp(0, 1) - file).abs().max().item<float>(), 0.5f / 255 + 1e-6f);
  // Tiling really happened: the untiled result differs.
  o.tile = 0;
  const pix2pix::Translator whole(dir + "/g.safetensors", o);
  EXPECT_GT((to_tensor(whole.translate(to_image(load_image(dir + "/in.png", 3)))) - to_tensor(out)).abs().max().item<float>(),
            1e-4);
}

TEST(Api, ErrorsNameTheProblem) {
  const std::string dir = test::scratch_dir("api_errors");
  exported_generator(dir + "/g.safetensors");
  auto message = [](const std::function<void()>& fn) {
    try {
      fn();
    } catch (const pix2pix::Error& e) {
      return std::string(e.what());
    }
    return std::string("no pix2pix::Error");
  };
  EXPECT_NE(message([&] { pix2pix::Translator t(dir + "/missing.pt"); }).find("missing.pt"), std::string::npos);
  pix2pix::Options bad;
  bad.tile = 48;
  EXPECT_NE(message([&] { pix2pix::Translator t(dir + "/g.safetensors", bad); }).find("--tile"), std::string::npos);
  bad = {};
  bad.device = "tpu";
  EXPECT_NE(message([&] { pix2pix::Translator t(dir + "/g.safetensors", bad); }).find("Options::device"), std::string::npos);
  const pix2pix::Translator t(dir + "/g.safetensors");
  pix2pix::Image wrong;
  wrong.width = 10;
  wrong.height = 10;
  wrong.channels = 1;
  wrong.pixels.resize(100);
  EXPECT_NE(message([&] { t.translate(wrong); }).find("channels"), std::string::npos);
  wrong.channels = 3;
  EXPECT_NE(message([&] { t.translate(wrong); }).find("300"), std::string::npos);
  EXPECT_NE(message([&] { t.translate_file(dir + "/nothing.png", dir + "/o.png"); }).find("nothing.png"),
            std::string::npos);
}

}  // namespace
}  // namespace p2p
