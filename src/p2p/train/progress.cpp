// Progress display (see progress.h).
#include "p2p/train/progress.h"

#include "p2p/core/console.h"

#include <algorithm>
#include <cstdio>
#include <iomanip>
#include <sstream>

namespace p2p {

Progress::Progress(std::ostream& out, bool interactive, int epoch, int last_epoch, int64_t total, int print_freq,
                   int width)
    : out_(out), interactive_(interactive), epoch_(epoch), last_epoch_(last_epoch), total_(total),
      print_freq_(print_freq > 0 ? print_freq : 100), width_(width > 0 ? width : (interactive ? terminal_width() : 80)),
      start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

bool Progress::stderr_is_terminal() { return p2p::stderr_is_terminal(); }

void Progress::set_run_remaining(int64_t iters_after_epoch, double other_seconds) {
  run_iters_after_ = iters_after_epoch;
  run_other_seconds_ = other_seconds;
}

void Progress::update(int64_t iter, const StepLosses& losses) {
  for (const auto& [name, value] : losses.values()) {
    auto it = std::find_if(smoothed_.begin(), smoothed_.end(), [&](const auto& kv) { return kv.first == name; });
    if (it == smoothed_.end()) smoothed_.emplace_back(name, value);
    else it->second += kSmoothing * (value - it->second);
  }
  const auto now = std::chrono::steady_clock::now();
  if (first_iter_ < 0) {
    first_iter_ = iter - 1;  // resumed epochs start mid-way; rate counts only what ran here
  }
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const int64_t done = iter - first_iter_;
  const double rate = elapsed > 0 ? done / elapsed : 0.0;
  const double eta = rate > 0 ? (total_ - iter) / rate : -1.0;
  const double run_eta = rate > 0 ? (total_ - iter + run_iters_after_) / rate + run_other_seconds_ : -1.0;
  std::ostringstream timing;
  timing << std::fixed << std::setprecision(2) << rate << " it/s  eta " << format_seconds(eta) << " (run "
         << format_seconds(run_eta) << ")";
  if (interactive_) {
    // Redraw at most ~10 times a second, and always on the first and the last iteration.
    if (done > 1 && iter != total_ && std::chrono::duration<double>(now - last_draw_).count() < 0.1) return;
    last_draw_ = now;
    StepLosses avg;
    for (const auto& [name, value] : smoothed_) avg.set(name, value);
    std::ostringstream line;
    line << "epoch " << epoch_ << "/" << last_epoch_ << " " << progress_bar(iter, total_, 22) << " " << iter << "/"
         << total_ << "  " << timing.str() << "  " << format_losses(avg);
    std::string text = line.str();
    if (static_cast<int>(text.size()) > width_ - 1) text.resize(std::max(0, width_ - 1));
    out_ << "\r\033[K" << text << std::flush;
  } else if (iter % print_freq_ == 0 || iter == total_) {
    out_ << "epoch " << epoch_ << "/" << last_epoch_ << "  iter " << iter << "/" << total_ << "  " << timing.str()
         << "  " << format_losses(losses) << "\n"
         << std::flush;
  }
}

void Progress::finish() {
  if (interactive_) out_ << "\n" << std::flush;
}

}  // namespace p2p
