// Size and cost summary of one network, for the `p2p info` command: parameter count, output shape and
// convolution GMACs of one batch-1 forward pass at a given input size.
#pragma once

#include "p2p/models/networks.h"

#include <cstdint>
#include <vector>

namespace p2p {

struct NetworkSummary {
  int64_t parameters = 0;
  std::vector<int64_t> output_shape;  // [1, C, H, W] for a batch-1 input
  double gmacs = 0.0;                 // conv + transposed-conv multiply-accumulates, in 1e9
};

// Runs a no-grad forward_counting on zeros of [1, in_channels, height, width] on the network's device.
// The pass runs with eval behaviour (so no batch-norm running statistic is touched) and every module's
// train/eval flag is restored afterwards. A size that is not a multiple of net.size_multiple(), or too
// small for the network, throws p2p::Error.
NetworkSummary summarize_network(Network& net, int64_t in_channels, int64_t height, int64_t width);

// Parameters of the generator's attention modules (those whose name contains "att_"; see attention.h):
// what --attention adds to the network. 0 for a network without attention.
int64_t attention_parameter_count(const torch::nn::Module& net);

}  // namespace p2p
