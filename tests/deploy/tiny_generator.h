// The deploy tests' generator: tiny (ngf 8), random weights, and batch-norm running statistics moved off
// their 0 / 1 start by a few training-mode passes, as a trained network's are — so folding, exporting
// and packing are checked on statistics that matter. Returned in eval mode.
#pragma once

#include "p2p/core/config.h"
#include "p2p/models/networks.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <string>

namespace p2p::test {

inline NetConfig tiny_net(const std::string& netG = "unet_32", const std::string& norm = "batch", int input_nc = 3,
                          int output_nc = 3) {
  NetConfig n;
  n.netG = netG;
  n.ngf = 8;
  n.norm = norm;
  n.input_nc = input_nc;
  n.output_nc = output_nc;
  return n;
}

inline NetworkPtr trained_looking(const NetConfig& n, uint64_t seed = 7) {
  at::manual_seed(seed);
  NetworkPtr G = make_generator(n);
  init_weights(*G, "normal", 0.02);
  G->train();
  torch::NoGradGuard no_grad;
  for (int i = 0; i < 3; ++i) G->forward(at::randn({2, n.input_nc, 32, 32}));
  set_eval_mode(*G, true);
  return G;
}

}  // namespace p2p::test
