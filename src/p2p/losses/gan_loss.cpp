// GAN losses (see gan_loss.h).
#include "p2p/losses/gan_loss.h"

#include "p2p/core/error.h"

#include <ATen/ATen.h>
#include <torch/autograd.h>

namespace p2p {

GanMode parse_gan_mode(const std::string& name) {
  check_choice("--gan_mode", name, "vanilla|lsgan|wgangp");
  if (name == "vanilla") return GanMode::kVanilla;
  if (name == "lsgan") return GanMode::kLsgan;
  return GanMode::kWgangp;
}

at::Tensor gan_loss(const at::Tensor& prediction, bool target_is_real, GanMode mode) {
  switch (mode) {
    case GanMode::kVanilla: {
      at::Tensor target = target_is_real ? at::ones_like(prediction) : at::zeros_like(prediction);
      return at::binary_cross_entropy_with_logits(prediction, target);
    }
    case GanMode::kLsgan: {
      at::Tensor target = target_is_real ? at::ones_like(prediction) : at::zeros_like(prediction);
      return at::mse_loss(prediction, target);
    }
    case GanMode::kWgangp:
      return target_is_real ? -prediction.mean() : prediction.mean();
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
