// Tests for train/progress: losses smoothed on the terminal line (raw in plain
// lines), the live line cut to the terminal width, and plain lines every print_freq iterations.
#include "p2p/train/progress.h"

#include <gtest/gtest.h>

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
