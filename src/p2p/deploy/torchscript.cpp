// TorchScript export (torchscript.h). Compiled without the shared precompiled header: the JIT headers
// are needed here only.
#include "p2p/deploy/torchscript.h"

#include "p2p/core/error.h"
#include "p2p/io/fs.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/frontend/tracer.h>
#include <torch/torch.h>

#include <unordered_map>
#include <vector>

namespace p2p {

void export_generator_torchscript(const std::string& path, Network& G, int64_t input_nc, int64_t size,
                                  const nlohmann::json& config) {
  // Tracing records tensors it was not given as inputs as constants, which it refuses for tensors that
  // need gradients: the parameters are switched off for the trace and back afterwards.
  std::vector<std::pair<at::Tensor, bool>> params;
  for (at::Tensor& p : G.parameters()) {
    params.emplace_back(p, p.requires_grad());
    p.set_requires_grad(false);
  }
  struct Restore {
    std::vector<std::pair<at::Tensor, bool>>& params;
    ~Restore() {
      for (auto& [p, grad] : params) p.set_requires_grad(grad);
    }
  } restore{params};

  torch::jit::Module module("__torch__.pix2pix.Generator");
  try {
    const at::Tensor example = at::zeros({1, input_nc, size, size}, G.parameters().front().options());
    auto traced = torch::jit::tracer::trace(
        {example}, [&](torch::jit::Stack in) { return torch::jit::Stack{G.forward(in.at(0).toTensor())}; },
        [](const at::Tensor&) { return std::string(); }, /*strict=*/false, /*force_outplace=*/false);
    std::shared_ptr<torch::jit::Graph> graph = traced.first->graph;
    // A method's graph takes the module itself first.
    graph->insertInput(0, "self")->setType(module._ivalue()->type());
    auto* fn = module._ivalue()->compilation_unit()->create_function("forward", graph);
    module.type()->addMethod(fn);
  } catch (const c10::Error& e) {
    fail("cannot trace the generator for TorchScript: " + std::string(e.what_without_backtrace()));
  }
  nlohmann::json shipped = config;
  // As the safetensors export: where the training data lived is no business of a shipped model.
  if (shipped.contains("data") && shipped["data"].is_object()) shipped["data"].erase("dataroot");
  const std::unordered_map<std::string, std::string> extra = {{"pix2pix.json", shipped.dump()}};
  write_atomically(path, [&](const std::string& tmp) { module.save(tmp, extra); }, /*durable=*/true);
}

}  // namespace p2p
