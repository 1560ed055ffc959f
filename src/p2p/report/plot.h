// Plots as PNG for run reports, drawn with cairo: line plots (loss and metric curves over epochs, with the
// best epoch marked) and bar charts (one metric across runs). Axes with "nice" ticks, grid, labels,
// title and legend in DejaVu Sans, so a figure can go into a report as it is. Files are written
// atomically (a browser refreshing the report never sees half a PNG).
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace p2p {

struct PlotSeries {
  std::string label;
  std::vector<double> x, y;  // same length; a non-finite y breaks the line there
};

struct PlotPanel {
  std::string title, x_label, y_label;
  std::vector<PlotSeries> series;  // drawn in palette order
  double mark_x = NAN;             // finite: a dashed vertical line here (the best epoch) ...
  std::string mark_label;          // ... labelled with this
};

// Writes the panels in a grid of `columns` columns, each panel_w x panel_h pixels, to `path` (PNG).
// Panels without a finite point show "no data yet". Throws p2p::Error naming the file on failure.
void write_line_plot(const std::string& path, const std::vector<PlotPanel>& panels, int columns = 1,
                     int panel_w = 640, int panel_h = 400);

struct BarChart {
  std::string title, y_label;
  std::vector<std::string> categories;  // one bar each, coloured in palette order
  std::vector<double> values;           // same length; non-finite values draw no bar
};

// Writes one bar chart per entry in a grid of `columns` columns (PNG), like write_line_plot.
void write_bar_charts(const std::string& path, const std::vector<BarChart>& charts, int columns = 1,
                      int panel_w = 480, int panel_h = 360);

// False when built without cairo: then the writers above throw p2p::Error saying so.
bool plots_available();

// Series / bar colours in order (8 distinct, colour-blind-aware), cycled beyond 8.
const std::vector<std::array<uint8_t, 3>>& plot_palette();

// Tick positions covering [lo, hi]: multiples of a step of 1, 2, 2.5 or 5 x 10^k giving about `target`
// ticks (integer steps only when `integers`). lo == hi is widened around the value.
std::vector<double> nice_ticks(double lo, double hi, int target = 5, bool integers = false);

}  // namespace p2p
