// --norm sync_batch: batch normalisation whose statistics span every rank of a data-parallel job, in the
// forward pass (mean and variance of the combined batch) and the backward pass (the mean gradient terms
// of the combined batch), so N ranks with batch b normalise exactly as one process with batch N * b.
// It has BatchNorm2d's parameters and buffers under the same names (so checkpoints are interchangeable
// with --norm batch) and is initialised the same way; with no group attached, or in eval mode, it is
// plain batch norm (momentum 0.1, eps 1e-5) on the local batch.
// The models module knows nothing of processes: whoever runs the job attaches a StatisticsGroup.
#pragma once

#include <ATen/Tensor.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>

#include <ostream>

#include <memory>
#include <vector>

namespace p2p {

// Sums tensors in place over every rank of the job (each rank calls it in the same order).
class StatisticsGroup {
 public:
  virtual ~StatisticsGroup() = default;
  virtual void allreduce_sum(std::vector<at::Tensor>& tensors) = 0;
};

class SyncBatchNorm2dImpl : public torch::nn::Cloneable<SyncBatchNorm2dImpl> {
 public:
  explicit SyncBatchNorm2dImpl(int64_t channels);
  void reset() override;
  void pretty_print(std::ostream& stream) const override;
  at::Tensor forward(const at::Tensor& input);
  void set_group(std::shared_ptr<StatisticsGroup> group) { group_ = std::move(group); }

  int64_t channels;
  at::Tensor weight, bias, running_mean, running_var, num_batches_tracked;

 private:
  std::shared_ptr<StatisticsGroup> group_;
};
TORCH_MODULE(SyncBatchNorm2d);

// Attaches `group` to every SyncBatchNorm2d inside `module`; returns how many there are.
int attach_statistics_group(torch::nn::Module& module, const std::shared_ptr<StatisticsGroup>& group);

// While alive (on this thread), sync batch norm uses local statistics only: for work one rank does
// alone, such as validation on rank 0, which must not wait for the others.
class LocalBatchStatistics {
 public:
  LocalBatchStatistics();
  ~LocalBatchStatistics();
  LocalBatchStatistics(const LocalBatchStatistics&) = delete;
  LocalBatchStatistics& operator=(const LocalBatchStatistics&) = delete;

 private:
  bool previous_;
};

}  // namespace p2p
