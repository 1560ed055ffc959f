// The training run behind train() (trainer.h), internal to src/p2p/train. Its work is split by idea:
// trainer.cpp sets the run up and keeps its records, run_checkpoints.cpp saves, resumes and guards the
// state, epochs.cpp runs the epochs and their validation.
#pragma once

#include "p2p/core/config.h"
#include "p2p/core/precision.h"
#include "p2p/data/dataset.h"
#include "p2p/dist/env.h"
#include "p2p/eval/metrics.h"
#include "p2p/eval/segmenter.h"
#include "p2p/io/checkpoint.h"
#include "p2p/io/fs.h"
#include "p2p/report/tensorboard.h"
#include "p2p/train/data_parallel.h"
#include "p2p/train/family.h"
#include "p2p/io/run_folder.h"
#include "p2p/train/schedule.h"
#include "p2p/train/step_losses.h"
#include "p2p/train/trainer.h"

#include <c10/core/Device.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <ostream>
#include <string>

namespace p2p::detail {

namespace fs = std::filesystem;

constexpr int64_t kStateCheckEvery = 50;  // iterations between checks that weights and moments are finite

// The best epoch by --best_metric; a non-finite metric is never best.
struct Best {
  std::string metric;
  bool higher = false;
  double value = 0;
  int64_t epoch = 0;  // 0: none yet
  bool improved_by(double v) const { return std::isfinite(v) && (epoch == 0 || (higher ? v > value : v < value)); }
};

class Run {
 public:
  Run(const NetConfig& net, DataConfig data, const TrainConfig& cfg, const c10::Device& device,
      const nlohmann::json& resolved, std::ostream& log, const DistEnv& dist);
  TrainResult execute();

 private:
  bool resume();  // false: nothing left to train
  bool resume_from_reference();
  void start_fresh();
  void make_best_consistent(const std::string& from, const CheckpointMeta& meta);
  void load_data();  // train_set_, val_set_, data_summary_ (and the input statistics of --normalize dataset)
  void print_start_line() const;
  void train_epochs();
  bool finish_epoch(int64_t epoch, double lr_factor, double train_seconds);  // false: stop the run
  void save(const std::string& path, int64_t epoch, int64_t epoch_iter);
  // Fills trainer_state_, what a checkpoint carries beyond networks and optimizers (checkpoint.h's
  // TrainingState::trainer): every rank's image pool and, data-parallel, every rank's RNG state, gathered
  // to rank 0 (a collective: every rank calls it at the same save).
  void gather_trainer_state();
  void restore_trainer_state(const StateDict& saved, const CheckpointMeta& meta, const std::string& from);
  void check_state_finite(int64_t epoch, int64_t batch);
  void record_epoch(const nlohmann::json& record, bool live);
  void refresh_report(bool live);
  std::string kept_checkpoint() const;
  // Data parallelism: rank 0 alone writes files; a stop is taken when any rank asks for one.
  bool writer() const { return !dp_ || dp_->rank() == 0; }
  int world_size() const { return dp_ ? dp_->world_size() : 1; }
  bool agreed_stop(bool local) { return dp_ ? dp_->any(local) : local; }

  const NetConfig net_;
  DataConfig data_;
  const TrainConfig cfg_;
  nlohmann::json resolved_;  // + the input statistics of --normalize dataset once computed
  std::ostream& log_;
  const fs::path run_dir_;
  const std::string latest_, history_, samples_dir_;
  const int64_t last_epoch_;
  const double lr_D_;
  LrSchedule schedule_;
  std::unique_ptr<DataParallel> dp_;  // null: this process trains alone
  std::unique_ptr<TrainModel> model_;
  Precision precision_ = Precision::kFp32;  // of every step (cfg_.precision, checked against this CPU)
  std::shared_ptr<Segmenter> segmenter_;  // --val_segmenter: scores the validation outputs
  TrainingState state_;
  std::unique_ptr<Dataset> train_set_, val_set_;
  std::string data_summary_;  // "400 train pairs, 100 val pairs (from ...)" for the start line
  std::unique_ptr<DataLoader> loader_;
  std::unique_ptr<FolderLock> lock_;
  std::unique_ptr<EventWriter> events_;  // TensorBoard; null when the file could not be created
  Best best_;
  LossSums sums_;
  StateDict trainer_state_;                    // as gathered at iteration trainer_state_iter_
  int64_t trainer_state_iter_ = -1;
  at::Tensor rank_rng_;                        // data-parallel resume: this rank's saved RNG state
  int64_t first_epoch_ = 1, skip_batches_ = 0;
  int64_t saved_epoch_ = -1, saved_iters_ = 0;  // what latest.pt holds (-1: nothing saved)
  double val_seconds_ = 0;                      // last validation's duration, for the run's ETA
  TrainResult result_;
};

}  // namespace p2p::detail
