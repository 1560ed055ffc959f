// What every training step does around its backward passes, shared by the model families' steps
// (model.cpp, cycle_gan.cpp) so they freeze, clear and clip exactly alike.
#pragma once

#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>

namespace p2p {

// Freezes (false) or unfreezes a network's parameters: D is fixed while G learns to fool it.
void set_requires_grad(torch::nn::Module& net, bool flag);

// Drops gradients instead of zero-filling them: backward then writes fresh ones, saving a pass over
// every parameter (54M for unet_256) per step. Numerically identical to zero_grad() + accumulate.
void clear_grads(torch::optim::Optimizer& opt);

// Clips the norm of the gradients `opt` holds to `max_norm` (--clip_grad_G/D); 0 or less: nothing.
void clip_grads(torch::optim::Optimizer& opt, double max_norm);

}  // namespace p2p
