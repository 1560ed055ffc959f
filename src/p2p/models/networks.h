// Generators and discriminators of pix2pix, laid out exactly like the reference implementation so that
// our parameter names equal the reference state_dict keys (model.model.1.model.2.weight ...), which
// makes reference checkpoints load by name with no key mapping.
#pragma once

#include "p2p/core/config.h"
#include "p2p/core/precision.h"

#include <ATen/Tensor.h>
#include <torch/nn/module.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace p2p {

// Counts multiply-accumulates of convolutions while a forward pass runs (for `p2p info`).
struct MacCounter {
  double macs = 0.0;
};

// A generator or discriminator. forward_counting is forward with MAC accounting.
class Network : public torch::nn::Module {
 public:
  virtual at::Tensor forward(const at::Tensor& x) = 0;
  virtual at::Tensor forward_counting(const at::Tensor& x, MacCounter& counter) = 0;
  // Intermediate features, the last entry being forward(x) itself. PatchGANs return the output of each
  // [conv, norm, LeakyReLU] group and then the logits (for feature matching); others just {forward(x)}.
  virtual std::vector<at::Tensor> forward_features(const at::Tensor& x) { return {forward(x)}; }
  // Spatial sides of the input must be multiples of this (256 for unet_256, 4 for resnet, 1 for D).
  virtual int64_t size_multiple() const = 0;

  // Inference's forward pass: at `inference_precision` (bf16: under autocast, with the packed layers'
  // bf16 weights), always returning fp32. Every inference path (test, translate, the API, serving) runs
  // G through this; training calls forward.
  at::Tensor infer(const at::Tensor& x);
  Precision inference_precision = Precision::kFp32;
};
using NetworkPtr = std::shared_ptr<Network>;

// Builds G from cfg.netG (unet_<N>, encoder_decoder_<N>, resnet_9blocks, resnet_6blocks); input_nc ->
// output_nc channels, with the U-Net attention modules cfg.attention asks for (see attention.h). Unknown
// names or bad widths throw p2p::Error naming --netG / --norm / --attention. cfg.output_activation none
// leaves the outputs raw (a segmenter's logits). Not initialised.
NetworkPtr make_generator(const NetConfig& cfg);

// Builds D from cfg.netD (basic, n_layers, pixel) taking `in_channels` (input_nc + output_nc when
// conditional), normalised by cfg.norm_D (empty: cfg.norm; spectral: spectral_norm.h). One scale only:
// cfg.num_D is MultiScaleDiscriminator's business. Outputs logits (no sigmoid). Not initialised.
NetworkPtr make_discriminator(const NetConfig& cfg, int64_t in_channels);

// Reference init: conv/linear weights (and a spectral conv's weight_orig) by init_type (normal N(0,gain)
// | xavier | kaiming | orthogonal), bias 0; BatchNorm weight N(1, gain), bias 0. Uses the global
// LibTorch generator (seeded by caller).
void init_weights(torch::nn::Module& net, const std::string& init_type, double init_gain);

int64_t count_parameters(const torch::nn::Module& net);

// Receptive field (pixels on one side) of one output logit of the discriminator described by cfg.
int64_t receptive_field(const NetConfig& cfg);

// Switches dropout and batch-norm between training behaviour and running statistics. pix2pix's test
// mode keeps dropout on and uses batch statistics, so inference calls set_mode(net, /*eval=*/false).
void set_eval_mode(torch::nn::Module& net, bool eval);

// For inference with running statistics (--eval): folds every BatchNorm2d that directly follows a
// convolution (or transposed convolution) in a Sequential into that convolution's kernels and bias, and
// runs an Identity in its place, saving a pass over each activation. The same function to float
// rounding, in eval mode only: the network must not train or run with batch statistics afterwards, and
// its state dict no longer matches the checkpoint's (norm layers gone, folded biases outside it).
// Returns how many were folded.
int fold_batch_norm(torch::nn::Module& net);

// For CPU inference (no gradients, weights frozen): runs each float Conv2d (zero padding, one group) and
// each 4x4 / stride-2 / padding-1 ConvTranspose2d (the U-Net decoder's) found in a Sequential on oneDNN
// with its weights reordered once, the transposed one rewritten as a single convolution (packed.cpp).
// LibTorch otherwise reorders every weight on every call and runs transposed convolutions as im2col +
// GEMM. Same function to float rounding, in either test mode (norm layers are untouched). Each layer is
// checked against LibTorch's own kernel once and keeps it if they disagree or oneDNN is missing. Like
// fold_batch_norm, the network must not train afterwards, and its state dict no longer lists the packed
// layers' weights. Returns how many layers were packed.
// `precision` bf16: the packed weights are stored in bf16 and the layers compute in bf16 (bf16 output).
int pack_for_cpu_inference(torch::nn::Module& net, Precision precision = Precision::kFp32);

// Whether the U-Net's up-convolutions train on oneDNN convolution passes (on: how they are built) or on
// LibTorch's own transposed convolution (off: to measure the difference; the results agree to float
// rounding). Returns how many up-convolutions `net` has.
int use_onednn_up_convolutions(torch::nn::Module& net, bool on);

// How many oneDNN up-convolution passes the autograd graph behind `y` holds: what a training forward
// really ran, as opposed to what was asked for.
int onednn_up_convolution_nodes(const at::Tensor& y);

}  // namespace p2p
