// Tests for models/sync_batch_norm: alone it is torch's BatchNorm2d (outputs, gradients, running
// statistics); two "ranks" (threads exchanging sums) with half a batch each normalise and differentiate
// exactly as BatchNorm2d on the whole batch; eval mode and LocalBatchStatistics never reach the group.
#include "p2p/models/sync_batch_norm.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/autograd.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/modulelist.h>

#include <condition_variable>
#include <mutex>
#include <thread>

namespace p2p {
namespace {

template <typename From, typename To>
void copy_affine(From& from, To& to) {
  torch::NoGradGuard no_grad;
  to.weight.copy_(from.weight);
  to.bias.copy_(from.bias);
}

void expect_close(const at::Tensor& a, const at::Tensor& b, double tol, const char* what) {
  ASSERT_EQ(a.sizes(), b.sizes()) << what;
  EXPECT_LT((a - b).abs().max().item<double>(), tol) << what;
}

// Two threads standing in for two ranks: each call blocks until both have contributed, then both get
// the sum. Counts its calls.
class ThreadPairGroup : public StatisticsGroup {
 public:
  void allreduce_sum(std::vector<at::Tensor>& tensors) override {
    std::unique_lock<std::mutex> lock(mu_);
    const int round = round_;
    if (arrived_ == 0) {
      partial_.clear();
      for (auto& t : tensors) partial_.push_back(t.clone());
    } else {
      for (size_t i = 0; i < tensors.size(); ++i) partial_[i].add_(tensors[i]);
    }
    if (++arrived_ == 2) {
      arrived_ = 0;
      ++round_;
      ++calls_;
      result_ = partial_;
      cv_.notify_all();
    } else {
      cv_.wait(lock, [&] { return round_ != round; });
    }
    for (size_t i = 0; i < tensors.size(); ++i) tensors[i].copy_(result_[i]);
  }
  int calls() const { return calls_; }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int arrived_ = 0, round_ = 0, calls_ = 0;
  std::vector<at::Tensor> partial_, result_;
};

TEST(SyncBatchNorm, AloneItIsBatchNorm) {
  at::manual_seed(3);
  torch::nn::BatchNorm2d ref(torch::nn::BatchNorm2dOptions(5));
  SyncBatchNorm2d sync(5);
  {
    torch::NoGradGuard no_grad;
    ref->weight.uniform_(0.5, 1.5);
    ref->bias.uniform_(-0.5, 0.5);
  }
  copy_affine(*ref, *sync);
  const at::Tensor x = at::randn({4, 5, 6, 7}) * 3 + 1;
  const at::Tensor w = at::randn({4, 5, 6, 7});
  const at::Tensor xr = x.clone().requires_grad_(true), xs = x.clone().requires_grad_(true);
  for (int step = 0; step < 2; ++step) {
    const at::Tensor yr = ref->forward(xr), ys = sync->forward(xs);
    expect_close(ys, yr, 1e-5, "output");
    (yr * w).sum().backward();
    (ys * w).sum().backward();
  }
  expect_close(xs.grad(), xr.grad(), 1e-4, "input gradient");
  expect_close(sync->weight.grad(), ref->weight.grad(), 1e-3, "weight gradient");
  expect_close(sync->bias.grad(), ref->bias.grad(), 1e-3, "bias gradient");
  expect_close(sync->running_mean, ref->running_mean, 1e-6, "running mean");
  expect_close(sync->running_var, ref->running_var, 1e-5, "running var (unbiased)");
  EXPECT_EQ(sync->num_batches_tracked.item<int64_t>(), 2);
  sync->eval();
  ref->eval();
  expect_close(sync->forward(x), ref->forward(x), 1e-5, "eval output");
}

TEST(SyncBatchNorm, TwoRanksWithHalfBatchesMatchBatchNormOnTheWholeBatch) {
  at::manual_seed(4);
  torch::nn::BatchNorm2d ref(torch::nn::BatchNorm2dOptions(3));
  {
    torch::NoGradGuard no_grad;
    ref->weight.uniform_(0.5, 1.5);
    ref->bias.uniform_(-0.5, 0.5);
  }
  const at::Tensor x = at::randn({4, 3, 5, 5}) * 2 - 1;
  const at::Tensor w = at::randn({4, 3, 5, 5});
  const at::Tensor xr = x.clone().requires_grad_(true);
  const at::Tensor yr = ref->forward(xr);
  (yr * w).sum().backward();

  auto group = std::make_shared<ThreadPairGroup>();
  SyncBatchNorm2d ranks[2] = {SyncBatchNorm2d(3), SyncBatchNorm2d(3)};
  at::Tensor y[2], gx[2], gw[2], gb[2];
  std::vector<std::thread> threads;
  for (int r = 0; r < 2; ++r) {
    copy_affine(*ref, *ranks[r]);
    ranks[r]->set_group(group);
    threads.emplace_back([&, r] {
      const at::Tensor xs = x.slice(0, 2 * r, 2 * r + 2).clone().requires_grad_(true);
      y[r] = ranks[r]->forward(xs);
      (y[r] * w.slice(0, 2 * r, 2 * r + 2)).sum().backward();
      gx[r] = xs.grad();
      gw[r] = ranks[r]->weight.grad();
      gb[r] = ranks[r]->bias.grad();
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(group->calls(), 3);  // forward: mean, then variance; backward: the two gradient sums
  expect_close(at::cat({y[0], y[1]}), yr, 1e-5, "output");
  expect_close(at::cat({gx[0], gx[1]}), xr.grad(), 1e-4, "input gradient");
  // Each rank holds its share of dweight/dbias; the gradient all-reduce adds them up.
  expect_close(gw[0] + gw[1], ref->weight.grad(), 1e-3, "weight gradient");
  expect_close(gb[0] + gb[1], ref->bias.grad(), 1e-3, "bias gradient");
  for (int r = 0; r < 2; ++r) {
    expect_close(ranks[r]->running_mean, ref->running_mean, 1e-6, "running mean");
    expect_close(ranks[r]->running_var, ref->running_var, 1e-5, "running var");
  }
  // Half a batch normalised alone comes out visibly different, so the comparisons above can tell.
  torch::nn::BatchNorm2d half(torch::nn::BatchNorm2dOptions(3));
  copy_affine(*ref, *half);
  EXPECT_GT((half->forward(x.slice(0, 0, 2)) - yr.slice(0, 0, 2)).abs().max().item<double>(), 1e-2);
}

TEST(SyncBatchNorm, EvalModeAndLocalStatisticsLeaveTheGroupAlone) {
  auto group = std::make_shared<ThreadPairGroup>();  // would block forever if called from one thread
  SyncBatchNorm2d bn(2);
  bn->set_group(group);
  const at::Tensor x = at::randn({2, 2, 4, 4});
  torch::nn::BatchNorm2d ref(torch::nn::BatchNorm2dOptions(2));
  {
    const LocalBatchStatistics local;
    expect_close(bn->forward(x), ref->forward(x), 1e-5, "local statistics = batch norm");
  }
  bn->eval();
  ref->eval();
  expect_close(bn->forward(x), ref->forward(x), 1e-5, "eval");
  EXPECT_EQ(group->calls(), 0);
}

TEST(SyncBatchNorm, AttachFindsEveryLayer) {
  torch::nn::ModuleList list(SyncBatchNorm2d(2), torch::nn::ReLU(), torch::nn::ModuleList(SyncBatchNorm2d(4)),
                            torch::nn::BatchNorm2d(3));
  EXPECT_EQ(attach_statistics_group(*list, std::make_shared<ThreadPairGroup>()), 2);
}

}  // namespace
}  // namespace p2p
