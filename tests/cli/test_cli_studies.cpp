// End-to-end tests of `p2p compare` and `p2p sweep` as commands: flags of a spec checked against the
// train command's own flag table before anything runs, the shipped example specs valid, a dry run
// listing runs and commands, and compare's errors.
#include "testutil/testutil.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;

namespace p2p {
namespace {

TEST(CliStudies, SweepRefusesFlagsTrainDoesNotHave) {
  const std::string dir = test::scratch_dir("cli_sweep_flags");
  std::ofstream(dir + "/s.json") << R"({"name": "s", "base": {"n_epochs": 1}, "grid": {"nrom": ["batch"]}})";
  const auto r = test::run_p2p("sweep '" + dir + "/s.json' --out '" + dir + "/out'");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("\"nrom\" is not a flag of p2p train"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(dir + "/s.json"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir + "/out/runs")) << "nothing may start before the spec is checked";
}

TEST(CliStudies, ExampleSpecsAreValidAndDryRunListsCommands) {
  const std::string examples = std::string(P2P_TEST_SOURCE_DIR) + "/examples/sweeps";
  int specs = 0;
  for (const auto& e : fs::directory_iterator(examples)) {
    if (e.path().extension() != ".json") continue;
    ++specs;
    for (const char* quick : {"", " --quick"}) {
      const auto r = test::run_p2p("sweep '" + e.path().string() + "' --out '" + test::scratch_dir("cli_sweep_dry") +
                                   "' --dry_run" + quick);
      EXPECT_EQ(r.exit_code, 0) << e.path() << quick << "\n" << r.output;
      EXPECT_NE(r.output.find("[new]\n  " + std::string(P2P_TEST_BIN) + " train --"), std::string::npos) << r.output;
      EXPECT_NE(r.output.find(" --dataroot "), std::string::npos) << r.output;
    }
  }
  EXPECT_EQ(specs, 6) << "loss ablation, receptive field, batch size, norm, attention, CycleGAN identity";
  const auto rf = test::run_p2p("sweep '" + examples + "/receptive_field.json' --out x --dry_run");
  EXPECT_NE(rf.output.find("receptive_field__D-image_286  [new]\n  " + std::string(P2P_TEST_BIN) + " train"),
            std::string::npos)
      << rf.output;
  EXPECT_NE(rf.output.find("--netD n_layers --n_layers_D 5"), std::string::npos) << rf.output;
  EXPECT_NE(rf.output.find("--name receptive_field__D-image_286 --checkpoints_dir " + fs::current_path().string() +
                           "/x/runs"),
            std::string::npos)
      << rf.output;
}

// A dry run's command line runs as printed, values with spaces and semicolons included, and trains
// the run where the sweep itself would.
TEST(CliStudies, DryRunLinesRunAsPrinted) {
  const std::string dir = test::scratch_dir("cli_sweep_asprinted");
  const std::string data = test::write_ab_dataset(dir + "/data", 2, 0);
  std::ofstream(dir + "/s.json") << R"({"name": "p", "base": {"dataroot": ")" << data << R"(", "netG": "unet_32",
    "ngf": 8, "ndf": 8, "load_size": 32, "crop_size": 32, "num_threads": 1, "n_epochs": 1, "n_epochs_decay": 0,
    "val_fraction": 0, "loss_schedule": "1:L1=100, GAN=1; 2:L1=50"}, "grid": {"lr": [0.0003]}})";
  const auto dry = test::run_p2p("sweep '" + dir + "/s.json' --out '" + dir + "/out' --dry_run");
  ASSERT_EQ(dry.exit_code, 0) << dry.output;
  const size_t at = dry.output.find("[new]\n  ");
  ASSERT_NE(at, std::string::npos) << dry.output;
  const std::string line = dry.output.substr(at + 8, dry.output.find('\n', at + 8) - at - 8);
  EXPECT_NE(line.find("'1:L1=100, GAN=1; 2:L1=50'"), std::string::npos) << line;
  const auto r = test::run_command("cd / && " + line);
  ASSERT_EQ(r.exit_code, 0) << line << "\n" << r.output;
  const std::string config = test::read_file(dir + "/out/runs/p__lr-0.0003/config.json");
  EXPECT_NE(config.find("1:L1=100, GAN=1; 2:L1=50"), std::string::npos) << config;
  EXPECT_NE(config.find("0.0003"), std::string::npos) << config;
}

TEST(CliStudies, CompareNamesAFolderThatIsNotARun) {
  const std::string dir = test::scratch_dir("cli_compare_bad");
  const auto r = test::run_p2p("compare '" + dir + "/nope' --out '" + dir + "/out'");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find(dir + "/nope"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace p2p
