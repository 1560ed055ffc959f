// Tests for models/calibration: the workload is the generator the command runs, at its size and batch
// (its name says so, and a bigger network takes longer); the workloads run (forward; forward and
// backward) and leave the global random generator where it was, so seeded runs do not depend on
// whether a calibration happened.
#include "p2p/models/calibration.h"

#include <ATen/ATen.h>
#include <torch/torch.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

namespace p2p {
namespace {

CalibrationWorkload tiny(bool training) {
  CalibrationWorkload w;
  w.training = training;
  w.net.netG = "unet_32";
  w.net.ngf = 8;
  w.size = 32;
  return w;
}

double fastest(const std::function<double(int)>& pass, int n) {
  std::vector<double> t;
  for (int i = 0; i < n; ++i) t.push_back(pass(1));
  return *std::min_element(t.begin(), t.end());
}

TEST(Calibration, WorkloadsRunAndLeaveTheRandomGeneratorAlone) {
  torch::manual_seed(5);
  const at::Tensor expect = at::rand({4});
  torch::manual_seed(5);
  const double inference = generator_workload(tiny(false))(1);
  const double training = generator_workload(tiny(true))(1);
  EXPECT_TRUE(at::equal(at::rand({4}), expect)) << "the workload moved the global generator";
  EXPECT_GT(inference, 0.0);
  EXPECT_GT(training, 0.0);
}

TEST(Calibration, TheWorkloadIsTheRunsGenerator) {
  CalibrationWorkload w = tiny(true);
  w.net.netG = "unet_128";
  w.net.ngf = 64;
  w.size = 128;
  w.batch = 2;
  EXPECT_EQ(workload_name(w), "train unet_128 ngf64 batch 3->3 128px b2");
  EXPECT_EQ(workload_name(tiny(false)), "inference unet_32 ngf8 batch 3->3 32px b1");
  // unet_128 with ngf 64 at 128 px does about 1000x the work of unet_32 with ngf 8 at 32 px.
  const double small = fastest(generator_workload(tiny(true)), 3);
  const double big = fastest(generator_workload(w), 2);
  EXPECT_GT(big, 20 * small) << "small " << small << " s, big " << big << " s";
}

}  // namespace
}  // namespace p2p
