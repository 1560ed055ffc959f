// Weight initialisation (the reference scheme), parameter counting and train/eval switching.
// init_weights draws from LibTorch's global generator, so callers seed it first for reproducible runs.
#include "p2p/models/networks.h"

#include "p2p/core/error.h"
#include "p2p/models/spectral_norm.h"
#include "p2p/models/sync_batch_norm.h"

#include <torch/nn/init.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/utils.h>

#include <cmath>

namespace p2p {
namespace {

void init_weight(at::Tensor& w, const std::string& init_type, double gain) {
  namespace init = torch::nn::init;
  if (init_type == "normal") {
    init::normal_(w, 0.0, gain);
  } else if (init_type == "xavier") {
    init::xavier_normal_(w, gain);
  } else if (init_type == "kaiming") {
    // a = 0 with the leaky-ReLU formula gives the ReLU gain sqrt(2); fan_in keeps forward variance.
    init::kaiming_normal_(w, 0.0, torch::kFanIn, torch::kLeakyReLU);
  } else {  // orthogonal (validated by the caller)
    init::orthogonal_(w, gain);
  }
}

void init_bias(at::Tensor& b) {
  if (b.defined()) b.zero_();
}

}  // namespace

void init_weights(torch::nn::Module& net, const std::string& init_type, double init_gain) {
  check_choice("--init_type", init_type, "normal|xavier|kaiming|orthogonal");
  if (!std::isfinite(init_gain) || init_gain < 0.0) {
    fail("--init_gain: must be a finite number >= 0 (got " + std::to_string(init_gain) + ")");
  }
  torch::NoGradGuard no_grad;
  for (const auto& m : net.modules(/*include_self=*/true)) {
    if (auto* conv = dynamic_cast<torch::nn::Conv2dImpl*>(m.get())) {
      init_weight(conv->weight, init_type, init_gain);
      init_bias(conv->bias);
    } else if (auto* convt = dynamic_cast<torch::nn::ConvTranspose2dImpl*>(m.get())) {
      init_weight(convt->weight, init_type, init_gain);
      init_bias(convt->bias);
    } else if (auto* sn = dynamic_cast<SpectralConv2dImpl*>(m.get())) {
      // The parameter is the unnormalised weight; u, v keep their normalised random start.
      init_weight(sn->weight_orig, init_type, init_gain);
      init_bias(sn->bias);
    } else if (auto* linear = dynamic_cast<torch::nn::LinearImpl*>(m.get())) {
      init_weight(linear->weight, init_type, init_gain);
      init_bias(linear->bias);
    } else if (auto* bn = dynamic_cast<torch::nn::BatchNorm2dImpl*>(m.get())) {
      // Scales start near 1 so the network starts close to plain standardisation.
      if (bn->weight.defined()) torch::nn::init::normal_(bn->weight, 1.0, init_gain);
      init_bias(bn->bias);
    } else if (auto* sbn = dynamic_cast<SyncBatchNorm2dImpl*>(m.get())) {
      torch::nn::init::normal_(sbn->weight, 1.0, init_gain);  // as batch norm, draw for draw
      init_bias(sbn->bias);
    }
  }
}

int64_t count_parameters(const torch::nn::Module& net) {
  int64_t total = 0;
  for (const auto& p : net.parameters(/*recurse=*/true)) total += p.numel();
  return total;
}

void set_eval_mode(torch::nn::Module& net, bool eval) {
  // Not just net.eval() everywhere: the paper's test mode keeps dropout as the noise source and
  // normalises with the test batch's statistics, which is train() behaviour. So eval is a choice.
  if (eval) {
    net.eval();
  } else {
    net.train(true);
  }
}

}  // namespace p2p
