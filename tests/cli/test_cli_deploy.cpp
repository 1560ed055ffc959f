// End-to-end tests of `p2p export`: a run exported to safetensors translates images exactly as the run
// itself (the file alone carries architecture and input mapping), from a run folder or from a weights
// file with architecture flags; bad requests name the flag or file.
#include "p2p/io/safetensors.h"
#include "testutil/testutil.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace p2p {
namespace {

TEST(CliDeploy, ExportedRunTranslatesLikeTheRun) {
  const std::string root = test::write_ab_dataset(test::scratch_dir("cli_export_data"), 4, 0);
  const std::string ck = test::scratch_dir("cli_export_ck");
  const auto train = test::run_p2p("train --dataroot '" + root + "' --checkpoints_dir '" + ck +
                                   "' --name run --n_epochs 1 --n_epochs_decay 0 --val_fraction 0 --normalize dataset" +
                                   test::kTinyRun);
  ASSERT_EQ(train.exit_code, 0) << train.output;
  const std::string dir = test::scratch_dir("cli_export");
  const auto ex = test::run_p2p("export --name run --checkpoints_dir '" + ck + "' --out '" + dir + "/g.safetensors'");
  ASSERT_EQ(ex.exit_code, 0) << ex.output;
  EXPECT_NE(ex.output.find("exported G (unet_32"), std::string::npos) << ex.output;
  EXPECT_NE(read_safetensors(dir + "/g.safetensors").metadata.at("pix2pix.data").find("mean_A"), std::string::npos);
  std::filesystem::create_directories(dir + "/in");
  test::write_random_png(dir + "/in/a.png", 40, 24, 3, 5);
  const auto by_run = test::run_p2p("translate --name run --checkpoints_dir '" + ck + "' --eval --input '" + dir +
                                    "/in' --output '" + dir + "/out_run'");
  ASSERT_EQ(by_run.exit_code, 0) << by_run.output;
  // No architecture flags: the file says unet_32, ngf 8 and the run's input statistics.
  const auto by_file = test::run_p2p("translate --weights '" + dir + "/g.safetensors' --eval --input '" + dir +
                                     "/in' --output '" + dir + "/out_file'");
  ASSERT_EQ(by_file.exit_code, 0) << by_file.output;
  const std::string a = test::read_file(dir + "/out_run/a.png"), b = test::read_file(dir + "/out_file/a.png");
  EXPECT_FALSE(a.empty());
  EXPECT_EQ(a, b);

  // From a weights file: its architecture flags are given, and the export carries them on.
  const auto ex2 = test::run_p2p("export --weights '" + ck + "/run/latest.pt' --out '" + dir + "/g2.safetensors'");
  ASSERT_EQ(ex2.exit_code, 0) << ex2.output;
  const auto again = test::run_p2p("translate --weights '" + dir + "/g2.safetensors' --eval --input '" + dir +
                                   "/in' --output '" + dir + "/out_file2'");
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_EQ(test::read_file(dir + "/out_file2/a.png"), a);

  const auto bad = test::run_p2p("export --name run --checkpoints_dir '" + ck + "' --format onnx --out x");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.output.find("--format"), std::string::npos) << bad.output;
  std::ofstream(dir + "/junk.safetensors") << "not a model";
  const auto junk = test::run_p2p("translate --weights '" + dir + "/junk.safetensors' --input '" + dir +
                                  "/in' --output '" + dir + "/o'");
  EXPECT_NE(junk.exit_code, 0);
  EXPECT_NE(junk.output.find("junk.safetensors"), std::string::npos) << junk.output;
}

}  // namespace
}  // namespace p2p
