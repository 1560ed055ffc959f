// The training run: epochs, schedule, validation, samples, history, checkpoints and resume.
// Run folder <checkpoints_dir>/<name>/ holds config.json, history.jsonl, latest.pt, best.pt,
// epoch_<N>.pt and samples/.
#pragma once

#include "p2p/core/config.h"

#include <c10/core/Device.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <ostream>
#include <string>

namespace p2p {

struct TrainResult {
  std::string run_dir;
  int64_t last_epoch = 0;     // last epoch trained (fully or partly)
  int64_t total_iters = 0;
  double best_val_l1 = 0;
  bool interrupted = false;   // stopped early (max_iters or a signal) with a resumable checkpoint
};

// Runs training end to end. `resolved` is every option as given to the program (written to
// config.json and into each checkpoint). Progress goes to `log`.
// Throws p2p::Error for bad data/options, NonFiniteLoss when a loss goes NaN/Inf (the last good
// checkpoint stays on disk).
TrainResult train(const NetConfig& net, DataConfig data, const TrainConfig& cfg, const c10::Device& device,
                  const nlohmann::json& resolved, std::ostream& log);

// Path of the checkpoint `which` (latest | best | <N>) in run_dir.
std::string checkpoint_path(const std::string& run_dir, const std::string& which);

}  // namespace p2p
