// VGG feature extractor and perceptual loss (see perceptual.h).
#include "p2p/losses/perceptual.h"

#include "p2p/core/error.h"
#include "p2p/core/shape.h"
#include "p2p/io/state_dict.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <map>
#include <sstream>

namespace p2p {

namespace {

// torchvision's VGG configurations: output channels of each 3x3 conv per block; a 2x2 max pool ends
// every block, so in `features` conv k sits at index 2k + (number of pools before it).
const std::vector<std::vector<int64_t>>& vgg_blocks(int depth) {
  static const std::vector<std::vector<int64_t>> vgg16 = {
      {64, 64}, {128, 128}, {256, 256, 256}, {512, 512, 512}, {512, 512, 512}};
  static const std::vector<std::vector<int64_t>> vgg19 = {
      {64, 64}, {128, 128}, {256, 256, 256, 256}, {512, 512, 512, 512}, {512, 512, 512, 512}};
  return depth == 19 ? vgg19 : vgg16;
}

struct ConvSpec {
  int64_t index;  // in torchvision's `features`
  int64_t in, out;
  int block, k;   // relu<block>_<k>
};

std::vector<ConvSpec> vgg_convs(int depth) {
  std::vector<ConvSpec> out;
  int64_t index = 0, in = 3;
  int block = 1;
  for (const auto& widths : vgg_blocks(depth)) {
    int k = 1;
    for (int64_t width : widths) {
      out.push_back({index, in, width, block, k++});
      in = width;
      index += 2;  // conv, ReLU
    }
    index += 1;  // max pool
    ++block;
  }
  return out;
}

std::string relu_name(const ConvSpec& c) { return "relu" + std::to_string(c.block) + "_" + std::to_string(c.k); }

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

constexpr const char* kExpectedVgg =
    " — expected a torchvision VGG16 or VGG19 state_dict (torch.save(vgg16().state_dict()): "
    "features.<i>.weight/bias)";

}  // namespace

VggFeatures::VggFeatures(const std::vector<std::pair<std::string, at::Tensor>>& dict, const std::string& source,
                         const std::string& layers_csv) {
  const std::string where = "--vgg_weights: " + source + ": ";
  // features.<i>.<weight|bias> entries by index; classifier.* is the ImageNet head, not needed.
  std::map<int64_t, std::map<std::string, at::Tensor>> features;
  for (const auto& [key, tensor] : dict) {
    if (key.rfind("classifier.", 0) == 0) continue;
    const std::string prefix = "features.";
    const auto dot = key.find('.', prefix.size());
    const std::string idx = key.rfind(prefix, 0) == 0 && dot != std::string::npos
                                ? key.substr(prefix.size(), dot - prefix.size())
                                : std::string();
    const std::string field = dot == std::string::npos ? "" : key.substr(dot + 1);
    if (idx.empty() || idx.find_first_not_of("0123456789") != std::string::npos || idx.size() > 4 ||
        (field != "weight" && field != "bias")) {
      fail(where + "unexpected entry '" + key + "' (batch-norm variants such as vgg16_bn are not supported)" +
           kExpectedVgg);
    }
    if (!at::isFloatingType(tensor.scalar_type())) {
      fail(where + "entry '" + key + "' is not floating point" + kExpectedVgg);
    }
    features[std::stoll(idx)][field] = tensor;
  }
  if (features.empty()) fail(where + "no features.<i>.weight entries" + kExpectedVgg);
  // Index 16 is VGG16's third max pool but VGG19's fourth conv of block 3.
  depth_ = features.count(16) ? 19 : 16;
  const std::string arch = "VGG" + std::to_string(depth_);
  const std::vector<ConvSpec> specs = vgg_convs(depth_);
  for (const auto& [index, fields] : features) {
    const bool known = std::any_of(specs.begin(), specs.end(), [&](const ConvSpec& c) { return c.index == index; });
    if (!known) {
      fail(where + "entry features." + std::to_string(index) + " is not a conv of " + arch +
           " (convs at features." + std::to_string(specs.front().index) + " ... " +
           std::to_string(specs.back().index) + ")" + kExpectedVgg);
    }
  }

  const std::vector<std::string> requested = [&] {
    std::vector<std::string> out;
    std::stringstream csv(layers_csv);
    for (std::string item; std::getline(csv, item, ',');) {
      if (!trim(item).empty()) out.push_back(trim(item));
    }
    return out;
  }();
  std::string valid;
  for (const ConvSpec& c : specs) valid += (valid.empty() ? "" : ", ") + relu_name(c);
  if (requested.empty()) fail("--perc_layers: no layer given; valid for " + arch + ": " + valid);
  for (const std::string& name : requested) {
    auto it = std::find_if(specs.begin(), specs.end(), [&](const ConvSpec& c) { return relu_name(c) == name; });
    if (it == specs.end()) {
      fail("--perc_layers: unknown layer '" + name + "' for " + arch + " (" + source + "); valid: " + valid);
    }
    if (std::find(layers_.begin(), layers_.end(), name) != layers_.end()) {
      fail("--perc_layers: layer '" + name + "' is listed twice");
    }
    layers_.push_back(name);
    layer_conv_.push_back(static_cast<size_t>(it - specs.begin()));
  }
  last_conv_ = *std::max_element(layer_conv_.begin(), layer_conv_.end());

  // Every conv is checked (a truncated or foreign file is refused even when only early layers are used),
  // but only those up to the deepest requested layer are kept.
  at::NoGradGuard no_grad;
  for (size_t i = 0; i < specs.size(); ++i) {
    const ConvSpec& c = specs[i];
    const std::string base = "features." + std::to_string(c.index) + ".";
    const std::vector<int64_t> wshape = {c.out, c.in, 3, 3}, bshape = {c.out};
    auto fields = features.find(c.index);
    const std::vector<std::pair<std::string, std::vector<int64_t>>> expected = {{"weight", wshape}, {"bias", bshape}};
    for (const auto& [field, shape] : expected) {
      if (fields == features.end() || !fields->second.count(field)) {
        fail(where + "missing " + base + field + " (" + arch + " has a conv of shape " + shape_str(wshape) +
             " there)" + kExpectedVgg);
      }
      const at::Tensor& t = fields->second.at(field);
      if (t.sizes() != at::IntArrayRef(shape)) {
        fail(where + base + field + " has shape " + shape_str(t.sizes()) + ", " + arch + " expects " +
             shape_str(shape) + kExpectedVgg);
      }
    }
    if (i > last_conv_) continue;
    auto conv = torch::nn::Conv2d(torch::nn::Conv2dOptions(c.in, c.out, 3).padding(1));
    conv->weight.copy_(fields->second.at("weight"));
    conv->bias.copy_(fields->second.at("bias"));
    conv->weight.set_requires_grad(false);
    conv->bias.set_requires_grad(false);
    convs_.push_back(register_module("conv" + std::to_string(c.block) + "_" + std::to_string(c.k), conv));
    block_.push_back(c.block);
  }
  train(false);
}

void VggFeatures::train(bool /*on*/) { torch::nn::Module::train(false); }

std::vector<at::Tensor> VggFeatures::forward(const at::Tensor& x) {
  if (x.dim() != 4 || (x.size(1) != 1 && x.size(1) != 3)) {
    fail("--lambda_perc: the VGG perceptual loss needs RGB (3-channel) or gray (1-channel) images, got shape " +
         shape_str(x.sizes()));
  }
  at::Tensor h = x.size(1) == 1 ? x.expand({x.size(0), 3, x.size(2), x.size(3)}) : x;
  const at::Tensor mean = at::tensor({0.485, 0.456, 0.406}, at::kDouble).to(x.options()).view({1, 3, 1, 1});
  const at::Tensor std = at::tensor({0.229, 0.224, 0.225}, at::kDouble).to(x.options()).view({1, 3, 1, 1});
  h = ((h + 1) * 0.5 - mean) / std;
  std::vector<at::Tensor> out(layers_.size());
  for (size_t k = 0; k <= last_conv_; ++k) {
    if (k > 0 && block_[k] != block_[k - 1]) h = at::max_pool2d(h, {2, 2}, {2, 2});
    h = at::relu(convs_[k]->forward(h));
    for (size_t j = 0; j < layers_.size(); ++j) {
      if (layer_conv_[j] == k) out[j] = h;
    }
  }
  return out;
}

std::shared_ptr<VggFeatures> load_vgg(const std::string& path, const std::string& layers_csv) {
  if (path.empty()) {
    fail("--vgg_weights: required by --lambda_perc > 0: a torchvision VGG16 or VGG19 state_dict file "
         "(torch.save(torchvision.models.vgg16(weights=...).state_dict(), path))");
  }
  StateDict dict;
  try {
    dict = read_state_dict(path);
  } catch (const Error& e) {
    fail("--vgg_weights: cannot read " + path + ": " + e.what() + kExpectedVgg);
  }
  return std::make_shared<VggFeatures>(dict, path, layers_csv);
}

at::Tensor perceptual_loss(VggFeatures& vgg, const at::Tensor& fake, const at::Tensor& real) {
  const std::vector<at::Tensor> f = vgg.forward(fake);
  std::vector<at::Tensor> r;
  {
    at::NoGradGuard no_grad;  // the target's features are a constant
    r = vgg.forward(real);
  }
  at::Tensor total = at::l1_loss(f[0], r[0]);
  for (size_t i = 1; i < f.size(); ++i) total = total + at::l1_loss(f[i], r[i]);
  return total / static_cast<double>(f.size());
}

}  // namespace p2p
