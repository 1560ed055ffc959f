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
#include "p2p/core/blas_calibration.h"
#include "p2p/core/precision.h"

#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
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

// The weight gradient of a stride-2 convolution C with weight [ci, co, 4, 4] (co -> ci channels) for
// input `in` [n, co, 2H, 2W] and output gradient `out_grad` [n, ci, H, W], as one matrix product over
// the patches of `in`: dW[ci, co*16] = out_grad[ci, nHW] x im2col(in)[co*16, nHW]^T. The same sums as
// oneDNN's backward-weights pass.
at::Tensor weight_grad_gemm(const at::Tensor& out_grad, const at::Tensor& in, const at::Tensor& weight) {
  const int64_t n = in.size(0), ci = weight.size(0), co = weight.size(1), l = out_grad.size(2) * out_grad.size(3);
  const at::Tensor cols = at::im2col(in, {4, 4}, kDilation, kPadding, kStride);  // [n, co*16, L]
  const at::Tensor a = out_grad.reshape({n, ci, l}).permute({1, 0, 2}).reshape({ci, n * l});
  const at::Tensor b = cols.permute({1, 0, 2}).reshape({co * 16, n * l});
  return at::mm(a, b.t()).view(weight.sizes());
}

at::Tensor weight_grad_onednn(const at::Tensor& out_grad, const at::Tensor& in, const at::Tensor& weight) {
  return std::get<1>(at::convolution_backward(out_grad, in, weight, c10::nullopt, kStride, kPadding, kDilation, false,
                                              kNoOutputPadding, 1, {false, true, false}));
}

// Which of the two computes a weight gradient of this shape and type faster. oneDNN's backward-weights
// kernels fall off a cliff for some shapes (measured on an AMD EPYC: 60-70 ms instead of 1-3 ms for
// 1024 -> 512 channels at 2x2 and 4x4, in fp32 and in bf16; BENCHMARKS.md), and where depends on the
// CPU and the oneDNN build, so each shape is timed both ways once per machine and the faster kept, in
// the cache the BLAS choice uses. Per machine, not per process: the two paths round differently, and a
// resumed run must compute exactly as the run it continues. Without a cache file, oneDNN's.
std::atomic<WeightGradPath> g_path{WeightGradPath::measured};

bool gemm_is_faster(const at::Tensor& out_grad, const at::Tensor& in, const at::Tensor& weight) {
  if (g_path != WeightGradPath::measured) return g_path == WeightGradPath::gemm;
  static std::mutex mutex;
  static std::map<std::vector<int64_t>, bool> chosen;
  std::vector<int64_t> key(in.sizes().begin(), in.sizes().end());
  key.insert(key.end(), out_grad.sizes().begin(), out_grad.sizes().end());
  key.push_back(static_cast<int64_t>(in.scalar_type()));
  std::lock_guard<std::mutex> lock(mutex);
  if (auto it = chosen.find(key); it != chosen.end()) return it->second;
  const auto time = [&](auto&& pass) {
    double best = 1e30;
    for (int i = 0; i < 3; ++i) {  // the first includes one-off costs (allocation, kernel selection)
      const auto t0 = std::chrono::steady_clock::now();
      pass(out_grad, in, weight);
      best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    return best;
  };
  bool gemm = false;
  const std::string cache = default_blas_cache_file();
  if (!cache.empty()) {
    std::ostringstream name;
    name << "weight gradient " << in.sizes() << " -> " << out_grad.sizes() << " " << in.scalar_type();
    const auto usable = [](const nlohmann::json& e) { return e.at("gemm").is_boolean(); };
    const CachedMeasurement m = measure_once(cache, blas_cache_key(at::get_num_threads(), name.str()), usable, [&] {
      const double g = time(weight_grad_gemm), o = time(weight_grad_onednn);
      return nlohmann::json{{"gemm", g < o}, {"seconds_gemm", g}, {"seconds_onednn", o}};
    });
    gemm = m.value.at("gemm").get<bool>();
  }
  chosen.emplace(std::move(key), gemm);
  return gemm;
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
    return {gx, unet_conv_weight_grad(x, g, weight)};
  }
};

}  // namespace

bool takes_unet_training_passes(bool enabled, const torch::nn::detail::ConvNdOptions<2>& o, const at::Tensor& x,
                                const at::Tensor& weight) {
  // Only where a gradient will be asked for: a trace (TorchScript export) or an inference pass keeps
  // LibTorch's traceable op.
  const bool wants_grad = at::GradMode::is_enabled() && (x.requires_grad() || weight.requires_grad());
  const bool floating = x.scalar_type() == at::kFloat || x.scalar_type() == at::kBFloat16;
  const auto pair = [](const auto& v, int64_t a) { return (*v)[0] == a && (*v)[1] == a; };
  const bool geometry = pair(o.kernel_size(), 4) && pair(o.stride(), 2) &&
                        explicit_padding(o.padding()) == std::array<int64_t, 2>{1, 1} && pair(o.dilation(), 1) &&
                        pair(o.output_padding(), 0) && o.groups() == 1 && zero_padding_mode(o.padding_mode());
  return enabled && wants_grad && geometry && x.dim() == 4 && x.device().is_cpu() && floating &&
         weight.scalar_type() == at::kFloat && at::hasMKLDNN();
}

at::Tensor unet_pass_operand(const at::Tensor& t) {
  return bf16_autocast_active() ? cast_to_bf16(t) : t.to(at::kFloat);
}

void set_up_conv_weight_grad_path(WeightGradPath path) { g_path = path; }

at::Tensor unet_conv_weight_grad(const at::Tensor& out_grad, const at::Tensor& in, const at::Tensor& weight) {
  return gemm_is_faster(out_grad, in, weight) ? weight_grad_gemm(out_grad, in, weight)
                                              : weight_grad_onednn(out_grad, in, weight);
}

at::Tensor UpConv2dImpl::forward(const at::Tensor& x, const c10::optional<at::IntArrayRef>& output_size) {
  if (!options.transposed() || output_size.has_value() ||
      !takes_unet_training_passes(onednn_training, options, x, weight)) {
    return torch::nn::ConvTranspose2dImpl::forward(x, output_size);
  }
  // Under bf16 autocast the passes take bf16 operands, as LibTorch's autocast does for convolutions
  // (LibTorch 1.13 autocasts a transposed convolution to fp32, which would drop to its GEMM path).
  const at::Tensor y = UpConvFunction::apply(unet_pass_operand(x), unet_pass_operand(weight));
  return bias.defined() ? y + unet_pass_operand(bias).view({1, -1, 1, 1}) : y;
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
