// CycleGAN runs and the reference's CycleGAN generators through the inference side: load_generator picks
// G_A or G_B of a pix2pix.cpp CycleGAN checkpoint (G_B with swapped channels) and of a reference run
// folder (<epoch>_net_G_A.pth / _G_B.pth, with the legacy InstanceNorm keys of the published files);
// run_cycle_test and run_single_test write what the reference's CycleGAN and TestModel write.
// Outputs are compared with a direct forward of the same weights (equal to 1e-5: the same kernels,
// different paths) and with PyTorch's output of the reference networks (1e-4, float32).
#include "p2p/eval/cycle_test.h"
#include "p2p/eval/generator.h"
#include "p2p/eval/inference.h"
#include "p2p/eval/metrics.h"
#include "p2p/io/fs.h"
#include "p2p/io/image.h"
#include "p2p/io/state_dict.h"
#include "testutil/cycle_run.h"
#include "testutil/testutil.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstring>
#include <fstream>
#include <sstream>

namespace p2p {
namespace {

constexpr double kSameWeights = 1e-5;  // our forward of the same weights by another path
constexpr double kPyTorch = 1e-4;      // against PyTorch's float32 forward

double max_diff(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<double>(); }

LoadedGenerator load(const std::string& run_dir, const std::string& generator, const nlohmann::json& overrides = nullptr) {
  GeneratorSource s;
  s.run_dir = run_dir;
  s.generator = generator;
  return load_generator(s, overrides);
}

TEST(CycleInference, LoadsEitherGeneratorOfACycleGanRun) {
  const test::CycleRun run = test::write_cycle_run(test::scratch_dir("cycle_load"), "cyc");
  const at::Tensor a = at::rand({1, 32, 32}) * 2 - 1, b = at::rand({3, 32, 32}) * 2 - 1;
  for (const std::string which : {"", "G_A"}) {
    LoadedGenerator g = load(run.dir, which);
    EXPECT_EQ(g.generator, "G_A");
    EXPECT_TRUE(g.cycle_gan);
    EXPECT_EQ(g.net.input_nc, 1);
    EXPECT_EQ(g.net.output_nc, 3);
    const double d = max_diff(test::forward_one(*g.G, a), test::forward_one(*run.G_A, a));
    EXPECT_LE(d, kSameWeights) << which;
  }
  LoadedGenerator g_B = load(run.dir, "G_B");
  EXPECT_EQ(g_B.generator, "G_B");
  EXPECT_EQ(g_B.net.input_nc, 3);  // G_B maps B (3 channels) back to A (1)
  EXPECT_EQ(g_B.net.output_nc, 1);
  const double d_B = max_diff(test::forward_one(*g_B.G, b), test::forward_one(*run.G_B, b));
  EXPECT_LE(d_B, kSameWeights);
  const DataConfig data_B = generator_data_config(g_B);
  EXPECT_EQ(data_B.input_nc, 3);
  EXPECT_EQ(data_B.output_nc, 1);
  const nlohmann::json exported = generator_config(g_B);
  EXPECT_EQ(exported["net"]["input_nc"], 3);
  EXPECT_EQ(exported["data"]["input_nc"], 3);
  EXPECT_EQ(exported["data"]["output_nc"], 1);
  // The checkpoint file alone (its stored config) chooses alike.
  GeneratorSource file;
  file.weights = run.dir + "/latest.pt";
  file.generator = "G_B";
  LoadedGenerator from_file = load_generator(file);
  EXPECT_EQ(from_file.net.input_nc, 3);
  EXPECT_LE(max_diff(test::forward_one(*from_file.G, b), test::forward_one(*run.G_B, b)), kSameWeights);
}

TEST(CycleInference, RefusesGeneratorsASourceDoesNotHold) {
  const std::string root = test::scratch_dir("cycle_refuse");
  const test::CycleRun run = test::write_cycle_run(root, "cyc");
  EXPECT_NE(test::error_of([&] { load(run.dir, "G"); }).find("is a CycleGAN run with generators G_A"), std::string::npos);
  GeneratorSource flagged;
  flagged.run_dir = run.dir;
  flagged.generator = "G";
  flagged.generator_flag = "--model_suffix ''";
  EXPECT_NE(test::error_of([&] { load_generator(flagged); }).find("--model_suffix ''"), std::string::npos);
  EXPECT_NE(test::error_of([&] { load(run.dir, "G_C"); }).find("expected G_A (A -> B) or G_B"), std::string::npos);
  // A pix2pix checkpoint has one generator.
  NetConfig net;
  net.netG = "unet_32";
  net.ngf = 8;
  NetworkPtr G = make_generator(net);
  CheckpointMeta meta;
  meta.config_json = nlohmann::json{{"net", to_json(net)}}.dump();
  make_dirs(root + "/p2p");
  save_checkpoint(root + "/p2p/latest.pt", TrainingState::pix2pix(G.get()), meta);
  EXPECT_NE(test::error_of([&] { load(root + "/p2p", "G_B"); }).find("is a pix2pix run with one generator"),
            std::string::npos);
  EXPECT_EQ(load(root + "/p2p", "G").generator, "G");
  EXPECT_FALSE(load(root + "/p2p", "").cycle_gan);
}

// The reference's CycleGAN run folder, made by tests/eval/cycle_reference.py with PyTorch.
const std::string& cycle_reference() {
  static const std::string dir = test::cached_python_fixture(
      "cycle_reference", "eval/cycle_reference.py", test::read_file(std::string(P2P_TEST_SOURCE_DIR) + "/bench/reference/networks.py"),
      "done", std::string("needs ") + P2P_TEST_PYTHON + " with PyTorch and PIL: sudo apt-get install python3-torch python3-pil");
  return dir;
}

at::Tensor read_f32(const std::string& path, std::vector<int64_t> shape) {
  const std::string bytes = test::read_file(path);
  at::Tensor t = at::empty(shape, at::kFloat);
  EXPECT_EQ(bytes.size(), static_cast<size_t>(t.numel()) * 4) << path;
  std::memcpy(t.data_ptr<float>(), bytes.data(), std::min<size_t>(bytes.size(), t.numel() * 4));
  return t;
}

const nlohmann::json kReferenceFlags = {{"netG", "resnet_9blocks"}, {"norm", "instance"}, {"no_dropout", true}, {"ngf", 8}};

TEST(CycleInference, ReferenceCycleGanFolderMatchesPyTorch) {
  ASSERT_TRUE(test::python_can_import("torch, PIL", "python3-torch python3-pil"));
  const std::string dir = cycle_reference();
  const std::string run = dir + "/checkpoints/ref_cycle";
  for (const auto& [which, side] : {std::pair<std::string, std::string>{"G_A", "A"}, {"G_B", "B"}, {"", "A"}}) {
    SCOPED_TRACE(which);
    LoadedGenerator g = load(run, which, kReferenceFlags);
    EXPECT_EQ(g.generator, which.empty() ? "G_A" : which);
    EXPECT_TRUE(g.cycle_gan);
    prepare_for_inference(g, c10::Device(c10::kCPU), /*eval=*/true);
    const at::Tensor x = read_f32(dir + "/input_" + side + ".bin", {3, 32, 32});
    const at::Tensor want = read_f32(dir + "/out_" + side + ".bin", {3, 32, 32});
    const double d = max_diff(translate_tensor(*g.G, x, c10::Device(c10::kCPU)), want);
    std::cout << "[ reference " << (which.empty() ? "default" : which) << " ] max |ours - PyTorch| = " << d << "\n";
    EXPECT_LE(d, kPyTorch);
  }
  // No latest_net_G.pth: choosing G names the pair that is there.
  const std::string e = test::error_of([&] { load(run, "G", kReferenceFlags); });
  EXPECT_NE(e.find("latest_net_G_A.pth, latest_net_G_B.pth"), std::string::npos) << e;
  EXPECT_NE(e.find("CycleGAN pair"), std::string::npos) << e;
}

TEST(CycleInference, ReferenceFileWithoutItsFlagsSaysWhichFlagsFit) {
  ASSERT_TRUE(test::python_can_import("torch, PIL", "python3-torch python3-pil"));
  const std::string run = cycle_reference() + "/checkpoints/ref_cycle";
  const std::string e = test::error_of([&] { load(run, "G_A"); });  // the default architecture: unet_256, batch
  EXPECT_NE(e.find("does not fit"), std::string::npos) << e;
  EXPECT_NE(e.find("--netG resnet_9blocks --norm instance --no_dropout --ngf 8"), std::string::npos) << e;
  // Only the legacy InstanceNorm keys are dropped: any other extra entry is still an error naming it.
  StateDict sd = read_state_dict(run + "/latest_net_G_A.pth");
  sd.emplace_back("model.1.extra", at::zeros({2}));
  const std::string scratch = test::scratch_dir("cycle_extra");
  write_state_dict(scratch + "/latest_net_G_A.pth", sd);
  const std::string e2 = test::error_of([&] { load(scratch, "G_A", kReferenceFlags); });
  EXPECT_NE(e2.find("not in the network: model.1.extra"), std::string::npos) << e2;
}

// A tiny unaligned test split with true partners: testA/a<i>.png (1 channel), testB/b<i>.png (RGB),
// truth/testB/a<i>.png (the true B of a<i>), truth/testA/b<i>.png (the true A of b<i>).
std::string write_unaligned(const std::string& root) {
  for (const char* d : {"testA", "testB", "truth/testA", "truth/testB"}) make_dirs(root + "/" + d);
  for (int i = 0; i < 2; ++i) {
    const std::string n = std::to_string(i);
    test::write_random_png(root + "/testA/a" + n + ".png", 32, 32, 1, 100 + i);
    test::write_random_png(root + "/testB/b" + n + ".png", 32, 32, 3, 200 + i);
    test::write_random_png(root + "/truth/testB/a" + n + ".png", 32, 32, 3, 300 + i);
    test::write_random_png(root + "/truth/testA/b" + n + ".png", 32, 32, 1, 400 + i);
  }
  return root;
}

TEST(CycleInference, CycleTestWritesBothDirectionsAndScoresTruePartners) {
  const std::string root = test::scratch_dir("cycle_test");
  const test::CycleRun run = test::write_cycle_run(root, "cyc");
  const std::string data_root = write_unaligned(root + "/data");
  LoadedGenerator g_A = load(run.dir, "G_A"), g_B = load(run.dir, "G_B");
  const c10::Device cpu(c10::kCPU);
  prepare_for_inference(g_A, cpu, true);
  prepare_for_inference(g_B, cpu, true);
  DataConfig d = generator_data_config(g_A);
  d.dataroot = data_root;
  TestConfig t;
  t.phase = "test";
  t.eval = true;
  std::ostringstream log;
  const std::string out = root + "/results";
  const CycleTestReport r = run_cycle_test(*g_A.G, *g_B.G, d, t, cpu, out, nlohmann::json::object(), log);
  EXPECT_TRUE(r.failed.empty()) << log.str();
  EXPECT_EQ(r.AtoB.translated, 2);
  EXPECT_EQ(r.BtoA.translated, 2);
  EXPECT_EQ(r.AtoB.scored, 2);
  EXPECT_EQ(r.BtoA.scored, 2);
  for (const char* name : {"a0_real_A.png", "a0_fake_B.png", "a0_rec_A.png", "b1_real_B.png", "b1_fake_A.png",
                           "b1_rec_B.png"}) {
    EXPECT_TRUE(test::file_exists(out + "/images/" + name)) << name;
  }
  EXPECT_TRUE(test::file_exists(out + "/index.html"));
  // The files hold the direct forward of the run's weights, 8-bit rounded (half a step + float slack).
  const double png = 0.5 / 255 + 1e-5;
  const at::Tensor a0 = load_image(data_root + "/testA/a0.png", 1) * 2 - 1;
  const at::Tensor fake_B = test::forward_one(*run.G_A, a0);
  EXPECT_LE(max_diff(load_image(out + "/fake_B/a0.png", 3), to_unit_range(fake_B)), png);
  const at::Tensor rec_A = test::forward_one(*run.G_B, fake_B);
  EXPECT_LE(max_diff(load_image(out + "/images/a0_rec_A.png", 1), to_unit_range(rec_A)), png);
  const at::Tensor b1 = load_image(data_root + "/testB/b1.png", 3) * 2 - 1;
  const at::Tensor fake_A = test::forward_one(*run.G_B, b1);
  EXPECT_LE(max_diff(load_image(out + "/fake_A/b1.png", 1), to_unit_range(fake_A)), png);
  EXPECT_LE(max_diff(load_image(out + "/images/b1_rec_B.png", 3), to_unit_range(test::forward_one(*run.G_A, fake_A))), png);
  // Scores: the folders scored independently (files vs files) give metrics.json's means.
  const nlohmann::json m = nlohmann::json::parse(test::read_file(out + "/metrics.json"));
  const MetricsReport by_folder_B = evaluate_folders(out + "/fake_B", data_root + "/truth/testB", 3);
  const MetricsReport by_folder_A = evaluate_folders(out + "/fake_A", data_root + "/truth/testA", 1);
  EXPECT_NEAR(m["AtoB"]["mean"]["psnr"].get<double>(), by_folder_B.mean.psnr, 1e-6);
  EXPECT_NEAR(m["AtoB"]["mean"]["ssim"].get<double>(), by_folder_B.mean.ssim, 1e-6);
  EXPECT_NEAR(m["mean"]["l1"].get<double>(), by_folder_B.mean.l1, 1e-6);
  EXPECT_NEAR(m["BtoA"]["mean"]["l1"].get<double>(), by_folder_A.mean.l1, 1e-6);
  EXPECT_EQ(m["model"], "cycle_gan");
  EXPECT_EQ(m["AtoB"]["count"], 2);
}

TEST(CycleInference, SingleTestTranslatesOneFolderWithTestModelNames) {
  const std::string root = test::scratch_dir("single_test");
  const test::CycleRun run = test::write_cycle_run(root, "cyc");
  const std::string data_root = write_unaligned(root + "/data");
  LoadedGenerator g_B = load(run.dir, "G_B");
  const c10::Device cpu(c10::kCPU);
  prepare_for_inference(g_B, cpu, true);
  DataConfig d = generator_data_config(g_B);
  d.dataroot = data_root + "/testB";
  TestConfig t;
  t.eval = true;
  std::ostringstream log;
  const std::string out = root + "/results";
  const TestReport r = run_single_test(*g_B.G, d, t, cpu, out, nlohmann::json::object(), log);
  EXPECT_EQ(r.scored, 2) << log.str();
  EXPECT_TRUE(test::file_exists(out + "/images/b0_real.png"));
  EXPECT_TRUE(test::file_exists(out + "/index.html"));
  const at::Tensor b0 = load_image(data_root + "/testB/b0.png", 3) * 2 - 1;
  EXPECT_LE(max_diff(load_image(out + "/images/b0_fake.png", 1), to_unit_range(test::forward_one(*run.G_B, b0))),
            0.5 / 255 + 1e-5);
  d.dataroot = data_root;  // holds folders, no images: the reference reads --dataroot itself
  EXPECT_NE(test::error_of([&] { run_single_test(*g_B.G, d, t, cpu, out, nullptr, log); }).find("--dataroot itself"),
            std::string::npos);
}

}  // namespace
}  // namespace p2p
