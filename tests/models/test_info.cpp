// summarize_network: hand-counted MACs and parameters of tiny networks, output shapes, the module
// train/eval flags and batch-norm statistics left as they were, and size errors as p2p::Error.
#include "p2p/core/error.h"
#include "p2p/models/info.h"
#include "p2p/models/networks.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

p2p::NetConfig tiny(const std::string& netG, int ngf) {
  p2p::NetConfig cfg;
  cfg.netG = netG;
  cfg.ngf = ngf;
  cfg.ndf = ngf;
  return cfg;
}

TEST(Info, PixelDiscriminatorByHand) {
  p2p::NetConfig cfg = tiny("unet_64", 8);
  cfg.netD = "pixel";
  auto d = p2p::make_discriminator(cfg, 6);
  const p2p::NetworkSummary s = p2p::summarize_network(*d, 6, 32, 32);
  EXPECT_EQ(s.parameters, (6 * 8 + 8) + 8 * 16 + 2 * 16 + 16);
  EXPECT_EQ(s.output_shape, (std::vector<int64_t>{1, 1, 32, 32}));
  EXPECT_DOUBLE_EQ(s.gmacs, 1024.0 * (8 * 6 + 16 * 8 + 1 * 16) / 1e9);
}

TEST(Info, BasicDiscriminatorByHand) {
  p2p::NetConfig cfg = tiny("unet_64", 8);
  auto d = p2p::make_discriminator(cfg, 3);
  const p2p::NetworkSummary s = p2p::summarize_network(*d, 3, 64, 64);
  EXPECT_EQ(s.output_shape, (std::vector<int64_t>{1, 1, 6, 6}));
  // out side^2 * out ch * in ch * 16 per conv: 32,16,8 (stride 2) then 7,6 (stride 1).
  const double macs = 32 * 32 * 8 * 3 * 16.0 + 16 * 16 * 16 * 8 * 16.0 + 8 * 8 * 32 * 16 * 16.0 +
                      7 * 7 * 64 * 32 * 16.0 + 6 * 6 * 1 * 64 * 16.0;
  EXPECT_DOUBLE_EQ(s.gmacs * 1e9, macs);
}

TEST(Info, UnetCountsTransposedConvsByInputElements) {
  // unet_32 with ngf 1, 1 -> 1 channel at 32x32, by hand:
  // down convs (out elems * in ch * 16): 16*16*1*1, 8*8*2*1, 4*4*4*2, 2*2*8*4, 1*1*8*8 (x16)
  // up convs (in elems * out ch * 16):  1*1*8*8, 2*2*16*4, 4*4*8*2, 8*8*4*1, 16*16*2*1 (x16)
  p2p::NetConfig cfg = tiny("unet_32", 1);
  cfg.input_nc = 1;
  cfg.output_nc = 1;
  auto g = p2p::make_generator(cfg);
  const p2p::NetworkSummary s = p2p::summarize_network(*g, 1, 32, 32);
  EXPECT_EQ(s.output_shape, (std::vector<int64_t>{1, 1, 32, 32}));
  const double down = 16.0 * (256 + 128 + 128 + 128 + 64);
  const double up = 16.0 * (64 + 256 + 256 + 256 + 512);
  EXPECT_DOUBLE_EQ(s.gmacs * 1e9, down + up);
  EXPECT_EQ(s.parameters, p2p::count_parameters(*g));
}

TEST(Info, LeavesModesAndStatisticsAsTheyWere) {
  auto g = p2p::make_generator(tiny("unet_64", 8));
  g->train();
  const auto before = g->named_buffers()["model.model.1.model.2.running_mean"].clone();
  const p2p::NetworkSummary s = p2p::summarize_network(*g, 3, 64, 128);
  EXPECT_EQ(s.output_shape, (std::vector<int64_t>{1, 3, 64, 128}));
  for (const auto& m : g->modules()) EXPECT_TRUE(m->is_training());
  EXPECT_TRUE(at::equal(before, g->named_buffers()["model.model.1.model.2.running_mean"]));

  // A mixed setting survives too: eval everywhere except one block kept in training.
  g->eval();
  auto block = g->named_modules()["model.model.1"];
  block->train();
  p2p::summarize_network(*g, 3, 64, 64);
  EXPECT_FALSE(g->is_training());
  EXPECT_FALSE(g->named_modules()["model.model.0"]->is_training());
  EXPECT_TRUE(block->is_training());
  EXPECT_TRUE(g->named_modules()["model.model.1.model.3"]->is_training());
}

TEST(Info, ResnetShape) {
  auto g = p2p::make_generator(tiny("resnet_6blocks", 4));
  const p2p::NetworkSummary s = p2p::summarize_network(*g, 3, 32, 40);
  EXPECT_EQ(s.output_shape, (std::vector<int64_t>{1, 3, 32, 40}));
  EXPECT_GT(s.gmacs, 0.0);
}

TEST(Info, BadSizesThrow) {
  auto g = p2p::make_generator(tiny("unet_64", 8));
  try {
    p2p::summarize_network(*g, 3, 48, 64);
    FAIL() << "expected p2p::Error";
  } catch (const p2p::Error& e) {
    EXPECT_NE(std::string(e.what()).find("multiple of 64"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(g->is_training());
  // 16x16 is too small for a 5-layer PatchGAN: LibTorch's error becomes a p2p::Error.
  p2p::NetConfig cfg = tiny("unet_64", 8);
  cfg.netD = "n_layers";
  cfg.n_layers_D = 5;
  auto d = p2p::make_discriminator(cfg, 6);
  EXPECT_THROW(p2p::summarize_network(*d, 6, 16, 16), p2p::Error);
  EXPECT_TRUE(d->is_training());
  EXPECT_THROW(p2p::summarize_network(*d, 0, 16, 16), p2p::Error);
}

}  // namespace
