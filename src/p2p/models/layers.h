// Building blocks shared by the generators and discriminators (internal to src/p2p/models).
// It assumes every network keeps its layers in torch::nn::Sequential containers whose indices match the
// reference layout, so one runner can execute a container child by child and, on request, count the
// multiply-accumulates of its convolutions. Blocks of our own (U-Net skip blocks, residual blocks)
// implement BlockForward so the runner recurses into them instead of treating them as opaque.
#pragma once

#include "p2p/core/config.h"
#include "p2p/models/networks.h"

#include <ATen/Tensor.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <type_traits>

namespace p2p::detail {

enum class NormKind { batch, sync_batch, instance, none };

// Parses cfg.norm; unknown names throw p2p::Error naming --norm.
NormKind parse_norm(const std::string& norm);

// The discriminator's normalisation: cfg.norm_D, or cfg.norm when norm_D is empty (the reference ties
// D's norm to G's). "spectral" means spectrally normalised convs and no norm layers (kind none).
struct DiscriminatorNorm {
  NormKind kind = NormKind::batch;
  bool spectral = false;
};
// Unknown norm_D names throw p2p::Error naming --norm_D.
DiscriminatorNorm parse_norm_D(const NetConfig& cfg);

// Convolutions followed by batch norm (sync or not) carry no bias (the norm's shift replaces it). The reference also
// drops the bias for norm "none"; we keep it there, because with no norm after the conv nothing else
// could supply the shift. Instance norm here is not affine, so its convs keep their bias too.
inline bool conv_has_bias(NormKind kind) { return kind != NormKind::batch && kind != NormKind::sync_batch; }

// Appends the normalisation layer for `channels` (an Identity for "none", so indices stay the same).
void push_norm(torch::nn::Sequential& seq, NormKind kind, int64_t channels);

// A conv option's padding and padding mode are variants, c10:: in LibTorch 1.x and std:: in 2.x; the
// unqualified visit finds the right one by argument-dependent lookup.

// Explicit paddings of a 2-d conv option; nothing for "same" / "valid".
template <typename Variant>
std::optional<std::array<int64_t, 2>> explicit_padding(const Variant& padding) {
  std::optional<std::array<int64_t, 2>> out;
  visit(
      [&out](const auto& p) {
        if constexpr (std::is_same_v<std::decay_t<decltype(p)>, torch::ExpandingArray<2>>) out = {(*p)[0], (*p)[1]};
      },
      padding);
  return out;
}

// Whether a conv option's padding mode pads with zeros (the others reflect or repeat first).
template <typename Variant>
bool zero_padding_mode(const Variant& mode) {
  bool zeros = false;
  visit([&zeros](const auto& m) { zeros = std::is_same_v<std::decay_t<decltype(m)>, torch::enumtype::kZeros>; }, mode);
  return zeros;
}

// The U-Net decoder's up-convolution: torch::nn::ConvTranspose2d (4x4, stride 2, padding 1; the same
// parameters and names, so checkpoints and reference weights load unchanged) whose forward, while
// a gradient is being recorded on the CPU, runs it and both its gradients as the passes of the
// convolution it is the adjoint of (unet_conv_*; up_conv.cpp) instead of LibTorch 1.13's im2col GEMM.
// Anywhere else (no grad, GPU, double) it is LibTorch's layer, and so is it with onednn_training off
// (use_onednn_up_convolutions).
class UpConv2dImpl : public torch::nn::ConvTranspose2dImpl {
 public:
  using torch::nn::ConvTranspose2dImpl::ConvTranspose2dImpl;
  at::Tensor forward(const at::Tensor& x, const c10::optional<at::IntArrayRef>& output_size = c10::nullopt);
  bool onednn_training = true;
};

// The U-Net encoder's down-convolution: torch::nn::Conv2d (4x4, stride 2, padding 1; the same parameters
// and names) whose passes, while a gradient is recorded on the CPU, are unet_conv_* (down_conv.cpp).
// Anywhere else it is LibTorch's layer, and so is it with onednn_training off
// (use_onednn_up_convolutions).
class DownConv2dImpl : public torch::nn::Conv2dImpl {
 public:
  using torch::nn::Conv2dImpl::Conv2dImpl;
  at::Tensor forward(const at::Tensor& x);
  bool onednn_training = true;
};

// Whether a U-Net layer with these options runs our training passes for input x: a gradient is being
// recorded, on the CPU, float or bf16 input and fp32 weight, with oneDNN present, `enabled`, and the
// geometry the passes are written for (4x4 kernel, stride 2, padding 1, no dilation, groups or output
// padding, zero padding: what makes the sides exactly halve or double). Anything else stays LibTorch's.
bool takes_unet_training_passes(bool enabled, const torch::nn::detail::ConvNdOptions<2>& o, const at::Tensor& x,
                                const at::Tensor& weight);
// An operand of those passes: bf16 under bf16 autocast (core/precision.h; a differentiable cast, so an
// fp32 master weight gets an fp32 gradient), fp32 otherwise.
at::Tensor unet_pass_operand(const at::Tensor& t);
// y + bias per channel (bias undefined: y), the bias cast as an operand. The down- and up-convolution's
// custom functions leave the bias out (LibTorch 1.13 cannot pass an undefined tensor through one) and
// add it with this ordinary op, which autograd differentiates.
at::Tensor add_unet_bias(const at::Tensor& y, const at::Tensor& bias);

// The three passes of the U-Net's 4x4 / stride-2 / padding-1 convolution C, weight [out, in, 4, 4], input
// `in` [n, in, H, W], output [n, out, H/2, W/2] (unet_passes.cpp): its output, its input's gradient for
// the output gradient `out_grad` (an input shaped in_sizes), and its weight's gradient.
at::Tensor unet_conv_forward(const at::Tensor& in, const at::Tensor& weight);
at::Tensor unet_conv_input_grad(const at::Tensor& out_grad, at::IntArrayRef in_sizes, const at::Tensor& weight);
at::Tensor unet_conv_weight_grad(const at::Tensor& out_grad, const at::Tensor& in, const at::Tensor& weight);

// How each of those passes is computed: the faster of oneDNN's pass and one GEMM over patches, timed once
// per pass, shape and type on this machine and cached (measured, the default; oneDNN's where no cache
// file can be kept), or always one of them (tests: both must give LibTorch's results). Process-wide.
enum class ConvPassPath { measured, onednn, gemm };
void set_unet_conv_path(ConvPassPath path);

// Implemented by our own composite blocks so run_sequential can recurse into them with the counter.
class BlockForward {
 public:
  virtual ~BlockForward() = default;
  // counter == nullptr: plain forward.
  virtual at::Tensor forward_impl(const at::Tensor& x, MacCounter* counter) = 0;
};

// Runs children [begin, end) of `seq` on x. When `counter` is given, adds conv MACs
// (out_elems * in_ch/groups * kh*kw) and transposed-conv MACs (in_elems * out_ch/groups * kh*kw).
at::Tensor run_sequential(torch::nn::Sequential& seq, at::Tensor x, MacCounter* counter, size_t begin = 0,
                          size_t end = std::numeric_limits<size_t>::max());

// Builders behind make_generator / make_discriminator (arguments already validated).
NetworkPtr make_unet(const NetConfig& cfg, int num_downs, bool skip, NormKind norm);
NetworkPtr make_resnet(const NetConfig& cfg, int n_blocks, NormKind norm);
NetworkPtr make_nlayer_discriminator(const NetConfig& cfg, int64_t in_channels, int n_layers, DiscriminatorNorm norm);
NetworkPtr make_pixel_discriminator(const NetConfig& cfg, int64_t in_channels, DiscriminatorNorm norm);

}  // namespace p2p::detail
