// Reconstruction and structure terms of the generator objective beyond the paper's L1 (each enabled by
// its --lambda_* > 0). Inputs are G's output and the target in the network range [-1,1], [N,C,H,W] of
// one shape; every loss is a 0-dim mean, differentiable in `fake` (the caller multiplies by lambda).
#pragma once

#include <ATen/Tensor.h>

#include <string>

namespace p2p {

// Charbonnier (smooth L1, Barron's rho with alpha 1): mean(sqrt((fake - real)^2 + eps^2)). Behaves like L1
// for |d| >> eps but has a finite gradient at d = 0, where L1's subgradient flips sign. Note the floor:
// identical images give eps, not 0. eps <= 0 throws p2p::Error naming --charbonnier_eps.
at::Tensor charbonnier_loss(const at::Tensor& fake, const at::Tensor& real, double eps);

// 1 - mean SSIM of (fake+1)/2 and (real+1)/2: exactly the SSIM `p2p metrics` reports (losses/ssim.h), so
// ssim_loss = 1 - reported SSIM for the same pair. No clamping (it would cut the gradient at the tanh
// limits). Images under 11x11 throw p2p::Error naming --lambda_ssim.
at::Tensor ssim_loss(const at::Tensor& fake, const at::Tensor& real);

enum class GradOp { kSobel, kLaplacian };

// "sobel" | "laplacian"; anything else throws p2p::Error naming --grad_op.
GradOp parse_grad_op(const std::string& name);

// Per-channel responses of the operator, [N,C,K,H-2,W-2]:
//   Sobel, K = 2: signed d/dx (along W, kernel [-1 0 1; -2 0 2; -1 0 1], cross-correlation, unnormalised)
//     and d/dy (its transpose, along H). A ramp x[h][w] = a*w gives d/dx = 8a and d/dy = 0.
//   Laplacian, K = 1: kernel [0 1 0; 1 -4 1; 0 1 0]; 0 on any ramp (plane).
// Border: 'valid' convolution, only positions where the whole 3x3 window lies inside the image, so no
// padding rule invents edges at the border (which real and fake would share anyway); the loss thus
// ignores the outermost pixel ring's own responses. Images under 3x3 throw p2p::Error naming --lambda_grad.
at::Tensor grad_op_responses(const at::Tensor& x, GradOp op);

// L1 between the responses of fake and real: mean over N, C, K and positions of |R(fake) - R(real)|.
// The Sobel responses are signed (gx, gy, not |gx|, |gy|): an inverted edge (dark-to-bright where the
// target goes bright-to-dark) is penalised, which magnitudes alone would not see.
at::Tensor gradient_loss(const at::Tensor& fake, const at::Tensor& real, GradOp op);

}  // namespace p2p
