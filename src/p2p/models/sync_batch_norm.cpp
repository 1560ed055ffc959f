// Sync batch norm (see sync_batch_norm.h). The statistics are exact two-pass ones (mean first, then
// the mean squared deviation), not E[x^2] - E[x]^2, which loses digits in float32.
#include "p2p/models/sync_batch_norm.h"

#include <ATen/ATen.h>
#include <torch/autograd.h>

namespace p2p {

namespace {

thread_local bool local_only = false;

using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

// y = (x - mean) * invstd * weight + bias with mean and variance over the combined batch. Backward:
// dx = (dy - mean(dy) - xhat * mean(dy * xhat)) * invstd * weight, the means again over the combined
// batch; dweight and dbias are this rank's sums (the gradient all-reduce of data parallelism adds the
// ranks' shares).
struct SyncBatchNormFunction : torch::autograd::Function<SyncBatchNormFunction> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight,
                            const at::Tensor& bias, at::Tensor running_mean, at::Tensor running_var,
                            double momentum, double eps, StatisticsGroup* group) {
    const int64_t C = x.size(1);
    const std::vector<int64_t> dims = {0, 2, 3};
    std::vector<at::Tensor> first = {x.sum(dims), at::full({1}, static_cast<double>(x.numel() / C), x.options())};
    if (group) group->allreduce_sum(first);
    const double count = first[1].item<double>();
    const at::Tensor mean = first[0] / count;
    const at::Tensor centred = x - mean.view({1, C, 1, 1});
    std::vector<at::Tensor> second = {centred.pow(2).sum(dims)};
    if (group) group->allreduce_sum(second);
    const at::Tensor var = second[0] / count;
    const at::Tensor invstd = (var + eps).rsqrt();
    const at::Tensor xhat = centred * invstd.view({1, C, 1, 1});
    {
      at::NoGradGuard no_grad;
      running_mean.mul_(1 - momentum).add_(mean, momentum);
      running_var.mul_(1 - momentum).add_(var * (count / std::max(count - 1, 1.0)), momentum);
    }
    ctx->save_for_backward({xhat, invstd, weight});
    ctx->saved_data["count"] = count;
    ctx->saved_data["group"] = reinterpret_cast<int64_t>(group);
    return xhat * weight.view({1, C, 1, 1}) + bias.view({1, C, 1, 1});
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &xhat = saved[0], &invstd = saved[1], &weight = saved[2];
    const double count = ctx->saved_data["count"].toDouble();
    auto* group = reinterpret_cast<StatisticsGroup*>(ctx->saved_data["group"].toInt());
    const at::Tensor dy = grads[0].contiguous();
    const int64_t C = dy.size(1);
    const std::vector<int64_t> dims = {0, 2, 3};
    const at::Tensor sum_dy = dy.sum(dims), sum_dy_xhat = (dy * xhat).sum(dims);
    std::vector<at::Tensor> sums = {sum_dy.clone(), sum_dy_xhat.clone()};
    if (group) group->allreduce_sum(sums);
    const at::Tensor dx = (dy - (sums[0] / count).view({1, C, 1, 1}) - xhat * (sums[1] / count).view({1, C, 1, 1})) *
                          (invstd * weight).view({1, C, 1, 1});
    return {dx, sum_dy_xhat, sum_dy, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

constexpr double kMomentum = 0.1, kEps = 1e-5;  // torch's BatchNorm2d defaults

SyncBatchNorm2dImpl::SyncBatchNorm2dImpl(int64_t channels) : channels(channels) { reset(); }

void SyncBatchNorm2dImpl::reset() {
  weight = register_parameter("weight", at::ones({channels}));
  bias = register_parameter("bias", at::zeros({channels}));
  running_mean = register_buffer("running_mean", at::zeros({channels}));
  running_var = register_buffer("running_var", at::ones({channels}));
  num_batches_tracked = register_buffer("num_batches_tracked", at::zeros({}, at::kLong));
}

void SyncBatchNorm2dImpl::pretty_print(std::ostream& stream) const {
  stream << "p2p::SyncBatchNorm2d(" << channels << ", eps=" << kEps << ", momentum=" << kMomentum << ")";
}

at::Tensor SyncBatchNorm2dImpl::forward(const at::Tensor& input) {
  TORCH_CHECK(input.dim() == 4, "sync batch norm expects NCHW input, got ", input.sizes());
  if (!is_training()) {
    return at::batch_norm(input, weight, bias, running_mean, running_var, /*training=*/false, kMomentum, kEps,
                          /*cudnn_enabled=*/true);
  }
  {
    at::NoGradGuard no_grad;
    num_batches_tracked.add_(1);
  }
  StatisticsGroup* group = local_only ? nullptr : group_.get();
  return SyncBatchNormFunction::apply(input, weight, bias, running_mean, running_var, kMomentum, kEps, group);
}

int attach_statistics_group(torch::nn::Module& module, const std::shared_ptr<StatisticsGroup>& group) {
  int n = 0;
  for (const auto& m : module.modules(/*include_self=*/true)) {
    if (auto* bn = dynamic_cast<SyncBatchNorm2dImpl*>(m.get())) {
      bn->set_group(group);
      ++n;
    }
  }
  return n;
}

LocalBatchStatistics::LocalBatchStatistics() : previous_(local_only) { local_only = true; }
LocalBatchStatistics::~LocalBatchStatistics() { local_only = previous_; }

}  // namespace p2p
