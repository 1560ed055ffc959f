// BLAS thread calibration (blas_calibration.h).
#include "p2p/core/blas_calibration.h"

#include "p2p/core/build_info.h"
#include "p2p/core/runtime.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>
#include <unistd.h>
#include <vector>

namespace fs = std::filesystem;

namespace p2p {

namespace {

// One forward and backward of a U-Net's middle: a strided 4x4 convolution down, batch norm and
// LeakyReLU, a transposed 4x4 convolution up (BLAS) with batch norm and ReLU — the operations and sizes
// (64 px, 64-128 channels) where the two thread pools meet in the real step.
double builtin_workload(int blas_threads) {
  set_blas_threads(blas_threads);
  // The layers' random initialisation must not move the global generator: runs are seeded before or
  // after this, and their draws must not depend on whether a calibration happened.
  at::Generator gen = at::detail::getDefaultCPUGenerator();
  const at::Tensor rng_state = [&] {
    std::lock_guard<std::mutex> lock(gen.mutex());
    return gen.get_state();
  }();
  static torch::nn::Conv2d down(torch::nn::Conv2dOptions(64, 128, 4).stride(2).padding(1).bias(false));
  static torch::nn::ConvTranspose2d up(torch::nn::ConvTranspose2dOptions(128, 64, 4).stride(2).padding(1).bias(false));
  static torch::nn::BatchNorm2d bn1(128), bn2(64);
  static const at::Tensor x = at::arange(64 * 96 * 96, at::kFloat).view({1, 64, 96, 96}).mul(0.37).sin();
  {
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(rng_state);
  }
  const auto start = std::chrono::steady_clock::now();
  at::Tensor h = torch::leaky_relu(bn1->forward(down->forward(x)), 0.2);
  at::Tensor y = torch::relu(bn2->forward(up->forward(h)));
  y.sum().backward();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

std::string blas_cache_key(int threads) {
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  return cpu_model() + "|" + std::to_string(cores) + "|" + std::to_string(threads) + "|" + libtorch_version();
}

std::string default_blas_cache_file() {
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/pix2pix/blas_threads.json";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/pix2pix/blas_threads.json";
  return "";
}

BlasChoice calibrate_blas_threads(int threads, const std::string& cache_file,
                                  const std::function<double(int)>& time_workload) {
  BlasChoice choice;
  if (threads <= 1) return choice;
  const std::string key = blas_cache_key(threads);
  nlohmann::json cache = nlohmann::json::object();
  if (!cache_file.empty()) {
    std::ifstream in(cache_file);
    if (in) {
      try {
        in >> cache;
        const nlohmann::json& entry = cache.at(key);
        const int t = entry.at("blas_threads").get<int>();
        if (t == 1 || t == threads) {
          choice.threads = t;
          choice.cached = true;
          return choice;
        }
      } catch (const std::exception&) {
        if (!cache.is_object()) cache = nlohmann::json::object();  // corrupt: measured again, rewritten
      }
    }
  }
  const std::function<double(int)> timer = time_workload ? time_workload : builtin_workload;
  timer(1);  // warm-up: first-call allocations and oneDNN kernel selection
  timer(threads);
  std::vector<double> one, many;
  for (int round = 0; round < 5; ++round) {
    one.push_back(timer(1));
    many.push_back(timer(threads));
  }
  choice.seconds_one = median(one);
  choice.seconds_many = median(many);
  // Ties go to one thread: it cannot oversubscribe when the machine gets busier.
  choice.threads = choice.seconds_many < 0.95 * choice.seconds_one ? threads : 1;
  if (!cache_file.empty()) {
    try {
      cache[key] = {{"blas_threads", choice.threads}, {"seconds_one", choice.seconds_one},
                    {"seconds_many", choice.seconds_many}};
      std::error_code ec;
      fs::create_directories(fs::path(cache_file).parent_path(), ec);
      const std::string tmp = cache_file + ".tmp." + std::to_string(::getpid());
      {
        std::ofstream out(tmp);
        out << cache.dump(2) << "\n";
        if (!out) throw std::runtime_error("write failed");
      }
      fs::rename(tmp, cache_file, ec);
      if (ec) fs::remove(tmp, ec);
    } catch (const std::exception&) {
      // Not cached: measured again next time.
    }
  }
  return choice;
}

}  // namespace p2p
