// Tests for core/config_json: option structs round-trip through JSON (config.json, checkpoints), and a
// resumed run's options merge by what each option means for the run (identity refused, schedule and
// logging overridden with a note, per-invocation options never taken from the saved run).
#include "p2p/core/config_json.h"
#include "p2p/core/error.h"

#include <gtest/gtest.h>

namespace p2p {
namespace {

TEST(ConfigJson, RoundTripKeepsEveryField) {
  NetConfig n;
  n.netG = "resnet_6blocks";
  n.ngf = 8;
  n.norm = "instance";
  n.no_dropout = true;
  n.input_nc = 1;
  NetConfig back;
  update_from_json(back, to_json(n), "test");
  EXPECT_EQ(back.netG, "resnet_6blocks");
  EXPECT_EQ(back.ngf, 8);
  EXPECT_EQ(back.norm, "instance");
  EXPECT_TRUE(back.no_dropout);
  EXPECT_EQ(back.input_nc, 1);

  DataConfig d;
  d.direction = "BtoA";
  d.crop_size = 64;
  d.pair_replace = "_s1_:_s2_";
  DataConfig dback;
  update_from_json(dback, to_json(d), "test");
  EXPECT_EQ(dback.direction, "BtoA");
  EXPECT_EQ(dback.crop_size, 64);
  EXPECT_EQ(dback.pair_replace, "_s1_:_s2_");
}

TEST(ConfigJson, WrongTypeNamesSourceAndField) {
  NetConfig n;
  try {
    update_from_json(n, nlohmann::json{{"ngf", "wide"}}, "run/config.json");
    FAIL() << "expected p2p::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("run/config.json"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("ngf"), std::string::npos);
  }
}

TEST(ConfigJson, TrainConfigRoundTrips) {
  TrainConfig t;
  t.lr = 1e-3;
  t.best_metric = "val_psnr";
  t.seed = 12345678901ull;
  t.lr_policy = "cosine";
  TrainConfig back;
  update_from_json(back, to_json(t), "test");
  EXPECT_EQ(to_json(back), to_json(t));
}

nlohmann::json defaults() {
  return {{"net", to_json(NetConfig())}, {"data", to_json(DataConfig())}, {"train", to_json(TrainConfig())}};
}

// A saved run: unet_128, lr 1e-4, dataroot /data/a, trained with --max_iters 10 and --epoch_count 3.
nlohmann::json saved_run() {
  nlohmann::json s = defaults();
  s["net"]["netG"] = "unet_128";
  s["train"]["lr"] = 1e-4;
  s["train"]["max_iters"] = 10;
  s["train"]["epoch_count"] = 3;
  s["data"]["dataroot"] = "/data/a";
  return s;
}

TEST(ResumeMerge, SavedOptionsAreTheDefaults) {
  const ResumeMerge m = merge_for_resume(saved_run(), nlohmann::json::object(), defaults(), "run");
  EXPECT_EQ(m.config["net"]["netG"], "unet_128");
  EXPECT_EQ(m.config["train"]["lr"], 1e-4);
  EXPECT_EQ(m.config["data"]["dataroot"], "/data/a");
  // Options of the invocation that saved the run do not carry over: it would stop at once again.
  EXPECT_EQ(m.config["train"]["max_iters"], 0);
  EXPECT_EQ(m.config["train"]["epoch_count"], 1);
  EXPECT_TRUE(m.notes.empty());
  EXPECT_TRUE(m.changes.empty());
}

TEST(ResumeMerge, ScheduleAndDataLocationOverrideWithANote) {
  nlohmann::json typed = {{"train", {{"lr", 5e-5}, {"n_epochs", 300}, {"max_iters", 7}}},
                          {"data", {{"dataroot", "/data/moved"}}},
                          {"net", {{"netG", "unet_128"}}}};  // same as the run: no note
  const ResumeMerge m = merge_for_resume(saved_run(), typed, defaults(), "run");
  EXPECT_EQ(m.config["train"]["lr"], 5e-5);
  EXPECT_EQ(m.config["train"]["n_epochs"], 300);
  EXPECT_EQ(m.config["train"]["max_iters"], 7);
  EXPECT_EQ(m.config["data"]["dataroot"], "/data/moved");
  ASSERT_EQ(m.notes.size(), 3u);
  EXPECT_EQ(m.changes["lr"], nlohmann::json({1e-4, 5e-5}));
  EXPECT_EQ(m.changes["dataroot"], nlohmann::json({"/data/a", "/data/moved"}));
  EXPECT_FALSE(m.changes.contains("max_iters"));  // per-run: not a change of the run
  EXPECT_FALSE(m.changes.contains("netG"));
}

TEST(ResumeMerge, ArchitectureDataAndObjectiveChangesAreRefusedNamingEach) {
  nlohmann::json typed = {{"net", {{"netG", "unet_256"}, {"ngf", 32}}},
                          {"data", {{"direction", "BtoA"}, {"crop_size", 128}}},
                          {"train", {{"lambda_L1", 10.0}, {"lr", 1e-3}}}};
  try {
    merge_for_resume(saved_run(), typed, defaults(), "checkpoints/run");
    FAIL() << "expected p2p::Error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("checkpoints/run"), std::string::npos) << msg;
    EXPECT_NE(msg.find("--netG unet_256 (the run has unet_128)"), std::string::npos) << msg;
    EXPECT_NE(msg.find("--ngf 32 (the run has 64)"), std::string::npos) << msg;
    EXPECT_NE(msg.find("--direction BtoA (the run has AtoB)"), std::string::npos) << msg;
    EXPECT_NE(msg.find("--crop_size 128 (the run has 256)"), std::string::npos) << msg;
    EXPECT_NE(msg.find("--lambda_L1 10.0 (the run has 100.0)"), std::string::npos) << msg;
    EXPECT_EQ(msg.find("--lr "), std::string::npos) << msg;  // an override, not a conflict
  }
}

TEST(ResumeMerge, RulesByMeaning) {
  EXPECT_EQ(resume_rule("net", "norm"), ResumeRule::identity);
  EXPECT_EQ(resume_rule("data", "load_size"), ResumeRule::identity);
  EXPECT_EQ(resume_rule("data", "val_fraction"), ResumeRule::identity);
  EXPECT_EQ(resume_rule("train", "seed"), ResumeRule::identity);
  EXPECT_EQ(resume_rule("train", "best_metric"), ResumeRule::identity);
  EXPECT_EQ(resume_rule("data", "num_threads"), ResumeRule::override_with_note);
  EXPECT_EQ(resume_rule("train", "n_epochs_decay"), ResumeRule::override_with_note);
  EXPECT_EQ(resume_rule("train", "print_freq"), ResumeRule::override_with_note);
  EXPECT_EQ(resume_rule("train", "epoch"), ResumeRule::per_run);
  EXPECT_EQ(resume_rule("train", "checkpoints_dir"), ResumeRule::per_run);
}

}  // namespace
}  // namespace p2p
