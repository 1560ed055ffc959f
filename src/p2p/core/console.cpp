// Terminal text helpers (see console.h).
#include "p2p/core/console.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <iomanip>
#include <sstream>

namespace p2p {

std::string progress_bar(int64_t done, int64_t total, int width) {
  const int inner = std::max(1, width - 2);
  const double f = total > 0 ? std::clamp(static_cast<double>(done) / total, 0.0, 1.0) : 0.0;
  const int full = static_cast<int>(f * inner);
  std::string bar = "[" + std::string(full, '=');
  if (full < inner) bar += ">" + std::string(inner - full - 1, ' ');
  return bar + "]";
}

std::string format_seconds(double s) {
  if (!(s >= 0) || s > 1e7) return "?";
  const int64_t t = static_cast<int64_t>(s + 0.5);
  std::ostringstream o;
  if (t >= 3600) o << t / 3600 << "h";
  o << std::setw(t >= 3600 ? 2 : 1) << std::setfill('0') << (t % 3600) / 60 << "m" << std::setw(2)
    << std::setfill('0') << t % 60 << "s";
  return o.str();
}

int terminal_width() {
  winsize ws{};
  if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20) return ws.ws_col;
  return 80;
}

bool stderr_is_terminal() { return ::isatty(STDERR_FILENO) == 1; }

std::string with_commas(int64_t n) {
  std::string digits = std::to_string(n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

}  // namespace p2p
