// End-to-end tests of the experiment knobs as a user meets them: many knobs combined in one tiny run
// (each term logged under its own name, staged weights in the history, everything in config.json, the
// run resumable and translatable), `p2p info` printing the objective and attention cost, `p2p data
// preview`, and bad knob values refused naming the flag before training starts.
#include "testutil/testutil.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <sstream>

namespace fs = std::filesystem;

namespace p2p {
namespace {

using test::run_p2p;

std::vector<nlohmann::json> history(const std::string& run) {
  std::vector<nlohmann::json> out;
  std::istringstream in(test::read_file(run + "/history.jsonl"));
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  }
  return out;
}

TEST(CliKnobs, ManyKnobsCombineInOneRun) {
  const std::string dir = test::scratch_dir("cli_knobs");
  test::write_ab_dataset(dir + "/data", 6, 2);
  const std::string run = " --dataroot " + dir + "/data --checkpoints_dir " + dir + "/ck --name k";
  auto r = run_p2p("train" + run +
                   " --netG unet_32 --ngf 8 --ndf 8 --load_size 72 --crop_size 64 --num_threads 1"
                   " --n_epochs 2 --n_epochs_decay 0 --val_fraction 0.2 --print_freq 1"
                   " --gan_mode hinge --norm_D spectral --num_D 2 --lambda_fm 2 --lambda_ssim 1 --lambda_grad 1"
                   " --grad_op laplacian --lambda_charbonnier 1 --pool_size 2 --real_label 0.9 --clip_grad_G 10"
                   " --g_steps_per_d 2 --lr_D_ratio 0.5 --attention up,skip --augment strong --rotate 5"
                   " --loss_schedule \"2:L1=50,ssim=3\"");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("objective: G = 1 * GAN(hinge) + 100 * L1 + 1 * charbonnier + 1 * ssim + 1 * grad + 2 * fm; "
                          "from epoch 2: L1=50 ssim=3"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("G_fm "), std::string::npos) << "each term on the progress line:\n" << r.output;
  EXPECT_NE(r.output.find("x2 scales"), std::string::npos) << r.output;
  const auto h = history(dir + "/ck/k");
  ASSERT_EQ(h.size(), 3u);  // baseline + 2 epochs
  for (const char* k : {"G_total", "G_GAN", "G_L1", "G_charbonnier", "G_ssim", "G_grad", "G_fm", "D_real", "D_fake"}) {
    EXPECT_TRUE(h[1]["train"].contains(k)) << k << " " << h[1].dump();
  }
  EXPECT_EQ(h[1]["weights"]["L1"], 100.0);
  EXPECT_EQ(h[1]["weights"]["ssim"], 1.0);
  EXPECT_EQ(h[2]["weights"]["L1"], 50.0);  // the stage of epoch 2
  EXPECT_EQ(h[2]["weights"]["ssim"], 3.0);
  EXPECT_DOUBLE_EQ(h[1]["lr_D"].get<double>(), 1e-4);  // --lr_D_ratio 0.5
  const auto config = nlohmann::json::parse(test::read_file(dir + "/ck/k/config.json"));
  EXPECT_EQ(config["train"]["gan_mode"], "hinge");
  EXPECT_EQ(config["train"]["pool_size"], 2);
  EXPECT_EQ(config["net"]["norm_D"], "spectral");
  EXPECT_EQ(config["net"]["num_D"], 2);
  EXPECT_EQ(config["net"]["attention"], "up,skip");
  EXPECT_EQ(config["data"]["augment"], "strong");

  // The attention model's checkpoint loads back and translates; resume extends it.
  r = run_p2p("translate --checkpoints_dir " + dir + "/ck --name k --input " + dir + "/data/test --output " + dir +
              "/out");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  int outputs = 0;
  for (const auto& e : fs::directory_iterator(dir + "/out")) outputs += e.path().extension() == ".png" ? 1 : 0;
  EXPECT_EQ(outputs, 2);
  r = run_p2p("train --checkpoints_dir " + dir + "/ck --name k --continue_train --n_epochs 3 --num_threads 1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(history(dir + "/ck/k").size(), 4u);
}

TEST(CliKnobs, InfoPrintsTheObjectiveAndEveryNetwork) {
  auto r = run_p2p("info --netG unet_64 --ngf 8 --ndf 8 --crop_size 64 --attention up --num_D 2 --lambda_ssim 5 --gan_mode lsgan");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("objective: G = 1 * GAN(lsgan) + 100 * L1 + 5 * ssim"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("attention up: 495 of those parameters"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("D basic scale 1"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("D total: parameters"), std::string::npos) << r.output;
}

TEST(CliKnobs, DataPreviewWritesWhatTheNetworkSees) {
  const std::string dir = test::scratch_dir("cli_preview");
  test::write_ab_dataset(dir + "/data", 4, 1);
  auto r = run_p2p("data preview --dataroot " + dir + "/data --augment strong --n 3 --out " + dir +
                   "/prev --load_size 40 --crop_size 32 --val_fraction 0");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir + "/prev")) files += e.path().extension() == ".png" ? 1 : 0;
  EXPECT_EQ(files, 3);
}

TEST(CliKnobs, BadKnobsAreRefusedNamingTheFlag) {
  const std::string dir = test::scratch_dir("cli_knobs_bad");
  test::write_ab_dataset(dir + "/data", 4, 1);
  const std::string base = "train --dataroot " + dir + "/data --checkpoints_dir " + dir + "/ck" + test::kTinyRun +
                           "--n_epochs 1 --n_epochs_decay 0 ";
  struct Case {
    std::string args, expect;
  };
  const std::vector<Case> cases = {
      {"--name a --loss_schedule \"1:L2=3\"", "--loss_schedule: unknown term 'L2'"},
      {"--name b --loss_schedule \"1:L1=-3\"", "--loss_schedule: the weight of L1 must be >= 0"},
      {"--name c --num_D 4", "--num_D"},
      {"--name d --lambda_perc 1", "--vgg_weights"},
      {"--name e --lambda_perc 1 --vgg_weights " + dir + "/data/train/0.png", "--vgg_weights"},
      {"--name f --attention sideways", "--attention"},
      {"--name g --attention up --netG resnet_6blocks", "--attention"},
      {"--name i --gan_mode hinged", "--gan_mode"},
  };
  for (const Case& c : cases) {
    auto r = run_p2p(base + c.args);
    EXPECT_NE(r.exit_code, 0) << c.args;
    EXPECT_NE(r.output.find(c.expect), std::string::npos) << c.args << "\n" << r.output;
    EXPECT_EQ(r.output.find("epoch 1/1"), std::string::npos) << "refused before training: " << c.args;
  }
}

}  // namespace
}  // namespace p2p
