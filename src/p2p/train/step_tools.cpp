// Shared step helpers (see step_tools.h).
#include "p2p/train/step_tools.h"

#include <ATen/ATen.h>
#include <torch/nn/utils/clip_grad.h>

#include <vector>

namespace p2p {

void set_requires_grad(torch::nn::Module& net, bool flag) {
  for (auto& p : net.parameters()) p.set_requires_grad(flag);
}

void clear_grads(torch::optim::Optimizer& opt) {
  for (auto& group : opt.param_groups()) {
    for (auto& p : group.params()) p.mutable_grad() = at::Tensor();
  }
}

void clip_grads(torch::optim::Optimizer& opt, double max_norm) {
  if (max_norm <= 0) return;
  std::vector<at::Tensor> params;
  for (auto& group : opt.param_groups()) {
    for (auto& p : group.params()) {
      if (p.grad().defined()) params.push_back(p);
    }
  }
  torch::nn::utils::clip_grad_norm_(params, max_norm);
}

}  // namespace p2p
