// AlexNet feature trunk and its torchvision weights (see alexnet.h).
#include "p2p/models/alexnet.h"

#include "p2p/core/error.h"
#include "p2p/core/shape.h"
#include "p2p/io/state_dict.h"
#include "p2p/models/networks.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/pooling.h>

#include <algorithm>
#include <map>
#include <sstream>

namespace p2p {

namespace {

// torchvision's AlexNet convolutions: (features index, in, out, kernel, stride, padding).
struct ConvSpec {
  int64_t index, in, out, kernel, stride, padding;
};
constexpr std::array<ConvSpec, 5> kConvs = {{{0, 3, 64, 11, 4, 2},
                                            {3, 64, 192, 5, 1, 2},
                                            {6, 192, 384, 3, 1, 1},
                                            {8, 384, 256, 3, 1, 1},
                                            {10, 256, 256, 3, 1, 1}}};

std::string expected_file() {
  return std::string(" — expected torchvision's ImageNet AlexNet state_dict, ") + kAlexNetFile + " (downloaded from " +
         kAlexNetUrl + "; keys features.{0,3,6,8,10}.{weight,bias})";
}

}  // namespace

AlexNetFeaturesImpl::AlexNetFeaturesImpl() {
  using namespace torch::nn;
  auto pool = [] { return MaxPool2d(MaxPool2dOptions(3).stride(2)); };
  auto relu = [] { return ReLU(ReLUOptions(/*inplace=*/true)); };  // each ReLU's input is a fresh conv output
  auto conv = [](const ConvSpec& c) {
    return Conv2d(Conv2dOptions(c.in, c.out, c.kernel).stride(c.stride).padding(c.padding));
  };
  features = register_module("features", Sequential(conv(kConvs[0]), relu(), pool(),  // 0 1 2
                                                    conv(kConvs[1]), relu(), pool(),  // 3 4 5
                                                    conv(kConvs[2]), relu(),          // 6 7
                                                    conv(kConvs[3]), relu(),          // 8 9
                                                    conv(kConvs[4]), relu()));        // 10 11
  for (auto& p : parameters()) p.set_requires_grad(false);
  train(false);
}

void AlexNetFeaturesImpl::train(bool /*on*/) { torch::nn::Module::train(false); }

std::vector<at::Tensor> AlexNetFeaturesImpl::forward(const at::Tensor& x) {
  if (x.dim() != 4 || x.size(1) != 3) fail("AlexNet features: expected RGB images [N,3,H,W], got " + shape_str(x.sizes()));
  if (x.size(2) < kMinSide || x.size(3) < kMinSide) {
    fail("AlexNet features (LPIPS): images must be at least " + std::to_string(kMinSide) + "x" +
         std::to_string(kMinSide) + " pixels, got " + std::to_string(x.size(3)) + "x" + std::to_string(x.size(2)));
  }
  std::vector<at::Tensor> taps;
  at::Tensor h = x;
  // Iterating the Sequential's AnyModules runs whatever pack_for_cpu_inference put in their place.
  int64_t index = 0;
  for (auto& layer : *features) {
    h = layer.forward(h);
    if (std::find(kTapIndex.begin(), kTapIndex.end(), index) != kTapIndex.end()) taps.push_back(h);
    ++index;
  }
  return taps;
}

void load_alexnet_weights(AlexNetFeaturesImpl& net, const std::string& path) {
  StateDict dict;
  try {
    dict = read_state_dict(path);
  } catch (const Error& e) {
    fail(std::string("AlexNet weights: ") + e.what() + expected_file());
  }
  std::map<std::string, at::Tensor> by_key;
  for (const auto& [key, tensor] : dict) {
    if (key.rfind("classifier.", 0) == 0) continue;  // the ImageNet head: LPIPS reads only the trunk
    by_key[key] = tensor;
  }
  at::NoGradGuard no_grad;
  for (const ConvSpec& c : kConvs) {
    const std::string base = "features." + std::to_string(c.index) + ".";
    auto* conv = net.features->ptr(static_cast<size_t>(c.index))->as<torch::nn::Conv2d>();
    TORCH_CHECK(conv != nullptr, "AlexNet: features.", c.index, " is not a Conv2d");
    for (at::Tensor* param : {&conv->weight, &conv->bias}) {
      const std::string key = base + (param == &conv->weight ? "weight" : "bias");
      const std::string want = shape_str(param->sizes());
      auto it = by_key.find(key);
      if (it == by_key.end()) fail("AlexNet weights " + path + ": missing key " + key + " (shape " + want + ")" + expected_file());
      if (!it->second.sizes().equals(param->sizes())) {
        fail("AlexNet weights " + path + ": " + key + " has shape " + shape_str(it->second.sizes()) + ", expected " + want +
             expected_file());
      }
      if (!at::isFloatingType(it->second.scalar_type())) {
        fail("AlexNet weights " + path + ": " + key + " is not floating point" + expected_file());
      }
      param->copy_(it->second);
      by_key.erase(it);
    }
  }
  // Anything left is not part of torchvision's AlexNet (another network's file, or a batch-norm variant).
  if (!by_key.empty()) {
    fail("AlexNet weights " + path + ": unexpected key " + by_key.begin()->first + " (and " +
         std::to_string(by_key.size() - 1) + " more)" + expected_file());
  }
}

AlexNetFeatures load_alexnet_features(const std::string& path, const c10::Device& device) {
  AlexNetFeatures net;
  load_alexnet_weights(*net, path);
  net->to(device);
  if (device.is_cpu()) pack_for_cpu_inference(*net);
  return net;
}

}  // namespace p2p
