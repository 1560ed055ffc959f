// Calibration workloads (calibration.h).
#include "p2p/models/calibration.h"

#include "p2p/core/runtime.h"
#include "p2p/models/networks.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <memory>
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

struct Built {
  NetworkPtr G;
  at::Tensor x;
};

Built build(const CalibrationWorkload& w) {
  KeepRandomState keep;
  Built made{make_generator(w.net), {}};
  init_weights(*made.G, "normal", 0.02);
  const int64_t multiple = std::max<int64_t>(1, made.G->size_multiple());
  const int64_t side = (std::max<int64_t>(w.size, 1) + multiple - 1) / multiple * multiple;
  const int64_t n = std::max<int64_t>(w.batch, 1) * w.net.input_nc * side * side;
  made.x = at::arange(n, at::kFloat).view({std::max<int64_t>(w.batch, 1), w.net.input_nc, side, side}).mul(0.37).sin();
  if (!w.training) pack_for_cpu_inference(*made.G);  // what inference on the CPU runs (deploy/generator)
  return made;
}

}  // namespace

std::string workload_name(const CalibrationWorkload& w) {
  return std::string(w.training ? "train" : "inference") + " " + w.net.netG + " ngf" + std::to_string(w.net.ngf) + " " +
         w.net.norm + (w.net.attention == "none" ? "" : " att:" + w.net.attention) + " " +
         std::to_string(w.net.input_nc) + "->" + std::to_string(w.net.output_nc) + " " + std::to_string(w.size) +
         "px b" + std::to_string(w.batch);
}

std::function<double(int)> generator_workload(const CalibrationWorkload& w) {
  auto built = std::make_shared<Built>();
  return [w, built](int blas_threads) {
    set_blas_threads(blas_threads);
    if (!built->G) *built = build(w);
    KeepRandomState keep;
    const auto start = std::chrono::steady_clock::now();
    if (w.training) {
      built->G->zero_grad();
      built->G->forward(built->x).mean().backward();
    } else {
      torch::NoGradGuard no_grad;
      built->G->forward(built->x);
    }
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
}

}  // namespace p2p
