// Device parsing, threads and seeding (see runtime.h).
#include "p2p/core/runtime.h"

#include "p2p/core/error.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <torch/utils.h>

#include <thread>

namespace p2p {

void check_choice(const std::string& option, const std::string& value, const std::string& allowed) {
  size_t start = 0;
  while (start <= allowed.size()) {
    size_t bar = allowed.find('|', start);
    if (bar == std::string::npos) bar = allowed.size();
    if (allowed.compare(start, bar - start, value) == 0 && bar - start == value.size()) return;
    start = bar + 1;
  }
  fail(option + ": unknown value '" + value + "' (expected one of " + allowed + ")");
}

c10::Device parse_device(const std::string& spec, const std::string& flag) {
  std::string s = spec;
  if (s.empty() || s == "cpu" || s == "-1") return c10::Device(c10::kCPU);
  int index = 0;
  if (s == "cuda") {
    index = 0;
  } else if (s.rfind("cuda:", 0) == 0) {
    try {
      index = std::stoi(s.substr(5));
    } catch (...) {
      fail(flag + ": cannot parse '" + spec + "' (expected cpu, cuda, cuda:N or GPU ids like 0)");
    }
  } else {
    // Reference style: comma-separated ids; a single process uses the first.
    std::string first = s.substr(0, s.find(','));
    try {
      size_t used = 0;
      index = std::stoi(first, &used);
      if (used != first.size()) throw 0;
    } catch (...) {
      fail(flag + ": cannot parse '" + spec + "' (expected cpu, cuda, cuda:N or GPU ids like 0)");
    }
    if (index < 0) return c10::Device(c10::kCPU);
  }
  if (!torch::cuda::is_available()) {
    fail(flag + ": '" + spec + "' asks for a GPU but this build/machine has no CUDA device (use -1 or cpu)");
  }
  if (index >= static_cast<int>(torch::cuda::device_count())) {
    fail(flag + ": GPU " + std::to_string(index) + " does not exist (found " +
         std::to_string(torch::cuda::device_count()) + ")");
  }
  return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index));
}

void configure_threads(int threads) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  at::set_num_threads(threads);
}

void seed_item(uint64_t seed, const std::string& name) {
  uint64_t h = 1469598103934665603ULL;  // FNV-1a of the name: the same on every platform and run
  for (const unsigned char c : name) h = (h ^ c) * 1099511628211ULL;
  uint64_t z = seed + 0x9E3779B97F4A7C15ULL * (h | 1);  // splitmix64 finaliser of (seed, name)
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  seed_everything(z ^ (z >> 31), false);
}

void seed_everything(uint64_t seed, bool deterministic) {
  torch::manual_seed(seed);
  if (torch::cuda::is_available()) torch::cuda::manual_seed_all(seed);
  if (deterministic) {
    at::globalContext().setDeterministicAlgorithms(true, /*warn_only=*/false);
    at::globalContext().setDeterministicCuDNN(true);
    at::globalContext().setBenchmarkCuDNN(false);
  }
}

}  // namespace p2p

#include <atomic>
#include <csignal>
#include <dlfcn.h>

namespace p2p {

namespace {
std::atomic<bool> g_stop{false};
std::atomic<int> g_stop_signal{0};       // the first stop signal; 0 for request_stop()
std::atomic<bool> g_stop_ends_process{false};

void die_by(int sig) {
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

extern "C" void on_stop_signal(int sig) {
  if (g_stop_ends_process.load() || g_stop.load()) die_by(sig);  // a second signal kills as usual
  g_stop_signal.store(sig);  // before the flag, so whoever sees the flag sees the signal
  g_stop.store(true);
}
}  // namespace

void install_stop_handlers() {
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
}
bool stop_requested() { return g_stop.load(); }
void request_stop() { g_stop.store(true); }
void clear_stop_request() {
  g_stop.store(false);
  g_stop_signal.store(0);
}
int stop_exit_status() {
  const int sig = g_stop_signal.load();
  return 128 + (sig == 0 ? SIGINT : sig);
}

StopEndsProcess::StopEndsProcess() {
  g_stop_ends_process.store(true);
  if (g_stop.load()) die_by(g_stop_signal.load() == 0 ? SIGINT : g_stop_signal.load());
}
StopEndsProcess::~StopEndsProcess() { g_stop_ends_process.store(false); }

void set_blas_threads(int threads) {
  using SetThreads = void (*)(int);
  // Looked up at run time: LibTorch reaches BLAS through the system alternative, which may not be
  // OpenBLAS, so linking against it directly would be wrong.
  if (auto fn = reinterpret_cast<SetThreads>(::dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) fn(threads);
}

}  // namespace p2p

#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <cstdlib>
#include <cstring>

namespace p2p {

bool keep_freed_memory() {
  if (const char* e = std::getenv("P2P_MALLOC"); e && std::strcmp(e, "system") == 0) return false;
#if defined(__GLIBC__)
  // No allocation gets pages of its own (they would go back to the OS when freed and fault in again
  // next step), and the top of the heap is never trimmed: freed memory is reused as it is.
  return mallopt(M_MMAP_MAX, 0) == 1 && mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1 && mallopt(M_TOP_PAD, 64 << 20) == 1;
#else
  return false;
#endif
}

}  // namespace p2p

#include "p2p/core/random_state.h"

#include <ATen/CPUGeneratorImpl.h>

#include <mutex>

namespace p2p {

KeepRandomState::KeepRandomState() {
  at::Generator gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  state_ = gen.get_state();
}

KeepRandomState::~KeepRandomState() {
  at::Generator gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state_);
}

}  // namespace p2p
