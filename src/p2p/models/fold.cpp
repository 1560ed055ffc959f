// Batch-norm folding for inference with running statistics (see networks.h).
#include "p2p/models/networks.h"

#include <ATen/ATen.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>

namespace p2p {

namespace {

// y = gamma (conv(x) + b - mean) / sqrt(var + eps) + beta = conv'(x) + b' with the kernels of output
// channel c scaled by s_c = gamma_c / sqrt(var_c + eps) and b' = (b - mean) s + beta. Computed in
// double so the folded kernels are the exact products rounded once.
void fold_into(at::Tensor& weight, at::Tensor& bias, int64_t out_dim,
               const torch::nn::BatchNorm2dImpl& bn) {
  at::NoGradGuard no_grad;
  const at::Tensor scale = bn.weight.to(at::kDouble) / (bn.running_var.to(at::kDouble) + bn.options.eps()).sqrt();
  std::vector<int64_t> shape(static_cast<size_t>(weight.dim()), 1);
  shape[static_cast<size_t>(out_dim)] = -1;
  weight.copy_(weight.to(at::kDouble) * scale.view(shape));
  const at::Tensor b = bias.defined() ? bias.to(at::kDouble) : at::zeros_like(scale);
  const at::Tensor folded = ((b - bn.running_mean.to(at::kDouble)) * scale + bn.bias.to(at::kDouble)).to(weight.dtype());
  if (bias.defined()) {
    bias.copy_(folded);
  } else {
    bias = folded;  // the layer's forward reads this member; a bias-free conv's "bias" entry stays empty
  }
}

int fold_sequential(torch::nn::SequentialImpl& seq) {
  int folded = 0;
  for (size_t i = 0; i + 1 < seq.size(); ++i) {
    auto* bn = dynamic_cast<torch::nn::BatchNorm2dImpl*>(seq.ptr(i + 1).get());
    if (!bn || !bn->options.track_running_stats() || !bn->options.affine()) continue;
    torch::nn::Module* conv = seq.ptr(i).get();
    if (auto* c = dynamic_cast<torch::nn::Conv2dImpl*>(conv); c && c->options.groups() == 1) {
      fold_into(c->weight, c->bias, 0, *bn);  // [out, in, kh, kw]
    } else if (auto* t = dynamic_cast<torch::nn::ConvTranspose2dImpl*>(conv); t && t->options.groups() == 1) {
      fold_into(t->weight, t->bias, 1, *bn);  // [in, out, kh, kw]
    } else {
      continue;
    }
    // The Sequential runs its AnyModule list; its children (state dict, modules()) follow suit.
    auto identity = std::make_shared<torch::nn::IdentityImpl>();
    *(seq.begin() + static_cast<std::ptrdiff_t>(i + 1)) = torch::nn::AnyModule(identity);
    const std::string name = std::to_string(i + 1);
    if (seq.named_children().contains(name)) seq.replace_module(name, identity);
    ++folded;
  }
  return folded;
}

}  // namespace

int fold_batch_norm(torch::nn::Module& net) {
  int folded = 0;
  for (const auto& m : net.modules(/*include_self=*/true)) {
    if (auto* seq = dynamic_cast<torch::nn::SequentialImpl*>(m.get())) folded += fold_sequential(*seq);
  }
  return folded;
}

}  // namespace p2p
