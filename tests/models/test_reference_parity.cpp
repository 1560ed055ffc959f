// Reference parity: state_dicts saved by PyTorch from reference-layout networks (unet_256, unet_128,
// resnet_6blocks, resnet_9blocks, basic and pixel PatchGANs; width 8; batch norm with perturbed running
// statistics, or instance norm) load into our networks by name, and our forward pass reproduces
// PyTorch's output to a max abs difference of 1e-4 — in eval mode (running statistics, no dropout) and
// in the paper's test mode (batch statistics; built without dropout so the output is deterministic).
// The same holds for the legacy (pre-1.6) files of the reference's published models and for old
// instance-norm files that still carry InstanceNorm running statistics. Fixtures:
// tests/fixtures/make_reference_fixtures.py (run with the PyTorch interpreter once per version of the
// script, cached under the test working directory).
#include "p2p/core/config.h"
#include "p2p/core/error.h"
#include "p2p/io/state_dict.h"
#include "p2p/models/networks.h"
#include "testutil/testutil.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/csrc/autograd/grad_mode.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <stdexcept>

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Outputs are O(0.1-1) (the fixture's weights keep activations from vanishing), and PyTorch and we
// run the same float32 kernels in a different order at most, so 1e-4 is loose for float rounding but
// far below any real difference in wiring, padding or normalisation.
constexpr double kTolerance = 1e-4;



std::string fixture(const std::string& name) { return p2p::test::reference_fixtures() + "/" + name; }

const json& parity_entry(const std::string& name) {
  static const json m = json::parse(p2p::test::read_file(fixture("manifest.json")));
  for (const json& e : m.at("parity")) {
    if (e.at("name").get<std::string>() == name) return e;
  }
  throw std::runtime_error("no parity entry " + name + " in the fixture manifest");
}

// Raw little-endian float32 in C order, as the fixture script writes it.
at::Tensor read_f32(const std::string& path, const std::vector<int64_t>& shape) {
  std::string bytes = p2p::test::read_file(path);
  at::Tensor t = at::empty(shape, at::kFloat);
  if (bytes.size() != static_cast<size_t>(t.nbytes())) {
    throw std::runtime_error(path + " has " + std::to_string(bytes.size()) + " bytes, expected " +
                             std::to_string(t.nbytes()));
  }
  std::memcpy(t.data_ptr(), bytes.data(), bytes.size());
  return t;
}

p2p::NetConfig config_for(const json& e) {
  p2p::NetConfig cfg;
  cfg.input_nc = e.at("input_nc").get<int>();
  cfg.output_nc = e.at("output_nc").get<int>();
  cfg.ngf = cfg.ndf = e.at("width").get<int>();
  cfg.norm = e.at("norm").get<std::string>();
  if (e.at("kind").get<std::string>() == "G") {
    cfg.netG = e.at("arch").get<std::string>();
    cfg.no_dropout = !e.at("use_dropout").get<bool>();
  } else {
    cfg.netD = e.at("arch").get<std::string>();
  }
  return cfg;
}

p2p::NetworkPtr build(const json& e) {
  p2p::NetConfig cfg = config_for(e);
  if (e.at("kind").get<std::string>() == "G") return p2p::make_generator(cfg);
  return p2p::make_discriminator(cfg, e.at("input_shape")[1].get<int64_t>());
}

// Loads the entry's `file_key` file into our network and compares the forward pass with PyTorch's.
void check_parity(const std::string& name, const std::string& file_key = "state_dict") {
  SCOPED_TRACE(name + " (" + file_key + ")");
  const json& e = parity_entry(name);
  ASSERT_TRUE(e.contains(file_key)) << "the fixture has no " << file_key;
  const std::string file = fixture(e.at(file_key).get<std::string>());
  p2p::StateDict dict = p2p::read_state_dict(file);
  p2p::NetworkPtr net = build(e);
  EXPECT_EQ(p2p::count_parameters(*net), e.at("parameters").get<int64_t>());

  if (file_key == "state_dict") {
    // Our names, in our order, are the file's: files we write look like the reference's.
    p2p::StateDict ours = p2p::state_dict_of(*net);
    ASSERT_EQ(ours.size(), dict.size());
    for (size_t i = 0; i < ours.size(); ++i) EXPECT_EQ(ours[i].first, dict[i].first) << "entry " << i;
  }

  p2p::load_into(*net, dict, file);
  const bool eval = e.at("mode").get<std::string>() == "eval";
  p2p::set_eval_mode(*net, eval);
  at::Tensor x = read_f32(fixture(e.at("input").get<std::string>()), e.at("input_shape").get<std::vector<int64_t>>());
  at::Tensor want = read_f32(fixture(e.at("output").get<std::string>()), e.at("output_shape").get<std::vector<int64_t>>());
  torch::NoGradGuard no_grad;
  at::Tensor got = net->forward(x);
  ASSERT_EQ(got.sizes(), want.sizes());
  double diff = (got - want).abs().max().item<double>();
  EXPECT_LE(diff, kTolerance) << "max |ours - PyTorch| over " << got.numel() << " outputs";
  // The comparison means something only if the output is not ~0 everywhere.
  EXPECT_GT(want.abs().mean().item<double>(), 0.05);
  if (!eval) {
    // Batch statistics: the same weights in eval mode give another output, so this compared train mode.
    p2p::set_eval_mode(*net, true);
    EXPECT_GT((net->forward(x) - want).abs().max().item<double>(), 100 * kTolerance);
  }
}

std::string load_error(p2p::Network& net, const std::string& file) {
  try {
    p2p::load_into(net, p2p::read_state_dict(file), file);
  } catch (const p2p::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(ReferenceParity, Unet256) { check_parity("unet_256"); }
TEST(ReferenceParity, Unet128) { check_parity("unet_128"); }
TEST(ReferenceParity, Resnet6Blocks) { check_parity("resnet_6blocks"); }
TEST(ReferenceParity, Resnet9Blocks) { check_parity("resnet_9blocks"); }
TEST(ReferenceParity, BasicDiscriminator) { check_parity("basic_D"); }
TEST(ReferenceParity, PixelDiscriminator) { check_parity("pixel_D"); }

// The paper's test mode: BatchNorm normalises with the batch's own statistics.
TEST(ReferenceParity, PaperTestModeUnet256) { check_parity("unet_256_train"); }
TEST(ReferenceParity, PaperTestModeUnet128) { check_parity("unet_128_train"); }
TEST(ReferenceParity, PaperTestModeResnet9Blocks) { check_parity("resnet_9blocks_train"); }
TEST(ReferenceParity, PaperTestModeBasicDiscriminator) { check_parity("basic_D_train"); }
TEST(ReferenceParity, PaperTestModePixelDiscriminator) { check_parity("pixel_D_train"); }

TEST(ReferenceParity, InstanceNormUnet128) { check_parity("unet_128_instance"); }
TEST(ReferenceParity, InstanceNormResnet9Blocks) { check_parity("resnet_9blocks_instance"); }
TEST(ReferenceParity, InstanceNormBasicDiscriminator) { check_parity("basic_D_instance"); }

// Legacy (pre-1.6) files, the format of the reference's published pretrained models.
TEST(ReferenceParity, LegacyFormatUnet256) { check_parity("unet_256", "legacy_state_dict"); }
TEST(ReferenceParity, LegacyFormatUnet128) { check_parity("unet_128", "legacy_state_dict"); }
TEST(ReferenceParity, LegacyFormatResnet9Blocks) { check_parity("resnet_9blocks", "legacy_state_dict"); }
TEST(ReferenceParity, LegacyFormatBasicDiscriminator) { check_parity("basic_D", "legacy_state_dict"); }

// Old instance-norm files carry InstanceNorm running statistics, which the reference drops on load.
TEST(ReferenceParity, OldInstanceNormKeysUnet128) { check_parity("unet_128_instance", "old_keys_state_dict"); }
TEST(ReferenceParity, OldInstanceNormKeysResnet9Blocks) {
  check_parity("resnet_9blocks_instance", "old_keys_state_dict");
}

TEST(ReferenceParity, WrongArchitectureNamesTheTensor) {
  // unet_128 weights into unet_256: the 7th level is innermost in one and a middle block in the other.
  const std::string file = fixture("unet_128.pth");
  p2p::NetworkPtr unet256 = build(parity_entry("unet_256"));
  std::string msg = load_error(*unet256, file);
  EXPECT_NE(msg.find("checkpoint " + file), std::string::npos) << msg;
  EXPECT_NE(msg.find("model.model.1.model.3.model.3.model.3.model.3.model.3.model.3.weight"), std::string::npos)
      << msg;  // unet_128's innermost up conv: no such tensor in unet_256

  // A 3-channel unet_256 file into a 1-channel unet_256: a shape mismatch on the first conv.
  p2p::NetConfig gray = config_for(parity_entry("unet_256"));
  gray.input_nc = 1;
  p2p::NetworkPtr net = p2p::make_generator(gray);
  msg = load_error(*net, fixture("unet_256.pth"));
  EXPECT_NE(msg.find("tensor model.model.0.weight has shape [8, 3, 4, 4] but the network expects [8, 1, 4, 4]"),
            std::string::npos) << msg;
}

TEST(ReferenceParity, TruncatedFileNamesTheFile) {
  const std::string whole = p2p::test::read_file(fixture("basic_D.pth"));
  const std::string path = p2p::test::scratch_dir("parity_truncated") + "/basic_D.pth";
  {
    std::ofstream out(path, std::ios::binary);
    out << whole.substr(0, whole.size() / 2);
  }
  p2p::NetworkPtr d = build(parity_entry("basic_D"));
  std::string msg = load_error(*d, path);
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("torch.save(net.state_dict())"), std::string::npos) << msg;
}
