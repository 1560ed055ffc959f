// Tests for report/plot: tick known answers, and PNGs read back with the image decoder — the size of the
// panel grid, one coloured line per series (and no pixels of a colour no series uses), bars per value;
// the legend never over a point or line (also where every corner holds one), and bar names of one
// sweep's runs told apart.
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
  BarChart c{"val PSNR", "dB", {"run_a", "run_b", "a_long_run_name_that_needs_shortening"}, {14.2, 15.1, NAN}, ""};
  write_bar_charts(dir + "/b.png", {c, c}, 2, 320, 240);
  int bits = 0;
  const at::Tensor img = load_image(dir + "/b.png", 3, bits);
  ASSERT_EQ(img.size(2), 640);
  EXPECT_GT(pixels_of_colour(img, 0), 2 * 2000);
  EXPECT_GT(pixels_of_colour(img, 1), 2 * 2000);
  EXPECT_EQ(pixels_of_colour(img, 2), 0);  // NaN: no bar
  EXPECT_NE(test::error_of([&] { write_bar_charts(dir + "/none.png", {}); }).find("none.png"), std::string::npos);
}

// No point of any series (its marker included) inside the box.
void expect_clear(const PlotBox& box, const LinePanelLayout& l, const std::string& what) {
  const double r = 3.2;
  for (size_t s = 0; s < l.points.size(); ++s) {
    for (const auto& pt : l.points[s]) {
      EXPECT_FALSE(pt[0] + r > box.x && pt[0] - r < box.x + box.w && pt[1] + r > box.y && pt[1] - r < box.y + box.h)
          << what << " covers series " << s << " at (" << pt[0] << ", " << pt[1] << "); box " << box.x << "," << box.y
          << " " << box.w << "x" << box.h;
    }
  }
}

TEST(Plot, LegendLeavesTheLastPointInTheTopRightCornerVisible) {
  if (!plots_available()) GTEST_SKIP() << "built without cairo";
  // SSIM rising to its best at the last epoch: the point sits where a top-right legend would go.
  PlotPanel p{"Validation SSIM", "epoch (0 = untrained)", "SSIM", {{"val SSIM", {}, {}}}, 20,
              "best epoch 20 (val_ssim)"};
  for (int e = 0; e <= 20; ++e) {
    p.series[0].x.push_back(e);
    p.series[0].y.push_back(0.1 + 0.85 * std::sqrt(e / 20.0));
  }
  const LinePanelLayout l = line_panel_layout(p, 560, 380);
  ASSERT_GT(l.legend.w, 0);
  const auto last = l.points[0].back();
  EXPECT_GT(last[0], l.area.x + l.area.w * 0.9);  // the corner case indeed
  EXPECT_LT(last[1], l.area.y + l.area.h * 0.15);
  expect_clear(l.legend, l, "legend");
  expect_clear(l.mark_label, l, "mark label");
  EXPECT_GE(l.legend.x, l.area.x);  // inside the plot area
  EXPECT_LE(l.legend.y + l.legend.h, l.area.y + l.area.h);
  // What is drawn: every marker's centre keeps the series' colour (a legend over it would pale it).
  const std::string dir = test::scratch_dir("plot_legend");
  write_line_plot(dir + "/psnr.png", {p}, 1, 560, 380);
  int bits = 0;
  const at::Tensor img = load_image(dir + "/psnr.png", 3, bits);
  const auto& c = plot_palette()[0];
  const at::Tensor ref = at::tensor({c[0] / 255.0f, c[1] / 255.0f, c[2] / 255.0f});
  for (const auto& pt : l.points[0]) {
    const at::Tensor px = img.index({at::indexing::Slice(), static_cast<int64_t>(pt[1]), static_cast<int64_t>(pt[0])});
    EXPECT_LT((px - ref).abs().max().item<float>(), 10.0f / 255) << "point at " << pt[0] << ", " << pt[1];
  }
}

TEST(Plot, LegendFindsRoomWhenEveryCornerHoldsData) {
  if (!plots_available()) GTEST_SKIP() << "built without cairo";
  // Three series zig-zagging over the whole area (like noisy G terms), and one falling from the top left.
  PlotPanel p{"Generator terms (unweighted)", "epoch", "loss", {}, NAN, ""};
  for (int s = 0; s < 3; ++s) {
    PlotSeries ser{"G_term_" + std::to_string(s), {}, {}};
    for (int e = 1; e <= 30; ++e) {
      ser.x.push_back(e);
      ser.y.push_back(((e + s) % 2) ? 1.0 - 0.01 * s : 0.01 * s);
    }
    p.series.push_back(ser);
  }
  const LinePanelLayout l = line_panel_layout(p, 560, 380);
  expect_clear(l.legend, l, "legend");
  // Nor does a line run under it.
  for (const auto& pts : l.points) {
    for (size_t i = 1; i < pts.size(); ++i) {
      for (double t = 0; t <= 1; t += 0.01) {
        const double x = pts[i - 1][0] + t * (pts[i][0] - pts[i - 1][0]);
        const double y = pts[i - 1][1] + t * (pts[i][1] - pts[i - 1][1]);
        ASSERT_FALSE(l.legend.contains(x, y)) << "a line passes under the legend at " << x << ", " << y;
      }
    }
  }
}

TEST(Plot, BarNamesOfOneSweepAreToldApart) {
  const auto chars = [](const std::string& t) {  // one unit per character ("…" is one)
    double n = 0;
    for (unsigned char ch : t) n += (ch & 0xC0) != 0x80;
    return n;
  };
  const std::vector<std::string> runs = {"loss_ablation__loss-cgan+l1", "loss_ablation__loss-gan+l1",
                                         "loss_ablation__loss-l1"};
  CategoryLabels l = category_labels(runs, chars, 18);
  EXPECT_EQ(l.shared, "loss_ablation__loss-…");
  EXPECT_EQ(l.lines, (std::vector<std::vector<std::string>>{{"cgan+l1"}, {"gan+l1"}, {"l1"}}));
  // Narrow bars: two lines at a separator, then the middle goes; the labels stay apart.
  l = category_labels(runs, chars, 5);
  EXPECT_EQ(l.lines, (std::vector<std::vector<std::string>>{{"cgan+", "l1"}, {"gan+", "l1"}, {"l1"}}));
  l = category_labels(runs, chars, 3);
  EXPECT_EQ(l.lines, (std::vector<std::vector<std::string>>{{"cga", "n…1"}, {"gan", "+l1"}, {"l1"}}));
  // A grid: the shared end is dropped too, and said.
  l = category_labels({"grid__lr-0.0002__netD-basic", "grid__lr-0.001__netD-basic"}, chars, 18);
  EXPECT_EQ(l.shared, "grid__lr-…__netD-basic");
  EXPECT_EQ(l.lines, (std::vector<std::vector<std::string>>{{"0.0002"}, {"0.001"}}));
  // Names that would still look alike are numbered rather than shown the same.
  l = category_labels({"abcdefgXhijklmn", "abcdefgYhijklmn", "other"}, chars, 5);
  EXPECT_EQ(l.shared, "");
  EXPECT_EQ(l.lines, (std::vector<std::vector<std::string>>{{"1:", "ab…mn"}, {"2:", "ab…mn"}, {"other"}}));
  // Nothing is dropped that would leave a name empty, or cut a word.
  l = category_labels({"facades", "facades (2)"}, chars, 18);
  EXPECT_EQ(l.shared, "");
  EXPECT_EQ(l.lines, (std::vector<std::vector<std::string>>{{"facades"}, {"facades (2)"}}));
  l = category_labels({"unet_128", "unet_256"}, chars, 18);
  EXPECT_EQ(l.shared, "unet_…");
  EXPECT_EQ(l.lines, (std::vector<std::vector<std::string>>{{"128"}, {"256"}}));
}

}  // namespace
}  // namespace p2p
