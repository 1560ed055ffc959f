// Tests for deploy/export: a generator exported to safetensors comes back with identical weights and
// options and gives identical outputs; Python reads the file with the README's few lines into the
// reference architecture (bench/reference) and reproduces our output to 1e-5; files that are not
// pix2pix.cpp exports are refused with a message.
#include "p2p/core/config_json.h"
#include "p2p/eval/export.h"
#include "p2p/io/safetensors.h"
#include "p2p/io/state_dict.h"
#include "p2p/models/networks.h"
#include "testutil/testutil.h"
#include "tiny_generator.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/grad_mode.h>

namespace p2p {
namespace {

// Export tests use one input channel and three output channels, so a swapped pair would show.
NetConfig tiny_net(const std::string& netG, const std::string& norm) { return test::tiny_net(netG, norm, 1, 3); }

using test::trained_looking;

TEST(Export, RoundTripGivesIdenticalWeightsOptionsAndOutputs) {
  const std::string dir = test::scratch_dir("export_roundtrip");
  const NetConfig n = tiny_net("unet_32", "batch");
  NetworkPtr G = trained_looking(n);
  nlohmann::json data = {{"dataroot", "/secret/path"}, {"sar_db", true}, {"mean_A", {0.25}}, {"std_A", {0.5}}};
  export_generator_safetensors(dir + "/g.safetensors", *G, {{"net", to_json(n)}, {"data", data}}, "/runs/x/best.pt");
  nlohmann::json config;
  const StateDict back = read_generator_weights(dir + "/g.safetensors", config);
  EXPECT_EQ(config["net"], to_json(n));
  EXPECT_EQ(config["data"]["sar_db"], true);
  EXPECT_FALSE(config["data"].contains("dataroot"));  // not shipped
  NetConfig n2;
  update_from_json(n2, config["net"], "test");
  NetworkPtr H = make_generator(n2);
  load_into(*H, back, "export");
  set_eval_mode(*H, true);
  const StateDict a = state_dict_of(*G), b = state_dict_of(*H);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_TRUE(at::equal(a[i].second, b[i].second)) << a[i].first;
  }
  torch::NoGradGuard no_grad;
  const at::Tensor x = at::randn({1, 1, 64, 32});
  EXPECT_TRUE(at::equal(G->forward(x), H->forward(x)));
  EXPECT_EQ(read_safetensors(dir + "/g.safetensors").metadata.at("pix2pix.source"), "best.pt");
}

TEST(Export, PythonLoadsItIntoTheReferenceArchitecture) {
  ASSERT_TRUE(test::python_can_import("torch, numpy", "python3-torch python3-numpy"));
  for (const auto& [netG, norm] : std::vector<std::pair<std::string, std::string>>{{"unet_32", "batch"},
                                                                                   {"resnet_6blocks", "instance"}}) {
    const std::string dir = test::scratch_dir("export_python");
    const NetConfig n = tiny_net(netG, norm);
    NetworkPtr G = trained_looking(n);
    export_generator_safetensors(dir + "/g.safetensors", *G, {{"net", to_json(n)}}, "");
    at::manual_seed(3);
    const at::Tensor x = at::rand({2, 1, 32, 32}) * 2 - 1;
    at::Tensor y;
    {
      torch::NoGradGuard no_grad;
      y = G->forward(x);
    }
    write_state_dict(dir + "/case.pt", {{"input", x}, {"output", y}});
    const auto r = test::run_python_script("deploy/load_export.py", "'" + dir + "/g.safetensors' '" + dir + "/case.pt'");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("parameters " + std::to_string(count_parameters(*G))), std::string::npos) << r.output;
    const size_t at_diff = r.output.find("max_abs_diff ");
    ASSERT_NE(at_diff, std::string::npos) << r.output;
    EXPECT_LT(std::stod(r.output.substr(at_diff + 13)), 1e-5) << netG << ": " << r.output;
  }
}

TEST(Export, OtherFilesAreRefused) {
  const std::string dir = test::scratch_dir("export_refused");
  Safetensors foreign;
  foreign.tensors = {{"w", at::ones({2})}};
  write_safetensors(dir + "/foreign.safetensors", foreign);
  nlohmann::json config;
  EXPECT_NE(test::error_of([&] { read_generator_weights(dir + "/foreign.safetensors", config); })
                .find("not a pix2pix.cpp generator export"),
            std::string::npos);
  write_state_dict(dir + "/plain.pth", {{"w", at::ones({2})}});
  EXPECT_EQ(read_generator_weights(dir + "/plain.pth", config).size(), 1u);  // a .pth reads as before
  EXPECT_TRUE(config.is_null());
  NetworkPtr G = make_generator(tiny_net("unet_32", "batch"));
  EXPECT_NE(test::error_of([&] { export_generator_safetensors(dir + "/x.safetensors", *G, nlohmann::json::object(), ""); })
                .find("architecture options are unknown"),
            std::string::npos);
}

}  // namespace
}  // namespace p2p
