// Charbonnier, SSIM and gradient-operator losses (see image_losses.h).
#include "p2p/losses/image_losses.h"

#include "p2p/core/error.h"
#include "p2p/losses/ssim.h"

#include <ATen/ATen.h>

#include <sstream>

namespace p2p {

namespace {

void check_pair(const at::Tensor& fake, const at::Tensor& real, const char* flag) {
  if (fake.dim() != 4 || fake.sizes() != real.sizes()) {
    std::ostringstream s;
    s << flag << ": expected fake and real images [N,C,H,W] of one shape, got " << fake.sizes() << " and "
      << real.sizes();
    fail(s.str());
  }
}

}  // namespace

at::Tensor charbonnier_loss(const at::Tensor& fake, const at::Tensor& real, double eps) {
  if (!(eps > 0.0)) {
    fail("--charbonnier_eps: must be > 0 (at 0 the gradient at equal pixels is undefined), got " + std::to_string(eps));
  }
  check_pair(fake, real, "--lambda_charbonnier");
  return ((fake - real).pow(2) + eps * eps).sqrt().mean();
}

at::Tensor ssim_loss(const at::Tensor& fake, const at::Tensor& real) {
  check_pair(fake, real, "--lambda_ssim");
  return 1 - ssim_mean((fake + 1) * 0.5, (real + 1) * 0.5, "--lambda_ssim");
}

GradOp parse_grad_op(const std::string& name) {
  check_choice("--grad_op", name, "sobel|laplacian");
  return name == "sobel" ? GradOp::kSobel : GradOp::kLaplacian;
}

at::Tensor grad_op_responses(const at::Tensor& x, GradOp op) {
  if (x.dim() != 4) {
    std::ostringstream s;
    s << "--lambda_grad: expected images [N,C,H,W], got " << x.sizes();
    fail(s.str());
  }
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  if (h < 3 || w < 3) {
    fail("--lambda_grad: images must be at least 3x3 pixels, got " + std::to_string(w) + "x" + std::to_string(h));
  }
  at::Tensor kernel;
  if (op == GradOp::kSobel) {
    at::Tensor gx = at::tensor({-1.0, 0.0, 1.0, -2.0, 0.0, 2.0, -1.0, 0.0, 1.0}, at::kDouble).view({3, 3});
    kernel = at::stack({gx, gx.t()}).unsqueeze(1);  // [2,1,3,3]
  } else {
    kernel = at::tensor({0.0, 1.0, 0.0, 1.0, -4.0, 1.0, 0.0, 1.0, 0.0}, at::kDouble).view({1, 1, 3, 3});
  }
  kernel = kernel.to(x.options());
  // Every channel is filtered alone (depthwise): planes as a batch of one-channel images.
  at::Tensor out = at::conv2d(x.reshape({n * c, 1, h, w}), kernel);
  return out.view({n, c, kernel.size(0), h - 2, w - 2});
}

at::Tensor gradient_loss(const at::Tensor& fake, const at::Tensor& real, GradOp op) {
  check_pair(fake, real, "--lambda_grad");
  return (grad_op_responses(fake, op) - grad_op_responses(real, op)).abs().mean();
}

}  // namespace p2p
