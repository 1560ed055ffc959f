// Adversarial losses of pix2pix and its ablations. Discriminators output logits (no sigmoid), so the
// vanilla GAN loss is BCE-with-logits, which is numerically stable where sigmoid + BCE is not.
#pragma once

#include <ATen/Tensor.h>

#include <functional>
#include <string>

namespace p2p {

enum class GanMode { kVanilla, kLsgan, kWgangp };

// "vanilla" | "lsgan" | "wgangp"; anything else throws p2p::Error naming --gan_mode.
GanMode parse_gan_mode(const std::string& name);

// Loss of logits `prediction` against the real (true) or fake (false) label:
// vanilla = BCE with logits, lsgan = MSE to 1/0, wgangp = -mean(pred) for real, +mean(pred) for fake.
at::Tensor gan_loss(const at::Tensor& prediction, bool target_is_real, GanMode mode);

// WGAN-GP gradient penalty (Gulrajani et al.): lambda * E[(||grad_x D(x)||_2 - 1)^2] at random
// interpolates x = e*real + (1-e)*fake, one e per sample. The reference defines it but never calls it;
// here the wgangp mode always adds it to the D loss. Builds a graph so D's weights get its gradient.
at::Tensor gradient_penalty(const std::function<at::Tensor(const at::Tensor&)>& discriminator,
                            const at::Tensor& real, const at::Tensor& fake, double lambda);

}  // namespace p2p
