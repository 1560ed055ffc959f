// The training run: epochs, schedule, validation, samples, history, checkpoints and resume, in a run
// folder <checkpoints_dir>/<name>/ (see run_folder.h) that one process at a time may train in.
#pragma once

#include "p2p/core/config.h"
#include "p2p/dist/env.h"

#include <c10/core/Device.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <ostream>
#include <string>

namespace p2p {

struct TrainResult {
  std::string run_dir;
  int64_t last_epoch = 0;        // last epoch trained (fully or partly)
  int64_t last_epoch_batches = 0;  // stopped inside last_epoch: its batches done (0: the epoch is complete)
  int64_t epoch_batches = 0;       // batches an epoch has
  int64_t total_iters = 0;
  int64_t best_epoch = 0;        // the epoch best.pt holds (0: none)
  bool interrupted = false;      // stopped early (max_iters or a signal)
  bool saved = false;            // a checkpoint to resume from exists (false: stopped before the first step)
  bool already_finished = false;  // --continue_train of a run that had trained every epoch: nothing done
};

// Runs training end to end. `resolved` is every option as given to the program (written to
// config.json and into each checkpoint). Progress goes to `log`.
// Epochs cfg.epoch_count .. n_epochs + n_epochs_decay are trained, each at the learning rate the fixed
// schedule gives it (the reference's --epoch_count); --continue_train resumes where the checkpoint ends.
// Throws p2p::Error for bad data/options or a run folder in use, Diverged when a loss or the model
// state goes NaN/Inf (the last good checkpoint stays on disk; no non-finite state is ever written).
// `dist`: this process's place in a data-parallel job (data_parallel.h); the default trains alone. In a
// job, rank 0 alone writes the run folder and validates; every rank must be given the same options.
TrainResult train(const NetConfig& net, DataConfig data, const TrainConfig& cfg, const c10::Device& device,
                  const nlohmann::json& resolved, std::ostream& log, const DistEnv& dist = {});

}  // namespace p2p
