// Known answers for the generators and discriminators: reference parameter counts, state_dict key
// layout, output shapes, dropout placement, receptive fields, conv MACs and train/eval behaviour.
// Full-size networks are only constructed, except one unet_256 and one basic-D forward at 256x256.
#include "p2p/core/error.h"
#include "p2p/models/networks.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/dropout.h>
#include <torch/utils.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

namespace {

using p2p::NetConfig;

NetConfig small_cfg(const std::string& netG, int ngf = 8) {
  NetConfig cfg;
  cfg.netG = netG;
  cfg.ngf = ngf;
  cfg.ndf = ngf;
  return cfg;
}

std::set<std::string> param_names(const torch::nn::Module& m) {
  std::set<std::string> names;
  for (const auto& item : m.named_parameters()) names.insert(item.key());
  return names;
}

std::set<std::string> buffer_names(const torch::nn::Module& m) {
  std::set<std::string> names;
  for (const auto& item : m.named_buffers()) names.insert(item.key());
  return names;
}

std::vector<std::string> dropout_names(torch::nn::Module& m) {
  std::vector<std::string> names;
  for (const auto& item : m.named_modules()) {
    if (dynamic_cast<torch::nn::DropoutImpl*>(item.value().get())) names.push_back(item.key());
  }
  std::sort(names.begin(), names.end());
  return names;
}

// Name of the U-Net block at `depth` (0 = outermost): the outermost block is child "model", each deeper
// block is the submodule inside its parent's Sequential (index 1 under the outermost, 3 elsewhere).
std::string unet_block(int depth) {
  std::string path = "model";
  for (int d = 1; d <= depth; ++d) path += d == 1 ? ".model.1" : ".model.3";
  return path;
}

std::vector<int64_t> shape_of(p2p::Network& net, int64_t c, int64_t h, int64_t w) {
  torch::NoGradGuard no_grad;
  return net.forward(at::randn({2, c, h, w})).sizes().vec();
}

std::string error_of(const NetConfig& cfg, bool discriminator = false) {
  try {
    if (discriminator) {
      p2p::make_discriminator(cfg, 6);
    } else {
      p2p::make_generator(cfg);
    }
  } catch (const p2p::Error& e) {
    return e.what();
  }
  return "";
}

TEST(Unet, Unet256HasReferenceParameterCountAndKeys) {
  NetConfig cfg;  // defaults: unet_256, 3 -> 3, ngf 64, batch norm
  auto g = p2p::make_generator(cfg);
  EXPECT_EQ(p2p::count_parameters(*g), 54413955);
  EXPECT_EQ(g->size_multiple(), 256);

  const auto params = param_names(*g);
  const auto buffers = buffer_names(*g);
  EXPECT_TRUE(params.count("model.model.0.weight"));           // outermost down conv
  EXPECT_FALSE(params.count("model.model.0.bias"));            // batch norm: no conv bias
  EXPECT_TRUE(params.count("model.model.3.weight"));           // outermost up conv
  EXPECT_TRUE(params.count("model.model.3.bias"));             // ... always with bias
  EXPECT_TRUE(params.count("model.model.1.model.1.weight"));   // second down conv
  EXPECT_TRUE(params.count("model.model.1.model.2.weight"));   // its batch norm
  EXPECT_TRUE(buffers.count("model.model.1.model.2.running_mean"));
  EXPECT_TRUE(buffers.count("model.model.1.model.2.running_var"));
  EXPECT_TRUE(params.count("model.model.1.model.5.weight"));   // middle up conv
  EXPECT_TRUE(params.count("model.model.1.model.6.bias"));     // middle up norm
  const std::string inner = unet_block(7);
  EXPECT_TRUE(params.count(inner + ".model.1.weight"));  // innermost down conv
  EXPECT_TRUE(params.count(inner + ".model.3.weight"));  // innermost up conv
  EXPECT_TRUE(params.count(inner + ".model.4.weight"));  // innermost up norm
  EXPECT_FALSE(params.count(inner + ".model.2.weight"));  // no norm on the innermost down path
  EXPECT_FALSE(params.count(unet_block(8) + ".model.1.weight"));  // exactly 8 levels
}

TEST(Unet, Unet128ParameterCount) {
  NetConfig cfg;
  cfg.netG = "unet_128";
  auto g = p2p::make_generator(cfg);
  EXPECT_EQ(p2p::count_parameters(*g), 41828995);
  EXPECT_EQ(g->size_multiple(), 128);
}

TEST(Unet, Unet256CostsAbout6GMacAt256) {
  NetConfig cfg;
  auto g = p2p::make_generator(cfg);
  g->eval();
  p2p::MacCounter counter;
  torch::NoGradGuard no_grad;
  at::Tensor y = g->forward_counting(at::zeros({1, 3, 256, 256}), counter);
  EXPECT_EQ(y.sizes().vec(), (std::vector<int64_t>{1, 3, 256, 256}));
  EXPECT_NEAR(counter.macs / 1e9, 6.05, 0.01);
}

TEST(Unet, OutputShapesAtSmallSizes) {
  for (const std::string name : {"unet_64", "encoder_decoder_64"}) {
    for (auto [in, out] : {std::pair{3, 3}, std::pair{1, 3}, std::pair{3, 1}, std::pair{1, 1}}) {
      NetConfig cfg = small_cfg(name);
      cfg.input_nc = in;
      cfg.output_nc = out;
      auto g = p2p::make_generator(cfg);
      EXPECT_EQ(g->size_multiple(), 64);
      EXPECT_EQ(shape_of(*g, in, 64, 64), (std::vector<int64_t>{2, out, 64, 64}))
          << name << " " << in << "->" << out;
    }
  }
  // unet_32 (5 downs: no dropout blocks in the reference placement) on a non-square multiple of 32.
  auto g = p2p::make_generator(small_cfg("unet_32"));
  EXPECT_EQ(shape_of(*g, 3, 32, 96), (std::vector<int64_t>{2, 3, 32, 96}));
  // Tanh output.
  torch::NoGradGuard no_grad;
  at::Tensor y = g->forward(at::randn({1, 3, 32, 32}) * 10);
  EXPECT_LE(y.abs().max().item<float>(), 1.0f);
}

TEST(Unet, EncoderDecoderHasNoSkipChannels) {
  auto unet = p2p::make_generator(small_cfg("unet_64"));
  auto encdec = p2p::make_generator(small_cfg("encoder_decoder_64"));
  auto weight = [](p2p::Network& n, const std::string& key) { return n.named_parameters()[key].sizes().vec(); };
  // Transposed-conv weights are [in, out, kh, kw]: the U-Net's decoder sees twice the channels.
  EXPECT_EQ(weight(*unet, "model.model.3.weight"), (std::vector<int64_t>{16, 3, 4, 4}));
  EXPECT_EQ(weight(*encdec, "model.model.3.weight"), (std::vector<int64_t>{8, 3, 4, 4}));
  EXPECT_EQ(weight(*unet, "model.model.1.model.5.weight"), (std::vector<int64_t>{32, 8, 4, 4}));
  EXPECT_EQ(weight(*encdec, "model.model.1.model.5.weight"), (std::vector<int64_t>{16, 8, 4, 4}));
  // Same key set otherwise.
  EXPECT_EQ(param_names(*unet), param_names(*encdec));
  EXPECT_LT(p2p::count_parameters(*encdec), p2p::count_parameters(*unet));
}

TEST(Unet, SkipCarriesTheActivatedInput) {
  // The reference's in-place LeakyReLU activates the tensor it later concatenates, so the skip half of
  // a block's output is LeakyReLU(x, 0.2), not x. Run the block under the outermost one directly.
  auto g = p2p::make_generator(small_cfg("unet_64"));
  g->eval();
  auto outer = std::dynamic_pointer_cast<torch::nn::SequentialImpl>(g->named_modules()["model.model"]);
  ASSERT_TRUE(outer);
  torch::NoGradGuard no_grad;
  at::Tensor x = at::randn({1, 8, 32, 32});
  const at::Tensor expected = at::leaky_relu(x, 0.2);  // before the block activates x in place
  at::Tensor y = outer->begin()[1].forward(x);
  ASSERT_EQ(y.sizes().vec(), (std::vector<int64_t>{1, 16, 32, 32}));
  EXPECT_TRUE(at::allclose(y.slice(1, 0, 8), expected));
  // The baseline without skips returns only the decoder's 8 channels.
  auto encdec = p2p::make_generator(small_cfg("encoder_decoder_64"));
  auto outer_ed = std::dynamic_pointer_cast<torch::nn::SequentialImpl>(encdec->named_modules()["model.model"]);
  encdec->eval();
  EXPECT_EQ(outer_ed->begin()[1].forward(x).size(1), 8);
}

TEST(Unet, ConvBiasOnlyWhereNoBatchNormFollows) {
  for (const std::string norm : {"batch", "instance", "none"}) {
    NetConfig cfg = small_cfg("unet_64");
    cfg.norm = norm;
    auto g = p2p::make_generator(cfg);
    int convs = 0;
    for (const auto& item : g->named_modules()) {
      at::Tensor bias;
      if (auto* c = dynamic_cast<torch::nn::Conv2dImpl*>(item.value().get())) {
        bias = c->bias;
      } else if (auto* t = dynamic_cast<torch::nn::ConvTranspose2dImpl*>(item.value().get())) {
        bias = t->bias;
      } else {
        continue;
      }
      ++convs;
      const bool expect_bias = norm != "batch" || item.key() == "model.model.3";
      EXPECT_EQ(bias.defined(), expect_bias) << norm << " " << item.key();
    }
    EXPECT_EQ(convs, 12);  // 6 levels, one conv and one transposed conv each
    const auto params = param_names(*g);
    // Norm "none" keeps an Identity in the norm slots, so the up conv stays at index 5.
    EXPECT_TRUE(params.count("model.model.1.model.5.weight")) << norm;
    EXPECT_EQ(params.count("model.model.1.model.2.weight"), norm == "batch" ? 1u : 0u) << norm;
  }
}

TEST(Unet, DropoutPlacement) {
  // Reference: the num_downs - 5 ngf*8 blocks just above the innermost (depths 4, 5, 6 of unet_256).
  auto reference = p2p::make_generator(small_cfg("unet_256"));
  std::vector<std::string> expected = {unet_block(4) + ".model.7", unet_block(5) + ".model.7",
                                       unet_block(6) + ".model.7"};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(dropout_names(*reference), expected);

  // Paper: the first three decoder layers = innermost (appended at index 5) and the two blocks above.
  NetConfig paper_cfg = small_cfg("unet_256");
  paper_cfg.dropout_placement = "paper";
  auto paper = p2p::make_generator(paper_cfg);
  expected = {unet_block(7) + ".model.5", unet_block(6) + ".model.7", unet_block(5) + ".model.7"};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(dropout_names(*paper), expected);
  // Appending never shifts a parameter, so both placements share the key set.
  EXPECT_EQ(param_names(*reference), param_names(*paper));
  EXPECT_EQ(buffer_names(*reference), buffer_names(*paper));

  EXPECT_EQ(dropout_names(*p2p::make_generator(small_cfg("unet_64"))),
            std::vector<std::string>{unet_block(4) + ".model.7"});
  EXPECT_TRUE(dropout_names(*p2p::make_generator(small_cfg("unet_32"))).empty());
  NetConfig paper32 = small_cfg("unet_32");
  paper32.dropout_placement = "paper";
  EXPECT_EQ(dropout_names(*p2p::make_generator(paper32)).size(), 3u);

  NetConfig off = small_cfg("unet_256");
  off.no_dropout = true;
  EXPECT_TRUE(dropout_names(*p2p::make_generator(off)).empty());
  off.dropout_placement = "paper";
  EXPECT_TRUE(dropout_names(*p2p::make_generator(off)).empty());
}

TEST(Resnet, ParameterCountsAndKeys) {
  NetConfig cfg;
  cfg.netG = "resnet_9blocks";
  auto g9 = p2p::make_generator(cfg);
  // Hand count (batch norm, no conv bias except the last): 9408 + 128 + 73728 + 256 + 294912 + 512 +
  // 9 * 2 * (589824 + 512) + 294912 + 256 + 73728 + 128 + 9411.
  EXPECT_EQ(p2p::count_parameters(*g9), 11383427);
  EXPECT_EQ(g9->size_multiple(), 4);
  const auto p = param_names(*g9);
  const auto b = buffer_names(*g9);
  EXPECT_TRUE(p.count("model.1.weight"));   // Conv7 after ReflectionPad2d(3)
  EXPECT_FALSE(p.count("model.1.bias"));
  EXPECT_TRUE(b.count("model.2.running_mean"));
  EXPECT_TRUE(p.count("model.4.weight"));   // first stride-2 conv
  EXPECT_TRUE(p.count("model.7.weight"));   // second
  EXPECT_TRUE(p.count("model.10.conv_block.1.weight"));
  EXPECT_TRUE(p.count("model.10.conv_block.2.weight"));
  EXPECT_TRUE(p.count("model.10.conv_block.6.weight"));  // pad 0, conv 1, norm 2, relu 3, dropout 4, pad 5, conv 6
  EXPECT_TRUE(b.count("model.18.conv_block.7.running_var"));
  EXPECT_FALSE(p.count("model.19.conv_block.1.weight"));
  EXPECT_TRUE(p.count("model.19.weight"));  // first transposed conv
  EXPECT_TRUE(p.count("model.22.weight"));
  EXPECT_TRUE(p.count("model.26.weight"));  // final Conv7 ...
  EXPECT_TRUE(p.count("model.26.bias"));    // ... with bias
  EXPECT_EQ(dropout_names(*g9).size(), 9u);

  cfg.netG = "resnet_6blocks";
  cfg.no_dropout = true;
  auto g6 = p2p::make_generator(cfg);
  EXPECT_EQ(p2p::count_parameters(*g6), 11383427 - 3 * 2 * (589824 + 512));
  const auto p6 = param_names(*g6);
  EXPECT_TRUE(p6.count("model.10.conv_block.5.weight"));  // no dropout: second conv moves to 5
  EXPECT_TRUE(p6.count("model.23.bias"));
  EXPECT_TRUE(dropout_names(*g6).empty());
}

TEST(Resnet, OutputShapes) {
  for (const std::string name : {"resnet_6blocks", "resnet_9blocks"}) {
    for (const std::string norm : {"batch", "instance", "none"}) {
      NetConfig cfg = small_cfg(name);
      cfg.norm = norm;
      cfg.input_nc = 1;
      auto g = p2p::make_generator(cfg);
      EXPECT_EQ(shape_of(*g, 1, 32, 36), (std::vector<int64_t>{2, 3, 32, 36})) << name << " " << norm;
    }
  }
}

TEST(Discriminator, ParameterCountsAndKeys) {
  NetConfig cfg;
  cfg.netD = "n_layers";
  for (auto [layers, count] : {std::pair{1, 139585}, std::pair{3, 2768705}, std::pair{5, 11159361}}) {
    cfg.n_layers_D = layers;
    EXPECT_EQ(p2p::count_parameters(*p2p::make_discriminator(cfg, 6)), count) << layers;
  }
  cfg.netD = "basic";
  cfg.n_layers_D = 5;  // ignored by basic
  auto d = p2p::make_discriminator(cfg, 6);
  EXPECT_EQ(p2p::count_parameters(*d), 2768705);
  const auto p = param_names(*d);
  EXPECT_TRUE(p.count("model.0.bias"));
  EXPECT_FALSE(p.count("model.2.bias"));
  EXPECT_TRUE(p.count("model.3.weight"));
  EXPECT_TRUE(buffer_names(*d).count("model.9.running_mean"));
  EXPECT_TRUE(p.count("model.11.weight"));
  EXPECT_TRUE(p.count("model.11.bias"));
  EXPECT_FALSE(p.count("model.12.weight"));
  EXPECT_EQ(d->size_multiple(), 1);

  cfg.netD = "pixel";
  auto px = p2p::make_discriminator(cfg, 6);
  // 6*64+64 + 64*128 + 2*128 + 128*1 (no biases after batch norm).
  EXPECT_EQ(p2p::count_parameters(*px), 448 + 8192 + 256 + 128);
  EXPECT_TRUE(param_names(*px).count("net.0.bias"));
  EXPECT_TRUE(buffer_names(*px).count("net.3.running_mean"));
  EXPECT_TRUE(param_names(*px).count("net.5.weight"));
}

TEST(Discriminator, BasicCosts3p2GMacAnd30x30LogitsAt256) {
  NetConfig cfg;
  auto d = p2p::make_discriminator(cfg, 6);
  d->eval();
  p2p::MacCounter counter;
  torch::NoGradGuard no_grad;
  at::Tensor y = d->forward_counting(at::zeros({1, 6, 256, 256}), counter);
  EXPECT_EQ(y.sizes().vec(), (std::vector<int64_t>{1, 1, 30, 30}));
  EXPECT_NEAR(counter.macs / 1e9, 3.20, 0.01);
}

TEST(Discriminator, LogitShapes) {
  NetConfig cfg = small_cfg("unet_64");
  cfg.netD = "n_layers";
  // Each stride-2 conv halves the side; the two stride-1 k4 p1 convs take one pixel each.
  cfg.n_layers_D = 1;
  EXPECT_EQ(shape_of(*p2p::make_discriminator(cfg, 4), 4, 64, 64), (std::vector<int64_t>{2, 1, 30, 30}));
  cfg.n_layers_D = 5;
  EXPECT_EQ(shape_of(*p2p::make_discriminator(cfg, 4), 4, 256, 128), (std::vector<int64_t>{2, 1, 6, 2}));
  cfg.netD = "basic";
  EXPECT_EQ(shape_of(*p2p::make_discriminator(cfg, 2), 2, 64, 64), (std::vector<int64_t>{2, 1, 6, 6}));
  cfg.netD = "pixel";
  EXPECT_EQ(shape_of(*p2p::make_discriminator(cfg, 6), 6, 33, 17), (std::vector<int64_t>{2, 1, 33, 17}));
}

TEST(Discriminator, ReceptiveFields) {
  NetConfig cfg;
  cfg.netD = "pixel";
  EXPECT_EQ(p2p::receptive_field(cfg), 1);
  cfg.netD = "basic";
  EXPECT_EQ(p2p::receptive_field(cfg), 70);
  cfg.netD = "n_layers";
  cfg.n_layers_D = 1;
  EXPECT_EQ(p2p::receptive_field(cfg), 16);
  cfg.n_layers_D = 3;
  EXPECT_EQ(p2p::receptive_field(cfg), 70);
  cfg.n_layers_D = 5;
  EXPECT_EQ(p2p::receptive_field(cfg), 286);
}

TEST(Networks, ForwardCountingEqualsForward) {
  std::vector<p2p::NetworkPtr> nets = {p2p::make_generator(small_cfg("unet_64")),
                                       p2p::make_generator(small_cfg("encoder_decoder_64")),
                                       p2p::make_generator(small_cfg("resnet_6blocks"))};
  for (auto& net : nets) {
    net->eval();
    torch::NoGradGuard no_grad;
    at::Tensor x = at::randn({1, 3, 64, 64});
    p2p::MacCounter counter;
    EXPECT_TRUE(at::equal(net->forward(x), net->forward_counting(x, counter)));
    EXPECT_GT(counter.macs, 0.0);
  }
  NetConfig cfg = small_cfg("unet_64");
  cfg.netD = "pixel";
  auto d = p2p::make_discriminator(cfg, 3);
  d->eval();
  torch::NoGradGuard no_grad;
  at::Tensor x = at::randn({1, 3, 16, 16});
  p2p::MacCounter counter;
  EXPECT_TRUE(at::equal(d->forward(x), d->forward_counting(x, counter)));
  EXPECT_DOUBLE_EQ(counter.macs, 256.0 * (8 * 3 + 16 * 8 + 1 * 16));
}

TEST(Networks, DropoutIsActiveOnlyInTrainMode) {
  torch::NoGradGuard no_grad;
  for (const std::string name : {"unet_64", "resnet_6blocks"}) {
    auto g = p2p::make_generator(small_cfg(name));
    at::Tensor x = at::randn({1, 3, 64, 64});
    p2p::set_eval_mode(*g, /*eval=*/false);
    for (const auto& m : g->modules()) EXPECT_TRUE(m->is_training());
    EXPECT_FALSE(at::allclose(g->forward(x), g->forward(x))) << name;
    p2p::set_eval_mode(*g, /*eval=*/true);
    for (const auto& m : g->modules()) EXPECT_FALSE(m->is_training());
    EXPECT_TRUE(at::equal(g->forward(x), g->forward(x))) << name;
  }
  // Without dropout, train mode is deterministic too (batch statistics are a function of the input).
  NetConfig cfg = small_cfg("unet_64");
  cfg.no_dropout = true;
  auto g = p2p::make_generator(cfg);
  p2p::set_eval_mode(*g, false);
  at::Tensor x = at::randn({1, 3, 64, 64});
  EXPECT_TRUE(at::equal(g->forward(x), g->forward(x)));
}

TEST(Networks, BadNamesNameTheFlag) {
  for (const std::string bad : {"unet_100", "unet_16", "foo", "unet_", "unet_256x", "encoder_decoder_abc",
                                "resnet_7blocks"}) {
    const std::string msg = error_of(small_cfg(bad));
    EXPECT_NE(msg.find("--netG"), std::string::npos) << bad << ": " << msg;
    EXPECT_NE(msg.find(bad), std::string::npos) << msg;
    EXPECT_NE(msg.find("resnet_9blocks"), std::string::npos) << msg;
    EXPECT_NE(msg.find("unet_256"), std::string::npos) << msg;
  }
  NetConfig cfg = small_cfg("unet_64");
  cfg.norm = "group";
  EXPECT_NE(error_of(cfg).find("--norm"), std::string::npos);
  EXPECT_NE(error_of(cfg, true).find("--norm"), std::string::npos);
  EXPECT_NE(error_of(cfg).find("instance"), std::string::npos);
  cfg = small_cfg("unet_64");
  cfg.netD = "patch";
  const std::string d_msg = error_of(cfg, true);
  EXPECT_NE(d_msg.find("--netD"), std::string::npos) << d_msg;
  EXPECT_NE(d_msg.find("pixel"), std::string::npos) << d_msg;
  cfg.netD = "n_layers";
  cfg.n_layers_D = 0;
  EXPECT_NE(error_of(cfg, true).find("--n_layers_D"), std::string::npos);
  cfg = small_cfg("unet_64", 0);
  EXPECT_NE(error_of(cfg).find("--ngf"), std::string::npos);
  EXPECT_NE(error_of(cfg, true).find("--ndf"), std::string::npos);
  cfg = small_cfg("unet_64");
  cfg.input_nc = 0;
  EXPECT_NE(error_of(cfg).find("--input_nc"), std::string::npos);
  cfg = small_cfg("unet_64");
  cfg.dropout_placement = "middle";
  EXPECT_NE(error_of(cfg).find("--dropout_placement"), std::string::npos);
  // Valid edge: the smallest and a large power of two parse.
  EXPECT_EQ(p2p::make_generator(small_cfg("unet_32"))->size_multiple(), 32);
  EXPECT_EQ(p2p::make_generator(small_cfg("encoder_decoder_512", 1))->size_multiple(), 512);
}

}  // namespace
