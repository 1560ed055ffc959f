// Learning-rate schedules (see schedule.h for the formulas and why they differ from the reference).
#include "p2p/train/schedule.h"

#include "p2p/train/validation.h"

#include "p2p/core/error.h"

#include <algorithm>
#include <cmath>

namespace p2p {

namespace {
constexpr double kPlateauDecay = 0.2;       // reference: ReduceLROnPlateau(factor=0.2,
constexpr double kPlateauThreshold = 0.01;  //   threshold=0.01 (relative),
constexpr int kPlateauPatience = 5;         //   patience=5)
constexpr double kNoValue = 1e300;          // "no metric seen yet" (JSON has no infinity)
}  // namespace

LrSchedule::LrSchedule(const TrainConfig& cfg)
    : policy_(cfg.lr_policy),
      n_epochs_(cfg.n_epochs),
      n_epochs_decay_(cfg.n_epochs_decay),
      lr_decay_iters_(cfg.lr_decay_iters),
      higher_is_better_(higher_is_better(cfg.best_metric)),  // checks the name
      best_(higher_is_better_ ? -kNoValue : kNoValue) {
  check_choice("--lr_policy", policy_, "linear|step|cosine|plateau");
  if (n_epochs_ < 0 || n_epochs_decay_ < 0 || n_epochs_ + n_epochs_decay_ < 1) {
    fail("--n_epochs/--n_epochs_decay: need n_epochs >= 0, n_epochs_decay >= 0 and at least one epoch in total");
  }
  if (policy_ == "step" && lr_decay_iters_ < 1) fail("--lr_decay_iters: must be >= 1 for --lr_policy step");
}

double LrSchedule::factor(int epoch) const {
  if (policy_ == "linear") {
    return 1.0 - std::max(0, epoch - n_epochs_) / static_cast<double>(n_epochs_decay_ + 1);
  }
  if (policy_ == "step") {
    return std::pow(0.1, (epoch - 1) / lr_decay_iters_);
  }
  if (policy_ == "cosine") {
    const double total = n_epochs_ + n_epochs_decay_;
    return 0.5 * (1.0 + std::cos(M_PI * (epoch - 1) / total));
  }
  return plateau_factor_;
}

void LrSchedule::observe(double metric) {
  if (policy_ != "plateau") return;
  // Relative threshold in the metric's direction, as torch's ReduceLROnPlateau(mode min|max, 'rel').
  const bool improved = higher_is_better_ ? metric > best_ * (best_ >= 0 ? 1.0 + kPlateauThreshold : 1.0 - kPlateauThreshold)
                                          : metric < best_ * (best_ >= 0 ? 1.0 - kPlateauThreshold : 1.0 + kPlateauThreshold);
  if (improved) {
    best_ = metric;
    bad_epochs_ = 0;
  } else if (++bad_epochs_ > kPlateauPatience) {
    plateau_factor_ *= kPlateauDecay;
    bad_epochs_ = 0;
  }
}

nlohmann::json LrSchedule::state() const {
  return {{"policy", policy_}, {"plateau_factor", plateau_factor_}, {"best", best_}, {"bad_epochs", bad_epochs_}};
}

void LrSchedule::load_state(const nlohmann::json& state) {
  if (state.is_null()) return;
  plateau_factor_ = state.value("plateau_factor", 1.0);
  best_ = state.value("best", higher_is_better_ ? -kNoValue : kNoValue);
  bad_epochs_ = state.value("bad_epochs", 0);
}

}  // namespace p2p
