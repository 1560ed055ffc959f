// Data-parallel training glue (see data_parallel.h).
#include "p2p/train/data_parallel.h"

#include "p2p/core/error.h"
#include "p2p/data/sampling.h"
#include "p2p/models/sync_batch_norm.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/nn/module.h>

#include <chrono>
#include <mutex>
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

void DataParallel::attach(TrainModel& model, uint64_t seed, const at::Tensor& rng_state) {
  std::vector<at::Tensor> state;
  for (torch::nn::Module* net : model.networks()) {
    for (const at::Tensor& t : state_tensors(*net)) state.push_back(t);
  }
  comm_->broadcast(state, 0);
  auto group = std::make_shared<CommunicatorStatistics>(*comm_);
  for (torch::nn::Module* net : model.networks()) attach_statistics_group(*net, group);
  sync_G_ = std::make_unique<GradientSync>(*comm_, model.parameters_G());
  BackwardHooks hooks;
  hooks.before_G = [this] { sync_G_->prepare_for_backward(); };
  hooks.after_G = [this] { sync_G_->finish_backward(); };
  const std::vector<at::Tensor> params_D = model.parameters_D();
  if (!params_D.empty()) {
    sync_D_ = std::make_unique<GradientSync>(*comm_, params_D);
    hooks.before_D = [this] { sync_D_->prepare_for_backward(); };
    hooks.after_D = [this] { sync_D_->finish_backward(); };
  }
  model.set_backward_hooks(std::move(hooks));
  if (rng_state.defined()) {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(rng_state);
  } else {
    at::manual_seed(mix_seed(mix_seed(seed, static_cast<uint64_t>(env_.rank) + 1),
                             static_cast<uint64_t>(model.iteration())));
  }
}

// Rank by rank (rank 0's stay where they are): a header (dtype, rank and sizes of each tensor) broadcast from that rank, then its tensors.
std::vector<std::vector<at::Tensor>> DataParallel::gather_to_rank0(const std::vector<at::Tensor>& local) {
  constexpr int64_t kMaxDim = 4;
  std::vector<at::Tensor> counts = {at::zeros({world_size()}, at::kDouble)};
  counts[0][rank()] = static_cast<double>(local.size());
  comm_->allreduce_sum(counts);
  std::vector<std::vector<at::Tensor>> out(rank() == 0 ? world_size() : 0);
  for (int r = 0; r < world_size(); ++r) {
    const int64_t n = static_cast<int64_t>(counts[0][r].item<double>());
    if (n == 0) continue;
    if (r == 0) {  // rank 0 has its own
      if (rank() == 0) {
        for (const at::Tensor& t : local) out[0].push_back(t.detach().to(at::kCPU).clone());
      }
      continue;
    }
    std::vector<at::Tensor> header = {at::zeros({n, 2 + kMaxDim}, at::kLong)};
    if (r == rank()) {
      for (int64_t i = 0; i < n; ++i) {
        const at::Tensor& t = local[static_cast<size_t>(i)];
        TORCH_CHECK(t.dim() <= kMaxDim, "gather_to_rank0: at most ", kMaxDim, " dimensions");
        header[0][i][0] = static_cast<int64_t>(t.scalar_type());
        header[0][i][1] = t.dim();
        for (int64_t d = 0; d < t.dim(); ++d) header[0][i][2 + d] = t.size(d);
      }
    }
    comm_->broadcast(header, r);
    std::vector<at::Tensor> tensors;
    for (int64_t i = 0; i < n; ++i) {
      if (r == rank()) {
        tensors.push_back(local[static_cast<size_t>(i)].detach().to(at::kCPU).contiguous().clone());
        continue;
      }
      const at::Tensor h = header[0][i];
      std::vector<int64_t> sizes;
      for (int64_t d = 0; d < h[1].item<int64_t>(); ++d) sizes.push_back(h[2 + d].item<int64_t>());
      tensors.push_back(at::empty(sizes, at::TensorOptions().dtype(static_cast<at::ScalarType>(h[0].item<int64_t>()))));
    }
    comm_->broadcast(tensors, r);
    if (rank() == 0) out[static_cast<size_t>(r)] = std::move(tensors);
  }
  return out;
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
