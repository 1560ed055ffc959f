// Tests for io/checkpoint (here because it needs networks and optimizers): full-state round trip,
// identical continuation after reload, clear errors for wrong architectures and damaged files, no
// non-finite state ever written nor loaded, per-entry checksums that catch altered data, and no resume
// from a checkpoint missing a section.
#include "p2p/core/error.h"
#include "p2p/core/runtime.h"
#include "p2p/io/checkpoint.h"
#include "p2p/io/integrity.h"
#include "p2p/io/state_dict.h"
#include "p2p/train/model.h"
#include "testutil/testutil.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cstring>
#include <filesystem>
#include <limits>
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
  return TrainingState::pix2pix(&m.generator(), m.discriminator(), &m.optimizer_G(), m.optimizer_D());
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
  meta.best_metric = "val_psnr";
  meta.best_value = 21.5;
  meta.best_epoch = 2;
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
  EXPECT_EQ(m.best_metric, "val_psnr");
  EXPECT_DOUBLE_EQ(m.best_value, 21.5);
  EXPECT_EQ(m.best_epoch, 2);
  EXPECT_EQ(m.config_json, meta.config_json);
  EXPECT_EQ(read_checkpoint_meta(path).epoch, 3);
  EXPECT_TRUE(is_p2p_checkpoint(path));
  // ...and the reloaded copy must take exactly the same step (weights, Adam moments, RNG for dropout).
  StepLosses lb = b.optimize(batch(3));
  EXPECT_DOUBLE_EQ(la["G_total"], lb["G_total"]);
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

TEST(Checkpoint, NonFiniteStateIsNeverWritten) {
  const std::string dir = test::scratch_dir("ckpt_nonfinite");
  const std::string path = dir + "/latest.pt";
  Pix2PixModel a(tiny_net(), TrainConfig(), c10::Device(c10::kCPU));
  a.optimize(batch(1));
  save_checkpoint(path, state_of(a), CheckpointMeta());
  const std::string good = test::read_file(path);
  EXPECT_TRUE(non_finite_entries(state_of(a)).empty());

  // A BatchNorm running variance overflowed (what --lr 1e6 did): refused, naming the buffer.
  at::Tensor var;
  for (const auto& b : a.generator().named_buffers()) {
    if (b.key().find("running_var") != std::string::npos) {
      var = b.value();
      break;
    }
  }
  ASSERT_TRUE(var.defined());
  var[0].fill_(std::numeric_limits<float>::infinity());
  EXPECT_EQ(non_finite_entries(state_of(a)).size(), 1u);
  try {
    save_checkpoint(path, state_of(a), CheckpointMeta());
    FAIL() << "expected NonFiniteState";
  } catch (const NonFiniteState& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_NE(msg.find("running_var"), std::string::npos) << msg;
  }
  EXPECT_EQ(test::read_file(path), good);  // the previous checkpoint is untouched
  var[0].fill_(1.0f);

  // An Adam moment that overflowed (a huge --lambda_L1): refused too.
  auto& state = a.optimizer_G().state();
  ASSERT_FALSE(state.empty());
  static_cast<torch::optim::AdamParamState&>(*state.begin()->second).exp_avg_sq().fill_(NAN);
  const std::vector<std::string> bad = non_finite_entries(state_of(a));
  ASSERT_EQ(bad.size(), 1u);
  EXPECT_EQ(bad[0].rfind("opt_G.", 0), 0u) << bad[0];
  EXPECT_THROW(save_checkpoint(path, state_of(a), CheckpointMeta()), NonFiniteState);
  EXPECT_EQ(test::read_file(path), good);
}

TEST(Checkpoint, ResumeRefusesACheckpointMissingASection) {
  const std::string dir = test::scratch_dir("ckpt_sections");
  const std::string path = dir + "/latest.pt";
  Pix2PixModel a(tiny_net(), TrainConfig(), c10::Device(c10::kCPU));
  a.optimize(batch(1));
  CheckpointMeta meta;
  meta.total_iters = 1;
  save_checkpoint(path, state_of(a), meta);
  const StateDict all = read_state_dict(path);
  auto without = [&](const std::string& prefix, const std::string& name) {
    StateDict kept;
    for (const auto& e : all) {
      if (e.first.rfind(prefix, 0) != 0) kept.push_back(e);
    }
    write_state_dict(dir + "/" + name, kept);
    return dir + "/" + name;
  };
  Pix2PixModel b(tiny_net(), TrainConfig(), c10::Device(c10::kCPU));
  for (const auto& [prefix, needle] : {std::pair<std::string, std::string>{"opt_G.", "opt_G."},
                                       {"opt_D.", "opt_D."},
                                       {"rng.cpu", "rng.cpu"}}) {
    const std::string file = without(prefix, "no_" + prefix + "pt");
    const std::string msg = test::error_of([&] { load_checkpoint(file, state_of(b), /*resume=*/true); });
    EXPECT_NE(msg.find(file), std::string::npos) << prefix << ": " << msg;
    EXPECT_NE(msg.find(needle), std::string::npos) << prefix << ": " << msg;
    // For inference (no resume) only the networks matter.
    EXPECT_NO_THROW(load_checkpoint(file, TrainingState::pix2pix(&b.generator()), /*resume=*/false));
  }
  EXPECT_NO_THROW(load_checkpoint(path, state_of(b), /*resume=*/true));
}

nlohmann::json meta_json(const StateDict& all) {
  for (const auto& [name, t] : all) {
    if (name == "meta") return nlohmann::json::parse(std::string(static_cast<const char*>(t.data_ptr()), t.numel()));
  }
  return nullptr;
}

at::Tensor bytes_of(const std::string& s) {
  at::Tensor t = at::empty({static_cast<int64_t>(s.size())}, at::kByte);
  std::memcpy(t.data_ptr(), s.data(), s.size());
  return t;
}

TEST(Checkpoint, EveryEntryCarriesAChecksumThatIsVerified) {
  const std::string dir = test::scratch_dir("ckpt_checksum");
  const std::string path = dir + "/latest.pt";
  Pix2PixModel a(tiny_net(), TrainConfig(), c10::Device(c10::kCPU));
  a.optimize(batch(1));
  save_checkpoint(path, state_of(a), CheckpointMeta());
  const StateDict all = read_state_dict(path);
  const nlohmann::json sums = meta_json(all).at("data_crc32c");
  ASSERT_EQ(sums.size(), all.size() - 1);  // every entry but meta itself
  for (const auto& [name, t] : all) {
    if (name == "meta") continue;
    const at::Tensor c = t.contiguous();
    EXPECT_EQ(sums.at(name), checksum_hex(crc32c(0, c.data_ptr(), c.nbytes()))) << name;
  }

  // One value altered and the file rewritten, so every zip CRC-32 is valid again: the entry is named.
  StateDict altered = all;
  std::string victim;
  for (auto& [name, t] : altered) {
    if (victim.empty() && name.rfind("D.", 0) == 0 && at::isFloatingType(t.scalar_type())) {
      t = t.clone();
      t.view(-1)[0] += 1e-3;
      victim = name;
    }
  }
  const std::string bad = dir + "/altered.pt";
  write_state_dict(bad, altered);
  Pix2PixModel b(tiny_net(), TrainConfig(), c10::Device(c10::kCPU));
  std::string msg = test::error_of([&] { load_checkpoint(bad, state_of(b), /*resume=*/true); });
  EXPECT_NE(msg.find("checkpoint " + bad + ": entry " + victim + " does not match the checksum"), std::string::npos)
      << msg;
  msg = test::error_of([&] { read_checkpoint_meta(bad); });
  EXPECT_NE(msg.find(victim), std::string::npos) << msg;

  // Entries removed (optimizer state stripped for inference) leave the rest verifiable.
  StateDict stripped;
  for (const auto& e : all) {
    if (e.first.rfind("G.", 0) == 0 || e.first == "meta") stripped.push_back(e);
  }
  write_state_dict(dir + "/stripped.pt", stripped);
  EXPECT_NO_THROW(load_checkpoint(dir + "/stripped.pt", TrainingState::pix2pix(&b.generator()), false));
}

TEST(Checkpoint, NonFiniteCheckpointIsRefusedAndNothingLoaded) {
  // A latest.pt holding NaN with valid CRCs and checksums (written by another tool, or before the
  // save-time check existed) is refused for resume and inference alike, naming the tensor.
  const std::string dir = test::scratch_dir("ckpt_nan_load");
  const std::string path = dir + "/latest.pt";
  Pix2PixModel a(tiny_net(), TrainConfig(), c10::Device(c10::kCPU));
  a.optimize(batch(1));
  save_checkpoint(path, state_of(a), CheckpointMeta());
  StateDict all = read_state_dict(path);
  nlohmann::json meta = meta_json(all);
  for (auto& [name, t] : all) {
    if (name.find("exp_avg_sq") != std::string::npos) {  // an optimizer moment: only a resume reads it
      t = t.clone().fill_(std::numeric_limits<float>::quiet_NaN());
      meta["data_crc32c"][name] = checksum_hex(tensor_crc32c(t));
      break;
    }
  }
  for (auto& [name, t] : all) {
    if (name == "meta") t = bytes_of(meta.dump());
  }
  write_state_dict(path, all);
  Pix2PixModel b(tiny_net(), TrainConfig(), c10::Device(c10::kCPU));
  const at::Tensor before = b.generator().parameters()[0].clone();
  const std::string msg = test::error_of([&] { load_checkpoint(path, state_of(b), /*resume=*/true); });
  EXPECT_NE(msg.find("checkpoint " + path + ": 1 of "), std::string::npos) << msg;
  EXPECT_NE(msg.find("exp_avg_sq ("), std::string::npos) << msg;
  EXPECT_NE(msg.find("NaN"), std::string::npos) << msg;
  EXPECT_NE(msg.find("resume from an earlier checkpoint (--epoch best or --epoch N)"), std::string::npos) << msg;
  EXPECT_TRUE(at::equal(b.generator().parameters()[0], before));  // refused before anything was copied
}

}  // namespace
}  // namespace p2p
