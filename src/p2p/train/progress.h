// Training progress display. On a terminal: one live line redrawn in place — a bar of the epoch, it/s,
// the epoch's and the whole run's ETA, and the losses smoothed over recent iterations (single steps of
// a GAN are too noisy to read). It fits the terminal's width, so the redraw never wraps, by leaving out
// whole parts, least important first (bar, rate, ETAs, position), never a loss value or part of one.
// When stderr is a file or pipe: plain periodic lines with the step's losses, so logs stay readable and
// greppable.
#pragma once

#include "p2p/train/step_losses.h"

#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace p2p {

class Progress {
 public:
  // total = iterations in this epoch; print_freq = plain-line period when not a terminal; width = the
  // terminal's columns for the live line (0: ask the terminal, 80 if it does not say).
  Progress(std::ostream& out, bool interactive, int epoch, int last_epoch, int64_t total, int print_freq,
           int width = 0);
  // The rest of the run after this epoch: its iterations (timed at this epoch's rate) and the seconds
  // of everything else (validation, checkpoints), for the run's ETA.
  void set_run_remaining(int64_t iters_after_epoch, double other_seconds);
  // Called after each iteration with the 1-based iteration number within the epoch.
  void update(int64_t iter, const StepLosses& losses);
  // Ends the live line.
  void finish();

  // Exponential moving averages of the losses so far (weight kSmoothing on the newest step; the first
  // step starts each average), in the losses' order.
  const std::vector<std::pair<std::string, double>>& smoothed() const { return smoothed_; }
  static constexpr double kSmoothing = 0.1;

  static bool stderr_is_terminal();

 private:
  std::ostream& out_;
  bool interactive_;
  int epoch_, last_epoch_;
  int64_t total_;
  int print_freq_;
  int width_;
  int64_t run_iters_after_ = 0;
  double run_other_seconds_ = 0;
  int64_t first_iter_ = -1;
  std::vector<std::pair<std::string, double>> smoothed_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace p2p
