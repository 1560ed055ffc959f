// CPU inference kernels with their weights prepared once (see networks.h, pack_for_cpu_inference).
//
// Why: LibTorch 1.13 runs a float transposed convolution on the CPU as im2col + GEMM
// (slow_conv_transpose2d), and every oneDNN convolution reorders its weights into oneDNN's blocked
// layout on every call. In a U-Net most weights sit in layers whose activations are a few pixels wide,
// so at batch 1 those reorders and the GEMM path are most of the forward time.
//
// The 4x4, stride-2, padding-1 transposed convolution of the U-Net's decoder is rewritten as one
// ordinary oneDNN convolution. Output pixel (2m + ry, 2n + rx) — "phase" (ry, rx) — only sees a 2x2
// window of the input: along one axis, phase 0 of output row 2m reads input rows m-1 and m with kernel
// taps 3 and 1, phase 1 of row 2m+1 reads rows m and m+1 with taps 2 and 0. So a 2x2 convolution of the
// input padded by one pixel, with 4 * out_channels kernels (one set per phase), computes every phase
// at (H+1) x (W+1) positions; phase (ry, rx) is its crop starting at (ry, rx), and the crops interleave
// into the 2H x 2W output. The arithmetic is the same sums in another order.
#include "p2p/models/layers.h"
#include "p2p/models/networks.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Context.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/nn/modules/container/any.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>

#include <algorithm>
#include <array>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <type_traits>
#include <vector>

namespace p2p {
namespace {

// oneDNN-layout weights (in the compute type) for a convolution of these strides and paddings.
at::Tensor reorder_weight(const at::Tensor& dense, std::array<int64_t, 2> padding, std::array<int64_t, 2> stride,
                          at::ScalarType type) {
  return at::mkldnn_reorder_conv2d_weight(dense.to(type).contiguous().to_mkldnn(), padding, stride, {1, 1}, 1);
}

c10::optional<at::Tensor> optional_bias(const at::Tensor& bias, at::ScalarType type) {
  if (!bias.defined()) return c10::nullopt;
  return bias.to(type).contiguous();
}

at::ScalarType compute_type(Precision p) { return p == Precision::kBf16 ? at::kBFloat16 : at::kFloat; }

// A Conv2d (zero padding, no dilation, one group) with its weights in oneDNN's layout. Activations stay
// dense: oneDNN reads and writes them in place, which measured faster than converting them to its layout.
// In bf16 the weights are stored in bf16 and the input is cast on entry; the output stays bf16 for the
// next layer (Network::infer casts the network's output back to fp32).
class PackedConv2dImpl : public torch::nn::Module {
 public:
  PackedConv2dImpl(const at::Tensor& weight, const at::Tensor& bias, std::array<int64_t, 2> stride,
                   std::array<int64_t, 2> padding, at::ScalarType type)
      : type_(type), weight_(reorder_weight(weight, padding, stride, type)), bias_(optional_bias(bias, type)),
        stride_(stride), padding_(padding) {}

  at::Tensor forward(const at::Tensor& x) {
    return at::mkldnn_convolution(x.to(type_).contiguous(), weight_, bias_, padding_, stride_, {1, 1}, 1);
  }

 private:
  at::ScalarType type_;
  at::Tensor weight_;
  c10::optional<at::Tensor> bias_;
  std::array<int64_t, 2> stride_, padding_;
};

// Kernel taps of a 4x4 / stride 2 / padding 1 transposed convolution used by output phase 0 and 1 along
// one axis, in the order of the 2x2 window they multiply (see the top of the file).
constexpr std::array<std::array<int64_t, 2>, 2> kTaps = {{{3, 1}, {2, 0}}};

// ConvTranspose2d(k 4, stride 2, padding 1) as one 2x2 oneDNN convolution with 4x the output channels.
class PackedUpConv2dImpl : public torch::nn::Module {
 public:
  PackedUpConv2dImpl(const at::Tensor& weight, const at::Tensor& bias, at::ScalarType type)
      : type_(type), out_(weight.size(1)) {
    // weight: [in, out, 4, 4] -> kernels [out, phase = 2 ry + rx, in, 2, 2], output channel 4 c + phase.
    std::vector<at::Tensor> phases;
    for (int ry = 0; ry < 2; ++ry) {
      for (int rx = 0; rx < 2; ++rx) {
        const at::Tensor rows = at::tensor(std::vector<int64_t>(kTaps[ry].begin(), kTaps[ry].end()));
        const at::Tensor cols = at::tensor(std::vector<int64_t>(kTaps[rx].begin(), kTaps[rx].end()));
        phases.push_back(weight.index_select(2, rows).index_select(3, cols).transpose(0, 1));
      }
    }
    const at::Tensor kernels = at::stack(phases, 1).reshape({4 * out_, weight.size(0), 2, 2});
    weight_ = reorder_weight(kernels, {1, 1}, {1, 1}, type);
    if (bias.defined()) bias_ = bias.repeat_interleave(4).to(type).contiguous();
  }

  at::Tensor forward(const at::Tensor& x) {
    const int64_t n = x.size(0), h = x.size(2), w = x.size(3);
    // [n, 4 out, h+1, w+1] -> [n, out, ry, rx, h+1, w+1]
    const at::Tensor all =
        at::mkldnn_convolution(x.to(type_).contiguous(), weight_, bias_, {1, 1}, {1, 1}, {1, 1}, 1)
            .view({n, out_, 2, 2, h + 1, w + 1});
    at::Tensor out = at::empty({n, out_, h, 2, w, 2}, all.options());
    for (int64_t ry = 0; ry < 2; ++ry) {
      for (int64_t rx = 0; rx < 2; ++rx) {
        out.select(5, rx).select(3, ry).copy_(all.select(3, rx).select(2, ry).narrow(2, ry, h).narrow(3, rx, w));
      }
    }
    return out.view({n, out_, 2 * h, 2 * w});
  }

 private:
  at::ScalarType type_;
  int64_t out_;
  at::Tensor weight_;
  c10::optional<at::Tensor> bias_;
};

bool float_on_cpu(const at::Tensor& w) { return w.device().is_cpu() && w.scalar_type() == at::kFloat; }

// A replacement layer, as a module (the Sequential's child) and as what the Sequential runs.
struct Replacement {
  std::shared_ptr<torch::nn::Module> module;
  torch::nn::AnyModule any;
  int64_t in_channels = 0, kernel = 0;
};

template <typename Impl, typename... Args>
Replacement make_replacement(int64_t in_channels, int64_t kernel, Args&&... args) {
  auto m = std::make_shared<Impl>(std::forward<Args>(args)...);
  return {m, torch::nn::AnyModule(m), in_channels, kernel};
}

// The packed replacement of `child`, or nothing when it is not a layer this file knows how to run.
std::optional<Replacement> packed(torch::nn::Module* child, at::ScalarType type) {
  auto all = [](const torch::ExpandingArray<2>& a, int64_t v) { return (*a)[0] == v && (*a)[1] == v; };
  if (auto* c = dynamic_cast<torch::nn::Conv2dImpl*>(child)) {
    const auto& o = c->options;
    const auto padding = detail::explicit_padding(o.padding());
    if (!padding || o.groups() != 1 || !all(o.dilation(), 1) || !detail::zero_padding_mode(o.padding_mode()) ||
        !float_on_cpu(c->weight)) {
      return std::nullopt;
    }
    return make_replacement<PackedConv2dImpl>(o.in_channels(), std::max((*o.kernel_size())[0], (*o.kernel_size())[1]),
                                              c->weight, c->bias,
                                              std::array<int64_t, 2>{(*o.stride())[0], (*o.stride())[1]},
                                              *padding, type);
  }
  if (auto* t = dynamic_cast<torch::nn::ConvTranspose2dImpl*>(child)) {
    const auto& o = t->options;
    const auto padding = detail::explicit_padding(o.padding());
    if (!padding || (*padding)[0] != 1 || (*padding)[1] != 1 || !all(o.kernel_size(), 4) || !all(o.stride(), 2) ||
        !all(o.output_padding(), 0) || !all(o.dilation(), 1) || o.groups() != 1 || !float_on_cpu(t->weight)) {
      return std::nullopt;
    }
    return make_replacement<PackedUpConv2dImpl>(o.in_channels(), 4, t->weight, t->bias, type);
  }
  return std::nullopt;
}

// The packed layer must compute what the original does: checked once on a small random input (from a
// generator of its own: the global one drives dropout), so a LibTorch whose oneDNN entry points behave
// differently keeps its own kernels rather than running wrong ones. A bf16 layer is held to bf16's
// rounding (8 significant bits per operand, sums kept in fp32 by oneDNN): 2 % of the output's range.
bool agrees(torch::nn::AnyModule& original, Replacement& r, at::ScalarType type) {
  const int64_t side = std::max<int64_t>(8, 2 * r.kernel);
  const at::Tensor x = at::randn({1, r.in_channels, side, side + 2}, at::detail::createCPUGenerator(7),
                                 at::TensorOptions().dtype(at::kFloat));
  const at::Tensor want = original.forward(x);
  const at::Tensor got = r.any.forward(x).to(at::kFloat);
  if (!got.sizes().equals(want.sizes())) return false;
  const double scale = want.abs().max().item<double>() + 1e-6;
  return (got - want).abs().max().item<double>() <= (type == at::kFloat ? 1e-4 : 2e-2) * scale;
}

int pack_sequential(torch::nn::SequentialImpl& seq, at::ScalarType type) {
  int count = 0;
  for (size_t i = 0; i < seq.size(); ++i) {
    auto slot = seq.begin() + static_cast<std::ptrdiff_t>(i);
    try {
      std::optional<Replacement> r = packed(seq.ptr(i).get(), type);
      if (!r || !agrees(*slot, *r, type)) continue;
      *slot = r->any;  // the Sequential runs its AnyModule list; its children follow (as in fold.cpp)
      const std::string name = std::to_string(i);
      if (seq.named_children().contains(name)) seq.replace_module(name, r->module);
      ++count;
    } catch (const c10::Error&) {
      // this LibTorch lacks an oneDNN entry point used here: the layer keeps LibTorch's kernel
    }
  }
  return count;
}

}  // namespace

int pack_for_cpu_inference(torch::nn::Module& net, Precision precision) {
  if (!at::hasMKLDNN()) return 0;
  const at::ScalarType type = compute_type(precision);
  torch::NoGradGuard no_grad;
  int count = 0;
  for (const auto& m : net.modules(/*include_self=*/true)) {
    if (auto* seq = dynamic_cast<torch::nn::SequentialImpl*>(m.get())) count += pack_sequential(*seq, type);
  }
  return count;
}

}  // namespace p2p
