// The Inception v3 of the FID literature, exactly as pytorch-fid defines it (REFERENCE_EVAL.md §1):
// torchvision's Inception3 with the TensorFlow port's differences — average pools of the A, C and E_1
// blocks ignore padding (count_include_pad=False), the last E block max-pools — and pytorch-fid's
// wrapper: [0,1] input, bilinear resize to 299x299 (align_corners=False, no antialias), 2x-1, blocks,
// global average pool → the 2048-d "pool3" features. The weights are the user's copy of pytorch-fid's
// pt_inception-2015-12-05-6726825d.pth; nothing is downloaded.
//
// Every BasicConv2d (conv without bias → BatchNorm eps 0.001 → ReLU) is a Sequential(conv, bn, relu),
// so fold_batch_norm and pack_for_cpu_inference (networks.h) apply; its children are named 0, 1, 2,
// and the loader maps torchvision's `.conv.` / `.bn.` key names onto them.
#pragma once

#include <ATen/Tensor.h>
#include <c10/core/Device.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace p2p {

// pytorch-fid's weight file (GitHub release "fid_weights" of mseitzer/pytorch-fid).
inline constexpr const char* kFidInceptionFile = "pt_inception-2015-12-05-6726825d.pth";
inline constexpr const char* kFidInceptionUrl =
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth";
inline constexpr int64_t kFidFeatureDim = 2048;
inline constexpr int64_t kFidInputSide = 299;

class FidInceptionImpl : public torch::nn::Module {
 public:
  FidInceptionImpl();

  // x: [N,3,H,W] float in [0,1], any H and W (resized to 299x299 here) -> [N,2048] float.
  at::Tensor forward(const at::Tensor& x);

  // x already 299x299 and mapped to [-1,1] (what resize_input gives) -> [N,2048].
  at::Tensor forward_resized(const at::Tensor& x);

  // pytorch-fid's input transform: bilinear resize to 299x299 (align_corners=False, no antialias;
  // skipped when already that size, as interpolation to the same size is the identity) and x -> 2x-1.
  static at::Tensor resize_input(const at::Tensor& x);

  // For inference: eval mode, parameters frozen, batch norm folded into the convs, the 1x1 convs that
  // read a block's input (and the average-pool branch's conv, moved before its pool) run as one conv,
  // and, on the CPU, the convs packed for oneDNN (networks.h). The same function to float rounding; the
  // state dict no longer matches the weight file afterwards, so load (and move to the device) first.
  // Idempotent.
  void prepare_for_inference();
  bool prepared() const { return prepared_; }
  // Where the weights live (packed layers hold no parameters, so it is recorded when preparing).
  c10::Device device() const;

 private:
  c10::Device device_ = c10::Device(c10::kCPU);
  std::vector<std::function<at::Tensor(const at::Tensor&)>> stages_;  // stem, pools and blocks in order
  bool prepared_ = false;
};
TORCH_MODULE(FidInception);

// Loads pytorch-fid's weight file (torchvision Inception3 key names: Conv2d_1a_3x3.conv.weight,
// Mixed_5b.branch1x1.bn.running_mean, ...; read_state_dict: zip or legacy format) into `net`, which
// must not be prepared yet. fc.* and num_batches_tracked may be present or absent (fc, if present, must
// be the FID net's [1008, 2048]). A missing file, a missing or unexpected key, a wrong shape, or
// torchvision's ImageNet Inception (AuxLogits, 1000 classes) throws p2p::Error naming the file, the key
// and the shape expected, and where the right file comes from.
void load_inception_weights(FidInception& net, const std::string& path);
// The same from a state_dict already read from `source` (the file named in errors).
void load_inception_weights(FidInception& net, const std::vector<std::pair<std::string, at::Tensor>>& dict,
                            const std::string& source);

// Builds the network, loads `path`, moves it to `device` and prepares it for inference.
FidInception load_fid_inception(const std::string& path, c10::Device device = c10::Device(c10::kCPU));

// Where weight files the user downloaded once are looked for by default:
// $XDG_DATA_HOME/p2p/weights/<file>, or ~/.local/share/p2p/weights/<file> when XDG_DATA_HOME is unset
// or empty ("" when HOME is unknown too).
std::string default_weights_path(const std::string& file);

}  // namespace p2p
