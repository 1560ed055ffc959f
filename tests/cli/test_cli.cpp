// End-to-end tests of the p2p program: every subcommand on tiny data, and bad input giving a non-zero
// exit with a message that names the flag or file.
#include "p2p/core/config.h"
#include "p2p/io/image.h"
#include "testutil/testutil.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <thread>

namespace fs = std::filesystem;

namespace p2p {
namespace {

using test::run_p2p;

void expect_fails_naming(const std::string& args, const std::string& needle) {
  auto r = run_p2p(args);
  EXPECT_NE(r.exit_code, 0) << args << "\n" << r.output;
  EXPECT_NE(r.output.find(needle), std::string::npos) << "expected '" << needle << "' in:\n" << r.output;
}

std::string make_ab_dataset(const std::string& tag, int n_train, int n_test) {
  return test::write_ab_dataset(test::scratch_dir(tag), n_train, n_test);
}

const std::string kTiny = test::kTinyRun;

TEST(Cli, InfoPrintsReferenceCountsAndCost) {
  auto r = run_p2p("info --netG unet_256 --netD basic --crop_size 256");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("parameters 54413955"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("6.05 GMAC"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("parameters 2768705"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("3.20 GMAC"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("receptive field 70x70"), std::string::npos) << r.output;
  r = run_p2p("info --netG resnet_6blocks --ngf 8 --crop_size 64 --height 32 --input_nc 1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("output [1, 3, 32, 64]"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("(1->3,"), std::string::npos) << r.output;
}

TEST(Cli, UnknownValuesNameTheFlag) {
  const std::string root = make_ab_dataset("cli_bad", 2, 0);
  expect_fails_naming("train --dataroot " + root + " --netG unet_100", "--netG");
  expect_fails_naming("train --dataroot " + root + " --norm batchy", "--norm");
  expect_fails_naming("train --dataroot " + root + " --gan_mode hinged", "--gan_mode");
  expect_fails_naming("train --dataroot " + root + " --direction AtoC", "--direction");
  expect_fails_naming("frobnicate", "frobnicate");
}

// The flag table and the option structs' field lists (core/config.h) agree: every stored option of a
// run is a flag of `p2p train`, every test option a flag of `p2p test`, spelled as the field.
bool lists_flag(const std::string& help, const std::string& flag) {
  for (size_t at = help.find(flag); at != std::string::npos; at = help.find(flag, at + 1)) {
    const char next = at + flag.size() < help.size() ? help[at + flag.size()] : ' ';
    if (!std::isalnum(static_cast<unsigned char>(next)) && next != '_') return true;
  }
  return false;
}

TEST(Cli, EveryStoredOptionIsAFlag) {
  const std::string train = run_p2p("train --help").output, test_help = run_p2p("test --help").output;
  int checked = 0;
  auto in = [&](const std::string& help) {
    return [&](const char* name, const auto&, ResumeRule rule) {
      const std::string field = name;
      if (rule == ResumeRule::derived || field == "mean_A" || field == "std_A") return;  // set by the library
      EXPECT_TRUE(lists_flag(help, "--" + field)) << "--" << field;
      ++checked;
    };
  };
  for_each_field(NetConfig(), in(train));
  for_each_field(DataConfig(), in(train));
  for_each_field(TrainConfig(), in(train));
  for_each_field(TestConfig(), in(test_help));
  EXPECT_GT(checked, 80);
}

TEST(Cli, CropSizeNotDivisibleIsRefused) {
  const std::string root = make_ab_dataset("cli_crop", 2, 0);
  expect_fails_naming("train --dataroot " + root + " --netG unet_256 --ngf 8 --crop_size 200 --load_size 210 "
                      "--checkpoints_dir " + test::scratch_dir("cli_crop_ck"),
                      "--crop_size 200");
}

TEST(Cli, EmptyDatarootIsRefused) {
  const std::string root = test::scratch_dir("cli_empty");
  fs::create_directories(root + "/train");
  expect_fails_naming("train --dataroot " + root + kTiny + "--checkpoints_dir " + root + "/ck", root);
}

TEST(Cli, TrainTestTranslateMetricsEndToEnd) {
  const std::string root = make_ab_dataset("cli_e2e", 6, 3);
  const std::string ck = test::scratch_dir("cli_e2e_ck"), res = test::scratch_dir("cli_e2e_res");
  auto r = run_p2p("train --dataroot " + root + kTiny + "--name e2e --checkpoints_dir " + ck +
                   " --n_epochs 1 --n_epochs_decay 1 --val_fraction 0.2 --seed 1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("epoch 2/2"), std::string::npos) << r.output;
  auto config = nlohmann::json::parse(test::read_file(ck + "/e2e/config.json"));
  EXPECT_EQ(config["net"]["netG"], "unet_32");
  EXPECT_EQ(config["train"]["lambda_L1"], 100.0);

  // test: architecture comes from the checkpoint; only data and results are given.
  r = run_p2p("test --dataroot " + root + " --name e2e --checkpoints_dir " + ck + " --results_dir " + res);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("scored 3 of 3 pairs"), std::string::npos) << r.output;
  const std::string out = res + "/e2e/test_latest";
  EXPECT_TRUE(fs::exists(out + "/index.html"));
  EXPECT_TRUE(fs::exists(out + "/metrics.json"));
  for (const char* kind : {"real_A", "fake_B", "real_B"}) {
    EXPECT_TRUE(fs::exists(out + "/images/0_" + std::string(kind) + ".png")) << kind;
  }

  // translate: any size in, same size out.
  const std::string in = test::scratch_dir("cli_e2e_in"), outdir = test::scratch_dir("cli_e2e_out");
  test::write_random_png(in + "/odd.png", 45, 37, 3, 9);
  r = run_p2p("translate --name e2e --checkpoints_dir " + ck + " --input " + in + " --output " + outdir + " --eval");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  int w = 0, h = 0;
  image_size(outdir + "/odd.png", w, h);
  EXPECT_EQ(w, 45);
  EXPECT_EQ(h, 37);
  // Typed net flags override the checkpoint's config: a wider G no longer matches the file.
  r = run_p2p("translate --name e2e --checkpoints_dir " + ck + " --input " + in + " --output " + outdir + "2 --ngf 16");
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("model.model.0.weight"), std::string::npos) << r.output;

  // metrics: fake_B against real_B of the test run, paired by name after copying into two folders.
  const std::string pred = test::scratch_dir("cli_pred"), target = test::scratch_dir("cli_target");
  for (int i = 0; i < 3; ++i) {
    fs::copy_file(out + "/images/" + std::to_string(i) + "_fake_B.png", pred + "/" + std::to_string(i) + ".png");
    fs::copy_file(out + "/images/" + std::to_string(i) + "_real_B.png", target + "/" + std::to_string(i) + ".png");
  }
  r = run_p2p("metrics --pred " + pred + " --target " + target + " --json " + pred + "/../m.json --csv " + pred + "/../m.csv");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto m = nlohmann::json::parse(test::read_file(pred + "/../m.json"));
  EXPECT_EQ(m["count"], 3);
  r = run_p2p("metrics --pred " + target + " --target " + target);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("SSIM 1.00000"), std::string::npos) << r.output;

  // resume of a finished run trains nothing more and keeps the weights.
  r = run_p2p("train --dataroot " + root + kTiny + "--name e2e --checkpoints_dir " + ck +
              " --n_epochs 1 --n_epochs_decay 1 --continue_train");
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

TEST(Cli, Sen12FoldersGrayToRgbWithPhase) {
  const std::string root = test::shared_dataset("sen12_sample");
  if (root.empty()) GTEST_SKIP() << "../shared/datasets/sen12_sample not present";
  const std::string ck = test::scratch_dir("cli_sen12_ck"), res = test::scratch_dir("cli_sen12_res");
  const std::string data = " --dataroot " + root + " --folder_names s1:s2 --pair_replace _s1_:_s2_ ";
  auto r = run_p2p("train" + data + "--phase test --input_nc 1 --output_nc 3 --name sar --checkpoints_dir " + ck +
                   " --netG unet_32 --ngf 8 --ndf 8 --load_size 36 --crop_size 32 --n_epochs 1 --n_epochs_decay 0"
                   " --val_fraction 0.2 --max_dataset_size 10 --num_threads 1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_p2p("test --name sar --checkpoints_dir " + ck + " --results_dir " + res + " --num_test 2");
  ASSERT_EQ(r.exit_code, 0) << r.output;  // data layout and channels come from the run's config
  EXPECT_TRUE(fs::exists(res + "/sar/test_latest/images/ROIs1158_spring_s1_90_p1008_fake_B.png")) << r.output;
  // Without the folder names the layout is not found, and the message says what was expected.
  expect_fails_naming("train --dataroot " + root + " --phase test --checkpoints_dir " + ck + " --name sar2", "A/");
}

TEST(Cli, MissingCheckpointAndBadWeightsNameTheFile) {
  const std::string root = make_ab_dataset("cli_missing", 1, 1);
  expect_fails_naming("test --dataroot " + root + " --name nothing --checkpoints_dir " + root, "nothing");
  const std::string bad = root + "/bad.pth";
  std::ofstream(bad) << "not a checkpoint";
  const std::string in = test::scratch_dir("cli_missing_in");
  test::write_random_png(in + "/x.png", 32, 32, 3, 1);
  expect_fails_naming("translate --weights " + bad + " --netG unet_32 --ngf 8 --input " + in + " --output " + in + "/o",
                      bad);
}

TEST(Cli, DataCombineAndSplit) {
  const std::string a = test::scratch_dir("cli_A"), b = test::scratch_dir("cli_B"), out = test::scratch_dir("cli_AB");
  for (int i = 0; i < 5; ++i) {
    test::write_random_png(a + "/img_s1_" + std::to_string(i) + ".png", 16, 16, 3, i);
    test::write_random_png(b + "/img_s2_" + std::to_string(i) + ".png", 16, 16, 3, 10 + i);
  }
  auto r = run_p2p("data combine --dir_A " + a + " --dir_B " + b + " --out " + out + "/ab --pair_replace _s1_:_s2_");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  int w = 0, h = 0;
  image_size(out + "/ab/img_s1_0.png", w, h);
  EXPECT_EQ(w, 32);
  EXPECT_EQ(h, 16);
  r = run_p2p("data split --dir " + out + "/ab --out " + out + "/ds --val_fraction 0.2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto count = [](const std::string& d) {
    return std::distance(fs::directory_iterator(d), fs::directory_iterator());
  };
  EXPECT_EQ(count(out + "/ds/train") + count(out + "/ds/val"), 5);
  EXPECT_GE(count(out + "/ds/val"), 1);
  // It says how many went where, and the numbers are what the folders hold.
  EXPECT_NE(r.output.find("split 5 images of " + out + "/ab: " + std::to_string(count(out + "/ds/train")) + " to " + out +
                          "/ds/train, " + std::to_string(count(out + "/ds/val")) + " to " + out + "/ds/val"),
            std::string::npos)
      << r.output;
  // Unmatched names are an error naming the file.
  test::write_random_png(a + "/lonely.png", 16, 16, 3, 99);
  expect_fails_naming("data combine --dir_A " + a + " --dir_B " + b + " --out " + out + "/ab2 --pair_replace _s1_:_s2_",
                      "lonely");
}

TEST(Cli, BenchPrintsJson) {
  auto r = run_p2p("bench --netG unet_32 --ngf 8 --ndf 8 --crop_size 32 --steps 2 --warmup 1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto j = nlohmann::json::parse(r.output.substr(r.output.find('{')));
  EXPECT_EQ(j["mode"], "train_step");
  EXPECT_GT(j["seconds_per_step_mean"].get<double>(), 0.0);
  EXPECT_EQ(j["onednn_up_convolutions"], 5);  // unet_32's 5 up-convolutions train on oneDNN passes
  // --blas_threads 0 (the default) timed this bench's own training steps (the whole step, not G alone),
  // and cached it in the tests' scratch folder (testutil points XDG_CACHE_HOME there), not in ~/.cache.
  if (std::thread::hardware_concurrency() > 1) {
    const auto cache = nlohmann::json::parse(
        test::read_file(fs::current_path().string() + "/scratch/xdg_cache/pix2pix/blas_threads.json"));
    bool found = false;
    for (const auto& [key, value] : cache.items()) found |= key.rfind("step pix2pix train unet_32 ngf8 batch 3->3 32px b1|", 0) == 0;
    EXPECT_TRUE(found) << cache.dump(1);
  }
  r = run_p2p("bench --netG unet_32 --ngf 8 --ndf 8 --crop_size 32 --steps 1 --warmup 0 --inference --torch_threads 1 --blas_threads 1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  j = nlohmann::json::parse(r.output.substr(r.output.find('{')));
  EXPECT_EQ(j["mode"], "inference");
  EXPECT_EQ(j["threads"], 1);
  EXPECT_EQ(j["packed_layers"], 10);  // unet_32: 5 down and 5 up convolutions run packed on the CPU
  r = run_p2p("bench --netG unet_32 --ngf 8 --ndf 8 --crop_size 32 --steps 1 --warmup 0 --inference --no_pack "
              "--blas_threads 1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(nlohmann::json::parse(r.output.substr(r.output.find('{')))["packed_layers"], 0);
  r = run_p2p("bench --netG unet_32 --ngf 8 --ndf 8 --crop_size 32 --steps 1 --warmup 0 --no_pack --blas_threads 1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  j = nlohmann::json::parse(r.output.substr(r.output.find('{')));
  EXPECT_EQ(j["mode"], "train_step");
  EXPECT_EQ(j["onednn_up_convolutions"], 0);  // LibTorch's transposed convolution
  expect_fails_naming("bench --netG unet_32 --ngf 8 --crop_size 32 --steps 1 --blas_threads 1 --eval", "--eval");
}

}  // namespace
}  // namespace p2p
