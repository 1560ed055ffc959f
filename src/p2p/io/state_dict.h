// Reference checkpoints: reads the PyTorch zip-format pickled state_dict that torch.save(net.state_dict())
// writes (*_net_G.pth, *_net_D.pth), and copies tensors into our modules by name.
#pragma once

#include <ATen/Tensor.h>
#include <torch/nn/module.h>

#include <string>
#include <utility>
#include <vector>

namespace p2p {

using StateDict = std::vector<std::pair<std::string, at::Tensor>>;

// Parses `path` strictly (only the pickle opcodes such files use); anything else, a truncated zip or a
// missing storage throws p2p::Error naming the file and what was found.
StateDict read_state_dict(const std::string& path);

// Writes `dict` in the same format (readable by torch.load), atomically.
void write_state_dict(const std::string& path, const StateDict& dict);

// Copies `dict` into net's parameters and buffers by name. A missing or unexpected key, or a shape
// mismatch, throws p2p::Error naming `source`, the tensor and both shapes. BatchNorm
// num_batches_tracked may be absent (old reference files).
void load_into(torch::nn::Module& net, const StateDict& dict, const std::string& source);

// The module's parameters and buffers in registration order, names as in load_into.
StateDict state_dict_of(const torch::nn::Module& net);

}  // namespace p2p
