// Factories: turns the names in NetConfig (--netG, --netD, --norm ...) into networks, validating every
// user-facing value so a bad flag fails with a message naming it rather than deep inside LibTorch.
#include "p2p/models/networks.h"

#include "p2p/core/error.h"
#include "p2p/models/attention.h"
#include "p2p/models/layers.h"

#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>

#include <cctype>
#include <vector>

namespace p2p {
namespace {

const char* const kGeneratorChoices =
    "unet_<N> or encoder_decoder_<N> with N a power of two >= 32 (e.g. unet_256, unet_128), "
    "resnet_9blocks, resnet_6blocks";

// Parses "<prefix><N>" with N a power of two in [32, 2^20]; returns log2(N) or -1 when it does not match.
int parse_sized_name(const std::string& name, const std::string& prefix) {
  if (name.rfind(prefix, 0) != 0) return -1;
  const std::string digits = name.substr(prefix.size());
  if (digits.empty() || digits.size() > 7) return -1;
  for (char c : digits) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return -1;
  }
  const long value = std::stol(digits);
  for (int downs = 5; downs <= 20; ++downs) {
    if (value == (1L << downs)) return downs;
  }
  return -1;
}

void check_positive(const std::string& flag, int value) {
  if (value <= 0) fail(flag + ": must be a positive integer (got " + std::to_string(value) + ")");
}

}  // namespace

namespace {
// --output_activation none: the output Tanh (the only one in every generator) runs as an Identity. It has
// no parameters, so the state_dict keys stay the reference's.
NetworkPtr with_output_activation(NetworkPtr G, const NetConfig& cfg) {
  check_choice("--output_activation", cfg.output_activation, "tanh|none");
  if (cfg.output_activation == "tanh") return G;
  for (const auto& m : G->modules(/*include_self=*/true)) {
    auto* seq = dynamic_cast<torch::nn::SequentialImpl*>(m.get());
    if (!seq) continue;
    for (size_t i = 0; i < seq->size(); ++i) {
      if (!dynamic_cast<torch::nn::TanhImpl*>(seq->ptr(i).get())) continue;
      auto identity = std::make_shared<torch::nn::IdentityImpl>();
      *(seq->begin() + static_cast<std::ptrdiff_t>(i)) = torch::nn::AnyModule(identity);
      const std::string name = std::to_string(i);
      if (seq->named_children().contains(name)) seq->replace_module(name, identity);
    }
  }
  return G;
}

NetworkPtr build_generator(const NetConfig& cfg) {
  check_positive("--input_nc", cfg.input_nc);
  check_positive("--output_nc", cfg.output_nc);
  check_positive("--ngf", cfg.ngf);
  check_choice("--dropout_placement", cfg.dropout_placement, "reference|paper");
  const detail::NormKind norm = detail::parse_norm(cfg.norm);
  const bool known = cfg.netG == "resnet_9blocks" || cfg.netG == "resnet_6blocks" ||
                     parse_sized_name(cfg.netG, "unet_") > 0 || parse_sized_name(cfg.netG, "encoder_decoder_") > 0;
  if (known) parse_attention(cfg.attention, cfg.netG);  // refuses attention for generators without U-Net blocks
  if (cfg.netG == "resnet_9blocks") return detail::make_resnet(cfg, 9, norm);
  if (cfg.netG == "resnet_6blocks") return detail::make_resnet(cfg, 6, norm);
  if (int downs = parse_sized_name(cfg.netG, "unet_"); downs > 0) return detail::make_unet(cfg, downs, true, norm);
  if (int downs = parse_sized_name(cfg.netG, "encoder_decoder_"); downs > 0) {
    return detail::make_unet(cfg, downs, false, norm);
  }
  fail("--netG: unknown generator '" + cfg.netG + "' (expected " + kGeneratorChoices + ")");
}
}  // namespace

at::Tensor Network::infer(const at::Tensor& x) {
  const PrecisionScope scope(inference_precision);
  return forward(x).to(at::kFloat);
}

NetworkPtr make_generator(const NetConfig& cfg) { return with_output_activation(build_generator(cfg), cfg); }

NetworkPtr make_discriminator(const NetConfig& cfg, int64_t in_channels) {
  if (in_channels <= 0) {
    fail("--input_nc/--output_nc: the discriminator needs a positive number of input channels (got " +
         std::to_string(in_channels) + ")");
  }
  check_positive("--ndf", cfg.ndf);
  const detail::DiscriminatorNorm norm = detail::parse_norm_D(cfg);
  if (cfg.netD == "basic") return detail::make_nlayer_discriminator(cfg, in_channels, 3, norm);
  if (cfg.netD == "n_layers") {
    check_positive("--n_layers_D", cfg.n_layers_D);
    return detail::make_nlayer_discriminator(cfg, in_channels, cfg.n_layers_D, norm);
  }
  if (cfg.netD == "pixel") return detail::make_pixel_discriminator(cfg, in_channels, norm);
  fail("--netD: unknown discriminator '" + cfg.netD + "' (expected one of basic|n_layers|pixel)");
}

int64_t receptive_field(const NetConfig& cfg) {
  // Walk the convolutions of a minimal-width copy of D: the field depends only on kernels and strides,
  // so reading them from the real layer stack keeps this in step with the builder.
  NetConfig tiny = cfg;
  tiny.ndf = 1;
  if (tiny.norm_D == "spectral") tiny.norm_D = "none";  // plain Conv2d layers to read; same geometry
  NetworkPtr d = make_discriminator(tiny, 1);
  std::vector<std::pair<int64_t, int64_t>> layers;  // (kernel, stride)
  for (const auto& m : d->modules(/*include_self=*/false)) {
    if (auto* conv = dynamic_cast<torch::nn::Conv2dImpl*>(m.get())) {
      layers.emplace_back((*conv->options.kernel_size())[0], (*conv->options.stride())[0]);
    }
  }
  // One output pixel sees `field` pixels of a layer's output, hence (field-1)*stride + kernel of its input.
  int64_t field = 1;
  for (auto it = layers.rbegin(); it != layers.rend(); ++it) field = (field - 1) * it->second + it->first;
  return field;
}

}  // namespace p2p
