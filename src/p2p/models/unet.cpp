// U-Net (unet_<N>) and its no-skip baseline (encoder_decoder_<N>), built as nested blocks.
// Each block registers "model" = a Sequential whose indices follow the reference layout, so parameter
// names equal the reference state_dict keys:
//   outermost: 0 downconv, 1 submodule, 2 ReLU, 3 upconv (bias), 4 Tanh
//   middle:    0 LeakyReLU(0.2), 1 downconv, 2 downnorm, 3 submodule, 4 ReLU, 5 upconv, 6 upnorm, [7 Dropout]
//   innermost: 0 LeakyReLU(0.2), 1 downconv, 2 ReLU, 3 upconv, 4 upnorm, [5 Dropout, paper placement only]
// The "paper" dropout placement only appends Dropout at the end of a block's Sequential, so it never
// shifts the index of a layer that has parameters: reference checkpoints load under either placement.
// Norm "none" keeps an Identity at the norm's index for the same reason.
//
// Attention (--attention, modules in attention.h) is registered beside "model" as att_down / att_up /
// att_skip, so the Sequential and its indices are untouched:
//   att_down (outermost and middle blocks): spatial attention on the encoder feature the block hands to
//     its submodule (after the down conv and its norm). The innermost block hands nothing on (its
//     bottleneck is 1x1 at the design size, where a spatial map is meaningless).
//   att_up (middle and innermost): spatial attention on the decoder feature the block returns (after up
//     conv, norm and dropout, before the skip concatenation). Not on the outermost, whose output is the image.
//   att_skip (middle and innermost, unet_<N> only): a gate on the skip tensor the block concatenates,
//     gated by the coarser feature entering this block's up conv (the submodule's output after the
//     ReLU; for the innermost block the activated bottleneck).
// Without attention the block runs exactly the reference code path.
#include "p2p/models/attention.h"
#include "p2p/models/layers.h"

#include <ATen/ATen.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/dropout.h>

#include <memory>
#include <vector>

namespace p2p::detail {
namespace {

enum class Level { outermost, middle, innermost };

class UnetBlockImpl : public torch::nn::Module, public BlockForward {
 public:
  // outer_nc: channels this block returns (before the skip concatenation) and, unless input_nc is
  // given (outermost), receives. inner_nc: channels handed to the submodule.
  UnetBlockImpl(int64_t outer_nc, int64_t inner_nc, int64_t input_nc, std::shared_ptr<UnetBlockImpl> submodule,
                Level level, NormKind norm, bool dropout, bool skip, const AttentionSet& att)
      : level_(level), skip_(skip) {
    namespace nn = torch::nn;
    if (input_nc < 0) input_nc = outer_nc;
    const bool bias = conv_has_bias(norm);
    // The submodule's output is concatenated with its input when skipping, doubling its channels.
    const int64_t up_in = (level == Level::innermost || !skip) ? inner_nc : 2 * inner_nc;
    auto down = [&](bool b) {
      return std::make_shared<DownConv2dImpl>(nn::Conv2dOptions(input_nc, inner_nc, 4).stride(2).padding(1).bias(b));
    };
    auto up = [&](bool b) {
      return std::make_shared<UpConv2dImpl>(nn::ConvTranspose2dOptions(up_in, outer_nc, 4).stride(2).padding(1).bias(b));
    };
    nn::Sequential seq;
    switch (level) {
      case Level::outermost:
        seq->push_back(down(bias));
        seq->push_back(submodule);
        seq->push_back(nn::ReLU(nn::ReLUOptions().inplace(true)));
        seq->push_back(up(true));  // no norm follows the last layer, so it always has a bias
        seq->push_back(nn::Tanh());
        break;
      case Level::middle:
        seq->push_back(nn::LeakyReLU(nn::LeakyReLUOptions().negative_slope(0.2).inplace(true)));
        seq->push_back(down(bias));
        push_norm(seq, norm, inner_nc);
        seq->push_back(submodule);
        seq->push_back(nn::ReLU(nn::ReLUOptions().inplace(true)));
        seq->push_back(up(bias));
        push_norm(seq, norm, outer_nc);
        break;
      case Level::innermost:
        seq->push_back(nn::LeakyReLU(nn::LeakyReLUOptions().negative_slope(0.2).inplace(true)));
        seq->push_back(down(bias));
        seq->push_back(nn::ReLU(nn::ReLUOptions().inplace(true)));
        seq->push_back(up(bias));
        push_norm(seq, norm, outer_nc);
        break;
    }
    if (dropout) seq->push_back(nn::Dropout(nn::DropoutOptions(0.5)));
    model_ = register_module("model", seq);
    if (att.down && level != Level::innermost) {
      att_down_ = register_module("att_down", std::make_shared<SpatialAttentionImpl>());
    }
    if (att.up && level != Level::outermost) {
      att_up_ = register_module("att_up", std::make_shared<SpatialAttentionImpl>());
    }
    if (att.skip && skip && level != Level::outermost) {
      att_skip_ = register_module("att_skip", std::make_shared<AttentionGateImpl>(outer_nc, up_in));
    }
  }

  at::Tensor forward(at::Tensor x) { return forward_impl(x, nullptr); }

  at::Tensor forward_impl(const at::Tensor& x, MacCounter* counter) override {
    if (att_down_ || att_up_ || att_skip_) return forward_attention(x, counter);
    if (level_ == Level::outermost || !skip_) return run_sequential(model_, x, counter);
    // The skip carries LeakyReLU(x), not x: as in the reference, activations run in place (saving a
    // tensor write per layer), so the tensor concatenated has already been activated. Matching it
    // keeps reference weights exact.
    at::Tensor activated = run_sequential(model_, x, counter, 0, 1);
    at::Tensor inner = run_sequential(model_, activated, counter, 1);
    return at::cat({activated, inner}, 1);
  }

 private:
  // The same layers as forward_impl, split where the attention modules act (indices: see the top).
  at::Tensor forward_attention(const at::Tensor& x, MacCounter* counter) {
    const size_t submodule = level_ == Level::outermost ? 1 : 3;  // (innermost: no att_down)
    const size_t up_conv = level_ == Level::middle ? 5 : 3;
    at::Tensor h = x;
    at::Tensor skip_tensor;
    size_t next = 0;
    if (level_ != Level::outermost) {
      h = run_sequential(model_, h, counter, 0, 1);  // in-place LeakyReLU: the skip carries it (see above)
      skip_tensor = h;
      next = 1;
    }
    if (att_down_) {
      h = run_sequential(model_, h, counter, next, submodule);
      h = att_down_->forward(h, counter);
      next = submodule;
    }
    const at::Tensor g = run_sequential(model_, h, counter, next, up_conv);
    at::Tensor up = run_sequential(model_, g, counter, up_conv);
    if (att_up_) up = att_up_->forward(up, counter);
    if (level_ == Level::outermost || !skip_) return up;
    if (att_skip_) skip_tensor = att_skip_->forward(skip_tensor, g, counter);
    return at::cat({skip_tensor, up}, 1);
  }

  Level level_;
  bool skip_;
  torch::nn::Sequential model_{nullptr};
  std::shared_ptr<SpatialAttentionImpl> att_down_, att_up_;
  std::shared_ptr<AttentionGateImpl> att_skip_;
};

class UnetGenerator : public Network {
 public:
  UnetGenerator(const NetConfig& cfg, int num_downs, bool skip, NormKind norm) : num_downs_(num_downs) {
    const int64_t ngf = cfg.ngf;
    const AttentionSet att = parse_attention(cfg.attention, cfg.netG);
    const bool use_dropout = !cfg.no_dropout;
    const bool paper = cfg.dropout_placement == "paper";
    // Blocks are numbered from the innermost (0) outwards; the decoder runs from the innermost out, so
    // the paper's "first three decoder layers" are blocks 0, 1, 2.
    int index = 0;
    auto dropout_at = [&](bool reference_choice) {
      return use_dropout && (paper ? index < 3 : reference_choice);
    };
    auto block = std::make_shared<UnetBlockImpl>(ngf * 8, ngf * 8, -1, nullptr, Level::innermost, norm,
                                                 dropout_at(false), skip, att);
    ++index;
    for (int i = 0; i < num_downs - 5; ++i, ++index) {
      block = std::make_shared<UnetBlockImpl>(ngf * 8, ngf * 8, -1, block, Level::middle, norm, dropout_at(true),
                                              skip, att);
    }
    for (int64_t mult : {4, 2, 1}) {
      block = std::make_shared<UnetBlockImpl>(ngf * mult, ngf * mult * 2, -1, block, Level::middle, norm,
                                              dropout_at(false), skip, att);
      ++index;
    }
    model_ = register_module("model", std::make_shared<UnetBlockImpl>(cfg.output_nc, ngf, cfg.input_nc, block,
                                                                       Level::outermost, norm, false, skip, att));
  }

  at::Tensor forward(const at::Tensor& x) override { return model_->forward_impl(x, nullptr); }
  at::Tensor forward_counting(const at::Tensor& x, MacCounter& counter) override {
    return model_->forward_impl(x, &counter);
  }
  int64_t size_multiple() const override { return int64_t{1} << num_downs_; }

 private:
  int num_downs_;
  std::shared_ptr<UnetBlockImpl> model_;
};

}  // namespace

NetworkPtr make_unet(const NetConfig& cfg, int num_downs, bool skip, NormKind norm) {
  return std::make_shared<UnetGenerator>(cfg, num_downs, skip, norm);
}

}  // namespace p2p::detail
