// Norm layers and the child-by-child Sequential runner with MAC counting (see layers.h).
#include "p2p/models/layers.h"

#include "p2p/core/error.h"
#include "p2p/models/sync_batch_norm.h"

#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/instancenorm.h>
#include <torch/nn/modules/linear.h>

#include <algorithm>

namespace p2p::detail {

NormKind parse_norm(const std::string& norm) {
  if (norm == "batch") return NormKind::batch;
  if (norm == "sync_batch") return NormKind::sync_batch;
  if (norm == "instance") return NormKind::instance;
  if (norm == "none") return NormKind::none;
  fail("--norm: unknown normalisation '" + norm + "' (expected one of batch|sync_batch|instance|none)");
}

DiscriminatorNorm parse_norm_D(const NetConfig& cfg) {
  if (cfg.norm_D.empty()) return {parse_norm(cfg.norm), false};
  if (cfg.norm_D == "spectral") return {NormKind::none, true};
  if (cfg.norm_D == "batch" || cfg.norm_D == "sync_batch" || cfg.norm_D == "instance" || cfg.norm_D == "none") {
    return {parse_norm(cfg.norm_D), false};
  }
  fail("--norm_D: unknown discriminator normalisation '" + cfg.norm_D +
       "' (expected one of batch|sync_batch|instance|none|spectral, or leave it empty to follow --norm)");
}

void push_norm(torch::nn::Sequential& seq, NormKind kind, int64_t channels) {
  switch (kind) {
    case NormKind::batch:
      seq->push_back(torch::nn::BatchNorm2d(
          torch::nn::BatchNorm2dOptions(channels).affine(true).track_running_stats(true)));
      break;
    case NormKind::sync_batch:
      seq->push_back(SyncBatchNorm2d(channels));  // the same parameters and buffers as BatchNorm2d
      break;
    case NormKind::instance:
      // Not affine and no running statistics: every image is normalised by its own statistics.
      seq->push_back(torch::nn::InstanceNorm2d(
          torch::nn::InstanceNorm2dOptions(channels).affine(false).track_running_stats(false)));
      break;
    case NormKind::none:
      seq->push_back(torch::nn::Identity());
      break;
  }
}

at::Tensor run_sequential(torch::nn::Sequential& seq, at::Tensor x, MacCounter* counter, size_t begin,
                          size_t end) {
  end = std::min(end, seq->size());
  for (size_t i = begin; i < end; ++i) {
    std::shared_ptr<torch::nn::Module> child = seq->ptr(i);
    if (auto* block = dynamic_cast<BlockForward*>(child.get())) {
      x = block->forward_impl(x, counter);
      continue;
    }
    at::Tensor y = (seq->begin() + static_cast<std::ptrdiff_t>(i))->forward(x);
    if (counter != nullptr) {
      // Weight layouts: conv [out, in/groups, kh, kw]; transposed conv [in, out/groups, kh, kw]. So
      // both costs are (elements on the "many" side) * weight.size(1) * kh * kw.
      if (auto* conv = dynamic_cast<torch::nn::Conv2dImpl*>(child.get())) {
        const at::Tensor& w = conv->weight;
        counter->macs += static_cast<double>(y.numel()) * static_cast<double>(w.size(1) * w.size(2) * w.size(3));
      } else if (auto* convt = dynamic_cast<torch::nn::ConvTranspose2dImpl*>(child.get())) {
        const at::Tensor& w = convt->weight;
        counter->macs += static_cast<double>(x.numel()) * static_cast<double>(w.size(1) * w.size(2) * w.size(3));
      }
    }
    x = std::move(y);
  }
  return x;
}

}  // namespace p2p::detail
