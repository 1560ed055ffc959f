// Picking OpenBLAS's thread count per machine. Debian's LibTorch runs convolutions through oneDNN on its
// own threads but transposed convolutions (slow_conv_transpose2d, forward and backward) through BLAS;
// ours mostly avoid it now (packed inference, oneDNN up-convolutions in training), and what is left
// (ResNet's up-convolutions, the losses) decides. The right BLAS thread count depends on how the CPU
// copes with both pools: on an AMD EPYC 2-core machine
// one BLAS thread made the training step 1.3x faster, on an Intel Xeon 2-core machine two did (see
// BENCHMARKS.md), and on one Intel machine one thread was best for inference but two for training. No
// fixed default is right everywhere, so the choice is measured per kind of work: the workload (the
// generator the command runs, at its size: models/calibration.h) is timed with 1 and with `threads`
// BLAS threads, alternately, and the faster kept. The answer is cached per machine (CPU model, cores,
// compute threads, LibTorch version) and workload, so the measurement runs once; processes that start
// together (the ranks of a data-parallel job) take turns through a lock beside the cache, so one
// measures and the others read its answer.
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <string>

namespace p2p {

// A measurement kept per machine in a JSON cache file: the entry under `key` when `usable` accepts it,
// else `measure()`, stored there. Processes take turns through a lock beside the file, so one measures
// and the others read its answer. An unreadable or corrupt cache is measured again and rewritten; one
// that cannot be written is only not cached. `cache_file` empty: always measured.
struct CachedMeasurement {
  nlohmann::json value;
  bool cached = false;
};
CachedMeasurement measure_once(const std::string& cache_file, const std::string& key,
                               const std::function<bool(const nlohmann::json&)>& usable,
                               const std::function<nlohmann::json()>& measure);

struct BlasChoice {
  int threads = 1;
  bool cached = false;   // read from the cache, not measured now
  double seconds_one = 0, seconds_many = 0;  // median workload times when measured
};

// The calibrated BLAS thread count for `threads` compute threads (1 when threads <= 1) and the work
// named `workload` (models/calibration.h's workload_name), timed by `time_workload(blas_threads)` (seconds of one
// pass). `cache_file` empty: no caching. An unreadable or corrupt cache is measured again and
// rewritten; a cache that cannot be written is only not cached.
BlasChoice calibrate_blas_threads(int threads, const std::string& workload, const std::string& cache_file,
                                  const std::function<double(int)>& time_workload);

// $XDG_CACHE_HOME/pix2pix/blas_threads.json, or ~/.cache/...; empty when neither is known.
std::string default_blas_cache_file();

// The key a cache entry is stored under: "<workload>|<cpu model>|<cores>|<threads>|<libtorch version>",
// with "|<instruction set>" added while P2P_CPU_ISA caps it below the CPU's (core/cpu_features.h).
std::string blas_cache_key(int threads, const std::string& workload);

}  // namespace p2p
