// Plots as PNG for run reports, drawn with cairo: line plots (loss and metric curves over epochs, with the
// best epoch marked) and bar charts (one metric across runs). Axes with "nice" ticks, grid, labels,
// title and legend in DejaVu Sans, so a figure can go into a report as it is. Nothing is drawn over the
// data: the legend goes where no point or line is (making room above the curves when no such place
// exists), and bar names that share a long start or end (runs of one sweep) show what differs. Files are
// written atomically (a browser refreshing the report never sees half a PNG).
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <functional>
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

// A rectangle in pixels of a panel, y down.
struct PlotBox {
  double x = 0, y = 0, w = 0, h = 0;
  bool contains(double px, double py) const { return px >= x && px <= x + w && py >= y && py <= y + h; }
};

// Where write_line_plot draws a panel of panel_w x panel_h: the plot area, the legend's box (w = 0 when
// there are no series), the best-epoch mark's label (w = 0 without a mark) and the centre of every finite
// point, all in the panel's pixels. Throws p2p::Error without cairo (text sizes need it).
struct LinePanelLayout {
  PlotBox area, legend, mark_label;
  std::vector<std::vector<std::array<double, 2>>> points;  // per series
};
LinePanelLayout line_panel_layout(const PlotPanel& panel, int panel_w = 640, int panel_h = 400);

struct BarChart {
  std::string title, y_label;
  std::vector<std::string> categories;  // one bar each, coloured in palette order
  std::vector<double> values;           // same length; non-finite values draw no bar
  std::string x_label;                  // what the categories are ("runs"); shown with their shared part
};

// Bar names as a chart writes them under bars `max_width` wide (`width` measures a text). The start and
// end that all names share, cut at a separator (_ - + = , : / space), are said once in `shared` with
// "…" where the names differ ("loss_ablation__loss-…" for loss_ablation__loss-l1, ..._loss-cgan); what
// is left goes on one line, or two split at a separator, or loses its middle to "…", keeping both ends.
// Different names always get different labels (numbered "1:", "2:" ... when shortening made them equal).
struct CategoryLabels {
  std::string shared;                           // "" when the names share nothing worth dropping
  std::vector<std::vector<std::string>> lines;  // per name: one or two lines
};
CategoryLabels category_labels(const std::vector<std::string>& names,
                               const std::function<double(const std::string&)>& width, double max_width);

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
