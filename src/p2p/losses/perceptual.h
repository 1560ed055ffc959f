// VGG perceptual loss (Johnson et al. 2016): L1 between frozen ImageNet-VGG features of G's output and of
// the target. The weights are a torchvision VGG16 or VGG19 state_dict the user supplies (--vgg_weights);
// nothing is downloaded. Layers are named as in the literature (relu3_1 = the ReLU after block 3's first
// conv), which is torchvision's `features` index of that ReLU (VGG16 relu1_1 = 1, relu4_3 = 22).
#pragma once

#include <ATen/Tensor.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>

#include <memory>
#include <string>
#include <vector>

namespace p2p {

class VggFeatures : public torch::nn::Module {
 public:
  // `dict`: a state_dict read from `source` (the --vgg_weights file). The architecture (16 or 19) is
  // detected from the conv indices present (features.16 is a conv only in VGG19); every conv weight and
  // bias must exist with torchvision's shape, and no other features.* entry may (vgg*_bn is refused);
  // classifier.* is ignored. Otherwise p2p::Error naming --vgg_weights, the file and what was expected.
  // `layers_csv`: comma-separated relu names valid for that depth, else p2p::Error naming --perc_layers.
  VggFeatures(const std::vector<std::pair<std::string, at::Tensor>>& dict, const std::string& source,
              const std::string& layers_csv);

  // x: [N,C,H,W] in the network range [-1,1], C = 3 (RGB) or 1 (replicated to RGB); other C throw
  // p2p::Error naming --lambda_perc. Maps to [0,1], normalises with the ImageNet mean/std the weights were
  // trained with, and runs the convs only up to the deepest requested layer. Returns one feature map per
  // requested layer, in the order of layers_csv.
  std::vector<at::Tensor> forward(const at::Tensor& x);

  int depth() const { return depth_; }                                  // 16 or 19
  const std::vector<std::string>& layers() const { return layers_; }   // as requested

  // A fixed feature extractor: parameters never require grad and the module stays in eval mode even when
  // a caller switches everything to training (VGG features have no dropout/BN, but a frozen net should not
  // depend on that).
  void train(bool on = true) override;

 private:
  int depth_ = 0;
  std::vector<torch::nn::Conv2d> convs_;  // in order; conv k's ReLU is relu<block_[k]>_<...>
  std::vector<int> block_;                // 1-based block of each conv (a 2x2 max pool precedes a new block)
  std::vector<std::string> layers_;
  std::vector<size_t> layer_conv_;        // conv index whose ReLU output each requested layer is
  size_t last_conv_ = 0;                  // deepest conv any requested layer needs
};

// Reads `path` (read_state_dict: zip or legacy torch.save files) and builds the extractor for
// `layers_csv`. An empty path, an unreadable file or a non-VGG file throws p2p::Error naming --vgg_weights.
std::shared_ptr<VggFeatures> load_vgg(const std::string& path, const std::string& layers_csv);

// Mean over the requested layers of L1(vgg(fake), vgg(real)); real's features are computed without
// autograd (a detached target), so only `fake` receives gradient. Without lambda (--lambda_perc).
at::Tensor perceptual_loss(VggFeatures& vgg, const at::Tensor& fake, const at::Tensor& real);

}  // namespace p2p
