// Reference checkpoints: reads the pickled state_dict that torch.save(net.state_dict()) writes
// (*_net_G.pth, *_net_D.pth) in either of PyTorch's formats — the zip archive (>= 1.6) and the legacy
// stream (<= 1.5, the reference's published models) — and copies tensors into our modules by name.
#pragma once

#include <ATen/Tensor.h>
#include <torch/nn/module.h>

#include <string>
#include <utility>
#include <vector>

namespace p2p {

using StateDict = std::vector<std::pair<std::string, at::Tensor>>;

// Parses `path` strictly (only the pickle opcodes such files use) and verifies its integrity: every zip
// record against its CRC-32, a legacy stream's storage counts and length. Anything else, a truncated or
// damaged file or a missing storage throws p2p::Error naming the file (and the entry) and what was found.
StateDict read_state_dict(const std::string& path);

// True when `path` is in torch.save's legacy format, which carries no checksum of its data (the zip
// format has a CRC-32 per record): damage to its tensor bytes cannot be detected.
bool is_legacy_torch_save(const std::string& path);

// Writes `dict` in the same format (readable by torch.load), atomically.
void write_state_dict(const std::string& path, const StateDict& dict);

// Copies `dict` into net's parameters and buffers by name. A missing or unexpected key, a shape
// mismatch, or a tensor holding NaN/Inf throws p2p::Error naming `source`, the tensor and what was found. BatchNorm
// num_batches_tracked may be absent (old reference files); running statistics of InstanceNorm layers
// (old instance-norm files) are dropped, as the reference does.
void load_into(torch::nn::Module& net, const StateDict& dict, const std::string& source);

// The module's parameters and buffers in registration order, names as in load_into.
StateDict state_dict_of(const torch::nn::Module& net);

}  // namespace p2p
