// TorchScript export: the generator traced into a TorchScript module that Python (torch.jit.load) or
// LibTorch (torch::jit::load) runs with no pix2pix code. LibTorch's C++ API cannot script C++ modules,
// so the module is traced: one forward on an example input is recorded as a graph, with the weights as
// constants (a frozen module). The recorded ops take any input size the generator takes (multiples of
// its size multiple) — the tests run it on another size than the example's. The mode is the one G is
// in when exported: eval (running statistics, no dropout) or the paper's test mode (batch statistics,
// dropout drawn at each call).
#pragma once

#include "p2p/models/networks.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace p2p {

// Traces G on a [1, input_nc, size, size] example and saves the module to `path` atomically, with
// `config` ({"net": ..., "data": ...}) as the extra file "pix2pix.json". G's parameters are used as
// constants (tracing does not change G). Throws p2p::Error naming the file when it cannot be written.
void export_generator_torchscript(const std::string& path, Network& G, int64_t input_nc, int64_t size,
                                  const nlohmann::json& config);

}  // namespace p2p
