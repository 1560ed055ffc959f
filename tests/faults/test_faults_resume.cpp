// Fault cases: a stopped run resumes exactly. Under --deterministic, a run stopped (by --max_iters or a
// signal) at an epoch boundary or in the middle of an epoch, and continued with --continue_train, ends
// with every tensor of G, D and both optimizers, the RNG state and the image pool bit for bit those of
// the run that never stopped, whatever options carry state from step to step: the image pool, step
// ratios, the loss schedule, the plateau schedule, WGAN-GP, strong augmentation, through the decay phase.
#include "faults/faults.h"

#include "p2p/dist/communicator.h"
#include "p2p/io/checkpoint.h"
#include "p2p/io/state_dict.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

namespace fs = std::filesystem;

namespace p2p {
namespace {

// 6 pairs, 2 held out for validation: 4 batches of 1 per epoch; 2 epochs + 1 of decay = 12 iterations.
constexpr int64_t kBatchesPerEpoch = 4;

const std::string& dataset() {
  static const std::string root = test::write_ab_dataset(test::scratch_dir("resume_data"), 6, 0);
  return root;
}

// CycleGAN's data: 4 A and 3 B images (4 samples per epoch), testA/B for its validation samples.
const std::string& unaligned_dataset() {
  static const std::string root = [] {
    const std::string r = test::scratch_dir("resume_unaligned");
    const std::vector<std::pair<std::string, int>> folders = {{"trainA", 4}, {"trainB", 3}, {"testA", 2}, {"testB", 2}};
    for (const auto& [folder, n] : folders) {
      fs::create_directories(r + "/" + folder);
      for (int i = 0; i < n; ++i) {
        test::write_random_png(r + "/" + folder + "/" + std::to_string(i) + ".png", 32, 32, 3, 100 + i + 10 * folder[5]);
      }
    }
    return r;
  }();
  return root;
}

// Everything but the data, the network and its size (the defaults: pix2pix on 6 pairs, 2 held out).
std::string base_args(const std::string& ck, const std::string& name, const std::string& data = "") {
  const std::string paired = " --dataroot '" + dataset() + "'" + test::kTinyRun + " --val_fraction 0.34";
  return "train --checkpoints_dir '" + ck + "' --name " + name + (data.empty() ? paired : data) +
         " --batch_size 1 --n_epochs 2 --n_epochs_decay 1 --seed 3 --deterministic"
         " --num_samples 0 --print_freq 1000 --save_epoch_freq 0 ";
}

const std::string& cycle_data() {
  static const std::string args = " --model cycle_gan --dataroot '" + unaligned_dataset() +
                                  "' --netG resnet_6blocks --ngf 8 --ndf 8 --load_size 36 --crop_size 32 --num_threads 1";
  return args;
}

// Byte-for-byte equality (at::equal would call -0 and 0 equal, and NaN unequal to itself).
bool same_bits(const at::Tensor& a, const at::Tensor& b) {
  if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes()) return false;
  const at::Tensor x = a.contiguous(), y = b.contiguous();
  return std::memcmp(x.data_ptr(), y.data_ptr(), x.nbytes()) == 0;
}

// Every entry of two checkpoints but the metadata (which records the flags each run was given) is bitwise
// the same; the metadata's position and schedule state are too. Returns the entries compared by section.
std::map<std::string, int> expect_same_checkpoint(const std::string& expected, const std::string& actual) {
  const StateDict a = read_state_dict(expected), b = read_state_dict(actual);
  std::map<std::string, at::Tensor> by_name(b.begin(), b.end());
  std::map<std::string, int> sections;
  int differing = 0;
  std::string first_differing;
  for (const auto& [name, t] : a) {
    auto it = by_name.find(name);
    if (it == by_name.end()) {
      ADD_FAILURE() << actual << " lacks " << name;
      continue;
    }
    by_name.erase(it->first);
    if (name == "meta") continue;
    if (!same_bits(t, it->second)) {
      if (differing++ == 0) first_differing = name;
      continue;
    }
    ++sections[name.substr(0, name.find('.'))];
  }
  for (const auto& [name, t] : by_name) ADD_FAILURE() << actual << " has " << name << ", which " << expected << " lacks";
  EXPECT_EQ(differing, 0) << differing << " of " << a.size() - 1 << " entries differ, e.g. " << first_differing
                          << " (" << expected << " vs " << actual << ")";
  const CheckpointMeta ma = read_checkpoint_meta(expected), mb = read_checkpoint_meta(actual);
  EXPECT_EQ(ma.epoch, mb.epoch);
  EXPECT_EQ(ma.epoch_iter, mb.epoch_iter);
  EXPECT_EQ(ma.total_iters, mb.total_iters);
  EXPECT_EQ(ma.scheduler_json, mb.scheduler_json);
  EXPECT_EQ(ma.best_epoch, mb.best_epoch);
  return sections;
}

std::vector<nlohmann::json> history(const std::string& run) {
  std::ifstream in(run + "/history.jsonl");
  std::vector<nlohmann::json> out;
  for (std::string l; std::getline(in, l);) {
    if (!l.empty()) out.push_back(nlohmann::json::parse(l));
  }
  return out;
}

// Trains `flags` uninterrupted, then once per entry of `stop_plans` stopped at each of its iterations
// (--max_iters) and continued to the end; every continued run must end where the uninterrupted one did,
// with the same history of losses, learning rates and validation metrics. `launch`: a prefix that runs
// each command (data parallelism).
void expect_exact_resumes(const std::string& tag, const std::string& flags,
                          const std::vector<std::vector<int64_t>>& stop_plans, const std::string& launch = "",
                          const std::string& data = "",
                          const std::vector<std::string>& sections_expected = {"G", "D", "opt_G", "opt_D", "rng", "trainer"}) {
  const std::string ck = test::scratch_dir("resume_" + tag);
  const auto full = test::run_p2p(launch + base_args(ck, "full", data) + flags);
  ASSERT_EQ(full.exit_code, 0) << full.output;
  const std::vector<nlohmann::json> full_history = history(ck + "/full");
  for (size_t p = 0; p < stop_plans.size(); ++p) {
    const std::string name = "stopped" + std::to_string(p);
    std::string plan;
    for (size_t k = 0; k < stop_plans[p].size(); ++k) {
      const int64_t stop = stop_plans[p][k];
      plan += (k ? "," : "") + std::to_string(stop);
      const std::string args = k == 0 ? base_args(ck, name, data) + flags
                                      : "train --checkpoints_dir '" + ck + "' --name " + name + " --continue_train";
      const auto r = test::run_p2p(launch + args + " --max_iters " + std::to_string(stop));
      ASSERT_EQ(r.exit_code, 0) << r.output;
      ASSERT_NE(r.output.find("resume with --continue_train"), std::string::npos) << "did not stop at " << stop << ": "
                                                                                  << r.output;
      const CheckpointMeta m = read_checkpoint_meta(ck + "/" + name + "/latest.pt");
      ASSERT_EQ(m.total_iters, stop);
      ASSERT_EQ(m.epoch_iter, stop % kBatchesPerEpoch);  // 0: saved at the end of an epoch
    }
    SCOPED_TRACE(tag + ": stopped at iterations " + plan);
    const auto rest = test::run_p2p(launch + "train --checkpoints_dir '" + ck + "' --name " + name +
                                    " --continue_train --max_iters 0");
    ASSERT_EQ(rest.exit_code, 0) << rest.output;
    EXPECT_EQ(rest.output.find("the pool starts empty"), std::string::npos) << rest.output;
    const std::map<std::string, int> sections =
        expect_same_checkpoint(ck + "/full/latest.pt", ck + "/" + name + "/latest.pt");
    for (const std::string& s : sections_expected) EXPECT_GT(sections.count(s), 0u) << s;
    const std::vector<nlohmann::json> h = history(ck + "/" + name);
    ASSERT_EQ(h.size(), full_history.size());
    for (size_t i = 0; i < h.size(); ++i) {
      for (const char* key : {"epoch", "iters", "lr_G", "lr_D", "weights", "train", "val"}) {
        EXPECT_EQ(h[i].value(key, nlohmann::json()), full_history[i].value(key, nlohmann::json()))
            << key << " of history line " << i;
      }
    }
  }
}

// The pool alone, stopped where the decay phase begins: what the reference loses on resume (its pool
// starts empty).
TEST(FaultsResume, ImagePoolResumesExactly) {
  expect_exact_resumes("pool", " --pool_size 3", {{2 * kBatchesPerEpoch}});
}

// CycleGAN: four networks, two optimizers, two pools (size 3 over 12 steps: they fill and then draw), B
// drawn at random per sample, identity on; stopped mid-epoch and where the decay phase begins.
TEST(FaultsResume, CycleGanResumesExactly) {
  expect_exact_resumes("cycle", " --pool_size 3", {{kBatchesPerEpoch + 1, 2 * kBatchesPerEpoch}}, "", cycle_data(),
                       {"G_A", "G_B", "D_A", "D_B", "opt_G", "opt_D", "rng", "trainer"});
}

// Everything that carries state from step to step, at once: stopped in the middle of epoch 2 (a loss
// schedule stage), resumed, stopped again where the decay phase begins, and resumed to the end.
TEST(FaultsResume, EveryStatefulOptionTogetherResumesExactly) {
  expect_exact_resumes("all",
                       " --pool_size 3 --d_steps_per_g 2 --gan_mode wgangp --augment strong"
                       " --loss_schedule '1:L1=100,GAN=1; 2:L1=50,ssim=10; 3:grad=5'",
                       {{kBatchesPerEpoch + 1, 2 * kBatchesPerEpoch}});
}

// A checkpoint from before pools were saved still resumes: its pool starts empty, with a note.
TEST(FaultsResume, CheckpointWithoutPoolResumesWithAnEmptyPool) {
  const std::string ck = test::scratch_dir("resume_old_pool");
  const auto r = test::run_p2p(base_args(ck, "old") + " --pool_size 3 --max_iters 2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string latest = ck + "/old/latest.pt";
  StateDict old;  // as written then: no trainer entries, and no content hash in the metadata
  for (auto& [name, t] : read_state_dict(latest)) {
    if (name.rfind("trainer.", 0) == 0) continue;
    if (name == "meta") {
      const at::Tensor bytes = t.contiguous();
      nlohmann::json meta = nlohmann::json::parse(std::string(static_cast<const char*>(bytes.data_ptr()), bytes.numel()));
      meta.erase("data_crc32c");
      const std::string text = meta.dump();
      at::Tensor rewritten = at::empty({static_cast<int64_t>(text.size())}, at::kByte);
      std::memcpy(rewritten.data_ptr(), text.data(), text.size());
      old.emplace_back(name, rewritten);
      continue;
    }
    old.emplace_back(name, t);
  }
  write_state_dict(latest, old);
  const auto rest = test::run_p2p("train --checkpoints_dir '" + ck + "' --name old --continue_train --max_iters 3");
  ASSERT_EQ(rest.exit_code, 0) << rest.output;
  EXPECT_NE(rest.output.find("holds no image pool (written before pools were saved); the pool starts empty"),
            std::string::npos)
      << rest.output;
}

// Each option on its own, stopped mid-epoch, where the decay phase begins, and twice.
TEST(FaultsResume, EachStatefulOptionResumesExactlySlow) {
  P2P_SLOW_CASE();
  const std::vector<std::vector<int64_t>> stops = {
      {kBatchesPerEpoch + 2}, {2 * kBatchesPerEpoch}, {kBatchesPerEpoch, 2 * kBatchesPerEpoch + 1}};
  const std::vector<std::pair<std::string, std::string>> options = {
      {"default", ""},
      {"pool", " --pool_size 2"},
      {"g_steps", " --g_steps_per_d 3"},
      {"d_steps", " --d_steps_per_g 2"},
      {"schedule", " --loss_schedule '1:L1=100,GAN=1; 2:L1=10,charbonnier=5; 3:ssim=3'"},
      {"wgangp", " --gan_mode wgangp --lambda_gp 5"},
      {"strong", " --augment strong --load_size 40"},
  };
  for (const auto& [tag, flags] : options) expect_exact_resumes(tag, flags, stops);
}

// The plateau schedule's counters: a learning rate too small to improve val L1 by 1% makes the factor drop
// after 6 epochs without improvement (epoch 7); stopped before and resumed, it drops at the same epoch.
TEST(FaultsResume, PlateauScheduleResumesExactlySlow) {
  P2P_SLOW_CASE();
  const std::string ck = test::scratch_dir("resume_plateau");
  const std::string flags = " --lr_policy plateau --lr 1e-9 --n_epochs 8 --n_epochs_decay 0 --pool_size 2";
  const auto full = test::run_p2p(base_args(ck, "full") + flags);
  ASSERT_EQ(full.exit_code, 0) << full.output;
  const std::vector<nlohmann::json> h = history(ck + "/full");
  ASSERT_EQ(h.back()["epoch"], 8);
  EXPECT_LT(h.back()["lr_G"].get<double>(), 1e-9) << "the plateau factor never dropped: the case tests nothing";
  auto r = test::run_p2p(base_args(ck, "stopped") + flags + " --max_iters " + std::to_string(4 * kBatchesPerEpoch));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = test::run_p2p("train --checkpoints_dir '" + ck + "' --name stopped --continue_train --max_iters " +
                    std::to_string(6 * kBatchesPerEpoch + 1));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = test::run_p2p("train --checkpoints_dir '" + ck + "' --name stopped --continue_train --max_iters 0");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  expect_same_checkpoint(ck + "/full/latest.pt", ck + "/stopped/latest.pt");
  const std::vector<nlohmann::json> hs = history(ck + "/stopped");
  ASSERT_EQ(hs.size(), h.size());
  for (size_t i = 0; i < h.size(); ++i) EXPECT_EQ(hs[i].value("lr_G", 0.0), h[i].value("lr_G", 0.0)) << i;
}

// A signal at an unpredictable moment (mid-step, mid-validation, mid-save): the run resumes exactly
// from wherever it stopped.
TEST(FaultsResume, SignalAtAnyMomentResumesExactlySlow) {
  P2P_SLOW_CASE();
  const std::string ck = test::scratch_dir("resume_signal");
  const std::string flags = " --pool_size 3 --gan_mode wgangp --augment strong --n_epochs 3";
  const auto full = test::run_p2p(base_args(ck, "full") + flags);
  ASSERT_EQ(full.exit_code, 0) << full.output;
  int resumed = 0;
  for (int delay_ms : {1500, 2500, 3500}) {
    const std::string name = "signal" + std::to_string(delay_ms);
    const std::string log = ck + "/" + name + ".log";
    // The program in the background, SIGINT after the delay, then wait for it to finish saving.
    const std::string script = "'" + std::string(P2P_TEST_BIN) + "' " + base_args(ck, name) + flags + " > '" + log +
                               "' 2>&1 & pid=$!; sleep " + std::to_string(delay_ms / 1000.0) +
                               "; kill -INT $pid; wait $pid";
    test::run_command("bash -c \"" + script + "\"");
    resumed += fs::exists(ck + "/" + name + "/latest.pt");
    const std::string args = fs::exists(ck + "/" + name + "/latest.pt")
                                 ? "train --checkpoints_dir '" + ck + "' --name " + name + " --continue_train"
                                 : base_args(ck, name) + flags;  // stopped before anything was saved
    const auto rest = test::run_p2p(args);
    ASSERT_EQ(rest.exit_code, 0) << rest.output << test::read_file(log);
    SCOPED_TRACE(test::read_file(log));
    expect_same_checkpoint(ck + "/full/latest.pt", ck + "/" + name + "/latest.pt");
  }
  EXPECT_GT(resumed, 0) << "no signal came after a checkpoint: the case tested no resume";
}

// Data parallelism: each rank's pool and RNG state travel in the checkpoint, so a two-rank job stopped
// and resumed by two ranks ends bit for bit as the job that never stopped.
TEST(FaultsResume, DataParallelJobResumesExactlySlow) {
  P2P_SLOW_CASE();
  if (!distributed_available()) GTEST_SKIP() << "built without Gloo";
  // 4 training pairs over 2 ranks x batch 1: 2 steps per epoch.
  const std::string ck = test::scratch_dir("resume_dp");
  const std::string launch = "launch --nproc 2 -- ";
  const std::string flags = " --pool_size 2 --gan_mode wgangp";
  const auto full = test::run_p2p(launch + base_args(ck, "full") + flags);
  ASSERT_EQ(full.exit_code, 0) << full.output;
  for (const int64_t stop : {2, 3}) {  // at the end of epoch 1; in the middle of epoch 2
    const std::string name = "stopped" + std::to_string(stop);
    auto r = test::run_p2p(launch + base_args(ck, name) + flags + " --max_iters " + std::to_string(stop));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    r = test::run_p2p(launch + "train --checkpoints_dir '" + ck + "' --name " + name + " --continue_train --max_iters 0");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    SCOPED_TRACE("stopped at iteration " + std::to_string(stop));
    const std::map<std::string, int> sections = expect_same_checkpoint(ck + "/full/latest.pt", ck + "/" + name + "/latest.pt");
    EXPECT_GE(sections.count("trainer"), 1u);
  }
  // Both ranks' pools and RNG states are in the file.
  int pools = 0, rngs = 0;
  for (const auto& [name, t] : read_state_dict(ck + "/full/latest.pt")) {
    pools += name == "trainer.pool.0.count" || name == "trainer.pool.1.count";
    rngs += name == "trainer.rng.0" || name == "trainer.rng.1";
  }
  EXPECT_EQ(pools, 2);
  EXPECT_EQ(rngs, 2);
}

}  // namespace
}  // namespace p2p
