// The U-Net decoder's up-convolution for training on the CPU (layers.h, UpConv2dImpl).
//
// Why: LibTorch 1.13 runs a float transposed convolution and both of its gradients as im2col + GEMM
// through OpenBLAS, which gets one thread next to LibTorch's (two oversubscribe a small machine, see
// blas_calibration.h). Each of the three is an ordinary convolution pass in disguise: for y = T(x, W),
// the adjoint of the convolution C(., W) with the same stride and padding,
//   y       = T(x, W)      = C's input gradient with output gradient x
//   dL/dx   = C(dL/dy, W)                                  (C's forward)
//   dL/dW   = C's weight gradient for input dL/dy and output gradient x
// and those run by oneDNN with all compute threads, or by one GEMM where this machine runs that faster
// (unet_passes.cpp). The same sums in another order: gradients agree with LibTorch's to float rounding
// (tested).
#include "p2p/models/layers.h"
#include "p2p/models/networks.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

#include <set>
#include <string>
#include <vector>

namespace p2p::detail {
namespace {

struct UpConvFunction : public torch::autograd::Function<UpConvFunction> {
  // Without the bias (add_unet_bias, layers.h).
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight) {
    const at::Tensor xc = x.contiguous();
    ctx->save_for_backward({xc, weight});
    return unet_conv_input_grad(xc, {x.size(0), weight.size(1), 2 * x.size(2), 2 * x.size(3)}, weight);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& x = saved[0];
    const at::Tensor& weight = saved[1];
    const at::Tensor g = grads[0].contiguous();
    return {unet_conv_forward(g, weight), unet_conv_weight_grad(x, g, weight)};
  }
};

}  // namespace

at::Tensor UpConv2dImpl::forward(const at::Tensor& x, const c10::optional<at::IntArrayRef>& output_size) {
  if (!options.transposed() || output_size.has_value() ||
      !takes_unet_training_passes(onednn_training, options, x, weight)) {
    return torch::nn::ConvTranspose2dImpl::forward(x, output_size);
  }
  // Under bf16 autocast the passes take bf16 operands, as LibTorch's autocast does for convolutions
  // (LibTorch 1.13 autocasts a transposed convolution to fp32, which would drop to its GEMM path).
  const at::Tensor y = UpConvFunction::apply(unet_pass_operand(x), unet_pass_operand(weight));
  return add_unet_bias(y, bias);
}

}  // namespace p2p::detail

namespace p2p {

int onednn_up_convolution_nodes(const at::Tensor& y) {
  std::set<torch::autograd::Node*> seen;
  std::vector<torch::autograd::Node*> todo = {y.grad_fn().get()};
  int n = 0;
  while (!todo.empty()) {
    torch::autograd::Node* fn = todo.back();
    todo.pop_back();
    if (!fn || !seen.insert(fn).second) continue;
    if (fn->name().find("UpConvFunction") != std::string::npos) ++n;
    for (const auto& e : fn->next_edges()) todo.push_back(e.function.get());
  }
  return n;
}

int use_onednn_up_convolutions(torch::nn::Module& net, bool on) {
  int n = 0;
  for (const auto& m : net.modules(/*include_self=*/true)) {
    if (auto* up = m->as<detail::UpConv2dImpl>()) {
      up->onednn_training = on;
      ++n;
    }
    if (auto* down = m->as<detail::DownConv2dImpl>()) down->onednn_training = on;
  }
  return n;
}

}  // namespace p2p
