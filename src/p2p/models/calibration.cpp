// Calibration workloads (calibration.h).
#include "p2p/models/calibration.h"

#include "p2p/core/blas_calibration.h"
#include "p2p/core/random_state.h"
#include "p2p/core/runtime.h"
#include "p2p/models/networks.h"

#include <ATen/ATen.h>
#include <torch/torch.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <vector>
#include <chrono>
#include <memory>
#include <mutex>

namespace p2p {

namespace {

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
  if (!w.training) {  // what inference on the CPU runs (eval/generator: prepare_network_for_inference)
    made.G->inference_precision = w.precision;
    pack_for_cpu_inference(*made.G, w.precision);
  }
  return made;
}

}  // namespace

std::string workload_name(const CalibrationWorkload& w) {
  return std::string(w.training ? "train" : "inference") + " " + w.net.netG + " ngf" + std::to_string(w.net.ngf) + " " +
         w.net.norm + (w.net.attention == "none" ? "" : " att:" + w.net.attention) + " " +
         std::to_string(w.net.input_nc) + "->" + std::to_string(w.net.output_nc) + " " + std::to_string(w.size) +
         "px b" + std::to_string(w.batch) + (w.precision == Precision::kBf16 ? " bf16" : "");
}

std::function<double(int)> generator_workload(const CalibrationWorkload& w) {
  auto built = std::make_shared<Built>();
  return [w, built](int blas_threads) {
    if (blas_threads > 0) set_blas_threads(blas_threads);  // 0: as set
    if (!built->G) *built = build(w);
    KeepRandomState keep;
    const auto start = std::chrono::steady_clock::now();
    if (w.training) {
      built->G->zero_grad();
      const PrecisionScope scope(w.precision);
      built->G->forward(built->x).to(at::kFloat).mean().backward();
    } else {
      torch::NoGradGuard no_grad;
      built->G->infer(built->x);
    }
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
}

}  // namespace p2p

namespace p2p {

PrecisionChoice choose_precision(CalibrationWorkload w, const std::string& cache_file,
                                 const std::function<std::function<double()>(Precision)>& pass_timer,
                                 const std::string& label) {
  PrecisionChoice choice;
  choice.instructions = cpu_bf16_instructions();
  if (choice.instructions.empty()) return choice;
  w.precision = Precision::kFp32;
  const std::string key =
      "precision " + (label.empty() ? "" : label + " ") + blas_cache_key(at::get_num_threads(), workload_name(w));
  const auto usable = [](const nlohmann::json& e) {
    const std::string p = e.at("precision").get<std::string>();
    return (p == "fp32" || p == "bf16") && e.at("seconds_fp32").get<double>() > 0 && e.at("seconds_bf16").get<double>() > 0;
  };
  const CachedMeasurement m = measure_once(cache_file, key, usable, [&] {
    std::function<double()> fp32, bf16;
    if (pass_timer) {
      fp32 = pass_timer(Precision::kFp32);
      bf16 = pass_timer(Precision::kBf16);
    } else {
      CalibrationWorkload b = w;
      b.precision = Precision::kBf16;
      fp32 = [t = generator_workload(w)] { return t(0); };
      bf16 = [t = generator_workload(b)] { return t(0); };
    }
    for (int i = 0; i < 2; ++i) {  // warm-up: building, allocations, kernel and weight-gradient path choices
      fp32();
      bf16();
    }
    std::vector<double> f, h;
    for (int round = 0; round < 3; ++round) {
      f.push_back(fp32());
      h.push_back(bf16());
    }
    std::sort(f.begin(), f.end());
    std::sort(h.begin(), h.end());
    return nlohmann::json{{"precision", h[1] <= 0.9 * f[1] ? "bf16" : "fp32"}, {"seconds_fp32", f[1]}, {"seconds_bf16", h[1]}};
  });
  choice.precision = m.value.at("precision").get<std::string>() == "bf16" ? Precision::kBf16 : Precision::kFp32;
  choice.cached = m.cached;
  choice.seconds_fp32 = m.value.at("seconds_fp32").get<double>();
  choice.seconds_bf16 = m.value.at("seconds_bf16").get<double>();
  return choice;
}

}  // namespace p2p
