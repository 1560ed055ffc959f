// Tests for train/progress: losses smoothed on the terminal line (raw in plain lines), the live line
// fitted to the terminal width by leaving out whole parts but never a loss, and plain lines every
// print_freq iterations.
#include "p2p/train/progress.h"

#include <gtest/gtest.h>

#include <iomanip>
#include <sstream>

namespace p2p {
namespace {

StepLosses losses(double g, double d) {
  StepLosses l;
  l.set("G_total", g);
  l.set("D_real", d);
  return l;
}

TEST(Progress, TerminalLineHasBarAndSmoothedLosses) {
  std::ostringstream out;
  Progress p(out, /*interactive=*/true, 2, 5, 11, 100, /*width=*/200);
  for (int i = 1; i <= 10; ++i) p.update(i, losses(1.0, 0.5));
  p.update(11, losses(2.0, 0.5));  // a spike moves the average by kSmoothing of the jump
  ASSERT_EQ(p.smoothed().size(), 2u);
  EXPECT_DOUBLE_EQ(p.smoothed()[0].second, 1.0 + Progress::kSmoothing * 1.0);
  p.finish();
  const std::string s = out.str();
  const size_t last = s.rfind("\r\033[K");
  ASSERT_NE(last, std::string::npos);
  const std::string line = s.substr(last + 4);
  EXPECT_EQ(line.rfind("epoch 2/5 [====================] 11/11  ", 0), 0u) << line;
  EXPECT_NE(line.find("G 1.100 D_real 0.500"), std::string::npos) << line;
  EXPECT_NE(line.find(" it/s  eta "), std::string::npos) << line;
}

TEST(Progress, TerminalLineFitsTheWidth) {
  std::ostringstream out;
  Progress p(out, true, 1, 1, 3, 100, /*width=*/40);
  for (int i = 1; i <= 3; ++i) p.update(i, losses(12.345, 0.678));
  std::string s = out.str();
  size_t pos = 0;
  int lines = 0;
  while ((pos = s.find("\r\033[K", pos)) != std::string::npos) {
    pos += 4;
    const size_t end = s.find_first_of("\r\n", pos);
    EXPECT_LE((end == std::string::npos ? s.size() : end) - pos, 39u);
    ++lines;
  }
  EXPECT_GE(lines, 2);  // the first and the last iteration at least
}

// The pix2pix losses as a step reports them (G terms, then D's).
StepLosses pix2pix_losses(double g) {
  StepLosses l;
  l.set("G_total", g);
  l.set("G_GAN", 0.693);
  l.set("G_L1", 0.117);
  l.set("D_real", 0.701);
  l.set("D_fake", 0.688);
  return l;
}

// The live line as drawn for one update at `iter` of `total` (a resumed epoch: drawn at once).
std::string live_line(int width, int64_t iter, int64_t total, double g) {
  std::ostringstream out;
  Progress p(out, /*interactive=*/true, 12, 200, total, 100, width);
  p.set_run_remaining(199 * total, 3600);
  p.update(iter, pix2pix_losses(g));
  const std::string s = out.str();
  const size_t last = s.rfind("\r\033[K");
  return last == std::string::npos ? "" : s.substr(last + 4);
}

TEST(Progress, EightyColumnsKeepEveryLossWhole) {
  for (const int64_t total : {400, 40000, 99999}) {
    for (const int64_t iter : {int64_t{100}, total / 3, total}) {
      for (const double g : {1.234, 112.345}) {
        const std::string line = live_line(80, iter, total, g);
        SCOPED_TRACE(line);
        EXPECT_LE(line.size(), 79u);  // the last column would wrap
        std::ostringstream gt;
        gt << "G " << std::fixed << std::setprecision(3) << g << " ";
        EXPECT_NE(line.find(gt.str()), std::string::npos);
        for (const char* l : {"G_GAN 0.693", "G_L1 0.117", "D_real 0.701"}) {
          EXPECT_NE(line.find(l), std::string::npos) << l;
        }
        EXPECT_EQ(line.size() - line.rfind("D_fake 0.688"), 12u);  // the last loss ends the line, whole
        EXPECT_EQ(line.rfind("epoch 12/200", 0), 0u);
      }
    }
  }
  // 400 iterations leave room for the place in the epoch; five digits for its percentage.
  EXPECT_NE(live_line(80, 100, 400, 1.234).find(" 100/400 "), std::string::npos);
  EXPECT_NE(live_line(80, 13333, 40000, 1.234).find(" 33% "), std::string::npos);
}

TEST(Progress, AWiderTerminalShowsMore) {
  const std::string narrow = live_line(80, 13333, 40000, 12.345), wide = live_line(160, 13333, 40000, 12.345),
                    widest = live_line(220, 13333, 40000, 12.345);
  EXPECT_EQ(narrow.find(" it/s"), std::string::npos) << narrow;
  EXPECT_EQ(narrow.find('['), std::string::npos) << narrow;
  EXPECT_LE(wide.size(), 159u);
  EXPECT_NE(wide.find(" 13333/40000 "), std::string::npos) << wide;
  EXPECT_NE(wide.find(" it/s  eta "), std::string::npos) << wide;
  EXPECT_NE(wide.find(" (run "), std::string::npos) << wide;
  EXPECT_EQ(widest.rfind("epoch 12/200 [======>             ] 13333/40000  ", 0), 0u) << widest;  // the full bar
  for (const std::string& line : {wide, widest}) {
    EXPECT_NE(line.find("G 12.345 G_GAN 0.693 G_L1 0.117 D_real 0.701 D_fake 0.688"), std::string::npos) << line;
  }
  // Narrower than the losses themselves: whole pairs only, the rest marked.
  const std::string tiny = live_line(40, 13333, 40000, 12.345);
  EXPECT_EQ(tiny, "G 12.345 G_GAN 0.693 G_L1 0.117 …");
}

TEST(Progress, PlainLinesEveryPrintFreqWithTheStepsLosses) {
  std::ostringstream out;
  Progress p(out, /*interactive=*/false, 1, 3, 11, 5);
  for (int i = 1; i <= 10; ++i) p.update(i, losses(1.0, 0.5));
  p.update(11, losses(2.0, 0.5));
  p.finish();
  const std::string s = out.str();
  EXPECT_EQ(s.find('\r'), std::string::npos);
  EXPECT_NE(s.find("iter 5/11 "), std::string::npos);
  EXPECT_NE(s.find("iter 10/11 "), std::string::npos);
  EXPECT_EQ(s.find("iter 4/11 "), std::string::npos);
  EXPECT_NE(s.find("iter 11/11 "), std::string::npos);
  EXPECT_NE(s.find("G 2.000 D_real 0.500\n"), std::string::npos) << s;  // the step's own value
}

}  // namespace
}  // namespace p2p
