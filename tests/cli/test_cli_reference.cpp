// End-to-end tests of what users coming from the reference rely on: its command lines run (--model
// pix2pix, display-only flags ignored with one note, a repeated flag takes its last value, typos get a
// suggestion), bad values are refused in words naming the flag, and the reference's published-model
// format (legacy torch.save) translates an image file as PyTorch does.
#include "p2p/io/image.h"
#include "testutil/testutil.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstring>
#include <filesystem>
#include <thread>

namespace fs = std::filesystem;

namespace p2p {
namespace {

using test::run_p2p;

std::string tiny_dataset(const std::string& tag, int n) { return test::write_ab_dataset(test::scratch_dir(tag), n, 0); }

const std::string kTiny = test::kTinyRun;

size_t count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

TEST(CliReference, ReferenceCommandLinesRun) {
  const std::string root = tiny_dataset("cliref_ds", 4);
  const std::string ck = test::scratch_dir("cliref_ck");
  // As copied from the reference: --model pix2pix, visdom/wandb/html flags, a flag given twice.
  auto r = run_p2p("train --dataroot " + root + kTiny + "--name ref --checkpoints_dir " + ck +
                   " --model pix2pix --display_id 0 --display_port 8097 --no_html --use_wandb --display_freq 10"
                   " --update_html_freq 100 --n_epochs 5 --n_epochs 1 --n_epochs_decay 0 --val_fraction 0.25");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(count(r.output, "note: ignoring --display_id, --display_port, --display_freq, --update_html_freq, "
                            "--no_html, --use_wandb"),
            1u)
      << r.output;
  auto config = nlohmann::json::parse(test::read_file(ck + "/ref/config.json"));
  EXPECT_EQ(config["train"]["n_epochs"], 1);  // the last of --n_epochs 5 --n_epochs 1, as argparse
  EXPECT_NE(r.output.find("epoch 1/1"), std::string::npos) << r.output;

  r = run_p2p("train --dataroot " + root + " --model colorization --checkpoints_dir " + ck);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--model colorization"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("pix2pix"), std::string::npos) << r.output;
  // cycle_gan is trained, on unaligned data: an AB dataset is refused naming the folders it lacks.
  r = run_p2p("train --dataroot " + root + " --model cycle_gan --checkpoints_dir " + ck);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("trainA does not exist"), std::string::npos) << r.output;

  r = run_p2p("train --dataroot " + root + " --n_epoch 3");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("unknown option --n_epoch (did you mean --n_epochs?)"), std::string::npos) << r.output;
  r = run_p2p("test --name ref --checkpoints_dir " + ck + " --serial_batches");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--serial_batches is an option of `p2p train`"), std::string::npos) << r.output;
  r = run_p2p("test --help");
  EXPECT_EQ(r.output.find("--ndf"), std::string::npos) << "test uses no discriminator";
  EXPECT_EQ(r.output.find("--init_type"), std::string::npos);
  EXPECT_EQ(r.output.find("--val_fraction"), std::string::npos);
  EXPECT_NE(r.output.find("--num_test"), std::string::npos);
  // Reference test command lines carry the base options' display flags: accepted with a note.
  r = run_p2p("test --name ref --checkpoints_dir " + ck + " --dataroot " + root + " --phase train --model pix2pix"
              " --display_winsize 256 --use_wandb --wandb_project_name p --results_dir " + test::scratch_dir("cliref_res"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("note: ignoring --display_winsize, --wandb_project_name, --use_wandb"), std::string::npos)
      << r.output;
  // A bad value is a usage error like an unknown option: exit 2, not CLI11's own code.
  r = run_p2p("test --name ref --checkpoints_dir " + ck + " --num_test -3");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--num_test"), std::string::npos) << r.output;
  r = run_p2p("translate --help");
  EXPECT_EQ(r.output.find("--dataroot"), std::string::npos) << "translate reads --input";
  EXPECT_EQ(r.output.find("--num_test"), std::string::npos);
  EXPECT_NE(r.output.find("--seed"), std::string::npos);
}

TEST(CliReference, BadValuesAreRefusedInWordsNamingTheFlag) {
  const std::string root = tiny_dataset("clibad_ds", 2);
  const std::string ck = " --checkpoints_dir " + test::scratch_dir("clibad_ck");
  struct Case {
    std::string args, needle;
  };
  for (const Case& c : std::vector<Case>{{"--lr nan", "--lr: 'nan' is not a positive finite number"},
                                         {"--lr 1e400", "--lr: '1e400' is not a positive finite number"},
                                         {"--lr_D -1", "--lr_D: '-1' is not a positive finite number"},
                                         {"--lr_D nan", "--lr_D: 'nan'"},
                                         {"--seed -1", "--seed: '-1' is not a whole number from 0 to 2^63-1"},
                                         {"--n_epochs -2", "--n_epochs: '-2' is not a whole number from 0 to 2147483647"},
                                         {"--beta1 1", "--beta1: '1' is not a number in [0, 1)"},
                                         {"--val_fraction 0.9", "--val_fraction: '0.9' is not a number from 0 to 0.5"},
                                         {"--name ../escape", "--name: '../escape' is not one folder name"},
                                         {"--name a/b", "--name: 'a/b' is not one folder name"}}) {
    auto r = run_p2p("train --dataroot " + root + ck + " " + c.args);
    EXPECT_NE(r.exit_code, 0) << c.args;
    EXPECT_NE(r.output.find(c.needle), std::string::npos) << c.args << "\n" << r.output;
    EXPECT_LT(r.output.size(), 400u) << "a readable message, not a 309-digit bound:\n" << r.output;
  }
  auto r = run_p2p("translate --name ../x --input " + root + " --output " + root + "/o");
  EXPECT_NE(r.output.find("--name: '../x' is not one folder name"), std::string::npos) << r.output;
}

TEST(CliReference, ThreadCountsBeyondTheCoresAreCappedWithANote) {
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  auto r = run_p2p("bench --netG unet_32 --ngf 8 --ndf 8 --crop_size 32 --steps 1 --warmup 0 --torch_threads 100000 "
                   "--blas_threads 5000");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("--torch_threads 100000 capped at " + std::to_string(cores)), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("--blas_threads 5000 capped at " + std::to_string(cores)), std::string::npos) << r.output;
  auto j = nlohmann::json::parse(r.output.substr(r.output.find('{')));
  EXPECT_EQ(j["threads"], cores);
  // Data-loading threads may exceed the cores a little (they wait on files), not by thousands.
  const std::string root = tiny_dataset("clithreads_ds", 2), ck = test::scratch_dir("clithreads_ck");
  r = run_p2p("train --dataroot " + root + kTiny + "--checkpoints_dir " + ck +
              " --num_threads 100000 --n_epochs 1 --n_epochs_decay 0 --val_fraction 0");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("--num_threads 100000 capped at " + std::to_string(4 * cores)), std::string::npos) << r.output;
  EXPECT_EQ(nlohmann::json::parse(test::read_file(ck + "/experiment/config.json"))["data"]["num_threads"], 4 * cores);
}

at::Tensor read_f32(const std::string& path, const std::vector<int64_t>& shape) {
  const std::string bytes = test::read_file(path);
  at::Tensor t = at::empty(shape, at::kFloat);
  EXPECT_EQ(bytes.size(), static_cast<size_t>(t.nbytes())) << path;
  std::memcpy(t.data_ptr(), bytes.data(), std::min<size_t>(bytes.size(), t.nbytes()));
  return t;
}

TEST(CliReference, LegacyPublishedFormatTranslatesLikePyTorch) {
  // The reference's published models are legacy torch.save files: translate one image file with such
  // a file and compare with PyTorch's eval-mode output of the same weights (the PNG holds 8 bits).
  const std::string dir = test::reference_fixtures();
  const auto manifest = nlohmann::json::parse(test::read_file(dir + "/manifest.json"));
  nlohmann::json e;
  for (const auto& entry : manifest.at("parity")) {
    if (entry.at("name") == "unet_256") e = entry;
  }
  ASSERT_TRUE(e.contains("legacy_state_dict"));
  const at::Tensor x = read_f32(dir + "/" + e.at("input").get<std::string>(), e.at("input_shape").get<std::vector<int64_t>>());
  const at::Tensor want = read_f32(dir + "/" + e.at("output").get<std::string>(), e.at("output_shape").get<std::vector<int64_t>>());
  const std::string work = test::scratch_dir("cliref_legacy");
  save_png(work + "/in/x.png", to_unit_range(x[0]));  // the input is on the 8-bit grid: stored exactly
  ASSERT_TRUE(at::equal(to_network_range(load_image(work + "/in/x.png", 3)), x[0]));
  auto r = run_p2p("translate --weights " + dir + "/" + e.at("legacy_state_dict").get<std::string>() +
                   " --netG unet_256 --ngf 8 --norm batch --eval --input " + work + "/in --output " + work + "/out");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const at::Tensor got = load_image(work + "/out/x.png", 3);
  const at::Tensor stored = (to_unit_range(want[0]).clamp(0, 1) * 255).round() / 255;  // PyTorch's output as a PNG
  const at::Tensor diff = (got - stored).abs();
  EXPECT_LE(diff.max().item<double>(), 1.0 / 255 + 1e-6);   // at most one rounding step apart
  EXPECT_LT(diff.mean().item<double>(), 0.05 / 255);        // and almost everywhere equal
}

}  // namespace
}  // namespace p2p
