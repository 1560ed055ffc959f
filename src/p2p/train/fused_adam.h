// Adam with a single fused pass per parameter on the CPU. LibTorch's Adam runs about eight whole-tensor
// ops per parameter (each a full read/write of 54M floats for unet_256), which makes the optimizer a
// large share of a step at small image sizes. This computes the same update (same formula, no weight
// decay, no AMSGrad) reading g, m, v, p once and writing m, v, p once. State lives in the base class's
// AdamParamState, so checkpoints and resume are unchanged. Non-CPU or non-float parameters, weight
// decay and AMSGrad fall back to torch::optim::Adam::step.
#pragma once

#include <torch/optim/adam.h>

#include <vector>

namespace p2p {

class FusedAdam : public torch::optim::Adam {
 public:
  FusedAdam(std::vector<at::Tensor> params, torch::optim::AdamOptions options)
      : torch::optim::Adam(std::move(params), std::move(options)) {}
  at::Tensor step(LossClosure closure = nullptr) override;
};

}  // namespace p2p
