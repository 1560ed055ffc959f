// End-to-end test of `p2p data unpair`: a tiny AB dataset becomes <split>A/<split>B with one summary line
// per split; the help says how to score against the true partners; every refusal exits non-zero with one
// line naming the flag or file, and leaves no output folder.
#include "testutil/testutil.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;

namespace p2p {
namespace {

std::string q(const std::string& s) { return "'" + s + "'"; }

// Exit non-zero, with `what` on the single error line, and no --out folder made.
void expect_refused(const std::string& args, const std::string& what, const std::string& out) {
  const auto r = test::run_p2p("data unpair " + args);
  EXPECT_NE(r.exit_code, 0) << args << "\n" << r.output;
  EXPECT_NE(r.output.find(what), std::string::npos) << args << "\n" << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  EXPECT_FALSE(fs::exists(out)) << out;
}

TEST(CliUnpair, WritesAnUnalignedDatasetWithASummaryPerSplit) {
  const std::string dir = test::scratch_dir("cli_unpair");
  const std::string root = test::write_ab_dataset(dir + "/ab", 3, 2), out = dir + "/cyc";
  const auto r = test::run_p2p("data unpair --dir " + q(root) + " --out " + q(out) + " --seed 3");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("train: 3 A files to " + out + "/trainA, 3 B files to " + out + "/trainB"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("test: 2 A files to " + out + "/testA, 2 B files to " + out + "/testB"), std::string::npos)
      << r.output;
  EXPECT_TRUE(test::file_exists(out + "/trainA/0.png"));
  EXPECT_TRUE(test::file_exists(out + "/trainB/b_0003.png"));
  EXPECT_TRUE(test::file_exists(out + "/truth/testB/1.png"));
  EXPECT_TRUE(test::file_exists(out + "/truth/testA/b_0002.png"));
  EXPECT_NE(test::read_file(out + "/partners.csv").find("split,A,B\ntrain,trainA/0.png,trainB/b_000"), std::string::npos);

  const auto help = test::run_p2p("data unpair --help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.output.find("p2p metrics --pred OUTPUTS --target <out>/truth/testB"), std::string::npos) << help.output;
}

TEST(CliUnpair, RefusesWithOneLineNamingTheFlagOrFile) {
  const std::string dir = test::scratch_dir("cli_unpair_bad");
  const std::string root = test::write_ab_dataset(dir + "/ab", 2, 1);
  expect_refused("--dir " + q(dir + "/nope") + " --out " + q(dir + "/o"), "--dir " + dir + "/nope: no such folder", dir + "/o");
  fs::create_directories(dir + "/flat");
  test::write_random_png(dir + "/flat/1.png", 8, 4, 3, 1);
  expect_refused("--dir " + q(dir + "/flat") + " --out " + q(dir + "/o"), "--dir " + dir + "/flat: no train/, val/ or test/",
                 dir + "/o");
  expect_refused("--dir " + q(root) + " --out " + q(root + "/"), "--out " + root + "/: is the --dir folder", dir + "/o");
  fs::create_directories(dir + "/taken/trainA");
  expect_refused("--dir " + q(root) + " --out " + q(dir + "/taken"), "--out " + dir + "/taken: exists and is not empty",
                 dir + "/o");
  test::write_random_png(root + "/train/odd.png", 33, 16, 3, 2);
  expect_refused("--dir " + q(root) + " --out " + q(dir + "/o"), root + "/train/odd.png: an AB image of odd width 33",
                 dir + "/o");
  const auto missing = test::run_p2p("data unpair --dir " + q(root));
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.output.find("--out"), std::string::npos) << missing.output;
}

}  // namespace
}  // namespace p2p
