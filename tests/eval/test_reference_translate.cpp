// `p2p translate --weights <reference *_net_G.pth> --eval` path: a reference checkpoint — in the zip
// format or the legacy format of the published models — loaded by load_generator_weights and run
// through translate_tensor must reproduce PyTorch's eval-mode output to 1e-4 (float). Fixtures:
// tests/fixtures/make_reference_fixtures.py (see testutil.h).
#include "p2p/eval/inference.h"
#include "p2p/models/networks.h"
#include "testutil/testutil.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstring>

namespace p2p {
namespace {

constexpr double kTolerance = 1e-4;

at::Tensor read_f32(const std::string& path, const std::vector<int64_t>& shape) {
  const std::string bytes = test::read_file(path);
  at::Tensor t = at::empty(shape, at::kFloat);
  EXPECT_EQ(bytes.size(), static_cast<size_t>(t.numel()) * 4) << path;
  std::memcpy(t.data_ptr<float>(), bytes.data(), std::min<size_t>(bytes.size(), t.numel() * 4));
  return t;
}

void check_translate(const std::string& file_key) {
  SCOPED_TRACE(file_key);
  const std::string dir = test::reference_fixtures();
  const auto manifest = nlohmann::json::parse(test::read_file(dir + "/manifest.json"));
  nlohmann::json entry;
  for (const auto& e : manifest.at("parity")) {
    if (e.at("name") == "unet_256") entry = e;
  }
  ASSERT_FALSE(entry.is_null());
  NetConfig cfg;
  cfg.netG = "unet_256";
  cfg.norm = "batch";
  cfg.ngf = entry.at("width").get<int>();
  NetworkPtr G = make_generator(cfg);
  load_generator_weights(*G, dir + "/" + entry.at(file_key).get<std::string>());
  set_eval_mode(*G, true);
  const at::Tensor x = read_f32(dir + "/" + entry.at("input").get<std::string>(),
                                entry.at("input_shape").get<std::vector<int64_t>>());
  const at::Tensor want = read_f32(dir + "/" + entry.at("output").get<std::string>(),
                                   entry.at("output_shape").get<std::vector<int64_t>>());
  const at::Tensor got = translate_tensor(*G, x[0], c10::Device(c10::kCPU));
  ASSERT_EQ(got.sizes(), want[0].sizes());
  EXPECT_LE((got - want[0]).abs().max().item<double>(), kTolerance);
}

TEST(ReferenceTranslate, Unet256WeightsReproduceReferenceEvalOutput) { check_translate("state_dict"); }
TEST(ReferenceTranslate, LegacyUnet256WeightsReproduceReferenceEvalOutput) { check_translate("legacy_state_dict"); }

}  // namespace
}  // namespace p2p
