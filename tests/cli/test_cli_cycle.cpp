// End-to-end tests of `p2p train --model cycle_gan` as a user meets it: a run on unaligned folders
// records the reference's loss names, samples with reconstructions, four networks in its checkpoint,
// and, where the dataset records true partners (truth/, as `p2p data unpair` writes it), validation
// metrics that equal an independent computation from the saved G_A; options without meaning for the
// model, and data that is not unaligned, are refused naming the flag or folder.
#include "p2p/io/image.h"
#include "p2p/io/state_dict.h"
#include "p2p/io/checkpoint.h"
#include "p2p/io/fs.h"
#include "p2p/models/networks.h"
#include "testutil/testutil.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

namespace fs = std::filesystem;

namespace p2p {
namespace {

#define EXPECT_CONTAINS(text, part) EXPECT_NE(std::string(text).find(part), std::string::npos) << (text)

// trainA (5) and trainB (4) random images; testA (2) with true partners in truth/testB and testB (2).
std::string write_unpaired(const std::string& root) {
  const std::vector<std::pair<std::string, int>> folders = {
      {"trainA", 5}, {"trainB", 4}, {"testA", 2}, {"testB", 2}, {"truth/testB", 2}};
  for (const auto& [folder, n] : folders) {
    fs::create_directories(root + "/" + folder);
    for (int i = 0; i < n; ++i) {
      const std::string stem = folder == "truth/testB" ? "t" + std::to_string(i) : folder.substr(0, 1) + std::to_string(i);
      const std::string name = folder == "testA" ? "t" + std::to_string(i) : stem;
      test::write_random_png(root + "/" + folder + "/" + name + ".png", 32, 32, 3, 7 + i + 31 * folder.size());
    }
  }
  return root;
}

std::vector<nlohmann::json> history_of(const std::string& run) {
  std::ifstream in(run + "/history.jsonl");
  std::vector<nlohmann::json> out;
  for (std::string l; std::getline(in, l);) {
    if (!l.empty()) out.push_back(nlohmann::json::parse(l));
  }
  return out;
}

// Mean |G(a) - partner| over the images of a_dir (network range), G being `prefix` of the checkpoint
// with the test's architecture, partners found by stem in truth_dir: what val L1 should be.
double mean_l1_of_saved_generator(const std::string& checkpoint, const std::string& prefix, const std::string& a_dir,
                                  const std::string& truth_dir) {
  NetConfig net;
  net.netG = "resnet_6blocks";
  net.ngf = 8;
  net.norm = "instance";
  net.no_dropout = true;
  NetworkPtr G = make_generator(net);
  load_into(*G, checkpoint_section(read_state_dict(checkpoint), prefix), checkpoint);
  torch::NoGradGuard no_grad;
  double sum = 0;
  int n = 0;
  for (const std::string& a : list_images(a_dir)) {
    const at::Tensor fake = G->forward(load_image(a, 3).unsqueeze(0) * 2 - 1).squeeze(0);
    const at::Tensor truth = load_image(truth_dir + "/" + file_stem(a) + ".png", 3) * 2 - 1;
    sum += (fake - truth).abs().mean().item<double>();
    ++n;
  }
  return sum / n;
}

const char* const kCycleTiny = " --model cycle_gan --netG resnet_6blocks --ngf 8 --ndf 8 --load_size 32 --crop_size 32"
                               " --num_threads 1 --print_freq 1000 ";

}  // namespace

TEST(CliCycle, TrainsRecordsAndValidatesAgainstTruePartners) {
  const std::string data = write_unpaired(test::scratch_dir("cycle_data"));
  const std::string ck = test::scratch_dir("cycle_ck");
  const auto r = test::run_p2p("train --dataroot '" + data + "' --checkpoints_dir '" + ck + "' --name c" + kCycleTiny +
                               " --n_epochs 1 --n_epochs_decay 1 --num_samples 1 --seed 2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_CONTAINS(r.output, "5 trainA + 4 trainB images");
  EXPECT_CONTAINS(r.output, "G_A, G_B resnet_6blocks");
  EXPECT_CONTAINS(r.output, "objective: GAN(lsgan) + 10 * cycle_A + 10 * cycle_B + 0.5 * (10 * idt_A + 10 * idt_B)");
  const std::string run = ck + "/c";
  const std::vector<nlohmann::json> h = history_of(run);
  ASSERT_EQ(h.size(), 3u);  // baseline + 2 epochs
  std::set<std::string> names;
  for (const auto& [name, v] : h[2]["train"].items()) names.insert(name);
  EXPECT_EQ(names, (std::set<std::string>{"D_A", "G_A", "cycle_A", "idt_A", "D_B", "G_B", "cycle_B", "idt_B"}));
  EXPECT_EQ(h[1]["iters"], 5);  // max(|A|, |B|) samples per epoch
  // Samples: [real_A | fake_B | rec_A] over [real_B | fake_A | rec_B].
  const at::Tensor sample = load_image(run + "/samples/epoch_002_t0.png", 3);
  EXPECT_EQ(sample.sizes(), (at::IntArrayRef{3, 64, 96}));
  // Four networks and two optimizers in the checkpoint.
  std::set<std::string> sections;
  for (const auto& [name, t] : read_state_dict(run + "/latest.pt")) sections.insert(name.substr(0, name.find('.')));
  for (const char* s : {"G_A", "G_B", "D_A", "D_B", "opt_G", "opt_D", "trainer"}) EXPECT_EQ(sections.count(s), 1u) << s;
  EXPECT_EQ(sections.count("G"), 0u);
  // val L1 is fake_B against the true partners, recomputed here from the saved G_A.
  ASSERT_TRUE(h[2].contains("val")) << h[2].dump();
  const double logged = h[2]["val"]["l1"].get<double>();
  const double recomputed = mean_l1_of_saved_generator(run + "/latest.pt", "G_A.", data + "/testA", data + "/truth/testB");
  EXPECT_NEAR(logged, recomputed, 1e-6);
  EXPECT_TRUE(fs::exists(run + "/report.html"));

  // compare: the run's G_A on a validation input, beside that input's true partner (not an unrelated B).
  const auto cmp = test::run_p2p("compare '" + run + "' --out '" + ck + "/cmp' --num_samples 1");
  ASSERT_EQ(cmp.exit_code, 0) << cmp.output;
  const at::Tensor row = load_image(ck + "/cmp/samples/sample_0.png", 3);
  ASSERT_EQ(row.size(2), 3 * 32) << "input | G_A's output | true partner";
  const at::Tensor partner = load_image(data + "/truth/testB/t0.png", 3);
  EXPECT_TRUE(at::equal(row.narrow(2, 64, 32), partner));
}

// A reference CycleGAN run folder (latest_net_{G_A,G_B,D_A,D_B}.pth, one with old InstanceNorm keys) goes
// on training here as the reference's --continue_train would: networks from its files (at a learning rate
// too small to move them, the first checkpoint holds them to 1e-6), fresh optimizers, --epoch_count.
TEST(CliCycle, ContinuesAReferenceRunFolder) {
  ASSERT_TRUE(test::python_can_import("torch", "python3-torch"));
  const std::string data = write_unpaired(test::scratch_dir("cycle_refrun_data"));
  const std::string ck = test::scratch_dir("cycle_refrun_ck");
  const auto py = test::run_python_script("cli/reference_cycle_run.py", "'" + ck + "/ref'");
  ASSERT_EQ(py.exit_code, 0) << py.output;
  const auto r = test::run_p2p("train --continue_train --dataroot '" + data + "' --checkpoints_dir '" + ck + "' --name ref" +
                               kCycleTiny + " --n_epochs 1 --n_epochs_decay 1 --epoch_count 2 --lr 1e-12 --max_iters 1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_CONTAINS(r.output, "networks from latest_net_G_A.pth, latest_net_G_B.pth, latest_net_D_A.pth, latest_net_D_B.pth");
  EXPECT_CONTAINS(r.output, "stopped at iteration 1 (epoch 2, batch 1)");
  EXPECT_EQ(r.output.find("warning"), std::string::npos) << r.output;
  const StateDict ours = read_state_dict(ck + "/ref/latest.pt");
  for (const char* net : {"G_A", "G_B", "D_A", "D_B"}) {
    const StateDict theirs = read_state_dict(ck + "/ref/latest_net_" + std::string(net) + ".pth");
    const StateDict section = checkpoint_section(ours, std::string(net) + ".");
    std::map<std::string, at::Tensor> by_name(section.begin(), section.end());
    int compared = 0;
    for (const auto& [name, t] : theirs) {
      if (name.find("running_") != std::string::npos) continue;  // the old InstanceNorm entries, dropped
      ASSERT_EQ(by_name.count(name), 1u) << net << "." << name;
      EXPECT_LE((by_name[name] - t).abs().max().item<double>(), 1e-6) << net << "." << name;
      ++compared;
    }
    EXPECT_GT(compared, 5) << net;
  }
  // From then on it is a run of ours: config.json written, --continue_train resumes from latest.pt.
  EXPECT_TRUE(fs::exists(ck + "/ref/config.json"));
  const auto more = test::run_p2p("train --continue_train --checkpoints_dir '" + ck + "' --name ref --max_iters 2");
  ASSERT_EQ(more.exit_code, 0) << more.output;
  EXPECT_CONTAINS(more.output, "resuming " + ck + "/ref from");
}

TEST(CliCycle, RefusesWhatTheModelCannotUse) {
  const std::string data = write_unpaired(test::scratch_dir("cycle_refuse"));
  const std::string ck = test::scratch_dir("cycle_refuse_ck");
  const std::string base = "train --dataroot '" + data + "' --checkpoints_dir '" + ck + "'" + kCycleTiny + " --n_epochs 1 --n_epochs_decay 0";
  auto r = test::run_p2p(base + " --name a --lambda_L1 10");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_CONTAINS(r.output, "--lambda_L1: --model cycle_gan has no such option");
  r = test::run_p2p(base + " --name b --dataset_mode aligned");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_CONTAINS(r.output, "--dataset_mode aligned: --model cycle_gan trains on unaligned data");
  const std::string ab = test::write_ab_dataset(test::scratch_dir("cycle_ab"), 2, 0);
  r = test::run_p2p("train --dataroot '" + ab + "' --checkpoints_dir '" + ck + "' --name c" + kCycleTiny + " --n_epochs 1 --n_epochs_decay 0");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_CONTAINS(r.output, ab + "/trainA does not exist");
  EXPECT_CONTAINS(r.output, "p2p data unpair");
  r = test::run_p2p("train --dataroot '" + data + "' --checkpoints_dir '" + ck + "' --name d" + test::kTinyRun +
                    " --dataset_mode unaligned --n_epochs 1 --n_epochs_decay 0");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_CONTAINS(r.output, "--dataset_mode unaligned: unpaired data trains --model cycle_gan");
}

}  // namespace p2p
