// Tests for core/console: the progress bar's and the duration format's known answers.
#include "p2p/core/console.h"

#include <gtest/gtest.h>

namespace p2p {
namespace {

TEST(Console, BarKnownAnswers) {
  EXPECT_EQ(progress_bar(0, 10, 12), "[>         ]");
  EXPECT_EQ(progress_bar(5, 10, 12), "[=====>    ]");
  EXPECT_EQ(progress_bar(10, 10, 12), "[==========]");
  EXPECT_EQ(progress_bar(3, 0, 6), "[>   ]");  // an empty total does not divide by zero
}

TEST(Console, SecondsKnownAnswers) {
  EXPECT_EQ(format_seconds(0), "0m00s");
  EXPECT_EQ(format_seconds(245.4), "4m05s");
  EXPECT_EQ(format_seconds(3723), "1h02m03s");
  EXPECT_EQ(format_seconds(-1), "?");
}

}  // namespace
}  // namespace p2p
