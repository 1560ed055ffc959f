// Line plots and bar charts with cairo (see plot.h).
#include "p2p/report/plot.h"

#include "p2p/core/error.h"
#include "p2p/io/fs.h"

#if P2P_HAVE_CAIRO
#include <cairo.h>
#endif

#include <algorithm>
#include <cstdio>
#include <limits>
#include <memory>

namespace p2p {

#if P2P_HAVE_CAIRO
namespace {

constexpr const char* kFont = "DejaVu Sans";
constexpr double kLeft = 74, kRight = 18, kTop = 34, kBottom = 50;  // panel margins around the plot area

struct Surface {
  cairo_surface_t* surface = nullptr;
  cairo_t* cr = nullptr;
  Surface(int w, int h) {
    surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
    cr = cairo_create(surface);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
  }
  ~Surface() {
    cairo_destroy(cr);
    cairo_surface_destroy(surface);
  }
  Surface(const Surface&) = delete;
  Surface& operator=(const Surface&) = delete;

  void write(const std::string& path) {
    if (cairo_status(cr) != CAIRO_STATUS_SUCCESS) {
      fail("cannot draw plot " + path + ": " + cairo_status_to_string(cairo_status(cr)));
    }
    cairo_surface_flush(surface);
    write_atomically(
        path,
        [&](const std::string& tmp) {
          const cairo_status_t st = cairo_surface_write_to_png(surface, tmp.c_str());
          if (st != CAIRO_STATUS_SUCCESS) fail("cannot write plot " + path + ": " + cairo_status_to_string(st));
        },
        /*durable=*/false);
  }
};

void set_colour(cairo_t* cr, size_t i) {
  const auto& c = plot_palette()[i % plot_palette().size()];
  cairo_set_source_rgb(cr, c[0] / 255.0, c[1] / 255.0, c[2] / 255.0);
}

void text_at(cairo_t* cr, const std::string& s, double x, double y, double size, bool bold, double align_x,
             double align_y) {
  cairo_select_font_face(cr, kFont, CAIRO_FONT_SLANT_NORMAL, bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, size);
  cairo_text_extents_t e;
  cairo_text_extents(cr, s.c_str(), &e);
  cairo_move_to(cr, x - e.x_bearing - e.width * align_x, y - e.y_bearing - e.height * align_y);
  cairo_show_text(cr, s.c_str());
}

double text_width(cairo_t* cr, const std::string& s, double size) {
  cairo_select_font_face(cr, kFont, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, size);
  cairo_text_extents_t e;
  cairo_text_extents(cr, s.c_str(), &e);
  return e.x_advance;
}

// Tick label with as many decimals as the step needs (0.25 -> 2, 20 -> 0); large or tiny as %g.
std::string tick_label(double v, double step) {
  char buf[32];
  const double a = std::max(std::abs(v), std::abs(step));
  if (a >= 1e5 || a < 1e-3) {
    std::snprintf(buf, sizeof buf, "%.3g", v);
    return buf;
  }
  int decimals = std::max(0, static_cast<int>(std::ceil(-std::log10(step) - 1e-9)));
  const double scaled = step * std::pow(10.0, decimals);
  if (std::abs(scaled - std::round(scaled)) > 1e-6) ++decimals;
  if (std::abs(v) < step * 1e-9) v = 0;  // no "-0.00"
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

// The data range of the finite points, padded so lines do not sit on the frame.
bool finite_range(const std::vector<PlotSeries>& s, bool want_x, double& lo, double& hi) {
  lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (const auto& ser : s) {
    for (size_t i = 0; i < ser.x.size() && i < ser.y.size(); ++i) {
      if (!std::isfinite(ser.x[i]) || !std::isfinite(ser.y[i])) continue;
      const double v = want_x ? ser.x[i] : ser.y[i];
      lo = std::min(lo, v), hi = std::max(hi, v);
    }
  }
  return lo <= hi;
}

struct Frame {
  double x0, y0, w, h;        // plot area in pixels
  double xmin, xmax, ymin, ymax;
  double px(double x) const { return x0 + (x - xmin) / (xmax - xmin) * w; }
  double py(double y) const { return y0 + h - (y - ymin) / (ymax - ymin) * h; }
};

// Title, axis labels, grid and tick labels of a panel at (ox, oy); returns the plot area's frame.
Frame draw_axes(cairo_t* cr, double ox, double oy, double pw, double ph, const std::string& title,
                const std::string& x_label, const std::string& y_label, const std::vector<double>& xt,
                const std::vector<double>& yt, const std::vector<std::string>* x_names = nullptr) {
  Frame f{ox + kLeft, oy + kTop, pw - kLeft - kRight, ph - kTop - kBottom, xt.front(), xt.back(), yt.front(), yt.back()};
  if (f.xmax == f.xmin) f.xmin -= 0.5, f.xmax += 0.5;
  if (!x_names) {  // a little room, so points on the first or last tick do not sit on the frame
    const double pad = (f.xmax - f.xmin) * 0.025;
    f.xmin -= pad, f.xmax += pad;
  }
  cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
  text_at(cr, title, ox + pw / 2, oy + 8, 15, true, 0.5, 0);
  text_at(cr, x_label, f.x0 + f.w / 2, oy + ph - 6, 13, false, 0.5, 1);
  cairo_save(cr);
  cairo_translate(cr, ox + 14, f.y0 + f.h / 2);
  cairo_rotate(cr, -M_PI / 2);
  text_at(cr, y_label, 0, 0, 13, false, 0.5, 0.5);
  cairo_restore(cr);
  cairo_set_line_width(cr, 1);
  const double ystep = yt.size() > 1 ? yt[1] - yt[0] : 1;
  for (double y : yt) {
    cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
    cairo_move_to(cr, f.x0, std::round(f.py(y)) + 0.5);
    cairo_line_to(cr, f.x0 + f.w, std::round(f.py(y)) + 0.5);
    cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
    text_at(cr, tick_label(y, ystep), f.x0 - 8, f.py(y), 12, false, 1, 0.5);
  }
  const double xstep = xt.size() > 1 ? xt[1] - xt[0] : 1;
  for (size_t i = 0; i < xt.size(); ++i) {
    if (x_names) continue;
    cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
    cairo_move_to(cr, std::round(f.px(xt[i])) + 0.5, f.y0 + f.h);
    cairo_line_to(cr, std::round(f.px(xt[i])) + 0.5, f.y0 + f.h + 5);
    cairo_stroke(cr);
    text_at(cr, tick_label(xt[i], xstep), f.px(xt[i]), f.y0 + f.h + 8, 12, false, 0.5, 0);
  }
  cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
  cairo_rectangle(cr, f.x0 + 0.5, f.y0 + 0.5, f.w - 1, f.h - 1);
  cairo_stroke(cr);
  return f;
}

void draw_legend(cairo_t* cr, const Frame& f, const std::vector<std::string>& labels) {
  if (labels.empty()) return;
  const double size = 12, row = 18;
  double widest = 0;
  for (const auto& l : labels) widest = std::max(widest, text_width(cr, l, size));
  const double bw = widest + 44, bh = row * labels.size() + 8;
  const double bx = f.x0 + f.w - bw - 8, by = f.y0 + 8;
  cairo_set_source_rgba(cr, 1, 1, 1, 0.85);
  cairo_rectangle(cr, bx, by, bw, bh);
  cairo_fill_preserve(cr);
  cairo_set_source_rgb(cr, 0.7, 0.7, 0.7);
  cairo_set_line_width(cr, 1);
  cairo_stroke(cr);
  for (size_t i = 0; i < labels.size(); ++i) {
    const double cy = by + 4 + row * (i + 0.5);
    set_colour(cr, i);
    cairo_set_line_width(cr, 2.5);
    cairo_move_to(cr, bx + 8, cy);
    cairo_line_to(cr, bx + 30, cy);
    cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    text_at(cr, labels[i], bx + 36, cy, size, false, 0, 0.5);
  }
}

void draw_line_panel(cairo_t* cr, double ox, double oy, double pw, double ph, const PlotPanel& p) {
  double xlo, xhi, ylo, yhi;
  const bool has = finite_range(p.series, true, xlo, xhi) && finite_range(p.series, false, ylo, yhi);
  if (!has) xlo = 0, xhi = 1, ylo = 0, yhi = 1;
  bool integer_x = true;
  for (const auto& s : p.series) {
    for (double x : s.x) integer_x = integer_x && (!std::isfinite(x) || x == std::round(x));
  }
  const double pad = (yhi - ylo) * 0.05;
  const std::vector<double> xt = nice_ticks(xlo, xhi, 8, integer_x);
  const std::vector<double> yt = nice_ticks(ylo - pad, yhi + pad, 6);
  const Frame f = draw_axes(cr, ox, oy, pw, ph, p.title, p.x_label, p.y_label, xt, yt);
  if (!has) {
    cairo_set_source_rgb(cr, 0.5, 0.5, 0.5);
    text_at(cr, "no data yet", f.x0 + f.w / 2, f.y0 + f.h / 2, 14, false, 0.5, 0.5);
    return;
  }
  cairo_save(cr);
  cairo_rectangle(cr, f.x0, f.y0, f.w, f.h);
  cairo_clip(cr);
  if (std::isfinite(p.mark_x)) {
    const double dashes[] = {6, 4};
    cairo_set_dash(cr, dashes, 2, 0);
    cairo_set_source_rgb(cr, 0.35, 0.35, 0.35);
    cairo_set_line_width(cr, 1.5);
    cairo_move_to(cr, f.px(p.mark_x), f.y0);
    cairo_line_to(cr, f.px(p.mark_x), f.y0 + f.h);
    cairo_stroke(cr);
    cairo_set_dash(cr, nullptr, 0, 0);
    const bool right = f.px(p.mark_x) < f.x0 + f.w * 0.6;
    text_at(cr, p.mark_label, f.px(p.mark_x) + (right ? 5 : -5), f.y0 + f.h - 6, 12, false, right ? 0 : 1, 1);
  }
  for (size_t s = 0; s < p.series.size(); ++s) {
    const PlotSeries& ser = p.series[s];
    const size_t n = std::min(ser.x.size(), ser.y.size());
    set_colour(cr, s);
    cairo_set_line_width(cr, 2);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    bool pen = false;
    size_t points = 0;
    for (size_t i = 0; i < n; ++i) {
      if (!std::isfinite(ser.x[i]) || !std::isfinite(ser.y[i])) {
        pen = false;
        continue;
      }
      ++points;
      if (pen) cairo_line_to(cr, f.px(ser.x[i]), f.py(ser.y[i]));
      else cairo_move_to(cr, f.px(ser.x[i]), f.py(ser.y[i]));
      pen = true;
    }
    cairo_stroke(cr);
    if (points <= 60) {  // markers, so short runs (even one epoch) show their points
      for (size_t i = 0; i < n; ++i) {
        if (!std::isfinite(ser.x[i]) || !std::isfinite(ser.y[i])) continue;
        cairo_arc(cr, f.px(ser.x[i]), f.py(ser.y[i]), 3.2, 0, 2 * M_PI);
        cairo_fill(cr);
      }
    }
  }
  cairo_restore(cr);
  std::vector<std::string> labels;
  for (const auto& s : p.series) labels.push_back(s.label);
  draw_legend(cr, f, labels);
}

void draw_bar_panel(cairo_t* cr, double ox, double oy, double pw, double ph, const BarChart& c) {
  double lo = 0, hi = 0;
  bool has = false;
  for (double v : c.values) {
    if (!std::isfinite(v)) continue;
    lo = std::min(lo, v), hi = std::max(hi, v), has = true;
  }
  if (!has || lo == hi) hi = lo + 1;
  const std::vector<double> yt = nice_ticks(lo, hi + (hi - lo) * 0.08, 6);
  const size_t n = std::max<size_t>(1, c.categories.size());
  std::vector<double> xt = {0.0, static_cast<double>(n)};
  std::vector<std::string> names = c.categories;
  const Frame f = draw_axes(cr, ox, oy, pw, ph, c.title, "", c.y_label, xt, yt, &names);
  const double slot = f.w / n, bar = slot * 0.62;
  for (size_t i = 0; i < c.categories.size() && i < c.values.size(); ++i) {
    const double cx = f.x0 + slot * (i + 0.5);
    if (std::isfinite(c.values[i])) {
      set_colour(cr, i);
      const double top = f.py(std::max(c.values[i], 0.0)), base = f.py(std::min(c.values[i], 0.0));
      cairo_rectangle(cr, cx - bar / 2, top, bar, std::max(1.0, base - top));
      cairo_fill(cr);
      cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.4g", c.values[i]);
      text_at(cr, buf, cx, top - 4, 11, false, 0.5, 1);
    }
    // Category names under the bars, shortened to the slot.
    std::string name = c.categories[i], base = name;
    while (base.size() > 1 && text_width(cr, name, 11) > slot - 4) {
      do base.pop_back();
      while (!base.empty() && (static_cast<unsigned char>(base.back()) & 0xC0) == 0x80);  // whole UTF-8 chars
      name = base + "…";
    }
    cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
    text_at(cr, name, cx, f.y0 + f.h + 8, 11, false, 0.5, 0);
  }
}

template <typename T, typename Draw>
void write_grid(const std::string& path, const std::vector<T>& items, int columns, int pw, int ph, Draw draw) {
  if (items.empty()) fail("cannot write plot " + path + ": nothing to draw");
  columns = std::max(1, std::min<int>(columns, static_cast<int>(items.size())));
  const int rows = (static_cast<int>(items.size()) + columns - 1) / columns;
  Surface s(columns * pw, rows * ph);
  cairo_set_antialias(s.cr, CAIRO_ANTIALIAS_DEFAULT);
  for (size_t i = 0; i < items.size(); ++i) {
    draw(s.cr, static_cast<double>(i % columns) * pw, static_cast<double>(i / columns) * ph, pw, ph, items[i]);
  }
  s.write(path);
}

}  // namespace
#endif

const std::vector<std::array<uint8_t, 3>>& plot_palette() {
  // Okabe-Ito's colour-blind-safe set (black replaced by a dark grey-blue), then two more.
  static const std::vector<std::array<uint8_t, 3>> p = {{0, 114, 178},  {213, 94, 0},   {0, 158, 115},
                                                        {204, 121, 167}, {230, 159, 0}, {86, 180, 233},
                                                        {68, 68, 120},   {170, 40, 40}};
  return p;
}

std::vector<double> nice_ticks(double lo, double hi, int target, bool integers) {
  if (!std::isfinite(lo) || !std::isfinite(hi)) lo = 0, hi = 1;
  if (lo > hi) std::swap(lo, hi);
  if (hi - lo < 1e-12 * std::max(1.0, std::abs(hi))) {
    const double d = lo == 0 ? 1 : std::abs(lo) * 0.1;
    lo -= d, hi += d;
  }
  target = std::max(2, target);
  const double raw = (hi - lo) / target;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag * 10;
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0}) {
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  }
  if (integers) step = std::max(1.0, std::round(step) == step ? step : std::ceil(step));
  std::vector<double> t;
  const double first = std::floor(lo / step + 1e-9) * step, last = std::ceil(hi / step - 1e-9) * step;
  for (double v = first; v <= last + step * 1e-6; v += step) t.push_back(std::abs(v) < step * 1e-9 ? 0.0 : v);
  if (t.size() < 2) t.push_back(t.back() + step);
  return t;
}

#if P2P_HAVE_CAIRO
bool plots_available() { return true; }

void write_line_plot(const std::string& path, const std::vector<PlotPanel>& panels, int columns, int panel_w,
                     int panel_h) {
  write_grid(path, panels, columns, panel_w, panel_h, draw_line_panel);
}

void write_bar_charts(const std::string& path, const std::vector<BarChart>& charts, int columns, int panel_w,
                      int panel_h) {
  write_grid(path, charts, columns, panel_w, panel_h, draw_bar_panel);
}
#else
bool plots_available() { return false; }

void write_line_plot(const std::string& path, const std::vector<PlotPanel>&, int, int, int) {
  fail("cannot write plot " + path + ": this build has no cairo (install libcairo2-dev and rebuild)");
}

void write_bar_charts(const std::string& path, const std::vector<BarChart>&, int, int, int) {
  fail("cannot write plot " + path + ": this build has no cairo (install libcairo2-dev and rebuild)");
}
#endif

}  // namespace p2p
