// Tests for studies/sweep: spec parsing and its errors (file and key named), the grid's runs and their
// flags (known answers, quick variant, object-valued axes), and a sweep stopped in its first run and
// run again: the stopped run resumes (each epoch in its history once), the other trains, and a third
// call trains nothing.
#include "p2p/core/runtime.h"
#include "p2p/report/history.h"
#include "p2p/studies/sweep.h"
#include "testutil/testutil.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace fs = std::filesystem;

namespace p2p {
namespace {

std::string write_spec(const std::string& dir, const std::string& text) {
  const std::string path = dir + "/spec.json";
  std::ofstream(path) << text;
  return path;
}

TEST(Sweep, GridRunsNamesAndFlags) {
  const std::string dir = test::scratch_dir("sweep_spec");
  const SweepSpec spec = parse_sweep_spec(write_spec(dir, R"({
    "name": "s", "base": {"dataroot": "d", "n_epochs": 5, "no_flip": true, "serial_batches": false},
    "grid": {"gan_mode": ["vanilla", "lsgan"], "norm": ["batch", "instance"]},
    "quick": {"n_epochs": 1, "grid": {"norm": ["instance"]}}})"));
  const auto runs = expand_sweep(spec, false);
  ASSERT_EQ(runs.size(), 4u);
  EXPECT_EQ(runs[0].name, "s__gan_mode-vanilla__norm-batch");
  EXPECT_EQ(runs[1].name, "s__gan_mode-vanilla__norm-instance");
  EXPECT_EQ(runs[3].name, "s__gan_mode-lsgan__norm-instance");
  EXPECT_EQ(flag_arguments(runs[3]), (std::vector<std::string>{"--dataroot", "d", "--n_epochs", "5", "--no_flip",
                                                               "--gan_mode", "lsgan", "--norm", "instance"}));
  const auto quick = expand_sweep(spec, true);
  ASSERT_EQ(quick.size(), 2u);
  EXPECT_EQ(quick[1].name, "s__gan_mode-lsgan__norm-instance");
  EXPECT_EQ(flag_arguments(quick[0])[3], "1");  // n_epochs from quick
  EXPECT_EQ(sweep_flag_names(spec),
            (std::vector<std::string>{"dataroot", "n_epochs", "no_flip", "serial_batches", "n_epochs", "gan_mode", "norm", "norm"}));

  // An axis whose points set several flags, named by their label.
  const SweepSpec rf = parse_sweep_spec(write_spec(dir, R"({"name": "rf", "grid": {"D": [
    {"label": "pixel", "netD": "pixel"}, {"netD": "n_layers", "n_layers_D": 1}]}})"));
  const auto rf_runs = expand_sweep(rf, false);
  ASSERT_EQ(rf_runs.size(), 2u);
  EXPECT_EQ(rf_runs[0].name, "rf__D-pixel");
  EXPECT_EQ(rf_runs[1].name, "rf__D-netD-n_layers-n_layers_D-1");
  EXPECT_EQ(flag_arguments(rf_runs[1]), (std::vector<std::string>{"--netD", "n_layers", "--n_layers_D", "1"}));
  EXPECT_EQ(sweep_flag_names(rf), (std::vector<std::string>{"netD", "netD", "n_layers_D"}));
}

TEST(Sweep, SpecErrorsNameFileAndKey) {
  const std::string dir = test::scratch_dir("sweep_errors");
  auto err = [&](const std::string& text) { return test::error_of([&] { parse_sweep_spec(write_spec(dir, text)); }); };
  EXPECT_NE(err(R"({"name": "s", "grid": {"norm": []}})").find("grid \"norm\" must be a non-empty array"), std::string::npos);
  EXPECT_NE(err(R"({"name": "s", "base": {"name": "x"}, "grid": {"norm": ["batch"]}})").find("\"name\" is set by the sweep"),
            std::string::npos);
  EXPECT_NE(err(R"({"name": "s", "grids": {}})").find("unknown key \"grids\""), std::string::npos);
  EXPECT_NE(err(R"({"name": "s", "grid": {"norm": [["batch"]]}})").find("grid \"norm\""), std::string::npos);
  EXPECT_NE(err(R"({"name": "a/b", "grid": {"norm": ["batch"]}})").find("\"name\""), std::string::npos);
  EXPECT_NE(err("{not json").find("spec.json: not valid JSON"), std::string::npos);
  EXPECT_NE(test::error_of([&] { parse_sweep_spec(dir + "/missing.json"); }).find("missing.json"), std::string::npos);
}

TEST(Sweep, StoppedSweepRerunFinishesOnlyWhatWasLeft) {
  const std::string root = test::scratch_dir("sweep_resume");
  test::write_ab_dataset(root + "/data", 6, 2);
  const SweepSpec spec = parse_sweep_spec(write_spec(root, R"({"name": "r",
    "base": {"dataroot": ")" + root + R"(/data", "netG": "unet_32", "ngf": 8, "ndf": 8, "load_size": 32,
             "crop_size": 32, "num_threads": 1, "n_epochs": 30, "n_epochs_decay": 0, "val_fraction": 0.2,
             "num_samples": 0},
    "grid": {"gan_mode": ["vanilla", "lsgan"]}})"));
  const auto runs = expand_sweep(spec, false);
  const std::string out = root + "/sweep";
  const std::string first = out + "/runs/" + runs[0].name;

  std::ostringstream log1;
  SweepResult r1;
  std::thread sweeper([&] { r1 = run_sweep(runs, out, P2P_TEST_BIN, log1); });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (!fs::exists(first + "/latest.pt") && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  request_stop();  // what SIGINT/SIGTERM to `p2p sweep` does; passed on to the running child
  sweeper.join();
  clear_stop_request();
  EXPECT_TRUE(r1.interrupted) << log1.str();
  EXPECT_EQ(r1.trained, 0) << log1.str();
  ASSERT_EQ(sweep_run_state(first), RunState::partial) << log1.str();
  EXPECT_FALSE(fs::exists(out + "/runs/" + runs[1].name)) << "the second run must not start after a stop";

  std::ostringstream log2;
  const SweepResult r2 = run_sweep(runs, out, P2P_TEST_BIN, log2);
  EXPECT_FALSE(r2.interrupted);
  EXPECT_EQ(r2.resumed, 1) << log2.str();
  EXPECT_EQ(r2.trained, 1) << log2.str();
  EXPECT_EQ(r2.failed, 0) << log2.str();
  EXPECT_NE(log2.str().find("[1/2] " + runs[0].name + ": resuming"), std::string::npos) << log2.str();
  ASSERT_EQ(r2.run_dirs.size(), 2u);
  for (const auto& dir : r2.run_dirs) {
    EXPECT_EQ(sweep_run_state(dir), RunState::finished) << dir;
    std::vector<int64_t> epochs;
    for (const auto& e : read_history(dir + "/history.jsonl")) epochs.push_back(e.epoch);
    std::vector<int64_t> expect(31);
    for (int i = 0; i <= 30; ++i) expect[i] = i;
    EXPECT_EQ(epochs, expect) << dir << ": every epoch once, the untrained epoch 0 first";
  }

  std::ostringstream log3;
  const SweepResult r3 = run_sweep(runs, out, P2P_TEST_BIN, log3);
  EXPECT_EQ(r3.skipped, 2) << log3.str();
  EXPECT_EQ(r3.trained + r3.resumed, 0) << log3.str();
}

}  // namespace
}  // namespace p2p
