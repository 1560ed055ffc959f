// Adversarial losses of pix2pix and its ablations. Discriminators output logits (no sigmoid), so the
// vanilla GAN loss is BCE-with-logits, which is numerically stable where sigmoid + BCE is not.
#pragma once

#include <ATen/Tensor.h>

#include <functional>
#include <string>

namespace p2p {

enum class GanMode { kVanilla, kLsgan, kHinge, kWgangp };

// "vanilla" | "lsgan" | "hinge" | "wgangp"; anything else throws p2p::Error naming --gan_mode.
GanMode parse_gan_mode(const std::string& name);

// Loss of logits `prediction` against the real (true) or fake (false) label:
// vanilla = BCE with logits, lsgan = MSE to 1/0, wgangp = -mean(pred) for real, +mean(pred) for fake,
// hinge = the discriminator's hinge, mean(relu(1 - pred)) for real, mean(relu(1 + pred)) for fake.
// Hinge is not symmetric between D and G: a generator uses generator_gan_loss, never gan_loss(.., true).
at::Tensor gan_loss(const at::Tensor& prediction, bool target_is_real, GanMode mode);

// Discriminator side with a configurable target `label` (--real_label / --fake_label; one-sided label
// smoothing passes 0.9 for real). vanilla: BCE-with-logits to the constant `label` (must lie in [0,1]);
// lsgan: MSE to `label`; hinge and wgangp: as gan_loss (label ignored: their targets are margins / signs,
// not probabilities). With label 1 (real) / 0 (fake) the result is bit-identical to gan_loss.
at::Tensor discriminator_loss(const at::Tensor& prediction, bool is_real, GanMode mode, double label);

// Generator side, D's verdict on the fake: vanilla/lsgan = gan_loss(prediction, true, mode) exactly (the
// non-saturating loss of the paper); hinge and wgangp = -mean(prediction) (Lim & Ye / Miyato et al.:
// G maximises D's score, a hinge on G would stop the gradient once D is fooled by the margin).
at::Tensor generator_gan_loss(const at::Tensor& prediction, GanMode mode);

// WGAN-GP gradient penalty (Gulrajani et al.): lambda * E[(||grad_x D(x)||_2 - 1)^2] at random
// interpolates x = e*real + (1-e)*fake, one e per sample. The reference defines it but never calls it;
// here the wgangp mode always adds it to the D loss. Builds a graph so D's weights get its gradient.
at::Tensor gradient_penalty(const std::function<at::Tensor(const at::Tensor&)>& discriminator,
                            const at::Tensor& real, const at::Tensor& fake, double lambda);

}  // namespace p2p
