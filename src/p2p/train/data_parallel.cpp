// Data-parallel training glue (see data_parallel.h).
#include "p2p/train/data_parallel.h"

#include "p2p/core/error.h"
#include "p2p/data/sampling.h"
#include "p2p/models/sync_batch_norm.h"

#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include <chrono>
#include <sstream>

namespace p2p {

namespace {

class CommunicatorStatistics : public StatisticsGroup {
 public:
  explicit CommunicatorStatistics(Communicator& comm) : comm_(comm) {}
  void allreduce_sum(std::vector<at::Tensor>& tensors) override { comm_.allreduce_sum(tensors); }

 private:
  Communicator& comm_;
};

std::vector<at::Tensor> state_tensors(torch::nn::Module& m) {
  std::vector<at::Tensor> out;
  for (const auto& p : m.parameters()) out.push_back(p.data());
  for (const auto& b : m.buffers()) out.push_back(b);
  return out;
}

std::vector<double> to_vector(const at::Tensor& t) {
  const at::Tensor c = t.contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

}  // namespace

DataParallel::DataParallel(const DistEnv& env, double timeout_seconds)
    : env_(env), timeout_seconds_(timeout_seconds),
      comm_(std::make_unique<Communicator>(
          env, std::chrono::milliseconds(static_cast<int64_t>(timeout_seconds * 1000.0)))) {}

DataParallel::~DataParallel() = default;

void DataParallel::check_supported(const NetConfig& net, const TrainConfig& cfg, const c10::Device& device) {
  if (!device.is_cpu()) {
    fail("--device " + device.str() + ": data-parallel training runs on CPU processes over Gloo in this build "
         "(no NCCL backend for CUDA); use --device cpu, or a single process on the GPU");
  }
  const bool d_sync = net.norm_D == "sync_batch" || (net.norm_D.empty() && net.norm == "sync_batch");
  if (cfg.gan_mode == "wgangp" && d_sync) {
    fail("--gan_mode wgangp with a sync_batch discriminator (--norm/--norm_D sync_batch): the gradient penalty "
         "differentiates through D twice, which sync batch norm does not support; give D --norm_D instance, none or "
         "spectral");
  }
}

void DataParallel::attach(Pix2PixModel& model, uint64_t seed) {
  std::vector<at::Tensor> state = state_tensors(model.generator());
  if (torch::nn::Module* D = model.discriminator()) {
    for (const at::Tensor& t : state_tensors(*D)) state.push_back(t);
  }
  comm_->broadcast(state, 0);
  auto group = std::make_shared<CommunicatorStatistics>(*comm_);
  attach_statistics_group(model.generator(), group);
  if (torch::nn::Module* D = model.discriminator()) attach_statistics_group(*D, group);
  sync_G_ = std::make_unique<GradientSync>(*comm_, model.generator().parameters());
  Pix2PixModel::BackwardHooks hooks;
  hooks.before_G = [this] { sync_G_->prepare_for_backward(); };
  hooks.after_G = [this] { sync_G_->finish_backward(); };
  if (torch::nn::Module* D = model.discriminator()) {
    sync_D_ = std::make_unique<GradientSync>(*comm_, D->parameters());
    hooks.before_D = [this] { sync_D_->prepare_for_backward(); };
    hooks.after_D = [this] { sync_D_->finish_backward(); };
  }
  model.set_backward_hooks(std::move(hooks));
  at::manual_seed(mix_seed(mix_seed(seed, static_cast<uint64_t>(env_.rank) + 1),
                           static_cast<uint64_t>(model.iteration())));
}

bool DataParallel::any(bool local) {
  std::vector<at::Tensor> flag = {at::full({1}, local ? 1.0f : 0.0f)};
  comm_->allreduce_sum(flag);
  return flag[0].item<float>() > 0;
}

std::vector<double> DataParallel::mean(const std::vector<double>& values) {
  if (values.empty()) return values;
  std::vector<at::Tensor> t = {at::tensor(values, at::kDouble)};
  comm_->allreduce_mean(t);
  return to_vector(t[0]);
}

std::vector<double> DataParallel::from_rank0(const std::vector<double>& values) {
  if (values.empty()) return values;
  std::vector<at::Tensor> t = {at::tensor(values, at::kDouble)};
  comm_->broadcast(t, 0);
  return to_vector(t[0]);
}

void DataParallel::rethrow_as_peer_failure(const std::exception& e) const {
  if (dynamic_cast<const Error*>(&e)) throw;  // already says what failed
  std::ostringstream msg;
  msg << "training step failed on rank " << env_.rank << " of " << env_.world_size
      << " (another rank stopped, or did not answer within --dist_timeout " << timeout_seconds_ << " s): " << e.what();
  fail(msg.str());
}

}  // namespace p2p
