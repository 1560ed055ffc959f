// Tests for models/calibration: the unet_256 workloads run (forward; forward and backward, which leaves
// gradients), take measurable time, and leave the global random generator where it was, so seeded runs
// do not depend on whether a calibration happened.
#include "p2p/models/calibration.h"

#include <ATen/ATen.h>
#include <torch/torch.h>

#include <gtest/gtest.h>

namespace p2p {
namespace {

TEST(Calibration, WorkloadsRunAndLeaveTheRandomGeneratorAlone) {
  torch::manual_seed(5);
  const at::Tensor expect = at::rand({4});
  torch::manual_seed(5);
  const double inference = generator_workload(false)(1);
  const double training = generator_workload(true)(1);
  EXPECT_TRUE(at::equal(at::rand({4}), expect)) << "the workload moved the global generator";
  EXPECT_GT(inference, 0.0);
  EXPECT_GT(training, inference) << "backward adds work";
}

}  // namespace
}  // namespace p2p
