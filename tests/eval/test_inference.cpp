// Inference: any-size translation (pad to the generator's multiple, crop back), weight loading errors,
// `translate` over files and folders, and `test` output files on a tiny synthetic aligned dataset.
// Networks are unet_32 with ngf 8 so every forward pass takes milliseconds.
#include "p2p/eval/inference.h"
#include "p2p/eval/translate.h"

#include "p2p/core/error.h"
#include "p2p/eval/metrics.h"
#include "p2p/io/checkpoint.h"
#include "p2p/io/fs.h"
#include "p2p/io/image.h"
#include "p2p/io/state_dict.h"
#include "p2p/io/tiff.h"
#include "testutil/testutil.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <torch/utils.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace p2p {
namespace {

const c10::Device kCpu(c10::kCPU);
std::ostringstream log_;  // what the batch jobs report

NetworkPtr tiny_generator(int input_nc, int output_nc, bool eval) {
  torch::manual_seed(7);
  NetConfig cfg;
  cfg.input_nc = input_nc;
  cfg.output_nc = output_nc;
  cfg.ngf = 8;
  cfg.netG = "unet_32";
  NetworkPtr g = make_generator(cfg);
  init_weights(*g, "normal", 0.02);
  set_eval_mode(*g, eval);
  return g;
}

template <typename Fn>
void expect_error_naming(Fn fn, const std::string& needle) {
  try {
    fn();
    ADD_FAILURE() << "expected p2p::Error naming " << needle;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

at::Tensor forward_once(Network& g, const at::Tensor& batch) {
  torch::NoGradGuard no_grad;
  return g.forward(batch);
}

TEST(Inference, OutputKeepsInputSizeForAnySize) {
  NetworkPtr g = tiny_generator(3, 3, true);
  ASSERT_EQ(g->size_multiple(), 32);
  for (auto [h, w] : std::vector<std::pair<int64_t, int64_t>>{{37, 50}, {10, 10}, {1, 5}, {64, 33}}) {
    at::Tensor a = at::rand({3, h, w}) * 2 - 1;
    at::Tensor y = translate_tensor(*g, a, kCpu);
    EXPECT_EQ(y.sizes(), (at::IntArrayRef{3, h, w})) << h << "x" << w;
    EXPECT_TRUE(y.isfinite().all().item<bool>());
    EXPECT_LE(y.abs().max().item<float>(), 1.0f);  // tanh output
  }
}

TEST(Inference, EqualsForwardOnReflectPaddedInput) {
  NetworkPtr g = tiny_generator(3, 3, true);
  // A multiple of 32 needs no padding: exactly one forward pass.
  at::Tensor exact = at::rand({3, 32, 64}) * 2 - 1;
  EXPECT_TRUE(at::allclose(translate_tensor(*g, exact, kCpu), forward_once(*g, exact.unsqueeze(0)).squeeze(0)));
  // 20x24 -> 32x32: 12 rows (6 above, 6 below) and 8 columns (4 each side) of mirror padding.
  at::Tensor a = at::rand({3, 20, 24}) * 2 - 1;
  at::Tensor padded = at::reflection_pad2d(a.unsqueeze(0), {4, 4, 6, 6});
  at::Tensor expected = forward_once(*g, padded).squeeze(0).narrow(1, 6, 20).narrow(2, 4, 24);
  at::Tensor got = translate_tensor(*g, a, kCpu);
  EXPECT_TRUE(at::allclose(got, expected, 1e-5, 1e-6)) << (got - expected).abs().max();
}

TEST(Inference, TinyImagePadsByRepeatedReflection) {
  // A constant 10x10 image stays constant however often the padding bounces: the result must be the
  // centre of the output for a constant 32x32 input (11 rows/columns of padding before the image).
  NetworkPtr g = tiny_generator(3, 3, true);
  at::Tensor a = at::full({3, 10, 10}, 0.3);
  at::Tensor full = forward_once(*g, at::full({1, 3, 32, 32}, 0.3)).squeeze(0);
  EXPECT_TRUE(at::allclose(translate_tensor(*g, a, kCpu), full.narrow(1, 11, 10).narrow(2, 11, 10), 1e-5, 1e-6));
}

TEST(Inference, TranslateFolderKeepsSizes) {
  NetworkPtr g = tiny_generator(3, 3, false);  // paper test mode: dropout and batch statistics
  const std::string root = test::scratch_dir("translate_folder");
  const std::string in = root + "/in", out = root + "/out/nested";
  std::filesystem::create_directories(in);
  test::write_random_png(in + "/first.png", 50, 37, 3, 1);
  test::write_random_png(in + "/second image.png", 16, 20, 3, 2);
  EXPECT_EQ(run_translate(*g, in, out, 3, kCpu, log_).written, 2);
  int w = 0, h = 0;
  image_size(out + "/first.png", w, h);
  EXPECT_EQ(w, 50);
  EXPECT_EQ(h, 37);
  image_size(out + "/second image.png", w, h);
  EXPECT_EQ(w, 16);
  EXPECT_EQ(h, 20);
  EXPECT_EQ(load_image(out + "/first.png", 3).size(0), 3);

  // A single file works too.
  const std::string single = root + "/single";
  EXPECT_EQ(run_translate(*g, in + "/first.png", single, 3, kCpu, log_).written, 1);
  EXPECT_EQ(list_images(single).size(), 1u);
}

TEST(Inference, TranslateGray) {
  NetworkPtr g = tiny_generator(1, 1, true);
  const std::string root = test::scratch_dir("translate_gray");
  // An RGB file is converted to gray on load because input_nc is 1.
  test::write_random_png(root + "/rgb.png", 21, 13, 3, 3);
  EXPECT_EQ(run_translate(*g, root + "/rgb.png", root + "/out", 1, kCpu, log_).written, 1);
  at::Tensor out = load_image(root + "/out/rgb.png", 3);
  EXPECT_EQ(out.sizes(), (at::IntArrayRef{3, 13, 21}));
  // Written as gray: the three loaded channels are equal.
  EXPECT_TRUE(at::equal(out[0], out[1]));
  EXPECT_TRUE(at::equal(out[0], out[2]));
}

TEST(Inference, TranslateErrorsNameTheInput) {
  NetworkPtr g = tiny_generator(3, 3, true);
  const std::string root = test::scratch_dir("translate_errors");
  std::filesystem::create_directories(root + "/empty");
  expect_error_naming([&] { run_translate(*g, root + "/empty", root + "/out", 3, kCpu, log_); }, root + "/empty");
  expect_error_naming([&] { run_translate(*g, root + "/nothing_here", root + "/out", 3, kCpu, log_); }, "nothing_here");

  std::filesystem::create_directories(root + "/bad");
  test::write_random_png(root + "/bad/a.png", 12, 12, 3, 4);
  // Writing <stem>.png into the input folder would replace the input itself: the command is wrong,
  // so nothing is written.
  expect_error_naming([&] { run_translate(*g, root + "/bad/a.png", root + "/bad", 3, kCpu, log_); }, "overwrite");
}

TEST(Inference, TranslateDrawsALiveProgressLineOnATerminal) {
  NetworkPtr g = tiny_generator(3, 3, true);
  const std::string root = test::scratch_dir("translate_live");
  std::filesystem::create_directories(root + "/in");
  test::write_random_png(root + "/in/a.png", 100, 70, 3, 1);
  test::write_random_png(root + "/in/b.png", 20, 20, 3, 2);
  DataConfig d;
  TranslateOptions o;
  o.progress = true;
  o.tiles = {32, 8, 1};
  std::ostringstream live;
  EXPECT_EQ(run_translate(*g, root + "/in", root + "/out", d, kCpu, live, o).written, 2);
  // Redrawn in place: the bar, files done, the current file's tiles (a.png: 4 x 3 tiles of 32).
  EXPECT_NE(live.str().find("\r\033[K["), std::string::npos) << live.str();
  EXPECT_NE(live.str().find("0/2 files  tile 12/12  eta "), std::string::npos) << live.str();
  EXPECT_NE(live.str().find("  a.png"), std::string::npos) << live.str();
  EXPECT_NE(live.str().find("1/2 files"), std::string::npos) << live.str();
  EXPECT_EQ(live.str().find("[1/2] "), std::string::npos) << "no per-file lines on a terminal";
  // Without a terminal: a line per file instead, and no escape codes.
  std::ostringstream plain;
  o.progress = false;
  EXPECT_EQ(run_translate(*g, root + "/in", root + "/out2", d, kCpu, plain, o).written, 2);
  EXPECT_NE(plain.str().find("[1/2] " + root + "/in/a.png -> " + root + "/out2/a.png"), std::string::npos) << plain.str();
  EXPECT_EQ(plain.str().find("\033"), std::string::npos);
}

TEST(Inference, OneBadFileDoesNotStopAFolder) {
  NetworkPtr g = tiny_generator(3, 3, true);
  const std::string root = test::scratch_dir("translate_batch");
  const std::string in = root + "/in", out = root + "/out";
  std::filesystem::create_directories(in);
  test::write_random_png(in + "/a.png", 12, 12, 3, 4);
  const std::string whole = [&] {
    test::write_random_png(in + "/b.png", 40, 40, 3, 5);
    return test::read_file(in + "/b.png");
  }();
  std::ofstream(in + "/b.png", std::ios::binary) << whole.substr(0, whole.size() / 2);  // truncated
  std::ofstream(in + "/c.png") << "not a png";
  test::write_random_png(in + "/d.png", 9, 14, 3, 6);
  std::ostringstream log;
  const TranslateReport r = run_translate(*g, in, out, 3, kCpu, log);
  EXPECT_EQ(r.written, 2);
  ASSERT_EQ(r.failed.size(), 2u);
  EXPECT_EQ(r.failed[0].first, in + "/b.png");
  EXPECT_EQ(r.failed[1].first, in + "/c.png");
  // The files after the bad ones were translated, and each failure was reported naming the file.
  EXPECT_TRUE(test::file_exists(out + "/a.png"));
  EXPECT_TRUE(test::file_exists(out + "/d.png"));
  EXPECT_FALSE(test::file_exists(out + "/b.png"));
  EXPECT_NE(log.str().find("skipped " + in + "/b.png"), std::string::npos) << log.str();
  EXPECT_NE(log.str().find("skipped " + in + "/c.png"), std::string::npos) << log.str();
}

TEST(Inference, MissingWeightsFileIsNamed) {
  NetworkPtr g = tiny_generator(3, 3, true);
  const std::string path = test::scratch_dir("weights") + "/latest_net_G.pth";
  expect_error_naming([&] { load_generator_weights(*g, path); }, path);
}

TEST(Inference, LoadsReferenceStateDict) {
  NetworkPtr src = tiny_generator(3, 3, true);
  torch::manual_seed(99);
  NetConfig cfg;
  cfg.ngf = 8;
  cfg.netG = "unet_32";
  NetworkPtr dst = make_generator(cfg);
  init_weights(*dst, "normal", 0.02);
  set_eval_mode(*dst, true);
  const std::string path = test::scratch_dir("weights_sd") + "/5_net_G.pth";
  write_state_dict(path, state_dict_of(*src));
  load_generator_weights(*dst, path);
  at::Tensor a = at::rand({3, 32, 32}) * 2 - 1;
  EXPECT_TRUE(at::equal(translate_tensor(*dst, a, kCpu), translate_tensor(*src, a, kCpu)));
}

TEST(Inference, LoadsCheckpointGeneratorPart) {
  NetworkPtr src = tiny_generator(3, 3, true);
  torch::manual_seed(123);
  NetConfig cfg;
  cfg.ngf = 8;
  cfg.netG = "unet_32";
  NetworkPtr dst = make_generator(cfg);
  init_weights(*dst, "normal", 0.02);
  set_eval_mode(*dst, true);
  const std::string path = test::scratch_dir("weights_ckpt") + "/latest.pt";
  const TrainingState state = TrainingState::pix2pix(src.get());
  save_checkpoint(path, state, CheckpointMeta{});
  at::Tensor a = at::rand({3, 32, 32}) * 2 - 1;
  ASSERT_FALSE(at::equal(translate_tensor(*dst, a, kCpu), translate_tensor(*src, a, kCpu)));
  load_generator_weights(*dst, path);
  EXPECT_TRUE(at::equal(translate_tensor(*dst, a, kCpu), translate_tensor(*src, a, kCpu)));
}

// <root>/test/<i>.png: aligned AB images (A | B), each half w x h.
void write_aligned_split(const std::string& dir, int count, int w, int h) {
  std::filesystem::create_directories(dir);
  for (int i = 0; i < count; ++i) test::write_random_png(dir + "/" + std::to_string(i) + ".png", 2 * w, h, 3, 100 + i);
}

TEST(Inference, RunTestWritesImagesMetricsAndIndex) {
  NetworkPtr g = tiny_generator(3, 3, false);
  const std::string root = test::scratch_dir("run_test");
  write_aligned_split(root + "/data/test", 3, 24, 20);
  DataConfig data;
  data.dataroot = root + "/data";
  data.phase = "test";
  data.preprocess = "none";
  TestConfig tcfg;
  tcfg.num_test = 50;
  const std::string out = root + "/results";
  EXPECT_EQ(run_test(*g, data, tcfg, kCpu, out, {{"run", "r"}}, log_).scored, 3);
  for (int i = 0; i < 3; ++i) {
    for (const char* kind : {"real_A", "fake_B", "real_B"}) {
      const std::string path = out + "/images/" + std::to_string(i) + "_" + kind + ".png";
      ASSERT_TRUE(test::file_exists(path)) << path;
      int w = 0, h = 0;
      image_size(path, w, h);
      EXPECT_EQ(w, 24);  // 'none' keeps the size; G's multiple (32) is handled by padding
      EXPECT_EQ(h, 20);
    }
  }
  // real_B is the right half of the AB file.
  at::Tensor ab = load_image(root + "/data/test/1.png", 3);
  EXPECT_TRUE(at::allclose(load_image(out + "/images/1_real_B.png", 3), ab.narrow(2, 24, 24)));

  nlohmann::json j = nlohmann::json::parse(test::read_file(out + "/metrics.json"));
  EXPECT_EQ(j["count"].get<int>(), 3);
  EXPECT_EQ(j["run"], "r");  // provenance given by the caller
  ASSERT_EQ(j["images"].size(), 3u);
  EXPECT_EQ(j["images"][2]["name"], "2");
  // Recomputing from the written PNGs gives the stored numbers.
  ImageMetrics m = compute_metrics(load_image(out + "/images/2_fake_B.png", 3), load_image(out + "/images/2_real_B.png", 3));
  EXPECT_NEAR(j["images"][2]["psnr"].get<double>(), m.psnr, 1e-5);
  EXPECT_NEAR(j["images"][2]["ssim"].get<double>(), m.ssim, 1e-5);
  EXPECT_NEAR(j["images"][2]["l1"].get<double>(), m.l1, 1e-5);
  EXPECT_TRUE(test::file_exists(out + "/metrics.csv"));

  const std::string page = test::read_file(out + "/index.html");
  size_t rows = 0;
  for (size_t p = page.find("<tr>"); p != std::string::npos; p = page.find("<tr>", p + 1)) ++rows;
  EXPECT_EQ(rows, 3u);
  EXPECT_NE(page.find("images/0_fake_B.png"), std::string::npos);
  EXPECT_NE(page.find("<title>pix2pix results: r · test</title>"), std::string::npos);
  EXPECT_NE(page.find("href=\"metrics.csv\""), std::string::npos);
  EXPECT_NE(page.find("href=\"by_psnr_worst.html\""), std::string::npos);
  // The sorted pages hold the same rows ordered by the metric (from metrics.json), best or worst first.
  for (const auto& [key, higher_better] : {std::pair<std::string, bool>{"l1", false}, {"psnr", true}, {"ssim", true}}) {
    std::vector<std::pair<double, std::string>> by_value;
    for (const auto& im : j["images"]) by_value.emplace_back(im[key].get<double>(), im["name"].get<std::string>());
    std::sort(by_value.begin(), by_value.end());
    if (higher_better) std::reverse(by_value.begin(), by_value.end());
    for (const bool best : {true, false}) {
      const std::string sorted = test::read_file(out + "/by_" + key + (best ? "_best" : "_worst") + ".html");
      std::vector<size_t> at;
      for (const auto& v : by_value) at.push_back(sorted.find("images/" + v.second + "_fake_B.png"));
      for (size_t k = 1; k < at.size(); ++k) {
        if (best) EXPECT_LT(at[k - 1], at[k]) << key << " best first";
        else EXPECT_GT(at[k - 1], at[k]) << key << " worst first";
      }
    }
  }

  // num_test limits the pairs; a rerun replaces the summary files.
  tcfg.num_test = 2;
  EXPECT_EQ(run_test(*g, data, tcfg, kCpu, out, {}, log_).scored, 2);
  EXPECT_EQ(nlohmann::json::parse(test::read_file(out + "/metrics.json"))["count"].get<int>(), 2);
}

TEST(Inference, RunTestGray) {
  NetworkPtr g = tiny_generator(1, 1, false);
  const std::string root = test::scratch_dir("run_test_gray");
  write_aligned_split(root + "/data/val", 2, 40, 33);
  DataConfig data;
  data.dataroot = root + "/data";
  data.phase = "val";
  data.preprocess = "none";
  data.input_nc = 1;
  data.output_nc = 1;
  TestConfig tcfg;
  tcfg.num_test = 1;
  const std::string out = root + "/results";
  EXPECT_EQ(run_test(*g, data, tcfg, kCpu, out, {}, log_).scored, 1);
  EXPECT_FALSE(test::file_exists(out + "/images/1_fake_B.png"));  // num_test 1: only the first pair
  at::Tensor fake = load_image(out + "/images/0_fake_B.png", 3);
  EXPECT_EQ(fake.sizes(), (at::IntArrayRef{3, 33, 40}));
  EXPECT_TRUE(at::equal(fake[0], fake[2]));  // written as gray
  EXPECT_EQ(nlohmann::json::parse(test::read_file(out + "/metrics.json"))["count"].get<int>(), 1);
  EXPECT_TRUE(test::file_exists(out + "/index.html"));
}

TEST(Inference, RunTestOnFacades) {
  const std::string facades = test::shared_dataset("facades");
  if (facades.empty()) GTEST_SKIP() << "shared facades dataset not present";
  torch::manual_seed(1);
  NetConfig cfg;
  cfg.ngf = 8;  // unet_256 layout (size multiple 256) at a width that runs in milliseconds
  NetworkPtr g = make_generator(cfg);
  init_weights(*g, "normal", 0.02);
  set_eval_mode(*g, false);
  DataConfig data;  // reference test preprocessing: resize to 286, centre crop 256
  data.dataroot = facades;
  data.phase = "test";
  data.direction = "BtoA";
  TestConfig tcfg;
  tcfg.num_test = 2;
  const std::string out = test::scratch_dir("run_test_facades");
  EXPECT_EQ(run_test(*g, data, tcfg, kCpu, out, {}, log_).scored, 2);
  const std::vector<std::string> images = list_images(out + "/images");
  ASSERT_EQ(images.size(), 6u);
  for (const std::string& path : images) {
    int w = 0, h = 0;
    image_size(path, w, h);
    EXPECT_EQ(w, 256) << path;
    EXPECT_EQ(h, 256) << path;
  }
  EXPECT_EQ(nlohmann::json::parse(test::read_file(out + "/metrics.json"))["count"].get<int>(), 2);
}

TEST(Inference, RunTestSkipsABadPairAndScoresTheRest) {
  NetworkPtr g = tiny_generator(3, 3, false);
  const std::string root = test::scratch_dir("run_test_fail");
  write_aligned_split(root + "/data/test", 3, 16, 16);
  std::ofstream(root + "/data/test/1.png") << "truncated";
  DataConfig data;
  data.dataroot = root + "/data";
  data.phase = "test";
  data.preprocess = "none";
  TestConfig tcfg;
  tcfg.num_test = 0;  // all
  const std::string out = root + "/results";
  std::ostringstream log;
  const TestReport r = run_test(*g, data, tcfg, kCpu, out, {{"epoch", 7}}, log);
  EXPECT_EQ(r.available, 3);
  EXPECT_EQ(r.scored, 2);
  ASSERT_EQ(r.failed.size(), 1u);
  EXPECT_EQ(r.failed[0].first, root + "/data/test/1.png");
  EXPECT_NE(log.str().find("skipped " + root + "/data/test/1.png"), std::string::npos) << log.str();
  EXPECT_TRUE(test::file_exists(out + "/images/2_fake_B.png"));  // the pair after the bad one
  const nlohmann::json j = nlohmann::json::parse(test::read_file(out + "/metrics.json"));
  EXPECT_EQ(j["count"], 2);
  EXPECT_EQ(j["available"], 3);
  EXPECT_EQ(j["epoch"], 7);  // provenance reaches metrics.json
  ASSERT_EQ(j["failed"].size(), 1u);
  EXPECT_EQ(j["failed"][0]["file"], root + "/data/test/1.png");
}

// Remote-sensing input at inference: the network input must be built exactly as training builds it
// (SAR dB, then the run's dataset statistics), computed here by hand from the stored intensities.
at::Tensor manual_sar_normalised(const at::Tensor& intensity, const DataConfig& d) {
  const at::Tensor db = (intensity.to(at::kDouble).clamp_min(1e-10).log10() * 10.0).clamp(-25.0, 0.0);
  const at::Tensor unit = ((db + 25.0) / 25.0).to(at::kFloat);
  at::Tensor out = at::empty_like(unit);
  for (int64_t k = 0; k < unit.size(0); ++k) out[k] = (unit[k] - d.mean_A[k]) / d.std_A[k];
  return out;
}

DataConfig sar_config() {
  DataConfig d;
  d.input_nc = 2;
  d.output_nc = 4;
  d.sar_db = true;
  d.normalize = "dataset";
  d.mean_A = {0.3, 0.6};
  d.std_A = {0.2, 0.1};
  return d;
}

TEST(Inference, TranslateAppliesSarDbAndStatisticsAndWritesTiff) {
  NetworkPtr g = tiny_generator(2, 4, true);
  const std::string root = test::scratch_dir("translate_sar");
  std::filesystem::create_directories(root + "/in");
  at::manual_seed(9);
  const at::Tensor intensity = at::rand({2, 20, 27}) * at::rand({2, 20, 27});  // linear, some below -25 dB
  save_tiff(root + "/in/scene.tif", intensity);
  const DataConfig d = sar_config();
  EXPECT_EQ(run_translate(*g, root + "/in", root + "/out", d, kCpu, log_).written, 1);
  ASSERT_TRUE(test::file_exists(root + "/out/scene.tif"));
  EXPECT_FALSE(test::file_exists(root + "/out/scene.png"));
  const at::Tensor written = load_image(root + "/out/scene.tif", 4);
  const at::Tensor expect = to_unit_range(translate_tensor(*g, manual_sar_normalised(intensity, d), kCpu));
  ASSERT_EQ(written.sizes(), (at::IntArrayRef{4, 20, 27}));
  EXPECT_LT((written - expect).abs().max().item<float>(), 1e-5);
  // Plain unit*2-1 would give another output: the mapping really is applied.
  const at::Tensor plain = to_unit_range(translate_tensor(*g, intensity * 2 - 1, kCpu));
  EXPECT_GT((written - plain).abs().max().item<float>(), 1e-3);

  // Statistics missing or for another channel count: refused before anything is written.
  DataConfig missing = d;
  missing.mean_A.clear();
  missing.std_A.clear();
  expect_error_naming([&] { run_translate(*g, root + "/in", root + "/out2", missing, kCpu, log_); }, "--normalize");
  DataConfig wrong = d;
  wrong.mean_A.push_back(0.5);
  wrong.std_A.push_back(0.5);
  expect_error_naming([&] { run_translate(*g, root + "/in", root + "/out2", wrong, kCpu, log_); }, "2 channels");
  EXPECT_FALSE(std::filesystem::exists(root + "/out2"));
  // A band count other than input_nc is one failed file naming the flag.
  DataConfig three = d;
  three.input_nc = 3;
  three.mean_A.push_back(0.5);
  three.std_A.push_back(0.5);
  std::ostringstream log;
  const TranslateReport r = run_translate(*g, root + "/in", root + "/out3", three, kCpu, log);
  ASSERT_EQ(r.failed.size(), 1u);
  EXPECT_NE(r.failed[0].second.find("--input_nc"), std::string::npos) << r.failed[0].second;
}

TEST(Inference, RunTestOnTiffFoldersMatchesTrainingInput) {
  NetworkPtr g = tiny_generator(2, 4, true);
  const std::string root = test::scratch_dir("run_test_tiff");
  std::filesystem::create_directories(root + "/data/test/A");
  std::filesystem::create_directories(root + "/data/test/B");
  at::manual_seed(4);
  const at::Tensor intensity = at::rand({2, 24, 30}).pow(3);
  const at::Tensor b = at::rand({4, 24, 30});
  save_tiff(root + "/data/test/A/s1.tif", intensity);
  save_tiff(root + "/data/test/B/s1.tif", b);
  DataConfig d = sar_config();
  d.dataroot = root + "/data";
  d.phase = "test";
  d.preprocess = "none";
  TestConfig tcfg;
  const std::string out = root + "/results";
  EXPECT_EQ(run_test(*g, d, tcfg, kCpu, out, {}, log_).scored, 1);
  const std::string img = out + "/images/s1_";
  ASSERT_TRUE(test::file_exists(img + "fake_B.tif"));
  const at::Tensor net_in = manual_sar_normalised(intensity, d);
  const at::Tensor fake = load_image(img + "fake_B.tif", 4);
  EXPECT_LT((fake - to_unit_range(translate_tensor(*g, net_in, kCpu))).abs().max().item<float>(), 1e-5);
  // real_B is B as loaded; real_A is the dB-scaled input in unit range (2 channels: TIFF too).
  EXPECT_LT((load_image(img + "real_B.tif", 4) - b).abs().max().item<float>(), 1e-6);
  const at::Tensor real_a = load_image(img + "real_A.tif", 2);
  EXPECT_LT((real_a - (net_in * at::tensor({0.2f, 0.1f}).view({2, 1, 1}) + at::tensor({0.3f, 0.6f}).view({2, 1, 1})))
                .abs()
                .max()
                .item<float>(),
            1e-5);
  // Metrics are those of the float images written.
  const ImageMetrics m = compute_metrics(fake, load_image(img + "real_B.tif", 4));
  const nlohmann::json j = nlohmann::json::parse(test::read_file(out + "/metrics.json"));
  EXPECT_NEAR(j["images"][0]["l1"].get<double>(), m.l1, 1e-6);

  DataConfig missing = d;
  missing.std_A.clear();
  expect_error_naming([&] { run_test(*g, missing, tcfg, kCpu, root + "/results2", {}, log_); }, "--normalize dataset");
  EXPECT_FALSE(std::filesystem::exists(root + "/results2"));
}

}  // namespace
}  // namespace p2p
