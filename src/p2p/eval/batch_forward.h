// The hook through which every forward pass of any-size and tiled translation runs.
#pragma once

#include <ATen/Tensor.h>

#include <functional>

namespace p2p {

// G's forward pass on a padded batch [N,C,H,W] (float, on the CPU) giving [N,output_nc,H,W]; empty means
// G.forward on the device. `p2p serve` passes one that runs the batches of concurrent requests together.
using BatchForward = std::function<at::Tensor(const at::Tensor&)>;

}  // namespace p2p
