// The only place that knows flag names: registers options on CLI11 (sub)commands and fills the plain
// config structs of the library. Names follow the reference implementation where it has one.
#pragma once

#include "p2p/core/config.h"

#include <CLI/CLI.hpp>

#include <string>

namespace p2p::cli {

struct RuntimeOptions {
  std::string device = "auto";  // auto | cpu | cuda[:N] | reference-style GPU ids (-1 = CPU)
  int torch_threads = 0;        // 0 = one per core
  int blas_threads = 1;         // OpenBLAS threads; 1 avoids oversubscription with torch's own threads
};

// Which trained model to use for inference: a run folder (--name, --checkpoints_dir) or a file.
struct ModelRef {
  std::string name;
  std::string checkpoints_dir = "./checkpoints";
  std::string weights;  // a pix2pix.cpp checkpoint or a reference *_net_G.pth
};

void add_net_options(CLI::App& app, NetConfig& c);
void add_model_ref_options(CLI::App& app, ModelRef& c, bool allow_weights);
// with_phase: also --phase (training split); `test` has its own --phase in TestConfig.
void add_data_options(CLI::App& app, DataConfig& c, bool with_phase = false);
void add_train_options(CLI::App& app, TrainConfig& c);
void add_test_options(CLI::App& app, TestConfig& c);
void add_runtime_options(CLI::App& app, RuntimeOptions& c);

// True when the user gave `--flag` on the command line of `app` (as opposed to the default).
bool given(const CLI::App& app, const std::string& flag);

// Applies RuntimeOptions (threads) and resolves the device.
c10::Device setup_runtime(const RuntimeOptions& r);

}  // namespace p2p::cli
