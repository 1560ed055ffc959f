// Picking OpenBLAS's thread count per machine. Debian's LibTorch runs convolutions through oneDNN on its
// own threads but transposed convolutions (slow_conv_transpose2d, forward and backward) through BLAS, so
// the right BLAS thread count depends on how the CPU copes with both pools: on an AMD EPYC 2-core machine
// one BLAS thread made the training step 1.3x faster, on an Intel Xeon 2-core machine two did (see
// BENCHMARKS.md). No fixed default is right on both, so the choice is measured: a small U-Net-like
// forward and backward (strided convolution, batch norm, transposed convolution) timed with 1 and with
// `threads` BLAS threads, alternately, the faster kept. The answer is cached per machine (CPU model,
// cores, compute threads, LibTorch version), so the measurement runs once.
#pragma once

#include <functional>
#include <string>

namespace p2p {

struct BlasChoice {
  int threads = 1;
  bool cached = false;   // read from the cache, not measured now
  double seconds_one = 0, seconds_many = 0;  // median workload times when measured
};

// The calibrated BLAS thread count for `threads` compute threads (1 when threads <= 1). `cache_file`
// empty: no caching. An unreadable or corrupt cache is measured again and rewritten; a cache that
// cannot be written is only not cached. `time_workload(blas_threads)` returns the workload's seconds
// (tests inject one; empty: the built-in workload).
BlasChoice calibrate_blas_threads(int threads, const std::string& cache_file,
                                  const std::function<double(int)>& time_workload = {});

// $XDG_CACHE_HOME/pix2pix/blas_threads.json, or ~/.cache/...; empty when neither is known.
std::string default_blas_cache_file();

// The key a cache entry is stored under: "<cpu model>|<cores>|<threads>|<libtorch version>".
std::string blas_cache_key(int threads);

}  // namespace p2p
