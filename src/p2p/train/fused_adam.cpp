// Fused CPU Adam (see fused_adam.h). Per element, in float32 as LibTorch does:
//   m = beta1*m + (1-beta1)*g;  v = beta2*v + (1-beta2)*g*g
//   p -= (lr / (1-beta1^t)) * m / (sqrt(v) / sqrt(1-beta2^t) + eps)
#include "p2p/train/fused_adam.h"

#include "p2p/io/checkpoint.h"

#include <ATen/ATen.h>
#include "p2p/core/parallel.h"
#include <ATen/record_function.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <cmath>
#include <type_traits>

namespace p2p {

at::Tensor FusedAdam::step(LossClosure closure) {
  RECORD_USER_SCOPE("p2p::adam");
  at::NoGradGuard no_grad;
  at::Tensor loss;
  if (closure != nullptr) {
    at::AutoGradMode enable_grad(true);
    loss = closure();
  }
  bool fallback = false;
  for (auto& group : param_groups()) {
    const auto& o = static_cast<const torch::optim::AdamOptions&>(group.options());
    if (o.weight_decay() != 0 || o.amsgrad()) fallback = true;
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      if (!p.device().is_cpu() || p.scalar_type() != at::kFloat || !p.is_contiguous() ||
          !p.grad().is_contiguous() || p.grad().scalar_type() != at::kFloat) {
        fallback = true;
      }
    }
  }
  if (fallback) {
    torch::optim::Adam::step(nullptr);
    return loss;
  }
  using Map = std::decay_t<decltype(state_)>;
  for (auto& group : param_groups()) {
    const auto& o = static_cast<const torch::optim::AdamOptions&>(group.options());
    const double beta1 = std::get<0>(o.betas()), beta2 = std::get<1>(o.betas());
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      auto key = optimizer_state_key<Map>(p);
      auto it = state_.find(key);
      if (it == state_.end()) {
        auto fresh = std::make_unique<torch::optim::AdamParamState>();
        fresh->step(0);
        fresh->exp_avg(at::zeros_like(p, at::MemoryFormat::Preserve));
        fresh->exp_avg_sq(at::zeros_like(p, at::MemoryFormat::Preserve));
        it = state_.emplace(key, std::move(fresh)).first;
      }
      auto& st = static_cast<torch::optim::AdamParamState&>(*it->second);
      st.step(st.step() + 1);
      const double bc1 = 1 - std::pow(beta1, static_cast<double>(st.step()));
      const double bc2 = 1 - std::pow(beta2, static_cast<double>(st.step()));
      const float step_size = static_cast<float>(o.lr() / bc1);
      const float bc2_sqrt = static_cast<float>(std::sqrt(bc2));
      const float b1 = static_cast<float>(beta1), b2 = static_cast<float>(beta2);
      const float one_minus_b1 = static_cast<float>(1 - beta1), one_minus_b2 = static_cast<float>(1 - beta2);
      const float eps = static_cast<float>(o.eps());
      float* __restrict param = p.data_ptr<float>();
      const float* __restrict grad = p.grad().data_ptr<float>();
      float* __restrict m = st.exp_avg().data_ptr<float>();
      float* __restrict v = st.exp_avg_sq().data_ptr<float>();
      at::parallel_for(0, p.numel(), 1 << 14, [=](int64_t begin, int64_t end) {
        // Distinct tensors (restrict) and -fno-math-errno (CMakeLists) let the compiler vectorise this.
        for (int64_t i = begin; i < end; ++i) {
          const float g = grad[i];
          const float mi = m[i] * b1 + g * one_minus_b1;
          const float vi = v[i] * b2 + g * g * one_minus_b2;
          m[i] = mi;
          v[i] = vi;
          param[i] -= step_size * mi / (std::sqrt(vi) / bc2_sqrt + eps);
        }
      });
    }
  }
  return loss;
}

}  // namespace p2p
