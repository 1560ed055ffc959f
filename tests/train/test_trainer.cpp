// Tests for train/trainer on a tiny synthetic dataset: run-folder contents, history, and that an
// interrupted-then-resumed deterministic run ends with exactly the weights of an uninterrupted one.
#include "p2p/core/error.h"
#include "p2p/core/runtime.h"
#include "p2p/io/checkpoint.h"
#include "p2p/io/fs.h"
#include "p2p/io/image.h"
#include "p2p/io/state_dict.h"
#include "p2p/io/run_folder.h"
#include "p2p/train/trainer.h"
#include "testutil/testutil.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

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
  s.train.epoch_count = 5;       // the reference's --epoch_count: the fixed schedule resumes at epoch 5
  s.train.n_epochs = 4;
  s.train.n_epochs_decay = 2;
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
  EXPECT_EQ(second["epoch"], 6);  // ... and ends where the schedule ends (4 + 2), not 2 epochs later
  // The learning rates of epochs 5 and 6 of a 4 + 2 schedule: 1 - (e - 4) / 3.
  EXPECT_NEAR(first["lr_D"].get<double>(), 1e-3 * 2 / 3, 1e-15);
  EXPECT_NEAR(second["lr_D"].get<double>(), 1e-3 / 3, 1e-15);  // decays with the same factor as G
  EXPECT_NEAR(second["lr_G"].get<double>(), 2e-4 / 3, 1e-15);
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

TEST(Trainer, EpochCountPastTheScheduleIsRefused) {
  const std::string root = make_dataset("epoch_count_ds", 4);
  RunSetup s = tiny(root, test::scratch_dir("epoch_count_ckpt"));
  s.train.epoch_count = 4;  // the schedule has 2 + 1 epochs
  std::ostringstream log;
  const std::string msg = test::error_of([&] { train(s.net, s.data, s.train, c10::Device(c10::kCPU), {}, log); });
  EXPECT_NE(msg.find("--epoch_count 4"), std::string::npos) << msg;
  EXPECT_NE(msg.find("1..3"), std::string::npos) << msg;
}

// history.jsonl as JSON objects, without the baseline line.
std::vector<nlohmann::json> epochs_of(const std::string& run_dir) {
  std::vector<nlohmann::json> out;
  for (const std::string& l : lines(run_dir + "/history.jsonl")) {
    auto j = nlohmann::json::parse(l);
    if (!j.value("baseline", false)) out.push_back(j);
  }
  return out;
}

void expect_same_generator(const std::string& a, const std::string& b) {
  StateDict da = read_state_dict(a), db = read_state_dict(b);
  ASSERT_EQ(da.size(), db.size());
  int compared = 0;
  for (size_t i = 0; i < da.size(); ++i) {
    if (da[i].first.rfind("G.", 0) != 0) continue;
    EXPECT_TRUE(at::equal(da[i].second, db[i].second)) << da[i].first;
    ++compared;
  }
  EXPECT_GT(compared, 10);
}

TEST(Trainer, BestCheckpointHoldsTheBestEpochByTheChosenMetric) {
  const std::string root = make_dataset("best_ds", 12);
  for (const std::string metric : {"val_l1", "val_psnr"}) {
    SCOPED_TRACE(metric);
    RunSetup s = tiny(root, test::scratch_dir("best_ckpt_" + metric));
    s.train.n_epochs = 3;
    s.train.n_epochs_decay = 2;
    s.train.save_epoch_freq = 1;
    s.train.lr = 2e-3;  // enough movement that the epochs differ
    s.train.best_metric = metric;
    std::ostringstream log;
    TrainResult r = train(s.net, s.data, s.train, c10::Device(c10::kCPU), {}, log);
    const bool higher = metric == "val_psnr";
    const char* key = higher ? "psnr" : "l1";
    int64_t best_epoch = 0;
    double best = 0;
    for (const auto& e : epochs_of(r.run_dir)) {
      const double v = e["val"][key].get<double>();
      if (best_epoch == 0 || (higher ? v > best : v < best)) best = v, best_epoch = e["epoch"].get<int64_t>();
      EXPECT_EQ(e.value("best", false), e["epoch"].get<int64_t>() == best_epoch && v == best) << e.dump();
    }
    EXPECT_EQ(r.best_epoch, best_epoch);
    const CheckpointMeta m = read_checkpoint_meta(r.run_dir + "/best.pt");
    EXPECT_EQ(m.epoch, best_epoch);
    EXPECT_EQ(m.best_metric, metric);
    EXPECT_DOUBLE_EQ(m.best_value, best);
    expect_same_generator(r.run_dir + "/best.pt", r.run_dir + "/epoch_" + std::to_string(best_epoch) + ".pt");
    EXPECT_NE(log.str().find("new best " + metric), std::string::npos) << log.str();
  }
}

TEST(Trainer, PlateauIsFedTheValidationMetric) {
  const std::string root = make_dataset("plateau_ds", 12);
  RunSetup s = tiny(root, test::scratch_dir("plateau_ckpt"));
  s.train.lr_policy = "plateau";
  s.train.best_metric = "val_psnr";
  s.train.n_epochs = 4;
  s.train.n_epochs_decay = 0;
  s.train.lr = 2e-3;
  std::ostringstream log;
  TrainResult r = train(s.net, s.data, s.train, c10::Device(c10::kCPU), {}, log);
  // Replay ReduceLROnPlateau's bookkeeping (mode max, relative threshold 1%) over the logged metric:
  // the scheduler's state must be what that metric, and no other number, leads to.
  double best = -1e300;
  for (const auto& e : epochs_of(r.run_dir)) {
    const double v = e["val"]["psnr"].get<double>();
    if (v > best * (best >= 0 ? 1.01 : 0.99)) best = v;
  }
  const CheckpointMeta m = read_checkpoint_meta(r.run_dir + "/latest.pt");
  EXPECT_DOUBLE_EQ(nlohmann::json::parse(m.scheduler_json)["best"].get<double>(), best);
  // Without validation pairs the policy has nothing to go by: refused up front.
  RunSetup none = tiny(root, test::scratch_dir("plateau_none_ckpt"));
  none.train.lr_policy = "plateau";
  none.data.val_fraction = 0;
  EXPECT_NE(test::error_of([&] { train(none.net, none.data, none.train, c10::Device(c10::kCPU), {}, log); })
                .find("--lr_policy plateau"),
            std::string::npos);
}

TEST(Trainer, ResumingAFinishedRunChangesNothing) {
  const std::string root = make_dataset("finished_ds", 8);
  RunSetup s = tiny(root, test::scratch_dir("finished_ckpt"));
  std::ostringstream log;
  TrainResult r = train(s.net, s.data, s.train, c10::Device(c10::kCPU), {}, log);
  const std::string latest = test::read_file(r.run_dir + "/latest.pt");
  const std::string history = test::read_file(r.run_dir + "/history.jsonl");
  s.train.continue_train = true;
  std::ostringstream again;
  TrainResult r2 = train(s.net, s.data, s.train, c10::Device(c10::kCPU), {}, again);
  EXPECT_TRUE(r2.already_finished);
  EXPECT_EQ(r2.last_epoch, 3);
  EXPECT_EQ(test::read_file(r.run_dir + "/latest.pt"), latest);  // bit-identical
  EXPECT_EQ(test::read_file(r.run_dir + "/history.jsonl"), history);
  EXPECT_NE(again.str().find("has finished"), std::string::npos) << again.str();
  EXPECT_NE(again.str().find("--n_epochs_decay"), std::string::npos) << again.str();  // how to extend it
  // Extending it trains the new epochs.
  s.train.n_epochs_decay = 2;
  TrainResult r3 = train(s.net, s.data, s.train, c10::Device(c10::kCPU), {}, again);
  EXPECT_FALSE(r3.already_finished);
  EXPECT_EQ(r3.last_epoch, 4);
}

TEST(Trainer, OneTrainerPerRunFolder) {
  const std::string root = make_dataset("lock_ds", 6);
  const std::string ck = test::scratch_dir("lock_ckpt");
  RunSetup s = tiny(root, ck);
  std::ostringstream log;
  {
    FolderLock held(ck + "/run", "test");
    const std::string msg = test::error_of([&] { train(s.net, s.data, s.train, c10::Device(c10::kCPU), {}, log); });
    EXPECT_NE(msg.find("in use"), std::string::npos) << msg;
    EXPECT_NE(msg.find("PID " + std::to_string(::getpid())), std::string::npos) << msg;
    EXPECT_FALSE(std::filesystem::exists(ck + "/run/latest.pt"));
  }
  // Released (as when the holder exits or is killed): the .lock file left behind is no obstacle.
  EXPECT_TRUE(std::filesystem::exists(ck + "/run/.lock"));
  EXPECT_FALSE(train(s.net, s.data, s.train, c10::Device(c10::kCPU), {}, log).interrupted);
}

TEST(Trainer, ResumeCleansStaleTempFilesAndRepairsBest) {
  const std::string root = make_dataset("repair_ds", 8);
  RunSetup s = tiny(root, test::scratch_dir("repair_ckpt"));
  s.train.n_epochs = 1;
  s.train.n_epochs_decay = 0;
  std::ostringstream log;
  TrainResult r = train(s.net, s.data, s.train, c10::Device(c10::kCPU), {}, log);
  ASSERT_EQ(read_checkpoint_meta(r.run_dir + "/latest.pt").best_epoch, 1);
  // A kill between the writes of latest.pt and best.pt, and a write killed halfway.
  std::filesystem::remove(r.run_dir + "/best.pt");
  const std::string stale = r.run_dir + "/latest.pt.tmp.2147483000.3";
  const std::string live = r.run_dir + "/latest.pt.tmp." + std::to_string(::getppid()) + ".0";  // a running writer
  std::ofstream(stale) << "half a checkpoint";
  std::ofstream(live) << "being written";
  s.train.continue_train = true;
  std::ostringstream again;
  TrainResult r2 = train(s.net, s.data, s.train, c10::Device(c10::kCPU), {}, again);
  EXPECT_TRUE(r2.already_finished);
  EXPECT_FALSE(std::filesystem::exists(stale));
  EXPECT_TRUE(std::filesystem::exists(live));
  EXPECT_NE(again.str().find("removed latest.pt.tmp.2147483000.3"), std::string::npos) << again.str();
  ASSERT_TRUE(std::filesystem::exists(r.run_dir + "/best.pt"));
  EXPECT_EQ(read_checkpoint_meta(r.run_dir + "/best.pt").epoch, 1);
  expect_same_generator(r.run_dir + "/best.pt", r.run_dir + "/latest.pt");
  EXPECT_NE(again.str().find("restored best.pt"), std::string::npos) << again.str();
}

TEST(Trainer, NonFiniteStateStopsTheRunAndIsNeverSaved) {
  // --lr 1e6 keeps every loss finite while BatchNorm running variances overflow: the loss guard alone
  // would save Inf statistics (black outputs) and finish with success.
  const std::string root = make_dataset("nonfinite_ds", 12);
  RunSetup s = tiny(root, test::scratch_dir("nonfinite_ckpt"));
  s.train.lr = 1e6;
  s.train.n_epochs = 3;
  std::ostringstream log;
  try {
    train(s.net, s.data, s.train, c10::Device(c10::kCPU), {}, log);
    FAIL() << "expected NonFiniteState\n" << log.str();
  } catch (const NonFiniteState& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("hold NaN/Inf"), std::string::npos) << msg;
    EXPECT_NE(msg.find("running_var"), std::string::npos) << msg;
  }
  const std::string run = s.train.checkpoints_dir + "/run";
  for (const auto& entry : std::filesystem::directory_iterator(run)) {
    if (entry.path().extension() != ".pt") continue;
    for (const auto& [name, t] : read_state_dict(entry.path().string())) {
      if (at::isFloatingType(t.scalar_type())) {
        EXPECT_TRUE(at::isfinite(t).all().item<bool>()) << entry.path() << " " << name;
      }
    }
  }
  for (const auto& e : epochs_of(run)) EXPECT_FALSE(e.value("best", false)) << e.dump();
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
