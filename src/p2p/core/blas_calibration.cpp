// BLAS thread calibration (blas_calibration.h).
#include "p2p/core/blas_calibration.h"

#include "p2p/core/build_info.h"
#include "p2p/core/cpu_features.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>
#include <vector>

namespace fs = std::filesystem;

namespace p2p {

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// An exclusive lock on <cache>.lock for the life of the object (none when the file cannot be opened:
// then processes only risk measuring twice). Reentrant on a thread: a measurement may run work that
// measures something of its own (a training pass choosing its weight-gradient path), and a second
// flock of the same file from this process would wait for ever.
thread_local int g_lock_depth = 0;

class CacheLock {
 public:
  explicit CacheLock(const std::string& cache_file) {
    if (cache_file.empty()) return;
    counted_ = true;
    if (g_lock_depth++ > 0) return;
    std::error_code ec;
    fs::create_directories(fs::path(cache_file).parent_path(), ec);
    fd_ = ::open((cache_file + ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ >= 0 && ::flock(fd_, LOCK_EX) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~CacheLock() {
    if (fd_ >= 0) ::close(fd_);  // closing releases the lock
    if (counted_) --g_lock_depth;
  }
  CacheLock(const CacheLock&) = delete;
  CacheLock& operator=(const CacheLock&) = delete;

 private:
  int fd_ = -1;
  bool counted_ = false;
};

}  // namespace

std::string blas_cache_key(int threads, const std::string& workload) {
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  std::string key =
      workload + "|" + cpu_model() + "|" + std::to_string(cores) + "|" + std::to_string(threads) + "|" + libtorch_version();
  // Capped below the CPU (P2P_CPU_ISA), other kernels run: their choices must not be the CPU's own.
  if (cpu_isa() < cpu_isa_uncapped()) key += std::string("|") + cpu_isa_name(cpu_isa());
  return key;
}

std::string default_blas_cache_file() {
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/pix2pix/blas_threads.json";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/pix2pix/blas_threads.json";
  return "";
}

CachedMeasurement measure_once(const std::string& cache_file, const std::string& key,
                               const std::function<bool(const nlohmann::json&)>& usable,
                               const std::function<nlohmann::json()>& measure) {
  // One process measures at a time, the others wait and then read its answer: the ranks of a
  // data-parallel job start together on shared cores, and timings taken side by side would be wrong.
  const CacheLock lock(cache_file);
  nlohmann::json cache = nlohmann::json::object();
  if (!cache_file.empty()) {
    std::ifstream in(cache_file);
    if (in) {
      try {
        in >> cache;
        const nlohmann::json& entry = cache.at(key);
        if (usable(entry)) return {entry, true};
      } catch (const std::exception&) {
        if (!cache.is_object()) cache = nlohmann::json::object();  // corrupt: measured again, rewritten
      }
    }
  }
  CachedMeasurement fresh{measure(), false};
  if (!cache_file.empty()) {
    try {
      // Read again: a measurement nested inside this one may have added its own entry meanwhile.
      std::ifstream again(cache_file);
      if (again) {
        try {
          nlohmann::json now;
          again >> now;
          if (now.is_object()) cache = std::move(now);
        } catch (const std::exception&) {
        }
      }
      cache[key] = fresh.value;
      std::error_code ec;
      fs::create_directories(fs::path(cache_file).parent_path(), ec);
      // Renamed into place so concurrent processes never read half a file. Not io/fs's durable writer:
      // core sits below io, and a lost entry only costs one more measurement.
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
  return fresh;
}

BlasChoice calibrate_blas_threads(int threads, const std::string& workload, const std::string& cache_file,
                                  const std::function<double(int)>& time_workload) {
  BlasChoice choice;
  if (threads <= 1) return choice;
  const auto usable = [threads](const nlohmann::json& entry) {
    const int t = entry.at("blas_threads").get<int>();
    return t == 1 || t == threads;
  };
  const CachedMeasurement m = measure_once(cache_file, blas_cache_key(threads, workload), usable, [&] {
    time_workload(1);  // warm-up: first-call allocations and oneDNN kernel selection
    time_workload(threads);
    std::vector<double> one, many;
    for (int round = 0; round < 3; ++round) {
      one.push_back(time_workload(1));
      many.push_back(time_workload(threads));
    }
    const double s1 = median(one), sn = median(many);
    // Ties go to one thread: it cannot oversubscribe when the machine gets busier.
    return nlohmann::json{{"blas_threads", sn < 0.95 * s1 ? threads : 1}, {"seconds_one", s1}, {"seconds_many", sn}};
  });
  choice.threads = m.value.at("blas_threads").get<int>();
  choice.cached = m.cached;
  if (!m.cached) {
    choice.seconds_one = m.value.at("seconds_one").get<double>();
    choice.seconds_many = m.value.at("seconds_many").get<double>();
  }
  return choice;
}

}  // namespace p2p
