// Tests for deploy/torchscript: a generator traced to TorchScript loads in Python with torch.jit.load
// alone and gives our outputs to 1e-5 on an input of another size than the trace's example, with the
// run's options carried in the file; tracing leaves the generator's parameters as they were.
#include "p2p/deploy/torchscript.h"

#include "p2p/core/config_json.h"
#include "p2p/eval/inference.h"
#include "p2p/models/networks.h"
#include "testutil/testutil.h"

#include <ATen/ATen.h>
#include <torch/torch.h>

#include <gtest/gtest.h>

#include <fstream>

namespace p2p {
namespace {

void write_floats(const std::string& path, const at::Tensor& t) {
  const at::Tensor c = t.contiguous();
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(c.data_ptr<float>()),
                                               static_cast<std::streamsize>(c.numel() * sizeof(float)));
}

at::Tensor read_floats(const std::string& path, at::IntArrayRef shape) {
  const std::string bytes = test::read_file(path);
  at::Tensor t = at::empty(shape, at::kFloat);
  EXPECT_EQ(bytes.size(), static_cast<size_t>(t.numel()) * sizeof(float));
  std::memcpy(t.data_ptr<float>(), bytes.data(), std::min(bytes.size(), static_cast<size_t>(t.numel()) * sizeof(float)));
  return t;
}

TEST(TorchScript, PythonRunsTheTracedGeneratorOnAnotherSize) {
  ASSERT_TRUE(test::python_can_import("torch, numpy", "python3-torch python3-numpy"));
  const std::string dir = test::scratch_dir("torchscript");
  torch::manual_seed(4);
  NetConfig cfg;
  cfg.ngf = 8;
  cfg.netG = "unet_32";
  cfg.output_nc = 2;
  NetworkPtr g = make_generator(cfg);
  init_weights(*g, "normal", 0.02);
  set_eval_mode(*g, true);
  export_generator_torchscript(dir + "/g.pt", *g, 3, 64, {{"net", to_json(cfg)}});
  for (const at::Tensor& p : g->parameters()) EXPECT_TRUE(p.requires_grad());

  const at::Tensor x = at::rand({1, 3, 96, 160}) * 2 - 1;  // the trace saw 64 x 64
  write_floats(dir + "/x.bin", x);
  const auto r = test::run_python_script("deploy/run_torchscript.py",
                                         "'" + dir + "/g.pt' '" + dir + "/x.bin' '" + dir + "/y.bin' 3 96 160");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("\"netG\":\"unet_32\""), std::string::npos) << r.output;
  torch::NoGradGuard no_grad;
  const at::Tensor expect = g->forward(x);
  const at::Tensor got = read_floats(dir + "/y.bin", {1, 2, 96, 160});
  EXPECT_LT((got - expect).abs().max().item<float>(), 1e-5);
  EXPECT_GT(expect.std().item<float>(), 1e-4);  // not a constant output that anything would match
}

}  // namespace
}  // namespace p2p
