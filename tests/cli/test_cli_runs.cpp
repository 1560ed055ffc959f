// End-to-end tests of run folders as a user meets them: a run remembers itself (resume and test from
// config.json alone, from any working directory; overrides noted and kept in config.json; conflicting
// architecture refused), missing --epoch lists what exists, reference run folders work by --name,
// --seed makes the paper's test mode reproducible, batch jobs survive one bad file, and one trainer
// holds a run folder while signals stop it cleanly.
#include "p2p/io/image.h"
#include "testutil/testutil.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>

namespace fs = std::filesystem;

namespace p2p {
namespace {

using test::run_p2p;

// Runs p2p in `dir` as the working directory.
test::CommandResult run_p2p_in(const std::string& dir, const std::string& args) {
  return test::run_command("cd '" + dir + "' && '" + P2P_TEST_BIN + "' " + args);
}

const std::string kTiny = test::kTinyRun;

TEST(CliRuns, ARunRemembersItself) {
  const std::string home = test::scratch_dir("cliruns_home");
  test::write_ab_dataset(home + "/data", 6, 3);
  // Relative paths, from `home`.
  auto r = run_p2p_in(home, "train --dataroot data --checkpoints_dir ck --name r" + kTiny +
                                "--n_epochs 1 --n_epochs_decay 0 --val_fraction 0.2 --print_freq 1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("training on cpu"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("5 train pairs, 1 val pairs (held out from train/"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("G unet_32 "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(" parameters, D basic "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("(run "), std::string::npos) << "the whole run's ETA:\n" << r.output;
  auto config = nlohmann::json::parse(test::read_file(home + "/ck/r/config.json"));
  EXPECT_EQ(config["data"]["dataroot"], fs::canonical(home + "/data").string());  // stored absolute
  EXPECT_EQ(config["train"]["checkpoints_dir"], fs::canonical(home + "/ck").string());
  EXPECT_TRUE(config["overrides"].empty());

  // From elsewhere, the run folder alone: name and --continue_train; schedule flags override with a note.
  const std::string elsewhere = test::scratch_dir("cliruns_elsewhere");
  const std::string ck = " --checkpoints_dir " + home + "/ck --name r";
  r = run_p2p_in(elsewhere, "train" + ck + " --continue_train --n_epochs_decay 1 --lr 0.0001 --num_threads 1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("note: --lr 0.0001 replaces the run's 0.0002"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("note: --n_epochs_decay 1 replaces the run's 0"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("epoch 2/2"), std::string::npos) << r.output;
  config = nlohmann::json::parse(test::read_file(home + "/ck/r/config.json"));
  EXPECT_EQ(config["train"]["lr"], 0.0001);
  EXPECT_EQ(config["net"]["netG"], "unet_32");  // still the run's
  ASSERT_EQ(config["overrides"].size(), 1u);
  EXPECT_EQ(config["overrides"][0]["changes"]["lr"], nlohmann::json({0.0002, 0.0001}));
  EXPECT_EQ(config["overrides"][0]["changes"]["n_epochs_decay"], nlohmann::json({0, 1}));

  // Changing what the run is: refused, naming each option and both values; nothing changes.
  r = run_p2p_in(elsewhere, "train" + ck + " --continue_train --netG unet_64 --direction BtoA --n_epochs_decay 2");
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("--netG unet_64 (the run has unet_32)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("--direction BtoA (the run has AtoB)"), std::string::npos) << r.output;
  EXPECT_EQ(nlohmann::json::parse(test::read_file(home + "/ck/r/config.json")), config);

  // Finished: says so and how to extend it.
  r = run_p2p_in(elsewhere, "train" + ck + " --continue_train");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("has finished"), std::string::npos) << r.output;

  // test from elsewhere: the run's data and architecture from its config; counts and provenance.
  r = run_p2p_in(elsewhere, "test" + ck + " --num_test 2 --results_dir res");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("scored 2 of 3 pairs — pass --num_test 0 for all"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("mean L1 "), std::string::npos) << r.output;
  auto metrics = nlohmann::json::parse(test::read_file(elsewhere + "/res/r/test_latest/metrics.json"));
  EXPECT_EQ(metrics["run"], fs::canonical(home + "/ck/r").string());
  EXPECT_EQ(metrics["checkpoint"], fs::canonical(home + "/ck/r/latest.pt").string());
  EXPECT_EQ(metrics["epoch"], 2);
  r = run_p2p_in(elsewhere, "test" + ck + " --num_test 0 --results_dir res");
  EXPECT_NE(r.output.find("scored 3 of 3 pairs\n"), std::string::npos) << r.output;

  // A checkpoint that does not exist: the message lists those that do.
  r = run_p2p_in(elsewhere, "test" + ck + " --epoch 9");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--epoch 9"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("it holds latest.pt, best.pt"), std::string::npos) << r.output;
  r = run_p2p_in(elsewhere, "train" + ck + " --continue_train --epoch 9");
  EXPECT_NE(r.output.find("it holds latest.pt, best.pt"), std::string::npos) << r.output;

  // Stopped inside epoch 1: the summary says how far it got, not that an epoch was trained.
  r = run_p2p_in(home, "train --dataroot data --checkpoints_dir ck --name part" + kTiny +
                           "--n_epochs 1 --n_epochs_decay 0 --val_fraction 0.2 --max_iters 3");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("epochs: 0 + 3/5 batches of epoch 1  iterations: 3  (stopped early"), std::string::npos)
      << r.output;
}

TEST(CliRuns, ARunReportsItself) {
  const std::string home = test::scratch_dir("cliruns_report");
  test::write_ab_dataset(home + "/data", 6, 3);
  auto r = run_p2p_in(home, "train --dataroot data --checkpoints_dir ck --name r" + kTiny +
                                "--n_epochs 1 --n_epochs_decay 1 --val_fraction 0.2 --best_metric val_psnr");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string run = home + "/ck/r";
  const auto config = nlohmann::json::parse(test::read_file(run + "/config.json"));
  EXPECT_FALSE(config["build"]["version"].get<std::string>().empty());
  EXPECT_FALSE(config["build"]["libtorch"].get<std::string>().empty());
  EXPECT_EQ(config["build"]["device"], "cpu");
  // history.csv: header + the untrained epoch 0 + two epochs; results name the run's best metric.
  const std::string csv = test::read_file(run + "/history.csv");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 4) << csv;
  EXPECT_EQ(csv.rfind("epoch,iters,lr,lr_D,G_total,G_GAN,G_L1,D_real,D_fake,val_l1,", 0), 0u) << csv;
  EXPECT_NE(test::read_file(run + "/results.csv").find("\nlast,2,"), std::string::npos);
  EXPECT_NE(test::read_file(run + "/results.md").find("best (val_psnr)"), std::string::npos);
  const std::string page = test::read_file(run + "/report.html");
  EXPECT_EQ(page.find("http-equiv=\"refresh\""), std::string::npos) << "a finished run's page does not reload";
  EXPECT_NE(page.find("<h3>epoch 2</h3>"), std::string::npos);

  // TensorBoard events: one file under tensorboard/, every epoch's scalars at step = epoch (0: untrained).
  std::vector<std::string> event_files;
  for (const auto& e : fs::directory_iterator(run + "/tensorboard")) event_files.push_back(e.path().string());
  ASSERT_EQ(event_files.size(), 1u);
  ASSERT_TRUE(test::python_can_import("crc32c, google.protobuf", "python3-crc32c python3-protobuf"));
  const auto events = test::run_python_script("report/read_tfevents.py", "'" + event_files[0] + "'");
  ASSERT_EQ(events.exit_code, 0) << events.output;
  std::map<std::string, std::vector<int64_t>> steps;
  for (const auto& e : nlohmann::json::parse(events.output)) {
    if (e.contains("values")) steps[e["values"][0]["tag"]].push_back(e["step"]);
  }
  EXPECT_EQ(steps["val/l1"], (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(steps["train/G_L1"], (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(steps["lr/G"], (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(steps["samples/4"], (std::vector<int64_t>{0, 1, 2})) << "the sample triplet of every epoch";

  // A test of the run is listed on its page, linked relative to the run folder.
  r = run_p2p_in(home, "test --checkpoints_dir ck --name r --num_test 0 --results_dir res");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(test::read_file(run + "/report.html").find("href=\"../../res/r/test_latest/index.html\""),
            std::string::npos);

  // `p2p report` redraws from the files; a missing folder fails naming it and the others still run.
  fs::remove(run + "/report.html");
  r = run_p2p("report '" + run + "' '" + home + "/nope'");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find(home + "/nope"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("best (val_psnr)"), std::string::npos) << r.output;
  EXPECT_TRUE(test::file_exists(run + "/report.html"));
}

TEST(CliRuns, ReferenceRunFolderAndSeededPaperTestMode) {
  const std::string dir = test::reference_fixtures();
  const std::string ck = test::scratch_dir("cliruns_ref_ck");
  fs::create_directories(ck + "/refrun");
  fs::copy_file(dir + "/legacy_unet_256.pth", ck + "/refrun/latest_net_G.pth");
  const std::string in = test::scratch_dir("cliruns_ref_in");
  test::write_random_png(in + "/x.png", 70, 50, 3, 3);
  const std::string out = test::scratch_dir("cliruns_ref_out");
  // --name finds the reference's latest_net_G.pth; the architecture flags are the reference's.
  auto by_name = run_p2p("translate --name refrun --checkpoints_dir " + ck + " --ngf 8 --eval --input " + in +
                         " --output " + out + "/by_name");
  ASSERT_EQ(by_name.exit_code, 0) << by_name.output;
  auto by_file = run_p2p("translate --weights " + dir + "/unet_256.pth --ngf 8 --eval --input " + in + " --output " +
                         out + "/by_file");
  ASSERT_EQ(by_file.exit_code, 0) << by_file.output;
  EXPECT_EQ(test::read_file(out + "/by_name/x.png"), test::read_file(out + "/by_file/x.png"));

  // The paper's test mode draws dropout masks: --seed makes them reproducible.
  auto run = [&](const std::string& seed, const std::string& to) {
    auto r = run_p2p("translate --name refrun --checkpoints_dir " + ck + " --ngf 8 --seed " + seed + " --input " + in +
                     " --output " + out + "/" + to);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return test::read_file(out + "/" + to + "/x.png");
  };
  const std::string a = run("3", "s3a"), b = run("3", "s3b"), c = run("4", "s4");
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

// Test mode draws each file's dropout masks from (--seed, file name): a file gives the same pixels
// alone, inside a folder in any position, and when a --resume run regenerates it.
TEST(CliRuns, PaperTestModeDrawsPerFileNotPerPosition) {
  const std::string dir = test::reference_fixtures();
  const std::string all = test::scratch_dir("cliruns_seed_all"), alone = test::scratch_dir("cliruns_seed_alone");
  for (const char* name : {"a", "b", "c"}) test::write_random_png(all + "/" + std::string(name) + ".png", 40, 30, 3, name[0]);
  fs::copy_file(all + "/c.png", alone + "/c.png");
  const std::string out = test::scratch_dir("cliruns_seed_out");
  auto translate = [&](const std::string& in, const std::string& to, const std::string& extra) {
    auto r = run_p2p("translate --weights " + dir + "/unet_256.pth --ngf 8 --seed 7 --input " + in + " --output " + out +
                     "/" + to + extra);
    EXPECT_EQ(r.exit_code, 0) << r.output;
  };
  translate(all, "folder", "");
  translate(alone, "alone", "");
  EXPECT_EQ(test::read_file(out + "/folder/c.png"), test::read_file(out + "/alone/c.png")) << "c.png is third in the folder";
  fs::remove(out + "/folder/b.png");
  const std::string a_before = test::read_file(out + "/folder/a.png"), c_before = test::read_file(out + "/folder/c.png");
  translate(all, "folder", " --resume");  // regenerates b.png only, after a.png was skipped
  fs::create_directories(out + "/b_alone");
  test::write_random_png(alone + "/b.png", 40, 30, 3, 'b');
  fs::remove(alone + "/c.png");
  translate(alone, "b_alone", "");
  EXPECT_EQ(test::read_file(out + "/folder/b.png"), test::read_file(out + "/b_alone/b.png"));
  EXPECT_EQ(test::read_file(out + "/folder/a.png"), a_before);
  EXPECT_EQ(test::read_file(out + "/folder/c.png"), c_before);
  // Dropout is really drawn: the same input under two names gets different masks.
  fs::copy_file(all + "/a.png", alone + "/a_copy.png");
  translate(alone, "copy", "");
  EXPECT_NE(test::read_file(out + "/copy/a_copy.png"), a_before);
}

TEST(CliRuns, TranslateReportsABadFileAndTranslatesTheRest) {
  const std::string dir = test::reference_fixtures();
  const std::string in = test::scratch_dir("cliruns_bad_in"), out = test::scratch_dir("cliruns_bad_out");
  test::write_random_png(in + "/a.png", 20, 20, 3, 1);
  std::ofstream(in + "/b.png") << "truncated";
  test::write_random_png(in + "/c.png", 30, 10, 3, 2);
  auto r = run_p2p("translate --weights " + dir + "/unet_128.pth --netG unet_128 --ngf 8 --eval --input " + in +
                   " --output " + out);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("skipped " + in + "/b.png"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("translated 2 of 3 images"), std::string::npos) << r.output;
  EXPECT_TRUE(fs::exists(out + "/a.png"));
  EXPECT_TRUE(fs::exists(out + "/c.png"));
}

TEST(CliRuns, OneTrainerPerRunAndSignalsStopCleanly) {
  const std::string home = test::scratch_dir("cliruns_signal");
  test::write_ab_dataset(home + "/data", 24, 0);
  const std::string args = "train --dataroot " + home + "/data --checkpoints_dir " + home + "/ck --name s" + kTiny +
                           "--n_epochs 1000 --n_epochs_decay 0 --val_fraction 0.5 --print_freq 1";
  // The first trainer holds the run folder; a second is refused naming it; SIGTERM ends the first
  // with exit 143 (128 + SIGTERM, after saving: not killed by the signal), before or after its first step.
  const std::string bin = "'" + std::string(P2P_TEST_BIN) + "' ";
  std::ofstream(home + "/run.sh") << bin << args << " > '" << home << "/first.log' 2>&1 & pid=$!\n"
                                  << "for i in $(seq 600); do grep -q 'training on' '" << home
                                  << "/first.log' && break; sleep 0.05; done\n"
                                  << "echo \"first=$pid\"\n"
                                  << bin << args << "; echo \"second_rc=$?\"\n"
                                  << "kill -TERM $pid; wait $pid; echo \"first_rc=$?\"\n";
  auto r = test::run_command("bash '" + home + "/run.sh'");
  const std::string first_log = test::read_file(home + "/first.log");
  const size_t at = r.output.find("first=");
  ASSERT_NE(at, std::string::npos) << r.output;
  const std::string pid = r.output.substr(at + 6, r.output.find('\n', at) - at - 6);
  EXPECT_NE(r.output.find("is in use by another training process (PID " + pid), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("second_rc=1"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("first_rc=143"), std::string::npos) << r.output << first_log;
  const bool before = first_log.find("stopped before the first iteration") != std::string::npos;
  const bool during = first_log.find("resume with --continue_train") != std::string::npos;
  EXPECT_TRUE(before || during) << first_log;
  // Whatever point it stopped at, the run goes on: resumed, or started afresh when nothing was saved.
  r = run_p2p(args + (fs::exists(home + "/ck/s/latest.pt") ? " --continue_train" : "") + " --n_epochs 1");
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

}  // namespace
}  // namespace p2p
