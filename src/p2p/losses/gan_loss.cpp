// GAN losses (see gan_loss.h).
#include "p2p/losses/gan_loss.h"

#include "p2p/core/error.h"

#include <ATen/ATen.h>
#include <torch/autograd.h>

namespace p2p {

GanMode parse_gan_mode(const std::string& name) {
  check_choice("--gan_mode", name, "vanilla|lsgan|hinge|wgangp");
  if (name == "vanilla") return GanMode::kVanilla;
  if (name == "lsgan") return GanMode::kLsgan;
  if (name == "hinge") return GanMode::kHinge;
  return GanMode::kWgangp;
}

namespace {
// Logits of a bf16 step (core/precision.h) are scored in fp32, as losses always are.
at::Tensor fp32(const at::Tensor& t) { return t.scalar_type() == at::kBFloat16 ? t.to(at::kFloat) : t; }
}  // namespace

at::Tensor gan_loss(const at::Tensor& logits, bool target_is_real, GanMode mode) {
  const at::Tensor prediction = fp32(logits);
  switch (mode) {
    case GanMode::kVanilla: {
      at::Tensor target = target_is_real ? at::ones_like(prediction) : at::zeros_like(prediction);
      return at::binary_cross_entropy_with_logits(prediction, target);
    }
    case GanMode::kLsgan: {
      at::Tensor target = target_is_real ? at::ones_like(prediction) : at::zeros_like(prediction);
      return at::mse_loss(prediction, target);
    }
    case GanMode::kHinge:
      return target_is_real ? at::relu(1 - prediction).mean() : at::relu(1 + prediction).mean();
    case GanMode::kWgangp:
      return target_is_real ? -prediction.mean() : prediction.mean();
  }
  TORCH_CHECK(false, "unreachable gan mode");
}

at::Tensor discriminator_loss(const at::Tensor& logits, bool is_real, GanMode mode, double label) {
  const at::Tensor prediction = fp32(logits);
  switch (mode) {
    case GanMode::kVanilla:
      if (!(label >= 0.0 && label <= 1.0)) {
        fail(std::string(is_real ? "--real_label" : "--fake_label") +
             ": the vanilla GAN loss needs a target probability in [0,1], got " + std::to_string(label));
      }
      return at::binary_cross_entropy_with_logits(prediction, at::full_like(prediction, label));
    case GanMode::kLsgan:
      return at::mse_loss(prediction, at::full_like(prediction, label));
    case GanMode::kHinge:
    case GanMode::kWgangp:
      return gan_loss(prediction, is_real, mode);
  }
  TORCH_CHECK(false, "unreachable gan mode");
}

at::Tensor generator_gan_loss(const at::Tensor& logits, GanMode mode) {
  const at::Tensor prediction = fp32(logits);
  switch (mode) {
    case GanMode::kVanilla:
    case GanMode::kLsgan:
      return gan_loss(prediction, true, mode);
    case GanMode::kHinge:
    case GanMode::kWgangp:
      return -prediction.mean();
  }
  TORCH_CHECK(false, "unreachable gan mode");
}

at::Tensor gradient_penalty(const std::function<at::Tensor(const at::Tensor&)>& discriminator,
                            const at::Tensor& real, const at::Tensor& fake, double lambda) {
  TORCH_CHECK(real.sizes() == fake.sizes(), "gradient_penalty: real and fake shapes differ");
  at::Tensor eps = at::rand({real.size(0), 1, 1, 1}, real.options());
  at::Tensor x = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(true);
  at::Tensor out = discriminator(x);
  at::Tensor grad = torch::autograd::grad({out}, {x}, {at::ones_like(out)}, /*retain_graph=*/true,
                                          /*create_graph=*/true)[0];
  at::Tensor norms = grad.reshape({grad.size(0), -1}).add(1e-16).norm(2, 1);
  return (norms - 1).pow(2).mean() * lambda;
}

}  // namespace p2p
