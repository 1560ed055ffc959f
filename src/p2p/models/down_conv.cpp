// The U-Net encoder's down-convolution for training on the CPU (layers.h, DownConv2dImpl): LibTorch's
// Conv2d, whose three passes each run by oneDNN or by one GEMM over patches, whichever this machine runs
// faster for the shape (unet_passes.cpp: oneDNN's backward-weights pass falls off a cliff for the
// encoder's wide, small layers, and its weight layout copies cost more than their arithmetic).
#include "p2p/models/layers.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

namespace p2p::detail {
namespace {

struct DownConvFunction : public torch::autograd::Function<DownConvFunction> {
  // Without the bias (add_unet_bias, layers.h).
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight) {
    const at::Tensor xc = x.contiguous();
    ctx->save_for_backward({xc, weight});
    return unet_conv_forward(xc, weight);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& x = saved[0];
    const at::Tensor& weight = saved[1];
    const at::Tensor g = grads[0].contiguous();
    at::Tensor gx;  // the first layer's input (the image) needs none
    if (ctx->needs_input_grad(0)) gx = unet_conv_input_grad(g, x.sizes(), weight);
    at::Tensor gw;
    if (ctx->needs_input_grad(1)) gw = unet_conv_weight_grad(g, x, weight);
    return {gx, gw};
  }
};

}  // namespace

at::Tensor DownConv2dImpl::forward(const at::Tensor& x) {
  if (options.transposed() || !takes_unet_training_passes(onednn_training, options, x, weight)) {
    return torch::nn::Conv2dImpl::forward(x);
  }
  const at::Tensor y = DownConvFunction::apply(unet_pass_operand(x), unet_pass_operand(weight));
  return add_unet_bias(y, bias);
}

}  // namespace p2p::detail
