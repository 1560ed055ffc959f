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
      EXPECT_NE(r.output.find("[new]\n  p2p train --dataroot"), std::string::npos) << r.output;
    }
  }
  EXPECT_EQ(specs, 5) << "loss ablation, receptive field, batch size, norm, attention";
  const auto rf = test::run_p2p("sweep '" + examples + "/receptive_field.json' --out x --dry_run");
  EXPECT_NE(rf.output.find("receptive_field__D-image_286  [new]\n  p2p train"), std::string::npos) << rf.output;
  EXPECT_NE(rf.output.find("--netD n_layers --n_layers_D 5"), std::string::npos) << rf.output;
}

TEST(CliStudies, CompareNamesAFolderThatIsNotARun) {
  const std::string dir = test::scratch_dir("cli_compare_bad");
  const auto r = test::run_p2p("compare '" + dir + "/nope' --out '" + dir + "/out'");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find(dir + "/nope"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace p2p
