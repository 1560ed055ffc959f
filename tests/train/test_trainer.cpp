// Tests for train/trainer on a tiny synthetic dataset: run-folder contents, history, and that an
// interrupted-then-resumed deterministic run ends with exactly the weights of an uninterrupted one.
#include "p2p/core/error.h"
#include "p2p/core/runtime.h"
#include "p2p/io/checkpoint.h"
#include "p2p/io/image.h"
#include "p2p/io/state_dict.h"
#include "p2p/train/trainer.h"
#include "testutil/testutil.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace fs = std::filesystem;

namespace p2p {
namespace {

// AB images whose B is a fixed function of A (so there is something to learn).
std::string make_dataset(const std::string& tag, int n) {
  const std::string root = test::scratch_dir(tag);
  fs::create_directories(root + "/train");
  auto gen = at::make_generator<at::CPUGeneratorImpl>(42);
  for (int i = 0; i < n; ++i) {
    at::Tensor a = at::rand({3, 8, 8}, gen);
    a = at::upsample_nearest2d(a.unsqueeze(0), {32, 32}).squeeze(0);
    at::Tensor b = 1.0 - a.flip({0});
    save_png(root + "/train/" + std::to_string(i) + ".png", at::cat({a, b}, 2));
  }
  return root;
}

struct RunSetup {
  NetConfig net;
  DataConfig data;
  TrainConfig train;
};

RunSetup tiny(const std::string& root, const std::string& ckpt_dir) {
  RunSetup s;
  s.net.netG = "unet_32";
  s.net.ngf = 8;
  s.net.ndf = 8;
  s.data.dataroot = root;
  s.data.load_size = 36;
  s.data.crop_size = 32;
  s.data.num_threads = 2;
  s.data.val_fraction = 0.25;
  s.train.checkpoints_dir = ckpt_dir;
  s.train.name = "run";
  s.train.n_epochs = 2;
  s.train.n_epochs_decay = 1;
  s.train.batch_size = 2;
  s.train.save_epoch_freq = 2;
  s.train.num_samples = 1;
  s.train.seed = 5;
  s.train.deterministic = true;
  return s;
}

std::vector<std::string> lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string l; std::getline(in, l);) {
    if (!l.empty()) out.push_back(l);
  }
  return out;
}

TEST(Trainer, WritesRunFolderHistoryAndCheckpoints) {
  const std::string root = make_dataset("trainer_ds", 12);
  RunSetup s = tiny(root, test::scratch_dir("trainer_ckpt"));
  std::ostringstream log;
  TrainResult r = train(s.net, s.data, s.train, c10::Device(c10::kCPU), {{"net", "x"}}, log);
  EXPECT_FALSE(r.interrupted);
  EXPECT_EQ(r.last_epoch, 3);
  EXPECT_EQ(r.total_iters, 3 * 5);  // 9 train pairs (3 of 12 to val), batch 2 -> 5 batches
  const fs::path dir = r.run_dir;
  for (const char* f : {"config.json", "history.jsonl", "latest.pt", "best.pt", "epoch_2.pt"}) {
    EXPECT_TRUE(fs::exists(dir / f)) << f;
  }
  EXPECT_FALSE(fs::exists(dir / "epoch_3.pt"));
  auto hist = lines((dir / "history.jsonl").string());
  ASSERT_EQ(hist.size(), 4u);  // the untrained baseline (epoch 0), then epochs 1..3
  auto baseline = nlohmann::json::parse(hist.front());
  EXPECT_EQ(baseline["epoch"], 0);
  EXPECT_TRUE(baseline["baseline"].get<bool>());
  EXPECT_TRUE(baseline["val"].contains("l1"));
  auto last = nlohmann::json::parse(hist.back());
  EXPECT_EQ(last["epoch"], 3);
  for (const char* k : {"G_total", "G_GAN", "G_L1", "D_real", "D_fake"}) EXPECT_TRUE(last["train"].contains(k)) << k;
  for (const char* k : {"l1", "mae", "psnr", "ssim"}) EXPECT_TRUE(last["val"].contains(k)) << k;
  // lr of the last epoch: linear decay 1 - 1/2 = 0.5 of 2e-4.
  EXPECT_NEAR(last["lr_G"].get<double>(), 1e-4, 1e-12);
  EXPECT_NEAR(nlohmann::json::parse(hist[1])["lr_G"].get<double>(), 2e-4, 1e-12);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir / "samples"), fs::directory_iterator()), 4);
  EXPECT_NE(log.str().find("val L1"), std::string::npos);
  // A second fresh run into the same folder would overwrite it: refused.
  EXPECT_THROW(train(s.net, s.data, s.train, c10::Device(c10::kCPU), {}, log), Error);
}

TEST(Trainer, ResumedRunEndsWithTheSameWeights) {
  const std::string root = make_dataset("resume_ds", 10);
  const std::string ck = test::scratch_dir("resume_ckpt");
  std::ostringstream log;
  RunSetup full = tiny(root, ck);
  full.train.name = "full";
  TrainResult rf = train(full.net, full.data, full.train, c10::Device(c10::kCPU), {}, log);
  ASSERT_FALSE(rf.interrupted);

  RunSetup part = tiny(root, ck);
  part.train.name = "part";
  part.train.max_iters = 6;  // stops mid-epoch 2 (4 batches per epoch)
  TrainResult r1 = train(part.net, part.data, part.train, c10::Device(c10::kCPU), {}, log);
  ASSERT_TRUE(r1.interrupted);
  EXPECT_EQ(r1.total_iters, 6);
  part.train.max_iters = 0;
  part.train.continue_train = true;
  TrainResult r2 = train(part.net, part.data, part.train, c10::Device(c10::kCPU), {}, log);
  EXPECT_FALSE(r2.interrupted);
  EXPECT_EQ(r2.total_iters, rf.total_iters);

  StateDict a = read_state_dict(rf.run_dir + "/latest.pt");
  StateDict b = read_state_dict(r2.run_dir + "/latest.pt");
  ASSERT_EQ(a.size(), b.size());
  int compared = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].first, b[i].first);
    if (a[i].first == "meta" || a[i].first.rfind("rng.", 0) == 0) continue;
    EXPECT_TRUE(at::equal(a[i].second, b[i].second)) << a[i].first;
    ++compared;
  }
  EXPECT_GT(compared, 50);
  // History of the resumed run has every epoch once, with the same losses.
  auto ha = lines(rf.run_dir + "/history.jsonl"), hb = lines(r2.run_dir + "/history.jsonl");
  ASSERT_EQ(ha.size(), hb.size());
  for (size_t i = 0; i < ha.size(); ++i) {
    auto ja = nlohmann::json::parse(ha[i]), jb = nlohmann::json::parse(hb[i]);
    EXPECT_EQ(ja["epoch"], jb["epoch"]);
    if (ja.contains("train")) {
      EXPECT_DOUBLE_EQ(ja["train"]["G_L1"].get<double>(), jb["train"]["G_L1"].get<double>());
    }
    EXPECT_DOUBLE_EQ(ja["val"]["l1"].get<double>(), jb["val"]["l1"].get<double>());
  }
}

TEST(Trainer, ScheduleAndOutputFlagsReachTheRun) {
  const std::string root = make_dataset("flags_ds", 12);
  RunSetup s = tiny(root, test::scratch_dir("flags_ckpt"));
  s.train.epoch_count = 5;       // epochs are numbered from 5
  s.train.n_epochs = 1;
  s.train.n_epochs_decay = 1;
  s.train.lr_D = 1e-3;           // separate D learning rate
  s.train.num_samples = 2;       // triplets per epoch
  s.train.max_val = 2;           // validate on 2 of the 3 val pairs
  s.train.save_epoch_freq = 0;   // no numbered checkpoints
  s.train.print_freq = 2;        // plain progress line every 2 iterations (log is not a terminal)
  std::ostringstream log;
  TrainResult r = train(s.net, s.data, s.train, c10::Device(c10::kCPU), {}, log);
  auto hist = lines(r.run_dir + "/history.jsonl");
  ASSERT_EQ(hist.size(), 3u);
  EXPECT_EQ(nlohmann::json::parse(hist[0])["epoch"], 4);  // baseline before the first epoch (5)
  auto first = nlohmann::json::parse(hist[1]), second = nlohmann::json::parse(hist[2]);
  EXPECT_EQ(first["epoch"], 5);
  EXPECT_EQ(second["epoch"], 6);
  EXPECT_NEAR(first["lr_D"].get<double>(), 1e-3, 1e-15);
  EXPECT_NEAR(second["lr_D"].get<double>(), 0.5e-3, 1e-15);  // decays with the same factor as G
  EXPECT_NEAR(second["lr_G"].get<double>(), 1e-4, 1e-15);
  EXPECT_EQ(std::distance(fs::directory_iterator(r.run_dir + "/samples"), fs::directory_iterator()), 6);
  for (auto& e : fs::directory_iterator(r.run_dir)) {
    EXPECT_EQ(e.path().filename().string().rfind("epoch_", 0), std::string::npos) << e.path();
  }
  // 5 batches per epoch, print_freq 2: lines at 2, 4 and the last (5), per epoch.
  size_t progress_lines = 0;
  for (size_t at = log.str().find("it/s"); at != std::string::npos; at = log.str().find("it/s", at + 1)) ++progress_lines;
  EXPECT_EQ(progress_lines, 6u) << log.str();
}

TEST(Trainer, SaveLatestFreqWritesMidEpochCheckpoints) {
  const std::string root = make_dataset("latest_ds", 12);
  RunSetup s = tiny(root, test::scratch_dir("latest_ckpt"));
  s.train.n_epochs = 1;
  s.train.n_epochs_decay = 0;
  s.train.save_latest_freq = 2;
  s.train.max_iters = 3;  // stop after batch 3 of 5: the last periodic save was at iteration 2...
  std::ostringstream log;
  TrainResult r = train(s.net, s.data, s.train, c10::Device(c10::kCPU), {}, log);
  ASSERT_TRUE(r.interrupted);
  // ...but stopping saves too, so latest is at iteration 3, mid-epoch 1.
  CheckpointMeta m = read_checkpoint_meta(r.run_dir + "/latest.pt");
  EXPECT_EQ(m.epoch, 1);
  EXPECT_EQ(m.epoch_iter, 3);
  EXPECT_EQ(m.total_iters, 3);
  EXPECT_EQ(lines(r.run_dir + "/history.jsonl").size(), 1u);  // only the baseline: no epoch finished
}

TEST(Trainer, CheckpointPathNamesLatestBestAndEpochs) {
  EXPECT_EQ(checkpoint_path("run", "latest"), "run/latest.pt");
  EXPECT_EQ(checkpoint_path("run", "best"), "run/best.pt");
  EXPECT_EQ(checkpoint_path("run", "12"), "run/epoch_12.pt");
  for (const char* bad : {"newest", "12a", "-3", ""}) {
    try {
      checkpoint_path("run", bad);
      FAIL() << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("--epoch"), std::string::npos);
    }
  }
}

TEST(Trainer, MaxValLimitsValidationPairs) {
  const std::string root = make_dataset("maxval_ds", 12);
  RunSetup s = tiny(root, test::scratch_dir("maxval_ckpt"));
  s.train.n_epochs = 1;
  s.train.n_epochs_decay = 0;
  s.train.num_samples = 5;  // more than max_val: samples come from the validated pairs only
  s.train.max_val = 1;
  std::ostringstream log;
  TrainResult r = train(s.net, s.data, s.train, c10::Device(c10::kCPU), {}, log);
  // baseline + epoch 1, one validated pair each -> one sample image each
  EXPECT_EQ(std::distance(fs::directory_iterator(r.run_dir + "/samples"), fs::directory_iterator()), 2);
}

TEST(Trainer, CropSizeNotSuitingTheGeneratorIsRefused) {
  const std::string root = make_dataset("crop_ds", 4);
  RunSetup s = tiny(root, test::scratch_dir("crop_ckpt"));
  s.data.crop_size = 24;
  std::ostringstream log;
  try {
    train(s.net, s.data, s.train, c10::Device(c10::kCPU), {}, log);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--crop_size 24"), std::string::npos) << e.what();
  }
}

TEST(Trainer, NonFiniteLossStopsWithAMessage) {
  const std::string root = make_dataset("nan_ds", 4);
  RunSetup s = tiny(root, test::scratch_dir("nan_ckpt"));
  s.net.norm = "none";
  s.net.init_gain = 1e30;  // activations overflow to inf within a few layers
  std::ostringstream log;
  try {
    train(s.net, s.data, s.train, c10::Device(c10::kCPU), {}, log);
    FAIL() << "expected NonFiniteLoss";
  } catch (const NonFiniteLoss& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("non-finite"), std::string::npos) << msg;
    EXPECT_NE(msg.find("epoch 1"), std::string::npos) << msg;
    EXPECT_NE(msg.find("no checkpoint had been written yet"), std::string::npos) << msg;
  }
}

}  // namespace
}  // namespace p2p
