// LPIPS v0.1 with the AlexNet trunk (Zhang et al. 2018; richzhang/PerceptualSimilarity lpips.LPIPS(net=
// 'alex'), as most papers report it): a learned perceptual distance between two images, 0 for identical
// images, larger when they look more different. Computed as the reference does, in this order:
// x in [0,1] -> 2x-1 -> scaling layer (x - shift) / scale -> AlexNet taps after ReLUs 1, 4, 7, 9, 11 ->
// per tap: unit-normalise over channels (f / (||f|| + 1e-10)), squared difference of the two images,
// 1x1 conv to one channel without bias (the learned weights), mean over space -> sum over the 5 taps.
// Nothing is resized. Both weight files are the user's: torchvision's AlexNet (models/alexnet.h) and
// the lpips package's weights/v0.1/alex.pth.
#pragma once

#include "p2p/models/alexnet.h"

#include <ATen/Tensor.h>
#include <c10/core/Device.h>

#include <array>
#include <string>
#include <utility>
#include <vector>

namespace p2p {

// Where the linear layers come from: the lpips package (pip install lpips; lpips/weights/v0.1/alex.pth,
// also in github.com/richzhang/PerceptualSimilarity), a 6 KB legacy-format torch.save file.
inline constexpr const char* kLpipsAlexFile = "weights/v0.1/alex.pth";

class Lpips {
 public:
  // alexnet_path: torchvision's alexnet-owt-7be5be79.pth; lpips_path: the lpips package's
  // weights/v0.1/alex.pth (keys lin{0..4}.model.1.weight, shape [1,C,1,1]; other keys are ignored, so a
  // whole LPIPS module's state_dict also works). A missing file or key or a wrong shape throws p2p::Error
  // naming the file, the key, the expected shape and where the file comes from.
  Lpips(const std::string& alexnet_path, const std::string& lpips_path,
        const c10::Device& device = c10::Device(c10::kCPU));

  // a, b: [3,H,W] float images in [0,1] of the same size, H, W >= 31 (AlexNet's smallest input);
  // otherwise p2p::Error. Either device.
  double distance(const at::Tensor& a, const at::Tensor& b) const;
  // a, b: [N,3,H,W] in [0,1], the same shape: the N pairwise distances, one forward pass for all.
  std::vector<double> distances(const at::Tensor& a, const at::Tensor& b) const;
  // The same, per tap: [N,5] doubles (row sums are distances()), to see which depth a difference is at.
  at::Tensor layer_distances(const at::Tensor& a, const at::Tensor& b) const;

 private:
  AlexNetFeatures net_{nullptr};
  std::array<at::Tensor, 5> lin_;  // [1,C,1,1] double, on device_
  at::Tensor shift_, scale_;       // [1,3,1,1] float, on device_
  c10::Device device_;
};

struct LpipsReport {
  std::vector<std::pair<std::string, double>> per_image;  // (stem, distance), sorted by stem
  double mean = 0;
};

// Pairs pred_dir and target_dir images by file stem (pair_outputs_by_stem: the pairing and errors of
// p2p evaluate); each pair must have one size. Loads one pair at a time, so memory does not grow with the
// folder. An image smaller than 31x31 throws p2p::Error naming it.
LpipsReport lpips_folders(const std::string& pred_dir, const std::string& target_dir, const Lpips& lpips);

}  // namespace p2p
