// Fault cases of inputs that must be refused before any work (issue 24): sweep specs whose grid would be
// silently misread (an axis the sweep sets itself, two points with one run name, a switch given a
// string, a key given twice) or could not be held in memory (10^10 runs), and range messages that say
// the allowed range in words, not as a 309-digit number or LibTorch's allocator failure.
#include "faults/faults.h"

#include <chrono>
#include <fstream>
#include <regex>

namespace p2p {
namespace {

// The p2p error line of a command's output (its one line, or what CLI11 printed first).
std::string first_line(const std::string& output) { return output.substr(0, output.find('\n')); }

// Runs `p2p sweep <spec> --dry_run` on a spec written from `json`.
test::CommandResult dry_run(const std::string& tag, const std::string& json) {
  const std::string dir = test::scratch_dir("faults_flags_" + tag);
  std::ofstream(dir + "/spec.json") << json;
  return test::run_p2p("sweep '" + dir + "/spec.json' --out '" + dir + "/out' --dry_run");
}

void expect_refused(const test::CommandResult& r, const std::vector<std::string>& words) {
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("p2p: error: "), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find('\n'), r.output.size() - 1) << "one line:\n" << r.output;
  EXPECT_NE(r.output.find("spec.json"), std::string::npos) << r.output;
  for (const std::string& w : words) EXPECT_NE(r.output.find(w), std::string::npos) << w << " in " << r.output;
  EXPECT_EQ(r.output.find("  [new]"), std::string::npos) << "no run was listed: " << r.output;
}

TEST(FaultsFlags, SweepAxesTheSweepSetsItselfAreRefused) {
  for (const std::string key : {"checkpoints_dir", "name"}) {
    SCOPED_TRACE(key);
    expect_refused(dry_run("axis_" + key, R"({"name": "s", "grid": {")" + key + R"(": ["a", "b"]}})"),
                   {"grid \"" + key + "\"", "set by the sweep itself"});
    // the quick variant's axes too
    expect_refused(dry_run("quick_axis_" + key, R"({"name": "s", "grid": {"lr": [0.1]}, "quick": {"grid": {")" + key +
                                                    R"(": ["a"]}}})"),
                   {"quick grid \"" + key + "\""});
  }
}

TEST(FaultsFlags, SweepPointsWithOneRunNameAreRefused) {
  // 0.0002 and "0.0002" both label the run lr-0.0002; "a/b" and "a-b" both become a-b in a folder name.
  expect_refused(dry_run("collide_number", R"({"name": "s", "grid": {"lr": [0.0002, "0.0002"]}})"),
                 {"s__lr-0.0002", "{lr 0.0002}", "{lr \"0.0002\"}"});
  expect_refused(dry_run("collide_label", R"({"name": "s", "grid": {"D": [{"label": "x", "netD": "pixel"},
                                             {"label": "x", "netD": "basic"}]}})"),
                 {"s__D-x", "label"});
  // distinct names pass
  const auto ok = dry_run("distinct", R"({"name": "s", "grid": {"lr": [0.0002, 0.002]}})");
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
}

TEST(FaultsFlags, ASwitchGivenAStringIsRefusedNamingIt) {
  expect_refused(dry_run("switch_string", R"({"name": "s", "grid": {"no_flip": ["true", false]}})"),
                 {"\"no_flip\" is a switch", "true", "false"});
  expect_refused(dry_run("switch_base", R"({"name": "s", "base": {"no_dropout": 1}, "grid": {"lr": [0.1]}})"),
                 {"base", "\"no_dropout\" is a switch"});
  // and a flag with a value given true
  expect_refused(dry_run("value_true", R"({"name": "s", "grid": {"lr": [true]}})"), {"\"lr\" takes a value"});
  const auto ok = dry_run("switch_ok", R"({"name": "s", "grid": {"no_flip": [true, false]}})");
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
}

TEST(FaultsFlags, AHugeGridIsCountedAndRefusedNotExpanded) {
  // 10 axes of 10 values: 10^10 runs. Counted from the axis sizes, refused in about the time the
  // program takes to start, in the memory it takes to start.
  std::string grid;
  const char* axes[] = {"lr", "beta1", "beta2", "ngf", "ndf", "batch_size", "n_epochs", "seed", "crop_size", "load_size"};
  for (const char* a : axes) grid += std::string(grid.empty() ? "" : ", ") + "\"" + a + "\": [1,2,3,4,5,6,7,8,9,10]";
  const std::string dir = test::scratch_dir("faults_flags_huge");
  std::ofstream(dir + "/spec.json") << R"({"name": "s", "grid": {)" << grid << "}}";
  const auto t0 = std::chrono::steady_clock::now();
  const auto r = test::run_command("/usr/bin/time -f 'peak %M KB' '" + std::string(P2P_TEST_BIN) + "' sweep '" + dir +
                                   "/spec.json' --out '" + dir + "/out' --dry_run");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_NE(r.output.find("more than 10000 runs"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("10 (lr) x 10 (beta1)"), std::string::npos) << r.output;
  EXPECT_LT(seconds, 10.0) << r.output;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.output, m, std::regex("peak ([0-9]+) KB"))) << r.output;
  EXPECT_LT(std::stol(m[1]), 1024L * 1024L) << "under 1 GiB (expanding 10^10 runs took 3.3 GB before failing)";
}

TEST(FaultsFlags, AKeyGivenTwiceIsRefusedNamingIt) {
  expect_refused(dry_run("dup_top", R"({"name": "s", "grid": {"lr": [1]}, "grid": {"lr": [2]}})"),
                 {"key \"grid\" is given twice"});
  expect_refused(dry_run("dup_base", R"({"name": "s", "base": {"lr": 0.1, "beta1": 0.5, "lr": 0.2}, "grid": {"seed": [1]}})"),
                 {"key \"lr\" is given twice in \"base\""});
  expect_refused(dry_run("dup_grid", R"({"name": "s", "grid": {"D": [{"netD": "pixel", "netD": "basic"}]}})"),
                 {"key \"netD\" is given twice in \"grid\" \"D\""});
  // the same key in two different objects is fine
  const auto ok = dry_run("dup_ok", R"({"name": "s", "base": {"lr": 0.1}, "quick": {"lr": 0.2}, "grid": {"seed": [1]}})");
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
}

// A number of more than 12 digits in a message is a limit printed instead of said.
bool has_long_number(const std::string& s) { return std::regex_search(s, std::regex("[0-9]{13,}")); }

TEST(FaultsFlags, RangeMessagesSayTheRangeInWords) {
  struct Case {
    std::string args, flag, range;
  };
  const std::string huge = "99999999999999";
  const std::vector<Case> cases = {
      {"sweep spec.json --out o --num_samples -1", "--num_samples", "a whole number from 0 to 2147483647"},
      {"compare a b --out o --num_samples -1", "--num_samples", "a whole number from 0 to 2147483647"},
      {"info --crop_size 0", "--crop_size", "a whole number from 1 to 2147483647"},
      {"info --height -3", "--height", "a whole number from 0 to 2147483647"},
      {"bench --steps 0", "--steps", "a whole number from 1 to 2147483647"},
      {"bench --steps -1", "--steps", "a whole number from 1 to 2147483647"},
      {"bench --warmup -1", "--warmup", "a whole number from 0 to 2147483647"},
      {"train --n_epochs " + huge, "--n_epochs", "a whole number from 0 to 2147483647"},
      {"test --num_test -1", "--num_test", "a whole number from 0 to 2^63-1"},
      {"data split --dir . --out b --val_fraction 0.9", "--val_fraction", "a number from 0 to 0.5"},
      {"data palette --dir . --out p.json --max_classes 0", "--max_classes", "a whole number from 1 to 250"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.args);
    const auto r = test::run_p2p(c.args);
    EXPECT_EQ(r.exit_code, 2) << r.output;
    std::string said = r.output;  // what the program said, less the value it repeats
    for (size_t at; (at = said.find(huge)) != std::string::npos;) said.erase(at, huge.size());
    EXPECT_FALSE(has_long_number(said)) << r.output;
    EXPECT_NE(first_line(r.output).find(c.flag), std::string::npos) << r.output;
    EXPECT_NE(first_line(r.output).find(c.range), std::string::npos) << r.output;
  }
}

TEST(FaultsFlags, AGeneratorTooWideForMemoryIsSaidInWords) {
  const auto r = test::run_p2p("info --ngf 100000");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_EQ(r.output.find('\n'), r.output.size() - 1) << "one line:\n" << r.output;
  EXPECT_NE(r.output.find("--ngf 100000"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("do not fit in this machine's memory"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("alloc_cpu"), std::string::npos) << r.output;  // LibTorch's own message
  EXPECT_FALSE(has_long_number(r.output)) << r.output;
}

}  // namespace
}  // namespace p2p
