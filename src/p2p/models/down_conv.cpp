// The U-Net encoder's down-convolution for training on the CPU (layers.h, DownConv2dImpl).
//
// Why: oneDNN's backward-weights pass for the encoder's wide, small layers is far slower than their
// arithmetic (measured on an AMD EPYC, fp32: 60-84 ms for 512 -> 512 channels at 8x8 and 4x4, where one
// GEMM over the input's patches takes 1-2 ms), while its forward and input-gradient passes are fine.
// So only the weight gradient changes: unet_conv_weight_grad times both ways once per shape and machine.
#include "p2p/core/precision.h"
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

bool is_unet_down_geometry(const torch::nn::detail::ConvNdOptions<2>& o) {
  const auto pair = [](const auto& v, int64_t a) { return (*v)[0] == a && (*v)[1] == a; };
  return pair(o.kernel_size(), 4) && pair(o.stride(), 2) && explicit_padding(o.padding()) == std::array<int64_t, 2>{1, 1} &&
         pair(o.dilation(), 1) && o.groups() == 1 && !o.transposed() && zero_padding_mode(o.padding_mode());
}

}  // namespace

at::Tensor DownConv2dImpl::forward(const at::Tensor& x) {
  const bool wants_grad = at::GradMode::is_enabled() && (x.requires_grad() || weight.requires_grad());
  const bool floating = x.scalar_type() == at::kFloat || x.scalar_type() == at::kBFloat16;
  const bool ours = onednn_training && wants_grad && is_unet_down_geometry(options) && x.dim() == 4 &&
                    x.device().is_cpu() && floating && weight.scalar_type() == at::kFloat && at::hasMKLDNN();
  if (!ours) return torch::nn::Conv2dImpl::forward(x);
  // Under bf16 autocast the operands are cast here, as autocast casts a convolution's.
  const bool bf16 = bf16_autocast_active();
  const auto cast = [bf16](const at::Tensor& t) { return bf16 ? cast_to_bf16(t) : t.to(at::kFloat); };
  const at::Tensor y = DownConvFunction::apply(cast(x), cast(weight));
  return bias.defined() ? y + cast(bias).view({1, -1, 1, 1}) : y;
}

}  // namespace p2p::detail
