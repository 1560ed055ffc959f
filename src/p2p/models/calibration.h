// The workloads OpenBLAS threads are calibrated on (core/blas_calibration.h): the generator the command
// will run, at the size and batch it will run at — its forward pass for inference (with the packed
// oneDNN kernels CPU inference runs, pack_for_cpu_inference), forward and backward for training (the
// bulk of a training step, with its up-convolutions on oneDNN as training runs them). So the timing
// answers the question for the real work: a unet_128 at 128 px can want another setting than a
// unet_256 at 256 px on the same machine.
#pragma once

#include "p2p/core/config.h"

#include <cstdint>
#include <functional>
#include <string>

namespace p2p {

struct CalibrationWorkload {
  bool training = false;
  NetConfig net;      // the generator's architecture
  int64_t size = 256;  // square input side (rounded up to what the generator accepts)
  int64_t batch = 1;
};

// The cache name of the workload: "train unet_128 ngf64 batch 3->3 128px b1" (what decides its speed).
std::string workload_name(const CalibrationWorkload& w);

// A timer for calibrate_blas_threads: sets the BLAS threads, runs one pass, returns its seconds. The
// network is built on first use (its random initialisation leaves the global generator untouched, so
// seeded runs draw the same numbers whether or not a calibration ran) and kept by the returned function.
std::function<double(int)> generator_workload(const CalibrationWorkload& w);

}  // namespace p2p
