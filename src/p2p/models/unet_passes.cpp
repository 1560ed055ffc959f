// The three passes of the U-Net's 4x4 / stride-2 / padding-1 convolution C, which its down- and
// up-convolutions train on (layers.h; down_conv.cpp, up_conv.cpp), each by oneDNN or by one GEMM over
// patches, whichever this machine runs faster for the shape and type.
//
// Why: LibTorch hands oneDNN the weight in its plain layout, and oneDNN copies it into a blocked layout
// on every call (a different one for the input gradient). For the U-Net's wide, small layers (512 or
// 1024 channels at 1x1 to 8x8) that copy costs more than the arithmetic: measured on an AMD EPYC, fp32,
// 1.4-3 ms per pass for a 512x512 or 1024x512 weight next to 0.7-2 ms of convolution, 50 ms of a
// 176 ms unet_128 step, and oneDNN's backward-weights kernels fall off a cliff for some of these shapes
// (60-70 ms instead of 1-3 ms). A GEMM reads the plain weight as it is. Which is faster depends on the
// CPU, the oneDNN build and the shape, so each (pass, shape, type) is timed both ways once per machine
// and the faster kept, in the cache the BLAS choice uses. Per machine, not per process: the two paths
// round differently, and a resumed run must compute exactly as the run it continues. Without a cache
// file, oneDNN's.
#include "p2p/models/layers.h"
#include "p2p/models/thin_gemm.h"
#include "p2p/core/blas_calibration.h"
#include "p2p/core/precision.h"

#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

namespace p2p::detail {
namespace {

constexpr std::array<int64_t, 2> kKernel = {4, 4}, kStride = {2, 2}, kPadding = {1, 1}, kDilation = {1, 1},
                                 kNoOutputPadding = {0, 0};

// Shapes, in the names used below: C maps in [n, ci, Hi, Wi] to out [n, co, Ho, Wo] with weight
// [co, ci, 4, 4]; its patches are cols = im2col(in) [n, ci*16, L], L = Ho*Wo, and then
//   out    = W[co, ci*16] x cols                    (forward)
//   d in   = col2im(W[co, ci*16]^T x d out)          (input gradient)
//   d W    = d out[co, n*L] x cols[ci*16, n*L]^T     (weight gradient)
// The batch is folded into the columns so each is one matrix product, whatever n.

// [n, c, L] -> [c, n*L]
at::Tensor fold_batch(const at::Tensor& t) {
  return t.permute({1, 0, 2}).reshape({t.size(1), t.size(0) * t.size(2)});
}
// [c, n*L] -> [n, c, L]
at::Tensor unfold_batch(const at::Tensor& t, int64_t n) {
  return t.view({t.size(0), n, t.size(1) / n}).permute({1, 0, 2}).contiguous();
}

// a x b, a^T x b and a x b^T: the thin kernels where one side has few columns (thin_gemm.h), else
// BLAS (at::mm; oneDNN's matmul in bf16).
at::Tensor product(const at::Tensor& a, const at::Tensor& b) {
  return thin_gemm_applies(a, b.size(1), a.size(1)) ? thin_mm(a, b) : at::mm(a, b);
}
at::Tensor product_at(const at::Tensor& a, const at::Tensor& b) {
  return thin_gemm_applies(a, b.size(1), a.size(1)) ? thin_mm_at(a, b) : at::mm(a.t(), b);
}
at::Tensor product_bt(const at::Tensor& a, const at::Tensor& b) {
  return thin_gemm_applies(a, a.size(1), b.size(0)) ? thin_mm_bt(a, b) : at::mm(a, b.t());
}

at::Tensor forward_onednn(const at::Tensor& in, const at::Tensor& weight) {
  return at::convolution(in, weight, c10::nullopt, kStride, kPadding, kDilation, false, kNoOutputPadding, 1);
}

// C's output side for an input side h.
int64_t out_side(int64_t h) { return (h + 2 * kPadding[0] - kKernel[0]) / kStride[0] + 1; }

at::Tensor forward_gemm(const at::Tensor& in, const at::Tensor& weight) {
  const int64_t n = in.size(0), co = weight.size(0);
  const at::Tensor cols = at::im2col(in, kKernel, kDilation, kPadding, kStride);
  const at::Tensor y = product(weight.reshape({co, -1}), n == 1 ? cols[0] : fold_batch(cols));
  // A tensor of its own, not a view of y: a custom autograd function may not return views,
  // and the next layer's activation works in place.
  at::Tensor out = at::empty({n, co, out_side(in.size(2)), out_side(in.size(3))}, in.options());
  out.view({n, co, -1}).copy_(y.view({co, n, -1}).permute({1, 0, 2}));
  return out;
}

at::Tensor input_grad_onednn(const at::Tensor& out_grad, at::IntArrayRef in_sizes, const at::Tensor& weight) {
  const at::Tensor like_input = at::empty(in_sizes, out_grad.options());  // only its shape is read
  return std::get<0>(at::convolution_backward(out_grad, like_input, weight, c10::nullopt, kStride, kPadding, kDilation,
                                              false, kNoOutputPadding, 1, {true, false, false}));
}

at::Tensor input_grad_gemm(const at::Tensor& out_grad, at::IntArrayRef in_sizes, const at::Tensor& weight) {
  const int64_t n = out_grad.size(0), co = weight.size(0);
  const at::Tensor g = out_grad.reshape({n, co, -1});
  const at::Tensor cols = product_at(weight.reshape({co, -1}), n == 1 ? g[0] : fold_batch(g));
  return at::col2im(n == 1 ? cols.unsqueeze(0) : unfold_batch(cols, n), {in_sizes[2], in_sizes[3]}, kKernel, kDilation,
                    kPadding, kStride);
}

at::Tensor weight_grad_onednn(const at::Tensor& out_grad, const at::Tensor& in, const at::Tensor& weight) {
  return std::get<1>(at::convolution_backward(out_grad, in, weight, c10::nullopt, kStride, kPadding, kDilation, false,
                                              kNoOutputPadding, 1, {false, true, false}));
}

at::Tensor weight_grad_gemm(const at::Tensor& out_grad, const at::Tensor& in, const at::Tensor& weight) {
  const int64_t n = in.size(0), co = weight.size(0);
  const at::Tensor cols = at::im2col(in, kKernel, kDilation, kPadding, kStride);
  const at::Tensor g = out_grad.reshape({n, co, -1});
  return product_bt(n == 1 ? g[0] : fold_batch(g), n == 1 ? cols[0] : fold_batch(cols)).view(weight.sizes());
}

std::atomic<ConvPassPath> g_path{ConvPassPath::measured};

const char* pass_name(int pass) {
  static const char* const names[] = {"forward", "input gradient", "weight gradient"};
  return names[pass];
}

// Whether GEMM is this machine's faster way to run `pass` for operands shaped like these. `run(gemm)`
// runs the pass one way. The name of a cached entry is the pass, the input's and the output's shape and
// the type ("weight gradient [1, 512, 4, 4] -> [1, 512, 2, 2] Float").
template <typename Run>
bool gemm_is_faster(int pass, at::IntArrayRef in_sizes, at::IntArrayRef out_sizes, at::ScalarType type, Run&& run) {
  if (g_path != ConvPassPath::measured) return g_path == ConvPassPath::gemm;
  static std::mutex mutex;
  static std::map<std::vector<int64_t>, bool> chosen;
  std::vector<int64_t> key = {pass, static_cast<int64_t>(type)};
  key.insert(key.end(), in_sizes.begin(), in_sizes.end());
  key.insert(key.end(), out_sizes.begin(), out_sizes.end());
  std::lock_guard<std::mutex> lock(mutex);
  if (auto it = chosen.find(key); it != chosen.end()) return it->second;
  bool gemm = false;
  const std::string cache = default_blas_cache_file();
  if (!cache.empty()) {
    const auto time = [&](bool with_gemm) {
      double best = 1e30;
      for (int i = 0; i < 3; ++i) {  // the first includes one-off costs (allocation, kernel selection)
        const auto t0 = std::chrono::steady_clock::now();
        run(with_gemm);
        best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      }
      return best;
    };
    std::ostringstream name;
    name << pass_name(pass) << " " << in_sizes << " -> " << out_sizes << " " << type;
    const auto usable = [](const nlohmann::json& e) { return e.at("gemm").is_boolean(); };
    const CachedMeasurement m = measure_once(cache, blas_cache_key(at::get_num_threads(), name.str()), usable, [&] {
      const double g = time(true), o = time(false);
      return nlohmann::json{{"gemm", g < o}, {"seconds_gemm", g}, {"seconds_onednn", o}};
    });
    gemm = m.value.at("gemm").get<bool>();
  }
  chosen.emplace(std::move(key), gemm);
  return gemm;
}

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

at::Tensor add_unet_bias(const at::Tensor& y, const at::Tensor& bias) {
  return bias.defined() ? y + unet_pass_operand(bias).view({1, -1, 1, 1}) : y;
}

void set_unet_conv_path(ConvPassPath path) { g_path = path; }

at::Tensor unet_conv_forward(const at::Tensor& in, const at::Tensor& weight) {
  const auto run = [&](bool g) { return g ? forward_gemm(in, weight) : forward_onednn(in, weight); };
  const std::vector<int64_t> out_sizes = {in.size(0), weight.size(0), out_side(in.size(2)), out_side(in.size(3))};
  return run(gemm_is_faster(0, in.sizes(), out_sizes, in.scalar_type(), run));
}

at::Tensor unet_conv_input_grad(const at::Tensor& out_grad, at::IntArrayRef in_sizes, const at::Tensor& weight) {
  const auto run = [&](bool g) {
    return g ? input_grad_gemm(out_grad, in_sizes, weight) : input_grad_onednn(out_grad, in_sizes, weight);
  };
  return run(gemm_is_faster(1, in_sizes, out_grad.sizes(), out_grad.scalar_type(), run));
}

at::Tensor unet_conv_weight_grad(const at::Tensor& out_grad, const at::Tensor& in, const at::Tensor& weight) {
  const auto run = [&](bool g) {
    return g ? weight_grad_gemm(out_grad, in, weight) : weight_grad_onednn(out_grad, in, weight);
  };
  return run(gemm_is_faster(2, in.sizes(), out_grad.sizes(), in.scalar_type(), run));
}

}  // namespace p2p::detail
