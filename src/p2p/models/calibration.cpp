// Calibration workloads (calibration.h).
#include "p2p/models/calibration.h"

#include "p2p/core/config.h"
#include "p2p/core/runtime.h"
#include "p2p/models/networks.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <chrono>
#include <mutex>

namespace p2p {

namespace {

// Restores the global generator when it goes: building the network and its dropout draws must not
// move it.
class KeepRandomState {
 public:
  KeepRandomState() : gen_(at::detail::getDefaultCPUGenerator()) {
    std::lock_guard<std::mutex> lock(gen_.mutex());
    state_ = gen_.get_state();
  }
  ~KeepRandomState() {
    std::lock_guard<std::mutex> lock(gen_.mutex());
    gen_.set_state(state_);
  }

 private:
  at::Generator gen_;
  at::Tensor state_;
};

struct Workload {
  NetworkPtr G;
  at::Tensor x;
};

Workload make_workload(bool packed) {
  KeepRandomState keep;
  NetConfig cfg;  // pix2pix's defaults: unet_256, ngf 64, batch norm, dropout
  Workload made{make_generator(cfg), at::arange(3 * 256 * 256, at::kFloat).view({1, 3, 256, 256}).mul(0.37).sin()};
  init_weights(*made.G, "normal", 0.02);
  if (packed) pack_for_cpu_inference(*made.G);  // what inference on the CPU runs (deploy/generator)
  return made;
}

// One network per kind, built on first use: a process calibrates one kind of work.
Workload& workload(bool training) {
  if (training) {
    static Workload train = make_workload(false);
    return train;
  }
  static Workload inference = make_workload(true);
  return inference;
}

}  // namespace

std::function<double(int)> generator_workload(bool training) {
  return [training](int blas_threads) {
    set_blas_threads(blas_threads);
    Workload& w = workload(training);
    KeepRandomState keep;
    const auto start = std::chrono::steady_clock::now();
    if (training) {
      w.G->zero_grad();
      w.G->forward(w.x).mean().backward();
    } else {
      torch::NoGradGuard no_grad;
      w.G->forward(w.x);
    }
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
}

}  // namespace p2p
