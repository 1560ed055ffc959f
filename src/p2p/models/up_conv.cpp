// The U-Net decoder's up-convolution for training on the CPU (layers.h, UpConv2dImpl).
//
// Why: LibTorch 1.13 runs a float transposed convolution and both of its gradients as im2col + GEMM
// through OpenBLAS, which gets one thread next to LibTorch's (two oversubscribe a small machine, see
// blas_calibration.h). Each of the three is an ordinary convolution pass in disguise, and those run on
// oneDNN with all compute threads: for y = T(x, W), the adjoint of the convolution C(., W) with the
// same stride and padding,
//   y       = T(x, W)      = C's input gradient with output gradient x   (oneDNN backward-data)
//   dL/dx   = C(dL/dy, W)                                                (oneDNN forward)
//   dL/dW   = C's weight gradient for input dL/dy and output gradient x  (oneDNN backward-weights)
// The same sums in another order: gradients agree with LibTorch's to float rounding (tested).
#include "p2p/models/layers.h"
#include "p2p/models/networks.h"

#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <torch/csrc/autograd/custom_function.h>

#include <array>
#include <set>
#include <string>
#include <vector>

namespace p2p::detail {
namespace {

constexpr std::array<int64_t, 2> kStride = {2, 2}, kPadding = {1, 1}, kDilation = {1, 1}, kNoOutputPadding = {0, 0};

// The input gradient of C (stride 2, padding 1) for output gradient `grad_out` and an input shaped
// like `like_input` (only its shape is read): the transposed convolution of grad_out.
at::Tensor conv_input_grad(const at::Tensor& grad_out, const at::Tensor& like_input, const at::Tensor& weight) {
  return std::get<0>(at::convolution_backward(grad_out, like_input, weight, c10::nullopt, kStride, kPadding, kDilation,
                                              false, kNoOutputPadding, 1, {true, false, false}));
}

struct UpConvFunction : public torch::autograd::Function<UpConvFunction> {
  // Without the bias: it is added outside by an ordinary op (LibTorch 1.13 cannot pass an undefined
  // tensor through a custom function).
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight) {
    const at::Tensor xc = x.contiguous();
    ctx->save_for_backward({xc, weight});
    const at::Tensor shape = at::empty({x.size(0), weight.size(1), 2 * x.size(2), 2 * x.size(3)}, x.options());
    return conv_input_grad(xc, shape, weight);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& x = saved[0];
    const at::Tensor& weight = saved[1];
    const at::Tensor g = grads[0].contiguous();
    at::Tensor gx = at::convolution(g, weight, c10::nullopt, kStride, kPadding, kDilation, false, kNoOutputPadding, 1);
    at::Tensor gw = std::get<1>(at::convolution_backward(x, g, weight, c10::nullopt, kStride, kPadding, kDilation, false,
                                                         kNoOutputPadding, 1, {false, true, false}));
    return {gx, gw};
  }
};

// The geometry the passes above are written for, all of it (the U-Net's: 4x4 kernel, stride 2,
// padding 1, which is what makes the output exactly 2H x 2W); anything else stays LibTorch's.
bool is_unet_geometry(const torch::nn::detail::ConvNdOptions<2>& o) {
  const auto pair = [](const auto& v, int64_t a) { return (*v)[0] == a && (*v)[1] == a; };
  const auto padding = explicit_padding(o.padding());
  return pair(o.kernel_size(), 4) && pair(o.stride(), 2) && padding == std::array<int64_t, 2>{1, 1} &&
         pair(o.dilation(), 1) && pair(o.output_padding(), 0) && o.groups() == 1 && o.transposed() &&
         zero_padding_mode(o.padding_mode());
}

}  // namespace

at::Tensor UpConv2dImpl::forward(const at::Tensor& x, const c10::optional<at::IntArrayRef>& output_size) {
  // Only where a gradient will be asked for: a trace (TorchScript export) or an inference pass keeps
  // LibTorch's traceable op.
  const bool wants_grad = at::GradMode::is_enabled() && (x.requires_grad() || weight.requires_grad());
  const bool onednn = onednn_training && wants_grad && is_unet_geometry(options) && !output_size.has_value() &&
                      x.dim() == 4 && x.device().is_cpu() && x.scalar_type() == at::kFloat &&
                      weight.scalar_type() == at::kFloat && at::hasMKLDNN();
  if (!onednn) return torch::nn::ConvTranspose2dImpl::forward(x, output_size);
  const at::Tensor y = UpConvFunction::apply(x, weight);
  return bias.defined() ? y + bias.view({1, -1, 1, 1}) : y;
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
  }
  return n;
}

}  // namespace p2p
