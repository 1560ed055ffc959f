// Learning-rate schedules, as a function of the 1-based epoch being trained. Unlike the reference
// (which steps its scheduler at the start of each epoch, so decay begins one epoch early and the last
// epoch trains at lr 0), epoch e here trains at exactly the factor below, and the factor of the last
// epoch is > 0.
//   linear : 1                              for e <= n_epochs
//            1 - (e - n_epochs) / (n_epochs_decay + 1)  afterwards
//   step   : 0.1 ^ floor((e - 1) / lr_decay_iters)
//   cosine : 0.5 * (1 + cos(pi * (e - 1) / T)), T = n_epochs + n_epochs_decay (the reference: T = n_epochs)
//   plateau: x0.2 when the validation metric (--best_metric; the reference feeds none) has not improved
//            by 1% (relative) for 5 epochs
#pragma once

#include "p2p/core/config.h"

#include <nlohmann/json.hpp>

#include <string>

namespace p2p {

class LrSchedule {
 public:
  explicit LrSchedule(const TrainConfig& cfg);  // throws p2p::Error naming --lr_policy when unknown

  // Multiplier of the base lr for training epoch `epoch` (1-based).
  double factor(int epoch) const;

  // Plateau policy only: report the validation metric (cfg.best_metric) at the end of an epoch.
  void observe(double metric);

  nlohmann::json state() const;
  void load_state(const nlohmann::json& state);

 private:
  std::string policy_;
  int n_epochs_;
  int n_epochs_decay_;
  int lr_decay_iters_;
  bool higher_is_better_;  // val_psnr, val_ssim
  // plateau state
  double plateau_factor_ = 1.0;
  double best_;
  int bad_epochs_ = 0;
};

}  // namespace p2p
