// Progress display (see progress.h).
#include "p2p/train/progress.h"

#include "p2p/core/console.h"

#include <algorithm>
#include <cstdio>
#include <iomanip>
#include <sstream>

namespace p2p {

namespace {

// The live line's parts. Shown as
//   epoch 3/200 [=====>    ] 1234/40000  5.10 it/s  eta 4m05s (run 13h20m00s)  G 12.345 G_GAN 0.693 ...
struct LiveLine {
  std::string epoch, position, percent, rate, eta, run_eta;
  int64_t iter = 0, total = 0;
  std::vector<std::string> losses;  // "name value", in the losses' order
};

// Terminal columns of UTF-8 text (one per code point; everything here is narrow).
size_t columns(const std::string& s) {
  const auto starts_char = [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; };
  return static_cast<size_t>(std::count_if(s.begin(), s.end(), starts_char));
}

// The fullest form of the line within `width` columns. What matters least goes first, a whole part at a
// time, so no value is ever cut: the bar shrinks, then goes; then the rate, the run's ETA, the epoch's
// ETA; the position becomes a percentage, then goes; then the epoch. The losses are what the line is
// for and stay to the end: only on a terminal too narrow even for them do whole "name value" pairs go,
// last first, marked by a trailing "…".
std::string fit_live_line(const LiveLine& p, int width) {
  struct Level {
    int bar;  // bar width in columns, 0 = none
    bool rate, run_eta, eta, position, percent, epoch;
  };
  static const Level kLevels[] = {
      {22, true, true, true, true, false, true},   {12, true, true, true, true, false, true},
      {0, true, true, true, true, false, true},    {0, false, true, true, true, false, true},
      {0, false, false, true, true, false, true},  {0, false, false, false, true, false, true},
      {0, false, false, false, false, true, true}, {0, false, false, false, false, false, true},
      {0, false, false, false, false, false, false}};
  const size_t limit = static_cast<size_t>(std::max(0, width));
  std::string all_losses;
  for (const auto& l : p.losses) all_losses += (all_losses.empty() ? "" : " ") + l;
  std::string line;
  for (const Level& lv : kLevels) {
    line.clear();
    auto add = [&](const std::string& text, const char* sep) { line += (line.empty() ? "" : sep) + text; };
    if (lv.epoch) add(p.epoch, " ");
    if (lv.bar > 0) add(progress_bar(p.iter, p.total, lv.bar), " ");
    if (lv.position) add(p.position, " ");
    if (lv.percent) add(p.percent, " ");
    if (lv.rate) add(p.rate, "  ");
    if (lv.eta) add(p.eta, "  ");
    if (lv.run_eta) add(p.run_eta, lv.eta ? " " : "  ");
    if (!all_losses.empty()) add(all_losses, "  ");
    if (columns(line) <= limit) return line;
  }
  // Not even the losses fit: as many whole ones as do, in order.
  line.clear();
  for (size_t i = 0; i < p.losses.size(); ++i) {
    const std::string next = (line.empty() ? "" : line + " ") + p.losses[i];
    if (columns(next) + (i + 1 < p.losses.size() ? 2 : 0) > limit) return line.empty() ? line : line + " …";
    line = next;
  }
  return line;
}

}  // namespace

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
  std::ostringstream rate_text;
  rate_text << std::fixed << std::setprecision(2) << rate << " it/s";
  if (interactive_) {
    // Redraw at most ~10 times a second, and always on the first and the last iteration.
    if (done > 1 && iter != total_ && std::chrono::duration<double>(now - last_draw_).count() < 0.1) return;
    last_draw_ = now;
    LiveLine parts;
    parts.epoch = "epoch " + std::to_string(epoch_) + "/" + std::to_string(last_epoch_);
    parts.position = std::to_string(iter) + "/" + std::to_string(total_);
    parts.percent = std::to_string(total_ > 0 ? iter * 100 / total_ : 0) + "%";
    parts.rate = rate_text.str();
    parts.eta = "eta " + format_seconds(eta);
    parts.run_eta = "(run " + format_seconds(run_eta) + ")";
    parts.iter = iter;
    parts.total = total_;
    for (const auto& [name, value] : smoothed_) {  // each "name value" as the plain lines write it
      StepLosses one;
      one.set(name, value);
      parts.losses.push_back(format_losses(one));
    }
    out_ << "\r\033[K" << fit_live_line(parts, width_ - 1) << std::flush;  // the last column would wrap
  } else if (iter % print_freq_ == 0 || iter == total_) {
    out_ << "epoch " << epoch_ << "/" << last_epoch_ << "  iter " << iter << "/" << total_ << "  " << rate_text.str()
         << "  eta " << format_seconds(eta) << " (run " << format_seconds(run_eta) << ")  " << format_losses(losses)
         << "\n"
         << std::flush;
  }
}

void Progress::finish() {
  if (interactive_) out_ << "\n" << std::flush;
}

}  // namespace p2p
