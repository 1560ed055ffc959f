// Tests for report/plot: tick known answers, and PNGs read back with the image decoder — the size of the
// panel grid, one coloured line per series (and no pixels of a colour no series uses), bars per value.
#include "p2p/io/image.h"
#include "p2p/report/plot.h"
#include "testutil/testutil.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

namespace p2p {
namespace {

// Pixels within 10/255 of palette colour k (antialiased edges excluded by the tolerance).
int64_t pixels_of_colour(const at::Tensor& img, size_t k) {
  const auto& c = plot_palette()[k];
  const at::Tensor ref = at::tensor({c[0] / 255.0f, c[1] / 255.0f, c[2] / 255.0f}).view({3, 1, 1});
  return ((img - ref).abs().amax(0) < 10.0 / 255).sum().item<int64_t>();
}

TEST(Plot, NiceTicksKnownAnswers) {
  EXPECT_EQ(nice_ticks(0, 1, 5), (std::vector<double>{0, 0.2, 0.4, 0.6000000000000001, 0.8, 1}));
  const std::vector<double> t = nice_ticks(0.27, 0.41, 6);  // step 0.025
  ASSERT_GE(t.size(), 2u);
  EXPECT_NEAR(t[1] - t[0], 0.025, 1e-12);
  EXPECT_LE(t.front(), 0.27);
  EXPECT_GE(t.back(), 0.41);
  EXPECT_EQ(nice_ticks(1, 15, 8, true), (std::vector<double>{0, 2, 4, 6, 8, 10, 12, 14, 16}));
  EXPECT_EQ(nice_ticks(1, 3, 8, true), (std::vector<double>{1, 2, 3}));  // never a fractional epoch
  const std::vector<double> flat = nice_ticks(5, 5, 5);                  // a constant series still has an axis
  EXPECT_LT(flat.front(), 5);
  EXPECT_GT(flat.back(), 5);
}

TEST(Plot, LinePlotHasOneColourPerSeriesInAGridOfPanels) {
  if (!plots_available()) GTEST_SKIP() << "built without cairo";
  const std::string dir = test::scratch_dir("plot_lines");
  PlotPanel a{"losses", "epoch", "loss", {}, 3, "best"};
  for (int s = 0; s < 3; ++s) {
    PlotSeries ser{"series " + std::to_string(s), {}, {}};
    for (int e = 1; e <= 20; ++e) {
      ser.x.push_back(e);
      ser.y.push_back(s + std::sin(e * 0.3 + s));
    }
    a.series.push_back(ser);
  }
  PlotPanel empty{"nothing", "epoch", "loss", {}, NAN, ""};
  write_line_plot(dir + "/p.png", {a, empty}, 2, 400, 300);
  int bits = 0;
  const at::Tensor img = load_image(dir + "/p.png", 3, bits);
  ASSERT_EQ(img.size(1), 300);
  ASSERT_EQ(img.size(2), 800);
  // Each drawn series leaves far more pixels of its colour than its legend swatch (22 x 2.5 px).
  for (size_t k = 0; k < 3; ++k) EXPECT_GT(pixels_of_colour(img, k), 400) << "series " << k;
  for (size_t k = 3; k < plot_palette().size(); ++k) EXPECT_EQ(pixels_of_colour(img, k), 0) << "colour " << k;
  // The right panel has no data: no series colour there.
  const at::Tensor right = img.narrow(2, 400, 400);
  for (size_t k = 0; k < 3; ++k) EXPECT_EQ(pixels_of_colour(right, k), 0);
  // Non-white pixels: axes, text and lines were drawn on the white background.
  EXPECT_GT((img.amin(0) < 0.5).sum().item<int64_t>(), 2000);
}

TEST(Plot, GapsAndSinglePointsAreDrawn) {
  if (!plots_available()) GTEST_SKIP() << "built without cairo";
  const std::string dir = test::scratch_dir("plot_single");
  // Series 0 has one point, series 1 none: both get a legend swatch, so the difference is the marker
  // a one-point series needs (it has no line segment to draw).
  PlotPanel p{"one epoch", "epoch", "L1", {{"val", {1}, {0.3}}, {"none", {1}, {NAN}}}, NAN, ""};
  write_line_plot(dir + "/one.png", {p});
  int bits = 0;
  const at::Tensor img = load_image(dir + "/one.png", 3, bits);
  EXPECT_GT(pixels_of_colour(img, 0), pixels_of_colour(img, 1) + 20);
  // A gap (NaN) splits a line into two pieces; both are drawn.
  PlotPanel gap{"gap", "epoch", "L1", {{"val", {1, 2, 3, 4, 5, 6}, {0.3, 0.32, NAN, 0.31, 0.29, 0.28}}}, NAN, ""};
  write_line_plot(dir + "/gap.png", {gap});
  const at::Tensor g = load_image(dir + "/gap.png", 3, bits);
  const int64_t left = pixels_of_colour(g.narrow(2, 0, 250), 0), right = pixels_of_colour(g.narrow(2, 400, 240), 0);
  EXPECT_GT(left, 100);
  EXPECT_GT(right, 100);
}

TEST(Plot, BarChartsOneBarPerValue) {
  if (!plots_available()) GTEST_SKIP() << "built without cairo";
  const std::string dir = test::scratch_dir("plot_bars");
  BarChart c{"val PSNR", "dB", {"run_a", "run_b", "a_long_run_name_that_needs_shortening"}, {14.2, 15.1, NAN}};
  write_bar_charts(dir + "/b.png", {c, c}, 2, 320, 240);
  int bits = 0;
  const at::Tensor img = load_image(dir + "/b.png", 3, bits);
  ASSERT_EQ(img.size(2), 640);
  EXPECT_GT(pixels_of_colour(img, 0), 2 * 2000);
  EXPECT_GT(pixels_of_colour(img, 1), 2 * 2000);
  EXPECT_EQ(pixels_of_colour(img, 2), 0);  // NaN: no bar
  EXPECT_NE(test::error_of([&] { write_bar_charts(dir + "/none.png", {}); }).find("none.png"), std::string::npos);
}

}  // namespace
}  // namespace p2p
