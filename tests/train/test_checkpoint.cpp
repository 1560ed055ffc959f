// Tests for io/checkpoint (here because it needs networks and optimizers): full-state round trip,
// identical continuation after reload, and clear errors for wrong architectures and damaged files.
#include "p2p/core/error.h"
#include "p2p/core/runtime.h"
#include "p2p/io/checkpoint.h"
#include "p2p/train/model.h"
#include "testutil/testutil.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace p2p {
namespace {

NetConfig tiny_net() {
  NetConfig n;
  n.netG = "unet_32";
  n.ngf = 8;
  n.ndf = 8;
  return n;
}

Batch batch(uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  Batch b;
  b.A = at::rand({1, 3, 32, 32}, gen) * 2 - 1;
  b.B = at::rand({1, 3, 32, 32}, gen) * 2 - 1;
  b.stems = {"x"};
  return b;
}

TrainingState state_of(Pix2PixModel& m) {
  return {&m.generator(), m.discriminator(), &m.optimizer_G(), m.optimizer_D()};
}

TEST(Checkpoint, ReloadedModelContinuesIdentically) {
  const std::string dir = test::scratch_dir("ckpt");
  const std::string path = dir + "/latest.pt";
  seed_everything(1, false);
  Pix2PixModel a(tiny_net(), TrainConfig(), c10::Device(c10::kCPU));
  a.optimize(batch(1));
  a.optimize(batch(2));
  CheckpointMeta meta;
  meta.epoch = 3;
  meta.epoch_iter = 2;
  meta.total_iters = 2;
  meta.best_val_l1 = 0.25;
  meta.config_json = R"({"net":{"netG":"unet_32"}})";
  save_checkpoint(path, state_of(a), meta);
  ASSERT_TRUE(std::filesystem::exists(path));
  for (auto& e : std::filesystem::directory_iterator(dir)) {
    EXPECT_EQ(e.path().filename().string(), "latest.pt") << "temp file left behind: " << e.path();
  }
  // Continue the original after saving...
  StepLosses la = a.optimize(batch(3));

  seed_everything(99, false);  // different init and RNG: everything must come from the file
  Pix2PixModel b(tiny_net(), TrainConfig(), c10::Device(c10::kCPU));
  CheckpointMeta m = load_checkpoint(path, state_of(b), /*restore_rng=*/true);
  EXPECT_EQ(m.epoch, 3);
  EXPECT_EQ(m.epoch_iter, 2);
  EXPECT_EQ(m.total_iters, 2);
  EXPECT_DOUBLE_EQ(m.best_val_l1, 0.25);
  EXPECT_EQ(m.config_json, meta.config_json);
  EXPECT_EQ(read_checkpoint_meta(path).epoch, 3);
  EXPECT_TRUE(is_p2p_checkpoint(path));
  // ...and the reloaded copy must take exactly the same step (weights, Adam moments, RNG for dropout).
  StepLosses lb = b.optimize(batch(3));
  EXPECT_DOUBLE_EQ(la.G_total, lb.G_total);
  auto pa = a.generator().parameters(), pb = b.generator().parameters();
  for (size_t i = 0; i < pa.size(); ++i) ASSERT_TRUE(at::equal(pa[i], pb[i])) << "G parameter " << i;
  auto da = a.discriminator()->parameters(), db = b.discriminator()->parameters();
  for (size_t i = 0; i < da.size(); ++i) ASSERT_TRUE(at::equal(da[i], db[i])) << "D parameter " << i;
}

TEST(Checkpoint, OtherArchitectureNamesTheTensor) {
  const std::string path = test::scratch_dir("ckpt_arch") + "/latest.pt";
  Pix2PixModel a(tiny_net(), TrainConfig(), c10::Device(c10::kCPU));
  save_checkpoint(path, state_of(a), CheckpointMeta());
  NetConfig wider = tiny_net();
  wider.ngf = 16;
  Pix2PixModel b(wider, TrainConfig(), c10::Device(c10::kCPU));
  try {
    load_checkpoint(path, state_of(b), false);
    FAIL() << "expected p2p::Error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_NE(msg.find("model.model.0.weight"), std::string::npos) << msg;
  }
}

TEST(Checkpoint, TruncatedFileNamesTheFile) {
  const std::string dir = test::scratch_dir("ckpt_trunc");
  const std::string path = dir + "/latest.pt";
  Pix2PixModel a(tiny_net(), TrainConfig(), c10::Device(c10::kCPU));
  save_checkpoint(path, state_of(a), CheckpointMeta());
  const std::string bytes = test::read_file(path);
  const std::string cut = dir + "/cut.pt";
  std::ofstream(cut, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  Pix2PixModel b(tiny_net(), TrainConfig(), c10::Device(c10::kCPU));
  try {
    load_checkpoint(cut, state_of(b), false);
    FAIL() << "expected p2p::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(cut), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace p2p
