// The U-Net encoder's down-convolution for training on the CPU (layers.h, DownConv2dImpl).
//
// Why: oneDNN's backward-weights pass for the encoder's wide, small layers is far slower than their
// arithmetic (measured on an AMD EPYC, fp32: 60-84 ms for 512 -> 512 channels at 8x8 and 4x4, where one
// GEMM over the input's patches takes 1-2 ms), while its forward and input-gradient passes are fine.
// So only the weight gradient changes: unet_conv_weight_grad times both ways once per shape and machine.
#include "p2p/models/layers.h"

#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <torch/csrc/autograd/custom_function.h>

#include <array>

namespace p2p::detail {
namespace {

constexpr std::array<int64_t, 2> kStride = {2, 2}, kPadding = {1, 1}, kDilation = {1, 1}, kNoOutputPadding = {0, 0};

struct DownConvFunction : public torch::autograd::Function<DownConvFunction> {
  // Without the bias, added outside (as in up_conv.cpp).
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight) {
    const at::Tensor xc = x.contiguous();
    ctx->save_for_backward({xc, weight});
    return at::convolution(xc, weight, c10::nullopt, kStride, kPadding, kDilation, false, kNoOutputPadding, 1);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& x = saved[0];
    const at::Tensor& weight = saved[1];
    const at::Tensor g = grads[0].contiguous();
    at::Tensor gx;  // the first layer's input (the image) needs none
    if (ctx->needs_input_grad(0)) {
      gx = std::get<0>(at::convolution_backward(g, x, weight, c10::nullopt, kStride, kPadding, kDilation, false,
                                                kNoOutputPadding, 1, {true, false, false}));
    }
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
  return bias.defined() ? y + unet_pass_operand(bias).view({1, -1, 1, 1}) : y;
}

}  // namespace p2p::detail
