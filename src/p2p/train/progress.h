// Training progress display: a live single line (iteration, it/s, the epoch's and the whole run's ETA,
// losses) on a terminal, plain periodic lines when stderr is a file or pipe (logs stay readable).
#pragma once

#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>

namespace p2p {

class Progress {
 public:
  // total = iterations in this epoch; print_freq = plain-line period when not a terminal.
  Progress(std::ostream& out, bool interactive, int epoch, int last_epoch, int64_t total, int print_freq);
  // The rest of the run after this epoch: its iterations (timed at this epoch's rate) and the seconds
  // of everything else (validation, checkpoints), for the run's ETA.
  void set_run_remaining(int64_t iters_after_epoch, double other_seconds);
  // Called after each iteration with the 1-based iteration number within the epoch.
  void update(int64_t iter, const std::string& losses);
  // Ends the live line.
  void finish();

  static bool stderr_is_terminal();

 private:
  std::ostream& out_;
  bool interactive_;
  int epoch_, last_epoch_;
  int64_t total_;
  int print_freq_;
  int64_t run_iters_after_ = 0;
  double run_other_seconds_ = 0;
  int64_t first_iter_ = -1;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace p2p
