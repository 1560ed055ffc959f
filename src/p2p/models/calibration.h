// The workloads OpenBLAS threads are calibrated on (core/blas_calibration.h): the standard pix2pix
// generator, unet_256 with ngf 64 and batch norm, on one 256 x 256 image — its forward pass for
// inference (with the packed oneDNN kernels CPU inference runs, pack_for_cpu_inference), forward and
// backward for training (the bulk of a training step, with its up-convolutions on oneDNN as training
// runs them, use_onednn_up_convolutions). So the timing answers the question for the real work.
#pragma once

#include <functional>

namespace p2p {

// A timer for calibrate_blas_threads: sets the BLAS threads, runs one pass, returns its seconds. The
// network is built on first use (its random initialisation leaves the global generator untouched, so
// seeded runs draw the same numbers whether or not a calibration ran) and kept for later calls.
std::function<double(int)> generator_workload(bool training);

}  // namespace p2p
