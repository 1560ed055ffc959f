// Tests for train/data_parallel: two ranks (separate processes over Gloo on loopback) each train on half
// of a batch; after kSteps steps their weights are identical, and equal (within float tolerance) to one
// process trained on the whole batch: instance norm, and sync_batch against batch norm on the whole
// batch. Variant flags of the step (wgangp, multi-scale D, feature matching, step ratios, the image pool,
// clipping) keep the ranks identical. Set-ups: tests/dist_worker/variants.h.
#include "p2p/core/error.h"
#include "p2p/core/runtime.h"
#include "p2p/dist/communicator.h"
#include "p2p/dist/env.h"
#include "p2p/train/data_parallel.h"
#include "p2p/train/model.h"
#include "testutil/testutil.h"
#include "../dist_worker/variants.h"

#include <gtest/gtest.h>
#include <torch/nn/module.h>
#include <torch/serialize.h>
#include <unistd.h>

namespace p2p {
namespace {

int port_for(int k) { return 20000 + static_cast<int>((::getpid() * 7 + k) % 20000); }

std::vector<at::Tensor> load_rank(const std::string& dir, int rank) {
  std::vector<at::Tensor> state;
  torch::load(state, dir + "/rank" + std::to_string(rank) + ".pt");
  return state;
}

// Runs `variant` on two ranks; returns both ranks' final tensors.
std::pair<std::vector<at::Tensor>, std::vector<at::Tensor>> two_ranks(const std::string& variant, int k) {
  const std::string dir = test::scratch_dir("data_parallel_" + variant);
  const std::string common = "WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(port_for(k)) + " '" +
                             P2P_DIST_WORKER + "' train " + variant + " '" + dir + "'";
  const auto r = test::run_command("(RANK=1 " + common + " & RANK=0 " + common +
                                   "; s0=$?; wait $!; s1=$?; echo \"status $s0 $s1\")");
  EXPECT_NE(r.output.find("status 0 0"), std::string::npos) << r.output;
  return {load_rank(dir, 0), load_rank(dir, 1)};
}

// One process after `steps` steps on the whole batch (0: the initial state every rank starts from).
std::vector<at::Tensor> one_process(const std::string& variant, int steps) {
  NetConfig net;
  TrainConfig train;
  testing::variant_config(variant, net, train);
  seed_everything(train.seed, false);
  Pix2PixModel model(net, train, c10::Device(c10::kCPU));
  const Batch batch = testing::variant_batch();
  for (int s = 0; s < steps; ++s) model.optimize(batch);
  return testing::model_state(model);
}

std::vector<at::Tensor> single_process(const std::string& variant) { return one_process(variant, testing::kSteps); }
std::vector<at::Tensor> initial_state(const std::string& variant) { return one_process(variant, 0); }

void expect_identical(const std::vector<at::Tensor>& a, const std::vector<at::Tensor>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(at::equal(a[i], b[i])) << "tensor " << i;
}

// Largest difference over the tensors (with `kernels_only`, those of two or more dimensions), and the
// largest change training made (to show the tolerance is far below what the steps moved).
std::pair<double, double> max_diff(const std::vector<at::Tensor>& a, const std::vector<at::Tensor>& b,
                                   const std::vector<at::Tensor>& start, bool kernels_only = false) {
  double diff = 0, moved = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!a[i].is_floating_point() || (kernels_only && a[i].dim() < 2)) continue;
    diff = std::max(diff, (a[i] - b[i]).abs().max().item<double>());
    moved = std::max(moved, (b[i] - start[i]).abs().max().item<double>());
  }
  return {diff, moved};
}

// G's output on the batch with the weights in `state` (the order two_ranks saves them in).
at::Tensor generator_output(const std::string& variant, const std::vector<at::Tensor>& state) {
  NetConfig net;
  TrainConfig train;
  testing::variant_config(variant, net, train);
  Pix2PixModel model(net, train, c10::Device(c10::kCPU));
  size_t i = 0;
  torch::NoGradGuard no_grad;
  for (auto& t : model.generator().parameters()) t.copy_(state.at(i++));
  for (auto& t : model.generator().buffers()) t.copy_(state.at(i++));
  return model.generator().forward(testing::variant_batch().A);
}

TEST(DataParallel, TwoRanksMatchOneProcessOnTheCombinedBatch) {
  if (!distributed_available()) GTEST_SKIP() << "built without Gloo";
  const auto [r0, r1] = two_ranks("instance", 0);
  expect_identical(r0, r1);
  const auto single = single_process("instance");
  ASSERT_EQ(r0.size(), single.size());
  // Convolution kernels match. Biases of convolutions followed by (non-affine) instance norm are left
  // out: the norm cancels them, so their gradient is rounding noise that Adam scales up to full-size
  // steps of either sign; they change nothing, as the outputs below show.
  const auto [diff, moved] = max_diff(r0, single, initial_state("instance"), /*kernels_only=*/true);
  EXPECT_LT(diff, 1e-4) << "moved " << moved;
  EXPECT_GT(moved, 1e-3);
  const at::Tensor out_dp = generator_output("instance", r0), out_one = generator_output("instance", single);
  const at::Tensor out_start = generator_output("instance", initial_state("instance"));
  EXPECT_LT((out_dp - out_one).abs().max().item<double>(), 1e-4);
  EXPECT_GT((out_one - out_start).abs().max().item<double>(), 1e-2);  // training changed what G does
}

TEST(DataParallel, SyncBatchNormMatchesBatchNormOnTheCombinedBatch) {
  if (!distributed_available()) GTEST_SKIP() << "built without Gloo";
  const auto [r0, r1] = two_ranks("sync_batch", 1);
  expect_identical(r0, r1);  // running statistics included: they are computed from the combined batch
  const auto single = single_process("batch");
  const auto [diff, moved] = max_diff(r0, single, initial_state("batch"));
  EXPECT_LT(diff, 1e-4) << "moved " << moved;  // float rounding of different summation orders
  EXPECT_GT(moved, 1e-3);
}

TEST(DataParallel, VariantsKeepTheRanksIdentical) {
  if (!distributed_available()) GTEST_SKIP() << "built without Gloo";
  {
    // The penalty's interpolation weights are drawn per rank, so there is no single-process twin.
    const auto [r0, r1] = two_ranks("wgangp_multiscale", 2);
    expect_identical(r0, r1);
    const auto [diff, moved] = max_diff(r0, r1, initial_state("wgangp_multiscale"));
    EXPECT_GT(moved, 1e-3);
  }
  {
    const auto [r0, r1] = two_ranks("ratios_pool", 3);  // the pool draws per rank: no single-process twin
    expect_identical(r0, r1);
  }
}

TEST(DataParallel, RefusesWhatItCannotDo) {
  NetConfig net;
  TrainConfig train;
  net.norm = "sync_batch";
  train.gan_mode = "wgangp";
  EXPECT_NE(test::error_of([&] { DataParallel::check_supported(net, train, c10::Device(c10::kCPU)); })
                .find("--gan_mode wgangp"),
            std::string::npos);
  net.norm_D = "spectral";
  EXPECT_NO_THROW(DataParallel::check_supported(net, train, c10::Device(c10::kCPU)));
  EXPECT_NE(test::error_of([&] { DataParallel::check_supported(net, train, c10::Device(c10::kCUDA, 0)); })
                .find("--device"),
            std::string::npos);
}

}  // namespace
}  // namespace p2p
