// pytorch-fid's Inception v3 (see inception.h). Layer names, sizes and order follow torchvision's
// inception.py (0.14) and pytorch-fid's inception.py (FIDInceptionA/C/E_1/E_2), so the weight file's
// keys map onto ours one to one.
#include "p2p/models/inception.h"

#include "p2p/core/error.h"
#include "p2p/core/shape.h"
#include "p2p/io/state_dict.h"
#include "p2p/models/networks.h"

#include <ATen/ATen.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>

#include <cstdlib>
#include <functional>
#include <map>
#include <sstream>
#include <vector>

namespace p2p {
namespace {

using torch::nn::Sequential;

// torchvision's BasicConv2d: conv (no bias) -> BatchNorm2d(eps 0.001) -> ReLU, as one Sequential so
// batch-norm folding and oneDNN packing see the conv and its norm side by side.
Sequential basic_conv(int64_t in, int64_t out, std::array<int64_t, 2> kernel, int64_t stride = 1,
                      std::array<int64_t, 2> padding = {0, 0}) {
  Sequential seq;
  seq->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, {kernel[0], kernel[1]})
                                       .stride(stride)
                                       .padding(torch::ExpandingArray<2>({padding[0], padding[1]}))
                                       .bias(false)));
  seq->push_back(torch::nn::BatchNorm2d(torch::nn::BatchNorm2dOptions(out).eps(0.001)));
  seq->push_back(torch::nn::ReLU(torch::nn::ReLUOptions().inplace(true)));
  return seq;
}

Sequential basic_conv(int64_t in, int64_t out, int64_t kernel, int64_t stride = 1, int64_t padding = 0) {
  return basic_conv(in, out, {kernel, kernel}, stride, {padding, padding});
}

// The pool branch of the A, C and E blocks: TensorFlow's average pool, which divides by the number of
// pixels inside the image (count_include_pad=False), or, in the last E block, a max pool.
enum class PoolKind { average_valid, max };

at::Tensor pool_3x3_same(const at::Tensor& x, PoolKind kind) {
  if (kind == PoolKind::max) return at::max_pool2d(x, {3, 3}, {1, 1}, {1, 1});
  return at::avg_pool2d(x, {3, 3}, {1, 1}, {1, 1}, /*ceil_mode=*/false, /*count_include_pad=*/false);
}

// The 1x1 convolutions of a block that read the block's input, run as one convolution once batch norm is
// folded (prepare_for_inference): one pass over the input and one larger matrix product instead of three
// or four. The average-pool branch (pool, then 1x1 conv) joins them: TensorFlow's average weighs the
// pixels it covers by numbers that sum to one, so pool(Wx + b) = W pool(x) + b, and its conv can run
// first, leaving only its few output channels to pool (its ReLU follows the pool). The same function
// to float rounding.
class FusedHeads {
 public:
  // Replaces `branches` (name, folded BasicConv2d) of `block` by one child "fused_1x1"; with
  // `pool_last` the last branch is the average-pool branch. The branch holders are emptied.
  void fuse(torch::nn::Module& block, const std::vector<std::pair<std::string, Sequential*>>& branches,
            bool pool_last) {
    std::vector<at::Tensor> weights, biases;
    for (const auto& [name, seq] : branches) {
      auto* conv = dynamic_cast<torch::nn::Conv2dImpl*>((*seq)->ptr(0).get());
      TORCH_CHECK(conv && conv->bias.defined() && conv->weight.size(2) == 1 && conv->weight.size(3) == 1,
                  "FusedHeads: ", name, " is not a folded 1x1 convolution");
      weights.push_back(conv->weight.detach());
      biases.push_back(conv->bias.detach());
      sizes_.push_back(conv->weight.size(0));
      block.unregister_module(name);
      *seq = Sequential(nullptr);
    }
    const at::Tensor weight = at::cat(weights, 0), bias = at::cat(biases, 0);
    torch::nn::Conv2d conv(torch::nn::Conv2dOptions(weight.size(1), weight.size(0), 1).bias(true));
    {
      at::NoGradGuard no_grad;
      conv->to(weight.device());
      conv->weight.copy_(weight);
      conv->bias.copy_(bias);
    }
    conv->weight.set_requires_grad(false);
    conv->bias.set_requires_grad(false);
    conv_ = Sequential(conv);
    block.register_module("fused_1x1", conv_);
    pool_last_ = pool_last;
  }

  bool active() const { return !conv_.is_empty(); }

  // The fused branches' outputs, in order: ReLU'd, the pool branch pooled first.
  std::vector<at::Tensor> forward(const at::Tensor& x) {
    at::Tensor z = conv_->forward(x);
    const int64_t pooled = pool_last_ ? sizes_.back() : 0;
    z.narrow(1, 0, z.size(1) - pooled).relu_();
    std::vector<at::Tensor> parts = z.split_with_sizes(sizes_, 1);
    if (pool_last_) parts.back() = pool_3x3_same(parts.back(), PoolKind::average_valid).relu_();
    return parts;
  }

 private:
  Sequential conv_{nullptr};
  std::vector<int64_t> sizes_;
  bool pool_last_ = false;
};

// A block whose input 1x1 convolutions can be fused (see FusedHeads).
class FusableBlock : public torch::nn::Module {
 public:
  virtual void fuse() = 0;
};

// FIDInceptionA (Mixed_5b/c/d): 35x35, in -> 224 + pool_features channels.
class InceptionAImpl : public FusableBlock {
 public:
  InceptionAImpl(int64_t in, int64_t pool_features)
      : b1x1(register_module("branch1x1", basic_conv(in, 64, 1))),
        b5x5_1(register_module("branch5x5_1", basic_conv(in, 48, 1))),
        b5x5_2(register_module("branch5x5_2", basic_conv(48, 64, 5, 1, 2))),
        b3x3dbl_1(register_module("branch3x3dbl_1", basic_conv(in, 64, 1))),
        b3x3dbl_2(register_module("branch3x3dbl_2", basic_conv(64, 96, 3, 1, 1))),
        b3x3dbl_3(register_module("branch3x3dbl_3", basic_conv(96, 96, 3, 1, 1))),
        bpool(register_module("branch_pool", basic_conv(in, pool_features, 1))) {}

  at::Tensor forward(const at::Tensor& x) {
    if (heads_.active()) {
      const std::vector<at::Tensor> h = heads_.forward(x);
      return at::cat({h[0], b5x5_2->forward(h[1]), b3x3dbl_3->forward(b3x3dbl_2->forward(h[2])), h[3]}, 1);
    }
    return at::cat({b1x1->forward(x), b5x5_2->forward(b5x5_1->forward(x)),
                    b3x3dbl_3->forward(b3x3dbl_2->forward(b3x3dbl_1->forward(x))),
                    bpool->forward(pool_3x3_same(x, PoolKind::average_valid))},
                   1);
  }

  void fuse() override {
    heads_.fuse(*this, {{"branch1x1", &b1x1}, {"branch5x5_1", &b5x5_1}, {"branch3x3dbl_1", &b3x3dbl_1},
                        {"branch_pool", &bpool}}, /*pool_last=*/true);
  }

 private:
  Sequential b1x1, b5x5_1, b5x5_2, b3x3dbl_1, b3x3dbl_2, b3x3dbl_3, bpool;
  FusedHeads heads_;
};
TORCH_MODULE(InceptionA);

// InceptionB (Mixed_6a, unchanged): 35x35 -> 17x17, 288 -> 768 channels. One 1x1 conv: nothing to fuse.
class InceptionBImpl : public torch::nn::Module {
 public:
  explicit InceptionBImpl(int64_t in)
      : b3x3(register_module("branch3x3", basic_conv(in, 384, 3, 2))),
        b3x3dbl_1(register_module("branch3x3dbl_1", basic_conv(in, 64, 1))),
        b3x3dbl_2(register_module("branch3x3dbl_2", basic_conv(64, 96, 3, 1, 1))),
        b3x3dbl_3(register_module("branch3x3dbl_3", basic_conv(96, 96, 3, 2))) {}

  at::Tensor forward(const at::Tensor& x) {
    return at::cat({b3x3->forward(x), b3x3dbl_3->forward(b3x3dbl_2->forward(b3x3dbl_1->forward(x))),
                    at::max_pool2d(x, {3, 3}, {2, 2})},
                   1);
  }

 private:
  Sequential b3x3, b3x3dbl_1, b3x3dbl_2, b3x3dbl_3;
};
TORCH_MODULE(InceptionB);

// FIDInceptionC (Mixed_6b..e): 17x17, 768 -> 768 channels, factorised 7x7 convolutions.
class InceptionCImpl : public FusableBlock {
 public:
  InceptionCImpl(int64_t in, int64_t c7)
      : b1x1(register_module("branch1x1", basic_conv(in, 192, 1))),
        b7x7_1(register_module("branch7x7_1", basic_conv(in, c7, 1))),
        b7x7_2(register_module("branch7x7_2", basic_conv(c7, c7, {1, 7}, 1, {0, 3}))),
        b7x7_3(register_module("branch7x7_3", basic_conv(c7, 192, {7, 1}, 1, {3, 0}))),
        b7x7dbl_1(register_module("branch7x7dbl_1", basic_conv(in, c7, 1))),
        b7x7dbl_2(register_module("branch7x7dbl_2", basic_conv(c7, c7, {7, 1}, 1, {3, 0}))),
        b7x7dbl_3(register_module("branch7x7dbl_3", basic_conv(c7, c7, {1, 7}, 1, {0, 3}))),
        b7x7dbl_4(register_module("branch7x7dbl_4", basic_conv(c7, c7, {7, 1}, 1, {3, 0}))),
        b7x7dbl_5(register_module("branch7x7dbl_5", basic_conv(c7, 192, {1, 7}, 1, {0, 3}))),
        bpool(register_module("branch_pool", basic_conv(in, 192, 1))) {}

  at::Tensor forward(const at::Tensor& x) {
    auto seven = [this](const at::Tensor& h) { return b7x7_3->forward(b7x7_2->forward(h)); };
    auto double_seven = [this](const at::Tensor& h) {
      return b7x7dbl_5->forward(b7x7dbl_4->forward(b7x7dbl_3->forward(b7x7dbl_2->forward(h))));
    };
    if (heads_.active()) {
      const std::vector<at::Tensor> h = heads_.forward(x);
      return at::cat({h[0], seven(h[1]), double_seven(h[2]), h[3]}, 1);
    }
    return at::cat({b1x1->forward(x), seven(b7x7_1->forward(x)), double_seven(b7x7dbl_1->forward(x)),
                    bpool->forward(pool_3x3_same(x, PoolKind::average_valid))},
                   1);
  }

  void fuse() override {
    heads_.fuse(*this, {{"branch1x1", &b1x1}, {"branch7x7_1", &b7x7_1}, {"branch7x7dbl_1", &b7x7dbl_1},
                        {"branch_pool", &bpool}}, /*pool_last=*/true);
  }

 private:
  Sequential b1x1, b7x7_1, b7x7_2, b7x7_3, b7x7dbl_1, b7x7dbl_2, b7x7dbl_3, b7x7dbl_4, b7x7dbl_5, bpool;
  FusedHeads heads_;
};
TORCH_MODULE(InceptionC);

// InceptionD (Mixed_7a, unchanged): 17x17 -> 8x8, 768 -> 1280 channels.
class InceptionDImpl : public FusableBlock {
 public:
  explicit InceptionDImpl(int64_t in)
      : b3x3_1(register_module("branch3x3_1", basic_conv(in, 192, 1))),
        b3x3_2(register_module("branch3x3_2", basic_conv(192, 320, 3, 2))),
        b7x7x3_1(register_module("branch7x7x3_1", basic_conv(in, 192, 1))),
        b7x7x3_2(register_module("branch7x7x3_2", basic_conv(192, 192, {1, 7}, 1, {0, 3}))),
        b7x7x3_3(register_module("branch7x7x3_3", basic_conv(192, 192, {7, 1}, 1, {3, 0}))),
        b7x7x3_4(register_module("branch7x7x3_4", basic_conv(192, 192, 3, 2))) {}

  at::Tensor forward(const at::Tensor& x) {
    auto seven = [this](const at::Tensor& h) {
      return b7x7x3_4->forward(b7x7x3_3->forward(b7x7x3_2->forward(h)));
    };
    if (heads_.active()) {
      const std::vector<at::Tensor> h = heads_.forward(x);
      return at::cat({b3x3_2->forward(h[0]), seven(h[1]), at::max_pool2d(x, {3, 3}, {2, 2})}, 1);
    }
    return at::cat({b3x3_2->forward(b3x3_1->forward(x)), seven(b7x7x3_1->forward(x)),
                    at::max_pool2d(x, {3, 3}, {2, 2})},
                   1);
  }

  void fuse() override {
    heads_.fuse(*this, {{"branch3x3_1", &b3x3_1}, {"branch7x7x3_1", &b7x7x3_1}}, /*pool_last=*/false);
  }

 private:
  Sequential b3x3_1, b3x3_2, b7x7x3_1, b7x7x3_2, b7x7x3_3, b7x7x3_4;
  FusedHeads heads_;
};
TORCH_MODULE(InceptionD);

// FIDInceptionE_1 (Mixed_7b, average pool) and FIDInceptionE_2 (Mixed_7c, max pool): 8x8, -> 2048.
class InceptionEImpl : public FusableBlock {
 public:
  InceptionEImpl(int64_t in, PoolKind pool)
      : pool_(pool),
        b1x1(register_module("branch1x1", basic_conv(in, 320, 1))),
        b3x3_1(register_module("branch3x3_1", basic_conv(in, 384, 1))),
        b3x3_2a(register_module("branch3x3_2a", basic_conv(384, 384, {1, 3}, 1, {0, 1}))),
        b3x3_2b(register_module("branch3x3_2b", basic_conv(384, 384, {3, 1}, 1, {1, 0}))),
        b3x3dbl_1(register_module("branch3x3dbl_1", basic_conv(in, 448, 1))),
        b3x3dbl_2(register_module("branch3x3dbl_2", basic_conv(448, 384, 3, 1, 1))),
        b3x3dbl_3a(register_module("branch3x3dbl_3a", basic_conv(384, 384, {1, 3}, 1, {0, 1}))),
        b3x3dbl_3b(register_module("branch3x3dbl_3b", basic_conv(384, 384, {3, 1}, 1, {1, 0}))),
        bpool(register_module("branch_pool", basic_conv(in, 192, 1))) {}

  at::Tensor forward(const at::Tensor& x) {
    at::Tensor one, s, d, pool;
    if (heads_.active()) {
      const std::vector<at::Tensor> h = heads_.forward(x);
      one = h[0];
      s = h[1].contiguous();  // read by two convs: one copy out of the fused output, not two
      d = b3x3dbl_2->forward(h[2]);
      // The max pool does not commute with the conv: E_2's pool branch stays as it is.
      pool = pool_ == PoolKind::max ? bpool->forward(pool_3x3_same(x, pool_)) : h[3];
    } else {
      one = b1x1->forward(x);
      s = b3x3_1->forward(x);
      d = b3x3dbl_2->forward(b3x3dbl_1->forward(x));
      pool = bpool->forward(pool_3x3_same(x, pool_));
    }
    return at::cat({one, b3x3_2a->forward(s), b3x3_2b->forward(s), b3x3dbl_3a->forward(d), b3x3dbl_3b->forward(d),
                    pool},
                   1);
  }

  void fuse() override {
    std::vector<std::pair<std::string, Sequential*>> heads = {
        {"branch1x1", &b1x1}, {"branch3x3_1", &b3x3_1}, {"branch3x3dbl_1", &b3x3dbl_1}};
    if (pool_ == PoolKind::average_valid) heads.emplace_back("branch_pool", &bpool);
    heads_.fuse(*this, heads, /*pool_last=*/pool_ == PoolKind::average_valid);
  }

 private:
  PoolKind pool_;
  Sequential b1x1, b3x3_1, b3x3_2a, b3x3_2b, b3x3dbl_1, b3x3dbl_2, b3x3dbl_3a, b3x3dbl_3b, bpool;
  FusedHeads heads_;
};
TORCH_MODULE(InceptionE);

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// Our name of a BasicConv2d tensor ("Mixed_5b.branch1x1.1.running_mean") in torchvision's spelling
// ("Mixed_5b.branch1x1.bn.running_mean"), and back; "" when the name has no such part.
std::string rename_basic_conv(const std::string& key, const char* from_conv, const char* from_bn, const char* to_conv,
                              const char* to_bn) {
  const size_t last = key.rfind('.');
  if (last == std::string::npos) return "";
  const size_t before = key.rfind('.', last - 1);
  if (before == std::string::npos) return "";
  const std::string part = key.substr(before + 1, last - before - 1);
  const char* to = part == from_conv ? to_conv : part == from_bn ? to_bn : nullptr;
  if (!to) return "";
  return key.substr(0, before + 1) + to + key.substr(last);
}

std::string where_from() {
  return std::string(" — expected pytorch-fid's Inception weights ") + kFidInceptionFile +
         " (GitHub release \"fid_weights\" of mseitzer/pytorch-fid: " + kFidInceptionUrl + ")";
}

// Where the file is looked for when none is named, for messages about a missing one.
std::string default_location() {
  const std::string path = default_weights_path(kFidInceptionFile);
  return path.empty() ? "" : "; its default location is " + path;
}

}  // namespace

namespace {

// Registers `module` under torchvision's attribute name and appends its forward to the stages run in order.
template <typename Holder>
void add_stage(FidInceptionImpl& net, std::vector<std::function<at::Tensor(const at::Tensor&)>>& stages,
               const std::string& name, Holder module) {
  net.register_module(name, module);
  stages.push_back([m = module.ptr()](const at::Tensor& x) { return m->forward(x); });
}

}  // namespace

FidInceptionImpl::FidInceptionImpl() {
  auto max_pool = [](const at::Tensor& x) { return at::max_pool2d(x, {3, 3}, {2, 2}); };
  add_stage(*this, stages_, "Conv2d_1a_3x3", basic_conv(3, 32, 3, 2));
  add_stage(*this, stages_, "Conv2d_2a_3x3", basic_conv(32, 32, 3));
  add_stage(*this, stages_, "Conv2d_2b_3x3", basic_conv(32, 64, 3, 1, 1));
  stages_.push_back(max_pool);  // 64 x 73 x 73
  add_stage(*this, stages_, "Conv2d_3b_1x1", basic_conv(64, 80, 1));
  add_stage(*this, stages_, "Conv2d_4a_3x3", basic_conv(80, 192, 3));
  stages_.push_back(max_pool);  // 192 x 35 x 35
  add_stage(*this, stages_, "Mixed_5b", InceptionA(192, 32));
  add_stage(*this, stages_, "Mixed_5c", InceptionA(256, 64));
  add_stage(*this, stages_, "Mixed_5d", InceptionA(288, 64));
  add_stage(*this, stages_, "Mixed_6a", InceptionB(288));  // 768 x 17 x 17
  add_stage(*this, stages_, "Mixed_6b", InceptionC(768, 128));
  add_stage(*this, stages_, "Mixed_6c", InceptionC(768, 160));
  add_stage(*this, stages_, "Mixed_6d", InceptionC(768, 160));
  add_stage(*this, stages_, "Mixed_6e", InceptionC(768, 192));
  add_stage(*this, stages_, "Mixed_7a", InceptionD(768));  // 1280 x 8 x 8
  add_stage(*this, stages_, "Mixed_7b", InceptionE(1280, PoolKind::average_valid));
  add_stage(*this, stages_, "Mixed_7c", InceptionE(2048, PoolKind::max));
}

at::Tensor FidInceptionImpl::resize_input(const at::Tensor& x) {
  if (x.dim() != 4 || x.size(1) != 3) {
    fail("the FID Inception takes RGB images [N, 3, H, W] in [0, 1]; got shape " + shape_str(x.sizes()));
  }
  at::Tensor h = x.scalar_type() == at::kFloat ? x : x.to(at::kFloat);
  if (h.size(2) != kFidInputSide || h.size(3) != kFidInputSide) {
    h = at::upsample_bilinear2d(h, {kFidInputSide, kFidInputSide}, /*align_corners=*/false);
  }
  return h * 2 - 1;
}

at::Tensor FidInceptionImpl::forward(const at::Tensor& x) { return forward_resized(resize_input(x)); }

at::Tensor FidInceptionImpl::forward_resized(const at::Tensor& input) {
  at::Tensor h = input.contiguous();
  for (const auto& stage : stages_) h = stage(h);
  return at::adaptive_avg_pool2d(h, {1, 1}).flatten(1);  // pool3: 2048
}

void FidInceptionImpl::prepare_for_inference() {
  if (prepared_) return;
  eval();
  device_ = device();
  for (auto& p : parameters()) p.set_requires_grad(false);
  fold_batch_norm(*this);
  for (const auto& m : modules(/*include_self=*/false)) {
    if (auto* block = dynamic_cast<FusableBlock*>(m.get())) block->fuse();
  }
  if (device_.is_cpu()) pack_for_cpu_inference(*this);
  prepared_ = true;
}

c10::Device FidInceptionImpl::device() const {
  if (prepared_) return device_;
  const auto params = parameters();
  return params.empty() ? device_ : params.front().device();
}

void load_inception_weights(FidInception& net, const std::string& path) {
  if (net->prepared()) fail("load_inception_weights: the network was already prepared for inference (load first)");
  if (path.empty()) {
    fail(std::string("no FID Inception weight file given") + where_from() + default_location());
  }
  StateDict dict;
  try {
    dict = read_state_dict(path);
  } catch (const Error& e) {
    fail(std::string("cannot read the FID Inception weights: ") + e.what() + where_from() + default_location());
  }
  load_inception_weights(net, dict, path);
}

void load_inception_weights(FidInception& net, const StateDict& dict, const std::string& path) {
  if (net->prepared()) fail("load_inception_weights: the network was already prepared for inference (load first)");
  // Our tensors under torchvision's names.
  std::map<std::string, at::Tensor> targets;
  std::vector<std::string> order;
  for (auto& [name, tensor] : state_dict_of(*net)) {
    const std::string tv = rename_basic_conv(name, "0", "1", "conv", "bn");
    TORCH_CHECK(!tv.empty(), "unexpected tensor ", name, " in the FID Inception");
    targets.emplace(tv, tensor);
    order.push_back(tv);
  }
  const std::string where = path + ": ";
  std::map<std::string, const at::Tensor*> found;
  for (const auto& [key, tensor] : dict) {
    if (key.rfind("AuxLogits.", 0) == 0 || (key == "fc.weight" && tensor.dim() == 2 && tensor.size(0) == 1000)) {
      fail(where + "holds '" + key + "' of torchvision's ImageNet Inception v3 (inception_v3_google), not the "
           "TensorFlow FID Inception; FID values computed with it are not comparable" + where_from());
    }
    if (key == "fc.weight" || key == "fc.bias") {
      const std::vector<int64_t> want = key == "fc.weight" ? std::vector<int64_t>{1008, kFidFeatureDim}
                                                           : std::vector<int64_t>{1008};
      if (tensor.sizes() != at::IntArrayRef(want)) {
        fail(where + "key '" + key + "' has shape " + shape_str(tensor.sizes()) + ", expected " + shape_str(want) +
             where_from());
      }
      continue;  // the classifier is not used by FID
    }
    auto it = targets.find(key);
    if (it == targets.end()) {
      fail(where + "unexpected key '" + key + "' (shape " + shape_str(tensor.sizes()) +
           ") — not a tensor of the FID Inception v3" + where_from());
    }
    if (!tensor.defined() || tensor.sizes() != it->second.sizes()) {
      fail(where + "key '" + key + "' has shape " + (tensor.defined() ? shape_str(tensor.sizes()) : "undefined") +
           ", expected " + shape_str(it->second.sizes()) + where_from());
    }
    found[key] = &tensor;
  }
  for (const std::string& key : order) {
    if (!found.count(key) && !ends_with(key, ".num_batches_tracked")) {
      fail(where + "missing key '" + key + "' (expected shape " + shape_str(targets.at(key).sizes()) + ")" +
           where_from());
    }
  }
  at::NoGradGuard no_grad;
  for (const auto& [key, tensor] : found) targets.at(key).copy_(*tensor);
}

FidInception load_fid_inception(const std::string& path, c10::Device device) {
  FidInception net;
  load_inception_weights(net, path);
  net->to(device);
  net->prepare_for_inference();
  return net;
}

std::string default_weights_path(const std::string& file) {
  if (const char* x = std::getenv("XDG_DATA_HOME"); x && *x) return std::string(x) + "/p2p/weights/" + file;
  if (const char* home = std::getenv("HOME"); home && *home) {
    return std::string(home) + "/.local/share/p2p/weights/" + file;
  }
  return "";
}

}  // namespace p2p
