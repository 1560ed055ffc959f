// Metrics: known answers (MAE, PSNR of a known MSE, SSIM of constant images), agreement with
// scikit-image's SSIM/PSNR to 1e-4 on PNG files both sides read, and the folder report files.
#include "p2p/eval/metrics.h"

#include "p2p/core/error.h"
#include "p2p/io/image.h"
#include "testutil/testutil.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

namespace p2p {
namespace {

at::Tensor constant_image(int c, int h, int w, double v) { return at::full({c, h, w}, v, at::kFloat); }

at::Tensor random_image(int c, int h, int w, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::rand({c, h, w}, gen, at::kFloat);
}

// Expects `fn` to throw p2p::Error whose message contains `needle`.
template <typename Fn>
void expect_error_naming(Fn fn, const std::string& needle) {
  try {
    fn();
    ADD_FAILURE() << "expected p2p::Error naming " << needle;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(Metrics, MaeKnownValue) {
  at::Tensor a = constant_image(3, 16, 16, 0.25);
  at::Tensor b = constant_image(3, 16, 16, 0.0);
  EXPECT_NEAR(mae(a, b), 0.25, 1e-7);
  // Half the pixels differ by 1, half by 0 -> 0.5.
  at::Tensor c = at::zeros({1, 4, 4});
  c.narrow(1, 0, 2).fill_(1.0);
  EXPECT_NEAR(mae(c, at::zeros({1, 4, 4})), 0.5, 1e-12);
}

TEST(Metrics, PsnrOfKnownMse) {
  at::Tensor a = random_image(3, 20, 24, 1) * 0.8;
  // A constant difference 0.1 gives MSE 0.01 -> 20 dB.
  EXPECT_NEAR(psnr(a + 0.1, a), 20.0, 1e-4);
  // MSE 0.0001 -> 40 dB.
  EXPECT_NEAR(psnr(a, a + 0.01), 40.0, 1e-3);
}

TEST(Metrics, PsnrOfIdenticalImagesIsCapped) {
  at::Tensor a = random_image(3, 12, 12, 2);
  EXPECT_DOUBLE_EQ(psnr(a, a), 100.0);
}

TEST(Metrics, SsimOfIdenticalImagesIsOne) {
  at::Tensor a = random_image(3, 32, 40, 3);
  EXPECT_NEAR(ssim(a, a), 1.0, 1e-12);
  at::Tensor g = random_image(1, 11, 11, 4);
  EXPECT_NEAR(ssim(g, g), 1.0, 1e-12);
}

TEST(Metrics, SsimOfConstantImages) {
  // Zero variance: S = (2 a b + C1) / (a^2 + b^2 + C1) with C1 = 1e-4.
  const double a = 0.2, b = 0.6, c1 = 1e-4;
  const double expected = (2 * a * b + c1) / (a * a + b * b + c1);
  EXPECT_NEAR(ssim(constant_image(3, 16, 20, a), constant_image(3, 16, 20, b)), expected, 1e-6);
}

TEST(Metrics, SsimRejectsTooSmallAndMismatchedImages) {
  expect_error_naming([] { ssim(at::rand({1, 10, 20}), at::rand({1, 10, 20})); }, "at least 11x11");
  expect_error_naming([] { ssim(at::rand({3, 16, 16}), at::rand({3, 16, 17})); }, "same shape");
  expect_error_naming([] { mae(at::rand({3, 16, 16}), at::rand({1, 16, 16})); }, "same shape");
}

TEST(Metrics, ComputeMetricsFields) {
  at::Tensor a = constant_image(1, 16, 16, 0.5);
  at::Tensor b = constant_image(1, 16, 16, 0.3);
  ImageMetrics m = compute_metrics(a, b);
  EXPECT_NEAR(m.mae, 0.2, 1e-7);
  EXPECT_NEAR(m.l1, 0.4, 1e-7);
  EXPECT_NEAR(m.psnr, 10 * std::log10(1 / 0.04), 1e-4);
  EXPECT_NEAR(m.ssim, (2 * 0.5 * 0.3 + 1e-4) / (0.25 + 0.09 + 1e-4), 1e-6);
}

TEST(Metrics, SummarizeMeans) {
  ImageMetrics x{0.2, 0.1, 30, 0.9}, y{0.4, 0.2, 20, 0.5};
  MetricsReport r = summarize({{"x", x}, {"y", y}});
  ASSERT_EQ(r.per_image.size(), 2u);
  EXPECT_EQ(r.per_image[1].first, "y");
  EXPECT_DOUBLE_EQ(r.mean.l1, 0.3);
  EXPECT_DOUBLE_EQ(r.mean.mae, 0.15);
  EXPECT_DOUBLE_EQ(r.mean.psnr, 25);
  EXPECT_DOUBLE_EQ(r.mean.ssim, 0.7);
  MetricsReport empty = summarize({});
  EXPECT_EQ(empty.mean.psnr, 0.0);
}

// Pairs of images whose SSIM the C++ code and scikit-image both compute from the same PNG files.
struct RefCase {
  std::string name;
  at::Tensor pred, target;
};

std::vector<RefCase> reference_cases() {
  std::vector<RefCase> cases;
  cases.push_back({"rgb_random", random_image(3, 64, 64, 10), random_image(3, 64, 64, 11)});
  cases.push_back({"gray_37x50", random_image(1, 37, 50, 12), random_image(1, 37, 50, 13)});
  // Noisy copy: a high SSIM, where small border errors would show.
  at::Tensor base = random_image(3, 50, 37, 14);
  cases.push_back({"rgb_noisy_50x37", (base + 0.05 * (random_image(3, 50, 37, 15) - 0.5)).clamp(0, 1), base});
  // Smooth structure: gradients and a checkerboard, so the borders matter for the filtered moments.
  at::Tensor yy = at::linspace(0, 1, 40).view({40, 1}).expand({40, 33});
  at::Tensor xx = at::linspace(0, 1, 33).view({1, 33}).expand({40, 33});
  at::Tensor checker = ((at::arange(40).view({40, 1}) / 4 + at::arange(33).view({1, 33}) / 4) % 2).to(at::kFloat);
  cases.push_back({"gray_structured", (0.5 * yy + 0.5 * xx).unsqueeze(0), (0.7 * checker + 0.3 * xx).unsqueeze(0)});
  at::Tensor rgb_a = at::stack({yy, xx, checker});
  at::Tensor rgb_b = at::stack({xx, checker, yy * xx});
  cases.push_back({"rgb_structured", rgb_a, rgb_b});
  // Values at the 0/1 extremes: binary images.
  cases.push_back({"binary", (random_image(3, 24, 30, 16) > 0.5).to(at::kFloat),
                   (random_image(3, 24, 30, 17) > 0.5).to(at::kFloat)});
  cases.push_back({"min_size_11", random_image(1, 11, 11, 18), random_image(1, 11, 11, 19)});
  // Taller than one band of rows (metrics run in bands of 64 SSIM rows): band seams must not show.
  const at::Tensor tall = random_image(3, 203, 37, 20);
  cases.push_back({"three_bands", tall, (tall * 0.7 + random_image(3, 203, 37, 21) * 0.3)});
  cases.push_back({"one_band_and_a_row", random_image(1, 75, 16, 22), random_image(1, 75, 16, 23)});
  cases.push_back({"black_vs_white", constant_image(3, 16, 16, 0.0), constant_image(3, 16, 16, 1.0)});
  return cases;
}

TEST(Metrics, AgreesWithScikitImage) {
  const std::string dir = test::scratch_dir("ssim_ref");
  const std::vector<RefCase> cases = reference_cases();
  std::ostringstream cmd;
  cmd << "'" << P2P_TEST_PYTHON << "' '" << P2P_TEST_SOURCE_DIR << "/tests/fixtures/ssim_reference.py'";
  std::vector<std::pair<at::Tensor, at::Tensor>> loaded;
  for (const RefCase& c : cases) {
    const std::string p = dir + "/" + c.name + "_pred.png", t = dir + "/" + c.name + "_target.png";
    save_png(p, c.pred);
    save_png(t, c.target);
    const int channels = static_cast<int>(c.pred.size(0));
    loaded.emplace_back(load_image(p, channels), load_image(t, channels));
    cmd << " '" << p << "' '" << t << "'";
  }
  ASSERT_TRUE(test::python_can_import("skimage, numpy", "python3-skimage python3-numpy"));
  test::CommandResult r = test::run_command(cmd.str());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  nlohmann::json ref = nlohmann::json::parse(r.output);
  ASSERT_EQ(ref.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(cases[i].name);
    const auto& [p, t] = loaded[i];
    // Observed agreement ~1e-8 (the C++ side reads pixels as float32); the contract is 1e-4.
    EXPECT_NEAR(ssim(p, t), ref[i]["ssim"].get<double>(), 1e-6);
    EXPECT_NEAR(mae(p, t), ref[i]["mae"].get<double>(), 1e-6);
    // The folder path reads the files band by band.
    const std::string pf = dir + "/" + cases[i].name + "_pred.png", tf = dir + "/" + cases[i].name + "_target.png";
    const ImageMetrics from_files = compute_file_metrics(pf, tf, static_cast<int>(p.size(0)));
    EXPECT_NEAR(from_files.ssim, ref[i]["ssim"].get<double>(), 1e-6);
    EXPECT_NEAR(from_files.mae, ref[i]["mae"].get<double>(), 1e-7);  // pixels read as float32 v/255
    if (!ref[i]["psnr"].is_null()) EXPECT_NEAR(from_files.psnr, ref[i]["psnr"].get<double>(), 1e-6);
    if (!ref[i]["psnr"].is_null()) {
      EXPECT_NEAR(psnr(p, t), ref[i]["psnr"].get<double>(), 1e-4);
    }
  }
}

// Writes gray constant PNGs: value v is stored exactly as round(255 v).
void write_constant_png(const std::string& path, int w, int h, double v) { save_png(path, constant_image(1, h, w, v)); }

TEST(Metrics, EvaluateFoldersPairsByStem) {
  const std::string root = test::scratch_dir("eval_folders");
  const std::string pred = root + "/pred", target = root + "/target";
  std::filesystem::create_directories(pred);
  std::filesystem::create_directories(target);
  write_constant_png(pred + "/a.png", 16, 12, 0.2);
  write_constant_png(target + "/a.png", 16, 12, 0.6);
  write_constant_png(pred + "/b.png", 16, 12, 0.4);
  write_constant_png(target + "/b.png", 16, 12, 0.4);
  MetricsReport r = evaluate_folders(pred, target, 1);
  ASSERT_EQ(r.per_image.size(), 2u);
  EXPECT_EQ(r.per_image[0].first, "a");
  EXPECT_EQ(r.per_image[1].first, "b");
  EXPECT_NEAR(r.per_image[0].second.mae, 0.4, 1e-6);
  EXPECT_NEAR(r.per_image[0].second.psnr, 10 * std::log10(1 / 0.16), 1e-4);
  EXPECT_DOUBLE_EQ(r.per_image[1].second.psnr, 100.0);
  EXPECT_NEAR(r.per_image[1].second.ssim, 1.0, 1e-12);
  EXPECT_NEAR(r.mean.mae, 0.2, 1e-6);
  EXPECT_NEAR(r.mean.l1, 0.4, 1e-6);
  // RGB loading of the same files gives the same numbers (gray replicated to 3 channels).
  EXPECT_NEAR(evaluate_folders(pred, target, 3).mean.ssim, r.mean.ssim, 1e-9);
}

TEST(Metrics, EvaluateFoldersReportsUnmatchedAndMismatchedFiles) {
  const std::string root = test::scratch_dir("eval_unmatched");
  const std::string pred = root + "/pred", target = root + "/target";
  std::filesystem::create_directories(pred);
  std::filesystem::create_directories(target);
  write_constant_png(pred + "/a.png", 16, 16, 0.2);
  write_constant_png(target + "/a.png", 16, 16, 0.2);
  write_constant_png(pred + "/extra_pred.png", 16, 16, 0.2);
  expect_error_naming([&] { evaluate_folders(pred, target, 3); }, "extra_pred.png");
  std::filesystem::remove(pred + "/extra_pred.png");
  write_constant_png(target + "/extra_target.png", 16, 16, 0.2);
  expect_error_naming([&] { evaluate_folders(pred, target, 3); }, "extra_target.png");
  std::filesystem::remove(target + "/extra_target.png");
  write_constant_png(target + "/a.png", 20, 16, 0.2);  // now 20 wide vs 16
  try {
    evaluate_folders(pred, target, 3);
    ADD_FAILURE() << "expected a size mismatch error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(pred + "/a.png"), std::string::npos) << msg;
    EXPECT_NE(msg.find(target + "/a.png"), std::string::npos) << msg;
  }
  expect_error_naming([&] { evaluate_folders(root + "/missing", target, 3); }, "missing");
}

TEST(Metrics, WritesJsonAndCsv) {
  const std::string dir = test::scratch_dir("metrics_files");
  MetricsReport r = summarize({{"x", {0.2, 0.1, 30, 0.9}}, {"with,comma", {0.4, 0.2, 20, 0.5}}});
  write_metrics_json(dir + "/m.json", r);
  write_metrics_csv(dir + "/m.csv", r);

  nlohmann::json j = nlohmann::json::parse(test::read_file(dir + "/m.json"));
  EXPECT_EQ(j["count"].get<int>(), 2);
  ASSERT_EQ(j["images"].size(), 2u);
  EXPECT_EQ(j["images"][0]["name"], "x");
  EXPECT_DOUBLE_EQ(j["images"][1]["psnr"].get<double>(), 20.0);
  EXPECT_DOUBLE_EQ(j["mean"]["ssim"].get<double>(), 0.7);
  EXPECT_DOUBLE_EQ(j["mean"]["l1"].get<double>(), 0.3);

  std::istringstream csv(test::read_file(dir + "/m.csv"));
  std::vector<std::string> lines;
  for (std::string line; std::getline(csv, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0], "name,l1,mae,psnr,ssim");
  EXPECT_EQ(lines[1], "x,0.2,0.1,30,0.9");
  EXPECT_EQ(lines[2], "\"with,comma\",0.4,0.2,20,0.5");
  EXPECT_EQ(lines[3], "mean,0.3,0.15,25,0.7");
}

}  // namespace
}  // namespace p2p
