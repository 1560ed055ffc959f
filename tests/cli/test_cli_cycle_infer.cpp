// CycleGAN runs and the reference's CycleGAN generators through every command that uses a generator:
// `p2p test --model cycle_gan` (both directions, reconstructions, scores against true partners),
// `p2p test --model test --dataset_mode single --model_suffix _A` (the reference's TestModel over one
// folder, as its published models run), `p2p translate --direction/--generator`, `p2p export` of G_B.
// Outputs equal a direct forward of the run's weights within half an 8-bit step (PNG files) or 1e-5
// (float32 TIFF / safetensors); the reference folder's outputs equal PyTorch's within half a step + 1e-4.
#include "p2p/eval/generator.h"
#include "p2p/io/image.h"
#include "testutil/cycle_run.h"
#include "testutil/testutil.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstring>

namespace p2p {
namespace {

using test::run_p2p;

constexpr double kPng = 0.5 / 255 + 1e-5;

double max_diff(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<double>(); }

struct Fixture {
  std::string root, ck, data;
  test::CycleRun run;
};

// A CycleGAN run (1-channel A, RGB B) and a test split with true partners (as `p2p data unpair` writes).
Fixture cycle_fixture(const std::string& tag) {
  Fixture f;
  f.root = test::scratch_dir(tag);
  f.ck = f.root + "/ck";
  f.run = test::write_cycle_run(f.ck, "cyc");
  f.data = f.root + "/data";
  for (const char* d : {"testA", "testB", "truth/testA", "truth/testB"}) make_dirs(f.data + "/" + d);
  test::write_random_png(f.data + "/testA/a0.png", 32, 32, 1, 1);
  test::write_random_png(f.data + "/testB/b0.png", 32, 32, 3, 2);
  test::write_random_png(f.data + "/truth/testB/a0.png", 32, 32, 3, 3);
  test::write_random_png(f.data + "/truth/testA/b0.png", 32, 32, 1, 4);
  return f;
}

TEST(CliCycleInfer, TestCycleGanRunWritesBothDirections) {
  const Fixture f = cycle_fixture("clicyc_test");
  const std::string common = " --checkpoints_dir " + f.ck + " --dataroot " + f.data + " --results_dir " + f.root + "/res --eval";
  // A CycleGAN run is tested as one by default; --model cycle_gan says it explicitly.
  for (const std::string model : {"", " --model cycle_gan"}) {
    auto r = run_p2p("test --name cyc" + common + model);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("G_A: translated 1 of 1 images"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("G_B: translated 1 of 1 images"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("against 1 true partners"), std::string::npos) << r.output;
  }
  const std::string out = f.root + "/res/cyc/test_latest";
  const at::Tensor a0 = load_image(f.data + "/testA/a0.png", 1) * 2 - 1;
  const at::Tensor fake_B = test::forward_one(*f.run.G_A, a0);
  EXPECT_LE(max_diff(load_image(out + "/images/a0_fake_B.png", 3), to_unit_range(fake_B)), kPng);
  EXPECT_LE(max_diff(load_image(out + "/images/a0_rec_A.png", 1), to_unit_range(test::forward_one(*f.run.G_B, fake_B))), kPng);
  const at::Tensor b0 = load_image(f.data + "/testB/b0.png", 3) * 2 - 1;
  EXPECT_LE(max_diff(load_image(out + "/fake_A/b0.png", 1), to_unit_range(test::forward_one(*f.run.G_B, b0))), kPng);
  const nlohmann::json m = nlohmann::json::parse(test::read_file(out + "/metrics.json"));
  EXPECT_EQ(m["AtoB"]["count"], 1);
  EXPECT_EQ(m["BtoA"]["count"], 1);
  EXPECT_TRUE(test::file_exists(out + "/index.html"));
}

TEST(CliCycleInfer, TranslateExportAndTestPickOneGenerator) {
  const Fixture f = cycle_fixture("clicyc_one");
  const std::string run = " --name cyc --checkpoints_dir " + f.ck + " --eval";
  // translate: --direction BtoA and --generator G_B are G_B (3 -> 1 channels).
  for (const std::string how : {" --direction BtoA", " --generator G_B"}) {
    const std::string out = f.root + "/tr" + std::to_string(how.size());
    auto r = run_p2p("translate" + run + how + " --input " + f.data + "/testB --output " + out);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const at::Tensor b0 = load_image(f.data + "/testB/b0.png", 3) * 2 - 1;
    EXPECT_LE(max_diff(load_image(out + "/b0.png", 1), to_unit_range(test::forward_one(*f.run.G_B, b0))), kPng) << how;
  }
  auto r = run_p2p("translate" + run + " --direction AtoB --generator G_B --input " + f.data + "/testB --output " + f.root + "/x");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--direction AtoB and --generator G_B name different generators"), std::string::npos) << r.output;
  // export: G_B with its own channels in the header; loading the export gives G_B's forward.
  r = run_p2p("export --name cyc --checkpoints_dir " + f.ck + " --direction BtoA --out " + f.root + "/g_B.safetensors");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("exported G_B"), std::string::npos) << r.output;
  GeneratorSource s;
  s.weights = f.root + "/g_B.safetensors";
  LoadedGenerator g = load_generator(s);
  EXPECT_EQ(g.net.input_nc, 3);
  EXPECT_EQ(generator_data_config(g).output_nc, 1);
  const at::Tensor x = at::rand({3, 32, 32}) * 2 - 1;
  EXPECT_LE(max_diff(test::forward_one(*g.G, x), test::forward_one(*f.run.G_B, x)), 1e-5);
  // test --model test: one generator over one folder, TestModel's names.
  r = run_p2p("test" + run + " --model test --dataset_mode single --model_suffix _B --dataroot " + f.data +
              "/testB --results_dir " + f.root + "/res");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const at::Tensor b0 = load_image(f.data + "/testB/b0.png", 3) * 2 - 1;
  EXPECT_LE(max_diff(load_image(f.root + "/res/cyc/test_latest/images/b0_fake.png", 1),
                     to_unit_range(test::forward_one(*f.run.G_B, b0))),
            kPng);
  EXPECT_TRUE(test::file_exists(f.root + "/res/cyc/test_latest/images/b0_real.png"));
}

TEST(CliCycleInfer, MismatchesAreRefusedNamingTheFlag) {
  const Fixture f = cycle_fixture("clicyc_refuse");
  {  // a pix2pix run: one generator, G
    NetConfig net;
    net.netG = "unet_32";
    net.ngf = 8;
    NetworkPtr G = make_generator(net);
    CheckpointMeta meta;
    meta.config_json = nlohmann::json{{"net", to_json(net)}}.dump();
    make_dirs(f.ck + "/pix");
    save_checkpoint(f.ck + "/pix/latest.pt", TrainingState::pix2pix(G.get()), meta);
  }
  auto r = run_p2p("--version");
  const std::string ck = " --checkpoints_dir " + f.ck + " --results_dir " + f.root + "/res";
  r = run_p2p("test --name pix --model cycle_gan --dataroot " + f.data + ck);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--model cycle_gan: "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("is not a CycleGAN run"), std::string::npos) << r.output;
  r = run_p2p("test --name pix --model test --model_suffix _A --dataroot " + f.data + "/testA" + ck);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--model_suffix '_A': "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("pix2pix run with one generator"), std::string::npos) << r.output;
  r = run_p2p("test --name cyc --model test --dataroot " + f.data + "/testA" + ck);  // no suffix: G
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--model_suffix '': "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("CycleGAN run with generators G_A"), std::string::npos) << r.output;
  r = run_p2p("test --name cyc --dataset_mode single --dataroot " + f.data + "/testA" + ck);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--dataset_mode single (one folder of inputs, no targets) is the reference's TestModel: add "
                          "--model test"),
            std::string::npos)
      << r.output;
  r = run_p2p("test --name cyc --model cycle_gan --generator G_B --dataroot " + f.data + ck);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--generator G_B: --model cycle_gan runs both generators"), std::string::npos) << r.output;
  r = run_p2p("translate --name pix --checkpoints_dir " + f.ck + " --generator G_B --input " + f.data + "/testB --output " +
              f.root + "/o");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--generator G_B: "), std::string::npos) << r.output;
  r = run_p2p("test --name cyc --model colorization --dataroot " + f.data + ck);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--model colorization: this command runs the reference's pix2pix, cycle_gan and test"),
            std::string::npos)
      << r.output;
}

at::Tensor read_f32(const std::string& path, std::vector<int64_t> shape) {
  const std::string bytes = test::read_file(path);
  at::Tensor t = at::empty(shape, at::kFloat);
  EXPECT_EQ(bytes.size(), static_cast<size_t>(t.numel()) * 4) << path;
  std::memcpy(t.data_ptr<float>(), bytes.data(), std::min<size_t>(bytes.size(), t.numel() * 4));
  return t;
}

// The reference's way of running a published CycleGAN generator: test.py --model test --dataset_mode
// single --model_suffix _A --no_dropout (plus the architecture, which a .pth does not carry).
TEST(CliCycleInfer, ReferenceTestModelCommandLineMatchesPyTorch) {
  ASSERT_TRUE(test::python_can_import("torch, PIL", "python3-torch python3-pil"));
  const std::string dir = test::cached_python_fixture(
      "cycle_reference", "eval/cycle_reference.py", test::read_file(std::string(P2P_TEST_SOURCE_DIR) + "/bench/reference/networks.py"),
      "done", std::string("needs ") + P2P_TEST_PYTHON + " with PyTorch and PIL");
  const std::string res = test::scratch_dir("clicyc_ref");
  const std::string base = "test --name ref_cycle --checkpoints_dir " + dir + "/checkpoints --model test --dataset_mode single"
                           " --preprocess none --results_dir " + res + " --eval";
  auto r = run_p2p(base + " --model_suffix _A --dataroot " + dir + "/data/testA");
  EXPECT_NE(r.exit_code, 0);  // the default architecture (unet_256, batch) does not fit: the message says what does
  EXPECT_NE(r.output.find("its keys look like --netG resnet_9blocks --norm instance --no_dropout"), std::string::npos)
      << r.output;
  for (const std::string side : {"A", "B"}) {
    r = run_p2p(base + " --netG resnet_9blocks --norm instance --no_dropout --ngf 8 --model_suffix _" + side +
                " --dataroot " + dir + "/data/test" + side);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const at::Tensor want = at::clamp((read_f32(dir + "/out_" + side + ".bin", {3, 32, 32}) + 1) / 2, 0, 1);
    const double d = max_diff(load_image(res + "/ref_cycle/test_latest/images/0_fake.png", 3), want);
    std::cout << "[ reference G_" << side << " via p2p test ] max |PNG - PyTorch| = " << d << "\n";
    EXPECT_LE(d, kPng + 1e-4);
  }
}

}  // namespace
}  // namespace p2p
