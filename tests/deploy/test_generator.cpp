// Tests for prepare_for_inference: on the CPU the generator a translate, test or API call gets has its
// batch norm folded (--eval) and its convolutions packed onto oneDNN, and still computes what the
// checkpoint's network computes with LibTorch's own layers (loaded separately), in both test modes.
#include "p2p/core/config_json.h"
#include "p2p/eval/export.h"
#include "p2p/eval/generator.h"
#include "p2p/models/networks.h"
#include "testutil/testutil.h"
#include "tiny_generator.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>

namespace p2p {
namespace {

template <typename T>
int count(torch::nn::Module& net) {
  int n = 0;
  for (const auto& m : net.modules()) n += dynamic_cast<T*>(m.get()) != nullptr;
  return n;
}

TEST(PrepareForInference, CpuGeneratorIsFoldedAndPackedWithTheSameOutputs) {
  const std::string dir = test::scratch_dir("prepare_inference");
  const NetConfig n = test::tiny_net();
  NetworkPtr G = test::trained_looking(n);
  export_generator_safetensors(dir + "/g.safetensors", *G, {{"net", to_json(n)}}, "g.pt");

  const at::Tensor x = at::rand({1, 3, 64, 32}) * 2 - 1;
  for (const bool eval : {true, false}) {
    LoadedGenerator plain = load_generator({"", dir + "/g.safetensors"});
    set_eval_mode(*plain.G, eval);
    LoadedGenerator prepared = load_generator({"", dir + "/g.safetensors"});
    prepare_for_inference(prepared, c10::Device(c10::kCPU), eval);
    EXPECT_EQ(count<torch::nn::Conv2dImpl>(*prepared.G), 0) << eval;
    EXPECT_EQ(count<torch::nn::ConvTranspose2dImpl>(*prepared.G), 0) << eval;
    EXPECT_EQ(count<torch::nn::BatchNorm2dImpl>(*prepared.G), eval ? 0 : count<torch::nn::BatchNorm2dImpl>(*plain.G));
    torch::NoGradGuard no_grad;
    at::manual_seed(3);  // the paper's test mode draws dropout masks
    const at::Tensor want = plain.G->forward(x);
    at::manual_seed(3);
    const at::Tensor got = prepared.G->forward(x);
    EXPECT_LT(((got - want).abs().max() / want.abs().max()).item<double>(), 1e-5) << "eval " << eval;
  }
}

}  // namespace
}  // namespace p2p
