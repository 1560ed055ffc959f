// Tests for train/run_folder: checkpoint names, the listing a missing --epoch prints, reference run
// folders found by name, the run's saved config, and --name checks.
#include "p2p/core/error.h"
#include "p2p/io/run_folder.h"
#include "testutil/testutil.h"

#include <gtest/gtest.h>

#include <fstream>

namespace p2p {
namespace {

TEST(RunFolder, CheckpointPathNamesLatestBestAndEpochs) {
  EXPECT_EQ(checkpoint_path("run", "latest"), "run/latest.pt");
  EXPECT_EQ(checkpoint_path("run", "best"), "run/best.pt");
  EXPECT_EQ(checkpoint_path("run", "12"), "run/epoch_12.pt");
  for (const char* bad : {"newest", "12a", "-3", ""}) {
    EXPECT_NE(test::error_of([&] { checkpoint_path("run", bad); }).find("--epoch"), std::string::npos) << bad;
  }
}

TEST(RunFolder, MissingEpochListsWhatExists) {
  const std::string dir = test::scratch_dir("run_folder_list");
  for (const char* f : {"latest.pt", "best.pt", "epoch_10.pt", "epoch_5.pt", "history.jsonl"}) std::ofstream(dir + "/" + f) << "x";
  EXPECT_EQ(describe_checkpoints(dir), "latest.pt, best.pt, epoch_5.pt, epoch_10.pt");
  const std::string msg = test::error_of([&] { existing_checkpoint(dir, "7", false); });
  EXPECT_NE(msg.find("--epoch 7"), std::string::npos) << msg;
  EXPECT_NE(msg.find("no epoch_7.pt"), std::string::npos) << msg;
  EXPECT_NE(msg.find("it holds latest.pt, best.pt, epoch_5.pt, epoch_10.pt"), std::string::npos) << msg;
  EXPECT_EQ(existing_checkpoint(dir, "5", false), dir + "/epoch_5.pt");
  EXPECT_NE(test::error_of([&] { existing_checkpoint(dir + "/nope", "latest", false); }).find("does not exist"),
            std::string::npos);
  EXPECT_EQ(describe_checkpoints(test::scratch_dir("run_folder_empty")), "no checkpoints");
}

TEST(RunFolder, ReferenceRunFolderIsFoundByName) {
  // The reference saves <epoch>_net_G.pth; inference accepts it where no pix2pix.cpp checkpoint exists.
  const std::string dir = test::scratch_dir("run_folder_ref");
  std::ofstream(dir + "/latest_net_G.pth") << "x";
  std::ofstream(dir + "/20_net_G.pth") << "x";
  EXPECT_EQ(existing_checkpoint(dir, "latest", true), dir + "/latest_net_G.pth");
  EXPECT_EQ(existing_checkpoint(dir, "20", true), dir + "/20_net_G.pth");
  const std::string msg = test::error_of([&] { existing_checkpoint(dir, "30", true); });
  EXPECT_NE(msg.find("30_net_G.pth"), std::string::npos) << msg;
  EXPECT_NE(msg.find("20_net_G.pth"), std::string::npos) << msg;  // listed as existing
  EXPECT_NE(test::error_of([&] { existing_checkpoint(dir, "latest", false); }), "");  // training needs ours
}

TEST(RunFolder, ReadsTheRunConfig) {
  const std::string dir = test::scratch_dir("run_folder_config");
  EXPECT_TRUE(read_run_config(dir).is_null());
  std::ofstream(dir + "/config.json") << R"({"net": {"netG": "unet_128"}})";
  EXPECT_EQ(read_run_config(dir)["net"]["netG"], "unet_128");
  std::ofstream(dir + "/config.json") << "{broken";
  EXPECT_NE(test::error_of([&] { read_run_config(dir); }).find("config.json"), std::string::npos);
}

TEST(RunFolder, NameIsOneFolder) {
  for (const char* bad : {"", ".", "..", "../x", "a/b", "x/..", "a..b", "/abs"}) {
    EXPECT_NE(test::error_of([&] { check_run_name(bad); }).find("--name"), std::string::npos) << bad;
  }
  EXPECT_EQ(test::error_of([&] { check_run_name("facades_v2.1"); }), "");
}

}  // namespace
}  // namespace p2p
