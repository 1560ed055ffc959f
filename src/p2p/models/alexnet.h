// AlexNet's convolutional trunk exactly as torchvision builds it (`features`, indices 0..11), with the
// weights of the user's torchvision ImageNet file. LPIPS (scores/lpips.h) reads its five ReLU outputs;
// nothing here is trained. The last max pool (features.12) and the classifier are not built: no tap
// needs them.
#pragma once

#include <ATen/Tensor.h>
#include <c10/core/Device.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/pimpl.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace p2p {

// torchvision's ImageNet AlexNet weights (>= 0.13; older releases named it alexnet-owt-4df8aa71.pth) and
// the address torchvision downloads them from.
inline constexpr const char* kAlexNetFile = "alexnet-owt-7be5be79.pth";
inline constexpr const char* kAlexNetUrl = "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth";

// Create it with AlexNetFeatures() (a shared_ptr holder): packing walks modules(include_self).
class AlexNetFeaturesImpl : public torch::nn::Module {
 public:
  // Post-ReLU outputs at torchvision `features` indices 1, 4, 7, 9, 11 (LPIPS's slices [0:2] ... [10:12]).
  static constexpr std::array<int64_t, 5> kTapIndex = {1, 4, 7, 9, 11};
  static constexpr std::array<int64_t, 5> kTapChannels = {64, 192, 384, 256, 256};
  // The smallest side two 3/2 max pools leave a 3x3 window for after the 11x11 stride-4 conv.
  static constexpr int64_t kMinSide = 31;

  AlexNetFeaturesImpl();

  // x: [N,3,H,W], normalised as the weights expect (LPIPS applies its scaling layer first), H, W >= kMinSide
  // (else p2p::Error saying so). Returns the five taps, shallowest first.
  std::vector<at::Tensor> forward(const at::Tensor& x);

  // A fixed feature extractor: stays in eval mode whatever a caller asks (no dropout or norm layers today,
  // but frozen weights should not depend on that).
  void train(bool on = true) override;

  // Children "0".."11", so its parameters are named features.<i>.weight/bias as in torchvision's file.
  torch::nn::Sequential features{nullptr};
};
TORCH_MODULE(AlexNetFeatures);

// Copies torchvision's AlexNet state_dict in `path` (read_state_dict: zip or legacy torch.save files) into
// net: features.{0,3,6,8,10}.{weight,bias} with torchvision's shapes; classifier.* entries are ignored.
// A missing file or key, a wrong shape, or another features.* entry throws p2p::Error naming the file, the
// key and the expected shape, and saying the file is torchvision's kAlexNetFile (kAlexNetUrl).
void load_alexnet_weights(AlexNetFeaturesImpl& net, const std::string& path);

// A ready trunk: loaded from `path`, frozen (no grad, eval), on `device`, and on the CPU its convolutions
// run on the prepared oneDNN path (pack_for_cpu_inference; its state dict then no longer lists them).
AlexNetFeatures load_alexnet_features(const std::string& path, const c10::Device& device = c10::Device(c10::kCPU));

}  // namespace p2p
