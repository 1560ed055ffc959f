// Tests for losses/image_losses and losses/ssim: Charbonnier known values, SSIM loss against scikit-image
// (the reference the metric follows) and against central finite differences, Sobel/Laplacian responses
// of ramps and parabolas, and the flags named in errors.
#include "p2p/losses/image_losses.h"
#include "p2p/losses/ssim.h"

#include "p2p/core/error.h"
#include "testutil/testutil.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

namespace p2p {
namespace {

at::Tensor uniform(std::vector<int64_t> shape, uint64_t seed, at::ScalarType dtype = at::kFloat) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::rand(shape, gen, dtype);
}

// Network-range image in [-1,1].
at::Tensor net_image(std::vector<int64_t> shape, uint64_t seed, at::ScalarType dtype = at::kFloat) {
  return uniform(std::move(shape), seed, dtype) * 2 - 1;
}

TEST(Charbonnier, IdenticalImagesGiveEps) {
  const at::Tensor a = net_image({2, 3, 16, 16}, 1);
  EXPECT_NEAR(charbonnier_loss(a, a, 1e-3).item<double>(), 1e-3, 1e-7);
  EXPECT_NEAR(charbonnier_loss(a, a, 0.25).item<double>(), 0.25, 1e-7);
}

TEST(Charbonnier, KnownValueAndLimit) {
  const at::Tensor a = at::zeros({1, 1, 4, 4});
  // sqrt(0.3^2 + 0.4^2) = 0.5.
  EXPECT_NEAR(charbonnier_loss(a + 0.3, a, 0.4).item<double>(), 0.5, 1e-6);
  // Far from eps it is L1.
  const at::Tensor f = net_image({1, 3, 8, 8}, 2), r = net_image({1, 3, 8, 8}, 3);
  EXPECT_NEAR(charbonnier_loss(f, r, 1e-6).item<double>(), (f - r).abs().mean().item<double>(), 1e-5);
}

TEST(Charbonnier, BadEpsNamesFlag) {
  const at::Tensor a = at::zeros({1, 1, 4, 4});
  const std::string msg = test::error_of([&] { charbonnier_loss(a, a, 0.0); });
  EXPECT_NE(msg.find("--charbonnier_eps"), std::string::npos) << msg;
  EXPECT_NE(test::error_of([&] { charbonnier_loss(a, at::zeros({1, 1, 4, 5}), 1e-3); }).find("--lambda_charbonnier"),
            std::string::npos);
}

TEST(SsimLoss, IdenticalImagesGiveZero) {
  const at::Tensor a = net_image({2, 3, 32, 32}, 4);
  EXPECT_NEAR(ssim_loss(a, a).item<double>(), 0.0, 1e-6);
  const at::Tensor d = net_image({1, 1, 16, 16}, 5, at::kDouble);
  EXPECT_NEAR(ssim_loss(d, d).item<double>(), 0.0, 1e-12);
}

TEST(SsimLoss, ConstantImagesKnownValue) {
  // Zero variance: SSIM = (2ab + C1) / (a^2 + b^2 + C1), C1 = 1e-4, in [0,1] units (-0.6 -> 0.2, 0.2 -> 0.6).
  const double a = 0.2, b = 0.6, c1 = 1e-4;
  const double expected = 1 - (2 * a * b + c1) / (a * a + b * b + c1);
  EXPECT_NEAR(ssim_loss(at::full({1, 3, 16, 20}, -0.6), at::full({1, 3, 16, 20}, 0.2)).item<double>(), expected, 1e-6);
}

TEST(SsimLoss, GradientMatchesFiniteDifferences) {
  at::Tensor fake = (net_image({1, 1, 16, 16}, 6, at::kDouble) * 0.8).requires_grad_(true);
  const at::Tensor real = net_image({1, 1, 16, 16}, 7, at::kDouble);
  ssim_loss(fake, real).backward();
  const at::Tensor analytic = fake.grad();
  ASSERT_TRUE(analytic.defined());
  EXPECT_GT(analytic.abs().max().item<double>(), 1e-4);
  // Every pixel, border ones included (they enter the valid region's windows through the reflection).
  const double h = 1e-6;
  at::Tensor x = fake.detach().clone();
  double worst = 0;
  for (int64_t i = 0; i < x.numel(); ++i) {
    const double v = x.view(-1)[i].item<double>();
    x.view(-1)[i] = v + h;
    const double up = ssim_loss(x, real).item<double>();
    x.view(-1)[i] = v - h;
    const double down = ssim_loss(x, real).item<double>();
    x.view(-1)[i] = v;
    worst = std::max(worst, std::abs((up - down) / (2 * h) - analytic.view(-1)[i].item<double>()));
  }
  // Central differences in double: error ~h^2 + rounding/h ~ 1e-10.
  EXPECT_LT(worst, 1e-7);
}

void write_raw(const std::string& path, const at::Tensor& t) {
  at::Tensor c = t.detach().to(at::kDouble).contiguous();
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(c.data_ptr<double>()),
          static_cast<std::streamsize>(c.numel() * sizeof(double)));
}

TEST(SsimLoss, MatchesScikitImage) {
  ASSERT_TRUE(test::python_can_import("skimage, numpy", "python3-skimage python3-numpy"));
  // A batch of two RGB 24x20 pairs and one gray 11x13 pair (the smallest size), in [0,1].
  const std::string dir = test::scratch_dir("ssim_loss_ref");
  const at::Tensor base = uniform({2, 3, 24, 20}, 8, at::kDouble);
  const at::Tensor rgb_x = base, rgb_y = (base + 0.2 * (uniform({2, 3, 24, 20}, 9, at::kDouble) - 0.5)).clamp(0, 1);
  const at::Tensor gray_x = uniform({1, 1, 11, 13}, 10, at::kDouble), gray_y = uniform({1, 1, 11, 13}, 11, at::kDouble);
  write_raw(dir + "/rgb_x.bin", rgb_x);
  write_raw(dir + "/rgb_y.bin", rgb_y);
  write_raw(dir + "/gray_x.bin", gray_x);
  write_raw(dir + "/gray_y.bin", gray_y);
  std::ostringstream py;
  py << "import json, numpy as np\n"
        "from skimage.metrics import structural_similarity as S\n"
        "d = '" << dir << "'\n"
        "def ld(n, shape): return np.fromfile(d + '/' + n, dtype='<f8').reshape(shape)\n"
        "kw = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0)\n"
        "x, y = ld('rgb_x.bin', (2, 3, 24, 20)), ld('rgb_y.bin', (2, 3, 24, 20))\n"
        "rgb = [S(x[i].transpose(1, 2, 0), y[i].transpose(1, 2, 0), channel_axis=-1, **kw) for i in range(2)]\n"
        "g = S(ld('gray_x.bin', (11, 13)), ld('gray_y.bin', (11, 13)), **kw)\n"
        "print(json.dumps({'rgb': float(np.mean(rgb)), 'gray': float(g)}))\n";
  const std::string script = dir + "/ref.py";
  std::ofstream(script) << py.str();
  const test::CommandResult r = test::run_command(std::string("'") + P2P_TEST_PYTHON + "' '" + script + "'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const nlohmann::json ref = nlohmann::json::parse(r.output);
  const double rgb_ref = ref["rgb"].get<double>(), gray_ref = ref["gray"].get<double>();
  ASSERT_LT(rgb_ref, 0.99);  // a pair that is neither identical nor unrelated
  ASSERT_GT(rgb_ref, 0.3);
  // Double precision: the same arithmetic as skimage up to summation order.
  EXPECT_NEAR(ssim_mean(rgb_x, rgb_y, "t").item<double>(), rgb_ref, 1e-10);
  EXPECT_NEAR(ssim_mean(gray_x, gray_y, "t").item<double>(), gray_ref, 1e-10);
  EXPECT_NEAR(ssim_loss(rgb_x * 2 - 1, rgb_y * 2 - 1).item<double>(), 1 - rgb_ref, 1e-10);
  // The training dtype (float32): agreement to float rounding.
  const at::Tensor fake32 = (rgb_x * 2 - 1).to(at::kFloat), real32 = (rgb_y * 2 - 1).to(at::kFloat);
  EXPECT_NEAR(ssim_loss(fake32, real32).item<double>(), 1 - rgb_ref, 1e-5);
}

TEST(SsimLoss, ErrorsNameFlag) {
  const std::string small = test::error_of([] { ssim_loss(at::zeros({1, 3, 10, 32}), at::zeros({1, 3, 10, 32})); });
  EXPECT_NE(small.find("--lambda_ssim"), std::string::npos) << small;
  EXPECT_NE(small.find("at least 11x11"), std::string::npos) << small;
  const std::string shape = test::error_of([] { ssim_loss(at::zeros({1, 3, 16, 16}), at::zeros({1, 1, 16, 16})); });
  EXPECT_NE(shape.find("--lambda_ssim"), std::string::npos) << shape;
}

// x[h][w] = a*w (varies along W) or a*h (along H).
at::Tensor ramp(int64_t h, int64_t w, double a, bool along_w) {
  at::Tensor line = at::arange(along_w ? w : h, at::kFloat) * a;
  at::Tensor img = along_w ? line.view({1, w}).expand({h, w}) : line.view({h, 1}).expand({h, w});
  return img.reshape({1, 1, h, w}).contiguous();
}

TEST(GradientOps, SobelOfRampsIsConstant) {
  // Sobel d/dx of a*w: (1 + 2 + 1) * (a * 2) = 8a everywhere (valid positions only), d/dy = 0.
  const at::Tensor r = grad_op_responses(ramp(10, 12, 0.1, true), GradOp::kSobel);
  ASSERT_EQ(r.sizes(), (std::vector<int64_t>{1, 1, 2, 8, 10}));
  EXPECT_NEAR((r.select(2, 0) - 0.8).abs().max().item<double>(), 0.0, 1e-6);
  EXPECT_NEAR(r.select(2, 1).abs().max().item<double>(), 0.0, 1e-6);
  // Transposed ramp: d/dy = 8a, d/dx = 0.
  const at::Tensor t = grad_op_responses(ramp(10, 12, -0.05, false), GradOp::kSobel);
  EXPECT_NEAR((t.select(2, 1) + 0.4).abs().max().item<double>(), 0.0, 1e-6);
  EXPECT_NEAR(t.select(2, 0).abs().max().item<double>(), 0.0, 1e-6);
}

TEST(GradientOps, LaplacianOfRampIsZeroAndOfParabolaTwo) {
  const at::Tensor r = grad_op_responses(ramp(9, 7, 0.3, true) + ramp(9, 7, -0.2, false), GradOp::kLaplacian);
  ASSERT_EQ(r.sizes(), (std::vector<int64_t>{1, 1, 1, 7, 5}));
  EXPECT_NEAR(r.abs().max().item<double>(), 0.0, 1e-6);
  // w^2: second difference 2.
  const at::Tensor w = at::arange(8, at::kDouble);
  const at::Tensor parabola = (w * w).view({1, 1, 1, 8}).expand({2, 3, 6, 8}).contiguous();
  const at::Tensor p = grad_op_responses(parabola, GradOp::kLaplacian);
  EXPECT_NEAR((p - 2).abs().max().item<double>(), 0.0, 1e-12);
}

TEST(GradientOps, ChannelsAreFilteredSeparately) {
  // Channel 0 a ramp, channel 1 constant: only channel 0 responds.
  at::Tensor x = at::cat({ramp(6, 6, 1.0, true), at::full({1, 1, 6, 6}, 5.0)}, 1);
  const at::Tensor r = grad_op_responses(x, GradOp::kSobel);
  EXPECT_NEAR(r.select(1, 0).select(1, 0).mean().item<double>(), 8.0, 1e-6);
  EXPECT_NEAR(r.select(1, 1).abs().max().item<double>(), 0.0, 1e-6);
}

TEST(GradientLoss, KnownValuesAndGradient) {
  // Ramps of slope a and b: |8a - 8b| on d/dx, 0 on d/dy, mean over both -> 4|a - b|.
  at::Tensor fake = ramp(8, 8, 0.1, true).requires_grad_(true);
  const at::Tensor real = ramp(8, 8, 0.05, true);
  at::Tensor loss = gradient_loss(fake, real, GradOp::kSobel);
  EXPECT_NEAR(loss.item<double>(), 4 * 0.05, 1e-6);
  loss.backward();
  ASSERT_TRUE(fake.grad().defined());
  EXPECT_GT(fake.grad().abs().sum().item<double>(), 0.0);
  // A constant offset has no gradient; the Laplacian sees no difference between two ramps.
  EXPECT_NEAR(gradient_loss(real + 0.5, real, GradOp::kSobel).item<double>(), 0.0, 1e-6);
  EXPECT_NEAR(gradient_loss(ramp(8, 8, 0.1, true), real, GradOp::kLaplacian).item<double>(), 0.0, 1e-6);
  // Signed responses: an inverted ramp is penalised (|8a - (-8a)| / 2 = 8a).
  EXPECT_NEAR(gradient_loss(ramp(8, 8, -0.05, true), real, GradOp::kSobel).item<double>(), 0.4, 1e-6);
}

TEST(GradientLoss, ParseAndErrorsNameFlags) {
  EXPECT_EQ(parse_grad_op("sobel"), GradOp::kSobel);
  EXPECT_EQ(parse_grad_op("laplacian"), GradOp::kLaplacian);
  const std::string bad = test::error_of([] { parse_grad_op("scharr"); });
  EXPECT_NE(bad.find("--grad_op"), std::string::npos) << bad;
  const std::string small = test::error_of([] { grad_op_responses(at::zeros({1, 1, 2, 8}), GradOp::kSobel); });
  EXPECT_NE(small.find("--lambda_grad"), std::string::npos) << small;
}

}  // namespace
}  // namespace p2p
