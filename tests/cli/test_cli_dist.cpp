// End-to-end tests of data-parallel training through the program: `p2p launch --nproc 2 -- train`
// against one process on the combined batch, one writer, resume with another world size, a hung or
// killed rank, and a killed launcher.
#include "p2p/dist/communicator.h"
#include "p2p/io/checkpoint.h"
#include "p2p/io/state_dict.h"
#include "testutil/testutil.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

namespace fs = std::filesystem;

namespace p2p {
namespace {

// 64 px, not the tiny run's 32. At 32 px unet_32's bottleneck is 1x1, and that configuration amplifies
// float rounding: with oneDNN's up-convolution, whose summation order depends on the batch size, one
// process on 4 samples and two ranks on 2 each drifted apart within two steps. Batch norm synchronised
// across the ranks (sync_batch) computes the combined batch's statistics, so the two runs are the same
// computation, and every parameter has a real gradient (instance norm would make the biases before it
// gradient-free: pure rounding noise, which Adam turns into full steps of either sign).
const double kLr = 0.002;
const std::string kDpRun = " --netG unet_32 --ngf 8 --ndf 8 --load_size 64 --crop_size 64 --num_threads 1"
                           " --norm sync_batch --no_dropout --n_epochs 1 --n_epochs_decay 0 --seed 5 --lr 0.002"
                           " --num_samples 0 --print_freq 1 ";

std::vector<std::string> history_lines(const std::string& run) {
  std::ifstream in(run + "/history.jsonl");
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) {
    if (!l.empty()) lines.push_back(l);
  }
  return lines;
}

TEST(CliDist, LaunchTwoRanksMatchesOneProcessOnTheCombinedBatch) {
  if (!distributed_available()) GTEST_SKIP() << "built without Gloo";
  const std::string root = test::write_ab_dataset(test::scratch_dir("cli_dist_data"), 8, 0);
  const std::string ck = test::scratch_dir("cli_dist_ck");
  const auto dp = test::run_p2p("launch --nproc 2 -- train --dataroot '" + root + "' --checkpoints_dir '" + ck +
                                "' --name dp --batch_size 2 --val_fraction 0.25" + kDpRun);
  ASSERT_EQ(dp.exit_code, 0) << dp.output;
  EXPECT_NE(dp.output.find("2 data-parallel ranks x batch 2"), std::string::npos) << dp.output;
  const auto one = test::run_p2p("train --dataroot '" + root + "' --checkpoints_dir '" + ck +
                                 "' --name one --batch_size 4 --val_fraction 0.25" + kDpRun);
  ASSERT_EQ(one.exit_code, 0) << one.output;
  // Trainer state (each rank's image pool and random state: trainer.*) has one entry per rank; the
  // networks and optimisers are compared.
  auto without_trainer = [](StateDict d) {
    d.erase(std::remove_if(d.begin(), d.end(), [](const auto& e) { return e.first.rfind("trainer.", 0) == 0; }), d.end());
    return d;
  };
  const StateDict a = without_trainer(read_state_dict(ck + "/dp/latest.pt"));
  const StateDict b = without_trainer(read_state_dict(ck + "/one/latest.pt"));
  ASSERT_EQ(a.size(), b.size());
  // The tolerances, derived. The two runs are the same computation in another summation order
  // (oneDNN's order follows the batch size; the all-reduce adds two halves; synchronised batch norm sums
  // per rank), so their gradients agree to float rounding, ~1e-7 relative. Adam's step is
  // lr * m_hat / (sqrt(v_hat) + eps), normalised per element:
  // - its size is exactly lr at step 1 and at most sqrt(5) / 3 / sqrt(0.5) = 1.06 lr at step 2 (beta1
  //   0.5, beta2 0.999; Cauchy-Schwarz on (g1 + 2 g2) / 3 over sqrt((g1^2 + g2^2) / 2)), so after this
  //   run's 2 steps no element can be more than 2 * (1 + 1.06) lr apart, even where a gradient within
  //   rounding of zero took opposite signs in the two runs;
  // - elsewhere the normalisation turns a relative gradient error e into a step error of about e * lr:
  //   tiny, except for elements whose gradient is near zero. Allowing 1 element in 400 to take opposite
  //   full steps bounds a tensor's root-mean-square difference by 2 lr / sqrt(400) = 0.1 lr.
  // A tensor trained on other gradients (one rank's batch of 2 instead of the combined 4, or a tensor
  // the all-reduce skipped) moves about lr apart in RMS, 10x over; a few hundred corrupted weights
  // of the size of an initial weight (0.02) exceed one of the two bounds.
  const double kAdamMax = 2 * (1 + 1.06) * kLr, kRms = 2 * kLr / std::sqrt(400.0);
  int compared = 0;
  double largest = 0, largest_rms = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].first, b[i].first);
    if (a[i].first.rfind("G.", 0) != 0 && a[i].first.rfind("D.", 0) != 0) continue;  // weights, not RNG state
    const at::Tensor& x = a[i].second;
    const at::Tensor& y = b[i].second;
    ASSERT_EQ(x.sizes(), y.sizes()) << a[i].first;
    if (!x.is_floating_point()) {
      EXPECT_TRUE(at::equal(x, y)) << a[i].first;  // batch counters
      continue;
    }
    const at::Tensor diff = (x - y).abs().to(at::kDouble);
    const double most = diff.max().item<double>(), rms = diff.pow(2).mean().sqrt().item<double>();
    EXPECT_LE(most, kAdamMax) << a[i].first << ": an element is " << most << " apart, more than 2 Adam steps make";
    EXPECT_LE(rms, kRms) << a[i].first << ": " << rms << " apart in RMS over " << x.numel() << " elements";
    largest = std::max(largest, most);
    largest_rms = std::max(largest_rms, rms);
    ++compared;
  }
  // Every tensor: weights, biases, norm scales, running statistics (seen: largest element 3.9e-3, largest
  // RMS 6.9e-5, against bounds 8.2e-3 and 2e-4).
  EXPECT_GT(compared, 50) << "largest " << largest << ", largest RMS " << largest_rms;
  // One writer: rank 0's config says what ran; the history has the baseline and epoch 1 once each.
  std::ifstream config_in(ck + "/dp/config.json");
  const nlohmann::json config = nlohmann::json::parse(config_in);
  EXPECT_EQ(config["distributed"]["world_size"], 2);
  const auto lines = history_lines(ck + "/dp");
  ASSERT_EQ(lines.size(), 2u);
  const nlohmann::json epoch1 = nlohmann::json::parse(lines[1]);
  EXPECT_EQ(epoch1["iters"], 2);  // 6 training pairs over 2 ranks x batch 2: 2 steps
  EXPECT_TRUE(epoch1.contains("val"));  // rank 0 validated

  // Resume the 2-rank run on one process, and a mid-epoch stop of it with another world size.
  const auto more = test::run_p2p("train --continue_train --checkpoints_dir '" + ck + "' --name dp --n_epochs 2");
  ASSERT_EQ(more.exit_code, 0) << more.output;
  EXPECT_EQ(history_lines(ck + "/dp").size(), 3u);
  const auto part = test::run_p2p("launch --nproc 2 -- train --dataroot '" + root + "' --checkpoints_dir '" + ck +
                                  "' --name part --batch_size 1 --val_fraction 0.25 --max_iters 2" + kDpRun);
  ASSERT_EQ(part.exit_code, 0) << part.output;
  const auto rest = test::run_p2p("train --continue_train --checkpoints_dir '" + ck + "' --name part --max_iters 0");
  ASSERT_EQ(rest.exit_code, 0) << rest.output;
  // 2 steps x 2 ranks x batch 1 = 4 samples done; alone with batch 1 the epoch goes on after 4 batches.
  EXPECT_NE(rest.output.find("the epoch resumes after 4 batches"), std::string::npos) << rest.output;
  const nlohmann::json last = nlohmann::json::parse(history_lines(ck + "/part").back());
  EXPECT_EQ(last["iters"], 4);  // 2 steps of the job + the 2 remaining batches (6 pairs)
}

std::string run_script(const std::string& path, const std::string& script) {
  std::ofstream(path) << script << "\n";
  return test::run_command("bash '" + path + "'").output;
}

TEST(CliDist, LauncherFailsWhenARankFails) {
  if (!distributed_available()) GTEST_SKIP() << "built without Gloo";
  const auto r = test::run_p2p("launch --nproc 2 -- train --dataroot /nonexistent/p2p --name x --checkpoints_dir '" +
                               test::scratch_dir("cli_dist_fail") + "'" + test::kTinyRun);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("/nonexistent/p2p"), std::string::npos) << r.output;
  const auto bad = test::run_p2p("launch --nproc 2 --nnodes 2 -- train");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.output.find("--master_port"), std::string::npos) << bad.output;
}

// Two `p2p train` processes started by hand (as a Slurm script would); once training runs, rank 1 is
// frozen (SIGSTOP) or killed. Rank 0 must stop with a message naming the cause, not wait forever.
std::string peer_failure(const std::string& how, const std::string& tag, int port) {
  const std::string root = test::write_ab_dataset(test::scratch_dir("cli_dist_" + tag + "_data"), 6, 0);
  const std::string ck = test::scratch_dir("cli_dist_" + tag);
  const std::string env = "WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(port);
  const std::string train = "'" + std::string(P2P_TEST_BIN) + "' train --dataroot '" + root + "' --checkpoints_dir '" +
                            ck + "' --name hang --dist_timeout 4 --n_epochs 200 --val_fraction 0.3" +
                            test::kTinyRun;
  const std::string script =
      "RANK=1 " + env + " " + train + " >/dev/null 2>&1 & p1=$!; RANK=0 " + env + " " + train + " 2>'" + ck +
      "/rank0.err' >/dev/null & p0=$!; for i in $(seq 1 300); do [ -s '" + ck +
      "/hang/latest.pt' ] && break; sleep 0.1; done; kill -" + how + " $p1; t0=$(date +%s); wait $p0; s0=$?; "
      "t1=$(date +%s); kill -KILL $p1 2>/dev/null; wait $p1 2>/dev/null; echo \"rank0 status $s0 after $((t1-t0)) s\"; "
      "cat '" + ck + "/rank0.err'";
  return run_script(ck + "/run.sh", script);
}

TEST(CliDist, AHungRankMakesTheOtherStopAfterTheTimeout) {
  if (!distributed_available()) GTEST_SKIP() << "built without Gloo";
  const std::string out = peer_failure("STOP", "hang", 20000 + static_cast<int>(::getpid() % 20000));
  EXPECT_NE(out.find("rank0 status 1"), std::string::npos) << out;
  EXPECT_NE(out.find("did not answer within"), std::string::npos) << out;
  EXPECT_NE(out.find("rank 0"), std::string::npos) << out;
}

TEST(CliDist, AKilledRankMakesTheOtherStop) {
  if (!distributed_available()) GTEST_SKIP() << "built without Gloo";
  const std::string out = peer_failure("KILL", "killed", 20000 + static_cast<int>((::getpid() + 7) % 20000));
  EXPECT_NE(out.find("rank0 status 1"), std::string::npos) << out;
  EXPECT_NE(out.find("another rank stopped"), std::string::npos) << out;
}

TEST(CliDist, KillingTheLauncherStopsEveryRank) {
  if (!distributed_available()) GTEST_SKIP() << "built without Gloo";
  const std::string root = test::write_ab_dataset(test::scratch_dir("cli_dist_launcher_data"), 6, 0);
  const std::string ck = test::scratch_dir("cli_dist_launcher");
  const std::string script =
      "'" + std::string(P2P_TEST_BIN) + "' launch --nproc 2 -- train --dataroot '" + root + "' --checkpoints_dir '" + ck +
      "' --name orphan --n_epochs 200 --val_fraction 0.3" + test::kTinyRun + " >/dev/null 2>&1 & pl=$!; " +
      "for i in $(seq 1 300); do [ -s '" + ck + "/orphan/latest.pt' ] && break; sleep 0.1; done; " +
      "kids=$(grep -l \"^PPid:[[:space:]]*$pl\\$\" /proc/[0-9]*/status 2>/dev/null | cut -d/ -f3 | tr '\\n' ' '); "
      "kill -KILL $pl; for i in $(seq 1 200); do alive=0; for k in $kids; do "
      "grep -qs '^State:[[:space:]]*[^Z]' /proc/$k/status && alive=1; done; [ $alive = 0 ] && break; sleep 0.1; done; "
      "echo \"ranks [$kids] alive $alive\"";
  const std::string out = run_script(ck + "/run.sh", script);
  EXPECT_NE(out.find("alive 0"), std::string::npos) << out;
  EXPECT_EQ(out.find("ranks []"), std::string::npos) << out;  // the launcher had started ranks
}

}  // namespace
}  // namespace p2p

namespace p2p {
namespace {

// CycleGAN through the same machinery: 2 ranks x batch 1 reach the weights of one process on batch 2
// (pools off; instance norm works per sample, so the two runs are one computation in another summation
// order). The bounds are the ones derived above; the RMS bound is applied to convolution weights only,
// since the biases before an instance norm have no real gradient (rounding noise, full Adam steps).
TEST(CliDist, CycleGanOnTwoRanksMatchesOneProcessOnTheCombinedBatch) {
  if (!distributed_available()) GTEST_SKIP() << "built without Gloo";
  const std::string root = test::scratch_dir("cli_dist_cycle_data");
  for (const char* folder : {"trainA", "trainB"}) {
    fs::create_directories(root + "/" + folder);
    for (int i = 0; i < 4; ++i) {
      test::write_random_png(root + "/" + folder + "/" + std::to_string(i) + ".png", 32, 32, 3, 40 + i + 7 * folder[5]);
    }
  }
  const std::string ck = test::scratch_dir("cli_dist_cycle_ck");
  const std::string run = " --model cycle_gan --netG resnet_6blocks --ngf 8 --ndf 8 --load_size 36 --crop_size 32"
                          " --num_threads 1 --pool_size 0 --n_epochs 1 --n_epochs_decay 0 --seed 5 --lr 0.002"
                          " --num_samples 0 --print_freq 1 ";
  const auto dp = test::run_p2p("launch --nproc 2 -- train --dataroot '" + root + "' --checkpoints_dir '" + ck +
                                "' --name dp --batch_size 1" + run);
  ASSERT_EQ(dp.exit_code, 0) << dp.output;
  const auto one = test::run_p2p("train --dataroot '" + root + "' --checkpoints_dir '" + ck + "' --name one --batch_size 2" + run);
  ASSERT_EQ(one.exit_code, 0) << one.output;
  const StateDict a = read_state_dict(ck + "/dp/latest.pt"), b = read_state_dict(ck + "/one/latest.pt");
  std::map<std::string, at::Tensor> by_name(b.begin(), b.end());
  const double kAdamMax = 2 * (1 + 1.06) * kLr, kRms = 2 * kLr / std::sqrt(400.0);
  int compared = 0;
  for (const auto& [name, x] : a) {
    const std::string net = name.substr(0, name.find('.'));
    if (net != "G_A" && net != "G_B" && net != "D_A" && net != "D_B") continue;
    ASSERT_EQ(by_name.count(name), 1u) << name;
    const at::Tensor diff = (x - by_name[name]).abs().to(at::kDouble);
    const double most = diff.max().item<double>(), rms = diff.pow(2).mean().sqrt().item<double>();
    EXPECT_LE(most, kAdamMax) << name;
    if (x.dim() == 4) EXPECT_LE(rms, kRms) << name << ": " << rms << " apart in RMS over " << x.numel() << " elements";
    ++compared;
  }
  EXPECT_GT(compared, 60);
  const auto lines = history_lines(ck + "/dp");
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(nlohmann::json::parse(lines.back())["iters"], 2);  // 4 samples over 2 ranks x batch 1
}

}  // namespace
}  // namespace p2p
