// The workloads OpenBLAS threads are calibrated on (core/blas_calibration.h): the generator the command
// will run, at the size and batch it will run at — its forward pass for inference (with the packed
// oneDNN kernels CPU inference runs, pack_for_cpu_inference), forward and backward for training (the
// bulk of a training step, with its up-convolutions on oneDNN as training runs them). So the timing
// answers the question for the real work: a unet_128 at 128 px can want another setting than a
// unet_256 at 256 px on the same machine.
#pragma once

#include "p2p/core/config.h"
#include "p2p/core/precision.h"

#include <cstdint>
#include <functional>
#include <string>

namespace p2p {

struct CalibrationWorkload {
  bool training = false;
  NetConfig net;      // the generator's architecture
  int64_t size = 256;  // square input side (rounded up to what the generator accepts)
  int64_t batch = 1;
  Precision precision = Precision::kFp32;  // the arithmetic the command will run (core/precision.h)
};

// The cache name of the workload: "train unet_128 ngf64 batch 3->3 128px b1" (what decides its speed;
// " bf16" appended for bf16).
std::string workload_name(const CalibrationWorkload& w);

// A timer for calibrate_blas_threads: sets the BLAS threads (0: leaves them), runs one pass, returns its seconds. The
// network is built on first use (its random initialisation leaves the global generator untouched, so
// seeded runs draw the same numbers whether or not a calibration ran) and kept by the returned function.
std::function<double(int)> generator_workload(const CalibrationWorkload& w);

}  // namespace p2p

namespace p2p {

// --precision auto: bf16 where the CPU has native bf16 instructions and the workload, timed in fp32 and in
// bf16 (alternately, medians of 3 after a warm-up), runs at most 0.9x as long in bf16. Measured once per
// machine and workload, cached beside the BLAS choice (core/blas_calibration.h: measure_once).
struct PrecisionChoice {
  Precision precision = Precision::kFp32;
  std::string instructions;  // cpu_bf16_instructions(); empty: none, nothing measured
  bool cached = false;
  double seconds_fp32 = 0, seconds_bf16 = 0;  // median pass times (also when read from the cache)
};
// `pass_timer`, when given, replaces the generator workload: pass_timer(p) returns a function that runs one
// pass of the real work at precision p and returns its seconds (a whole training step, where the
// discriminator's and the optimizer's share decides too); `label` then names it in the cache key.
PrecisionChoice choose_precision(CalibrationWorkload w, const std::string& cache_file,
                                 const std::function<std::function<double()>(Precision)>& pass_timer = nullptr,
                                 const std::string& label = "");

}  // namespace p2p
