// Tests for train/schedule: the lr factor of each policy at known epochs.
#include "p2p/core/error.h"
#include "p2p/train/schedule.h"

#include <gtest/gtest.h>

#include <cmath>

namespace p2p {
namespace {

TrainConfig cfg(const std::string& policy, int n, int decay) {
  TrainConfig c;
  c.lr_policy = policy;
  c.n_epochs = n;
  c.n_epochs_decay = decay;
  return c;
}

TEST(LinearSchedule, ConstantThenDecayStartingAfterNEpochsAndNeverZero) {
  LrSchedule s(cfg("linear", 100, 100));
  EXPECT_DOUBLE_EQ(s.factor(1), 1.0);
  EXPECT_DOUBLE_EQ(s.factor(100), 1.0);  // the reference already decays here
  EXPECT_DOUBLE_EQ(s.factor(101), 1.0 - 1.0 / 101.0);
  EXPECT_DOUBLE_EQ(s.factor(150), 1.0 - 50.0 / 101.0);
  EXPECT_NEAR(s.factor(200), 1.0 / 101.0, 1e-15);  // last epoch still trains
  EXPECT_GT(s.factor(200), 0.0);
  for (int e = 101; e <= 200; ++e) EXPECT_LT(s.factor(e), s.factor(e - 1));
}

TEST(LinearSchedule, SmallRun) {
  LrSchedule s(cfg("linear", 2, 2));
  EXPECT_DOUBLE_EQ(s.factor(1), 1.0);
  EXPECT_DOUBLE_EQ(s.factor(2), 1.0);
  EXPECT_DOUBLE_EQ(s.factor(3), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(s.factor(4), 1.0 / 3.0);
}

TEST(StepSchedule, TenfoldEveryLrDecayIters) {
  TrainConfig c = cfg("step", 10, 10);
  c.lr_decay_iters = 5;
  LrSchedule s(c);
  EXPECT_DOUBLE_EQ(s.factor(1), 1.0);
  EXPECT_DOUBLE_EQ(s.factor(5), 1.0);
  EXPECT_NEAR(s.factor(6), 0.1, 1e-12);
  EXPECT_NEAR(s.factor(11), 0.01, 1e-12);
}

TEST(CosineSchedule, HalfCosineOverAllEpochs) {
  LrSchedule s(cfg("cosine", 5, 5));
  EXPECT_DOUBLE_EQ(s.factor(1), 1.0);
  EXPECT_NEAR(s.factor(6), 0.5, 1e-12);
  EXPECT_GT(s.factor(10), 0.0);
  EXPECT_NEAR(s.factor(10), 0.5 * (1 + std::cos(M_PI * 9 / 10)), 1e-12);
}

TEST(PlateauSchedule, DecaysAfterPatienceAndRoundTripsState) {
  LrSchedule s(cfg("plateau", 10, 0));
  s.observe(1.0);
  for (int i = 0; i < 5; ++i) s.observe(1.0);  // 5 bad epochs: still within patience
  EXPECT_DOUBLE_EQ(s.factor(7), 1.0);
  s.observe(0.995);  // not a 1% improvement: 6th bad epoch -> decay
  EXPECT_NEAR(s.factor(8), 0.2, 1e-12);
  LrSchedule t(cfg("plateau", 10, 0));
  t.load_state(s.state());
  EXPECT_NEAR(t.factor(8), 0.2, 1e-12);
  s.observe(0.5);  // real improvement resets the counter
  EXPECT_NEAR(s.factor(9), 0.2, 1e-12);
}

TEST(Schedule, BadOptionsNameTheFlag) {
  try {
    LrSchedule s(cfg("exponential", 1, 1));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--lr_policy"), std::string::npos);
  }
  EXPECT_THROW(LrSchedule(cfg("linear", 0, 0)), Error);
}

}  // namespace
}  // namespace p2p
