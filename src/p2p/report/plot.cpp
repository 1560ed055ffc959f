// Line plots and bar charts with cairo (see plot.h).
#include "p2p/report/plot.h"

#include "p2p/core/error.h"
#include "p2p/io/fs.h"

#if P2P_HAVE_CAIRO
#include <cairo.h>
#endif

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>

namespace p2p {

namespace {

// Bytes of the UTF-8 characters of s, in order (so text is only ever cut between characters).
std::vector<std::string> utf8_chars(const std::string& s) {
  std::vector<std::string> out;
  for (char ch : s) {
    if (out.empty() || (static_cast<unsigned char>(ch) & 0xC0) != 0x80) out.emplace_back();
    out.back() += ch;
  }
  return out;
}

// `s`, or when wider than `max_width` its first and last characters around "…" (the first `keep_head`
// always kept), as many as fit, taken from the end and the start in turn.
std::string shortened(const std::string& s, const std::function<double(const std::string&)>& width, double max_width,
                      size_t keep_head) {
  if (width(s) <= max_width) return s;
  const std::vector<std::string> ch = utf8_chars(s);
  size_t head = std::min(keep_head, ch.size()), tail = 0;
  auto text = [&](size_t h, size_t t) {
    std::string r;
    for (size_t i = 0; i < h; ++i) r += ch[i];
    r += "…";
    for (size_t i = ch.size() - t; i < ch.size(); ++i) r += ch[i];
    return r;
  };
  bool from_end = true;
  while (head + tail < ch.size()) {
    const size_t h = head + (from_end ? 0 : 1), t = tail + (from_end ? 1 : 0);
    if (width(text(h, t)) > max_width) {
      if (!from_end) break;  // the next character from the end did not fit: try the start once more
      from_end = false;
      if (width(text(head + 1, tail)) > max_width) break;
      ++head;
      continue;
    }
    head = h, tail = t, from_end = !from_end;
  }
  return text(head, tail);
}

std::string trimmed(std::string s) {  // a line broken after a space does not end in it
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

bool is_separator(char c) { return c != '\0' && std::strchr("_-+=,:/ ", c) != nullptr; }

// One label: one line; else two, split after a separator; else as much of the start as fits on the
// first line (to a separator if one fits) and the rest on the second, shortened in its middle.
std::vector<std::string> fit_label(const std::string& s, const std::function<double(const std::string&)>& width,
                                   double max_width, size_t keep_head) {
  if (width(s) <= max_width) return {s};
  double best = std::numeric_limits<double>::infinity();
  std::vector<std::string> two;
  for (size_t k = std::max<size_t>(1, keep_head); k + 1 < s.size(); ++k) {
    if (!is_separator(s[k - 1])) continue;
    const std::string a = s.substr(0, k), b = s.substr(k);
    const double w = std::max(width(a), width(b));
    if (w <= max_width && w < best) best = w, two = {trimmed(a), b};
  }
  if (!two.empty()) return two;
  const std::vector<std::string> ch = utf8_chars(s);
  std::string first, at_separator;
  for (const std::string& c : ch) {
    if (width(first + c) > max_width) break;
    first += c;
    if (is_separator(c[0])) at_separator = first;
  }
  if (at_separator.size() * 2 >= first.size()) first = at_separator;
  if (first.size() < keep_head || first.empty()) return {shortened(s, width, max_width, keep_head)};
  return {trimmed(first), shortened(s.substr(first.size()), width, max_width, 0)};
}

}  // namespace

CategoryLabels category_labels(const std::vector<std::string>& names,
                               const std::function<double(const std::string&)>& width, double max_width) {
  CategoryLabels out;
  std::vector<std::string> core = names;
  if (names.size() >= 2) {
    // The shared start, up to and including its last separator, leaving every name something.
    size_t shortest = names[0].size(), pre = names[0].size();
    for (const auto& n : names) {
      shortest = std::min(shortest, n.size());
      size_t k = 0;
      while (k < pre && k < n.size() && n[k] == names[0][k]) ++k;
      pre = k;
    }
    while (pre > 0 && (pre >= shortest || !is_separator(names[0][pre - 1]))) --pre;
    for (auto& c : core) c = c.substr(pre);
    // The shared end of what is left, from its first separator on.
    size_t rest = core[0].size(), suf = core[0].size();
    for (const auto& c : core) {
      rest = std::min(rest, c.size());
      size_t k = 0;
      while (k < suf && k < c.size() && c[c.size() - 1 - k] == core[0][core[0].size() - 1 - k]) ++k;
      suf = k;
    }
    while (suf > 0 && (suf >= rest || !is_separator(core[0][core[0].size() - suf]))) --suf;
    if (pre > 0 || suf > 0) out.shared = names[0].substr(0, pre) + "…" + core[0].substr(core[0].size() - suf);
    for (auto& c : core) c.resize(c.size() - suf);
  }
  for (const auto& c : core) out.lines.push_back(fit_label(c, width, max_width, 0));
  // Shortening can make two names look alike: those are numbered, and the number is always kept.
  std::vector<bool> alike(names.size(), false);
  for (size_t i = 0; i < names.size(); ++i) {
    for (size_t j = i + 1; j < names.size(); ++j) {
      if (names[j] != names[i] && out.lines[j] == out.lines[i]) alike[i] = alike[j] = true;
    }
  }
  for (size_t i = 0; i < names.size(); ++i) {
    if (!alike[i]) continue;
    const std::string number = std::to_string(i + 1) + ": ";
    out.lines[i] = fit_label(number + core[i], width, max_width, number.size());
  }
  return out;
}

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

// The plot area of a panel at (ox, oy) for these ticks; `bottom` is the margin under it.
Frame frame_of(double ox, double oy, double pw, double ph, const std::vector<double>& xt, const std::vector<double>& yt,
               bool categories, double bottom = kBottom) {
  Frame f{ox + kLeft, oy + kTop, pw - kLeft - kRight, ph - kTop - bottom, xt.front(), xt.back(), yt.front(), yt.back()};
  if (f.xmax == f.xmin) f.xmin -= 0.5, f.xmax += 0.5;
  if (!categories) {  // a little room, so points on the first or last tick do not sit on the frame
    const double pad = (f.xmax - f.xmin) * 0.025;
    f.xmin -= pad, f.xmax += pad;
  }
  return f;
}

// Title, axis labels, grid and tick labels around the frame `f` of a panel at (ox, oy).
void draw_axes(cairo_t* cr, const Frame& f, double ox, double oy, double pw, double ph, const std::string& title,
               const std::string& x_label, const std::string& y_label, const std::vector<double>& xt,
               const std::vector<double>& yt, bool categories) {
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
  for (size_t i = 0; i < xt.size() && !categories; ++i) {
    cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
    cairo_move_to(cr, std::round(f.px(xt[i])) + 0.5, f.y0 + f.h);
    cairo_line_to(cr, std::round(f.px(xt[i])) + 0.5, f.y0 + f.h + 5);
    cairo_stroke(cr);
    text_at(cr, tick_label(xt[i], xstep), f.px(xt[i]), f.y0 + f.h + 8, 12, false, 0.5, 0);
  }
  cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
  cairo_rectangle(cr, f.x0 + 0.5, f.y0 + 0.5, f.w - 1, f.h - 1);
  cairo_stroke(cr);
}

constexpr double kLegendText = 12, kLegendRow = 18, kLegendInset = 8;
constexpr double kMarker = 3.2, kMarkText = 12;

PlotBox legend_size(cairo_t* cr, const std::vector<std::string>& labels) {
  if (labels.empty()) return {};
  double widest = 0;
  for (const auto& l : labels) widest = std::max(widest, text_width(cr, l, kLegendText));
  return {0, 0, widest + 44, kLegendRow * labels.size() + 8};
}

void draw_legend(cairo_t* cr, const PlotBox& b, const std::vector<std::string>& labels) {
  if (labels.empty()) return;
  cairo_set_source_rgba(cr, 1, 1, 1, 0.85);
  cairo_rectangle(cr, b.x, b.y, b.w, b.h);
  cairo_fill_preserve(cr);
  cairo_set_source_rgb(cr, 0.7, 0.7, 0.7);
  cairo_set_line_width(cr, 1);
  cairo_stroke(cr);
  for (size_t i = 0; i < labels.size(); ++i) {
    const double cy = b.y + 4 + kLegendRow * (i + 0.5);
    set_colour(cr, i);
    cairo_set_line_width(cr, 2.5);
    cairo_move_to(cr, b.x + 8, cy);
    cairo_line_to(cr, b.x + 30, cy);
    cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    text_at(cr, labels[i], b.x + 36, cy, kLegendText, false, 0, 0.5);
  }
}

PlotBox grown(const PlotBox& b, double by) { return {b.x - by, b.y - by, b.w + 2 * by, b.h + 2 * by}; }

bool overlaps(const PlotBox& a, const PlotBox& b) {
  return a.w > 0 && b.w > 0 && a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

// Whether the segment p-q passes through the box (Liang-Barsky clipping).
bool crosses(const PlotBox& b, const std::array<double, 2>& p, const std::array<double, 2>& q) {
  double t0 = 0, t1 = 1;
  const double dx = q[0] - p[0], dy = q[1] - p[1];
  const double num[4] = {p[0] - b.x, b.x + b.w - p[0], p[1] - b.y, b.y + b.h - p[1]};
  const double den[4] = {-dx, dx, -dy, dy};
  for (int i = 0; i < 4; ++i) {
    if (den[i] == 0) {
      if (num[i] < 0) return false;
      continue;
    }
    const double t = num[i] / den[i];
    if (den[i] < 0) t0 = std::max(t0, t);  // entering
    else t1 = std::min(t1, t);             // leaving
    if (t0 > t1) return false;
  }
  return true;
}

// Everything a line panel draws and where (see LinePanelLayout), plus what drawing needs besides.
struct LineLayout {
  bool has = false;
  std::vector<double> xt, yt;
  Frame f{};
  PlotBox legend, mark_label;
  std::vector<std::vector<std::vector<std::array<double, 2>>>> pieces;  // per series: unbroken runs of points
};

// How badly a box placed here covers the drawing: a point or the mark's label it would hide counts
// 1000, a line through it 10, the dashed mark line 1. 0 = a free place.
double cost(const PlotBox& box, const LineLayout& l, double mark_px, const PlotBox& avoid) {
  double c = 0;
  const PlotBox near_point = grown(box, kMarker + 1.5), near_line = grown(box, 1.5);
  for (const auto& series : l.pieces) {
    for (const auto& piece : series) {
      for (size_t i = 0; i < piece.size(); ++i) {
        if (near_point.contains(piece[i][0], piece[i][1])) c += 1000;
        if (i > 0 && crosses(near_line, piece[i - 1], piece[i])) c += 10;
      }
    }
  }
  if (overlaps(grown(box, 2), avoid)) c += 1000;
  if (std::isfinite(mark_px) && mark_px >= box.x && mark_px <= box.x + box.w) c += 1;
  return c;
}

// The cheapest of `options` (the first of equals).
PlotBox cheapest(const std::vector<PlotBox>& options, const LineLayout& l, double mark_px, const PlotBox& avoid,
                 double& best) {
  PlotBox pick = options.front();
  best = std::numeric_limits<double>::infinity();
  for (const PlotBox& b : options) {
    const double c = cost(b, l, mark_px, avoid);
    if (c < best) best = c, pick = b;
  }
  return pick;
}

LineLayout layout_line_panel(cairo_t* cr, double ox, double oy, double pw, double ph, const PlotPanel& p) {
  LineLayout l;
  double xlo, xhi, ylo, yhi;
  l.has = finite_range(p.series, true, xlo, xhi) && finite_range(p.series, false, ylo, yhi);
  if (!l.has) xlo = 0, xhi = 1, ylo = 0, yhi = 1;
  bool integer_x = true;
  for (const auto& s : p.series) {
    for (double x : s.x) integer_x = integer_x && (!std::isfinite(x) || x == std::round(x));
  }
  const double pad = (yhi - ylo) * 0.05;
  l.xt = nice_ticks(xlo, xhi, 8, integer_x);
  std::vector<std::string> labels;
  for (const auto& s : p.series) labels.push_back(s.label);
  const PlotBox size = legend_size(cr, labels);
  double top = yhi + pad;  // raised when the legend needs room above the curves
  for (int attempt = 0;; ++attempt) {
    l.yt = nice_ticks(ylo - pad, top, 6);
    l.f = frame_of(ox, oy, pw, ph, l.xt, l.yt, false);
    const Frame& f = l.f;
    l.pieces.assign(p.series.size(), {});
    for (size_t s = 0; s < p.series.size(); ++s) {
      const PlotSeries& ser = p.series[s];
      bool pen = false;
      for (size_t i = 0; i < ser.x.size() && i < ser.y.size(); ++i) {
        if (!std::isfinite(ser.x[i]) || !std::isfinite(ser.y[i])) {
          pen = false;
          continue;
        }
        if (!pen) l.pieces[s].emplace_back();
        l.pieces[s].back().push_back({f.px(ser.x[i]), f.py(ser.y[i])});
        pen = true;
      }
    }
    if (!l.has) return l;
    // The mark's label: at the foot of its line, on the side with room, or at the top if that hides less.
    double mark_px = NAN;
    l.mark_label = {};
    if (std::isfinite(p.mark_x)) {
      mark_px = f.px(p.mark_x);
      const double w = text_width(cr, p.mark_label, kMarkText), h = kMarkText;
      const bool right = mark_px < f.x0 + f.w * 0.6;
      const double x = right ? mark_px + 5 : mark_px - 5 - w;
      double unused;
      l.mark_label = cheapest({{x, f.y0 + f.h - 6 - h, w, h}, {x, f.y0 + 6, w, h}}, l, NAN, {}, unused);
    }
    if (size.w == 0) return l;
    // The legend: a corner or an edge's middle where it hides nothing, the top right if that is free.
    const double L = f.x0 + kLegendInset, R = f.x0 + f.w - kLegendInset - size.w, C = f.x0 + (f.w - size.w) / 2;
    const double T = f.y0 + kLegendInset, B = f.y0 + f.h - kLegendInset - size.h, M = f.y0 + (f.h - size.h) / 2;
    double c = 0;
    l.legend = cheapest({{R, T, size.w, size.h},
                         {L, T, size.w, size.h},
                         {C, T, size.w, size.h},
                         {R, B, size.w, size.h},
                         {L, B, size.w, size.h},
                         {C, B, size.w, size.h},
                         {R, M, size.w, size.h},
                         {L, M, size.w, size.h}},
                        l, mark_px, l.mark_label, c);
    // Nowhere free: raise the top of the y axis until the legend fits above every point and line.
    const double room = kLegendInset + size.h + kMarker + 4;
    if (c < 10 || attempt == 4 || f.h < 2 * room) return l;
    const double ymin = l.yt.front(), share = 1 - room / f.h;  // of the height the curves may take
    top = std::max(ymin + (yhi - ymin) / share, top + (top - ymin) * 0.05);
  }
}

void draw_line_panel(cairo_t* cr, double ox, double oy, double pw, double ph, const PlotPanel& p) {
  const LineLayout l = layout_line_panel(cr, ox, oy, pw, ph, p);
  const Frame& f = l.f;
  draw_axes(cr, f, ox, oy, pw, ph, p.title, p.x_label, p.y_label, l.xt, l.yt, false);
  if (!l.has) {
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
    text_at(cr, p.mark_label, l.mark_label.x, l.mark_label.y, kMarkText, false, 0, 0);
  }
  for (size_t s = 0; s < l.pieces.size(); ++s) {
    set_colour(cr, s);
    cairo_set_line_width(cr, 2);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    size_t points = 0;
    for (const auto& piece : l.pieces[s]) {
      for (size_t i = 0; i < piece.size(); ++i) {
        if (i == 0) cairo_move_to(cr, piece[i][0], piece[i][1]);
        else cairo_line_to(cr, piece[i][0], piece[i][1]);
      }
      points += piece.size();
    }
    cairo_stroke(cr);
    if (points <= 60) {  // markers, so short runs (even one epoch) show their points
      for (const auto& piece : l.pieces[s]) {
        for (const auto& pt : piece) {
          cairo_arc(cr, pt[0], pt[1], kMarker, 0, 2 * M_PI);
          cairo_fill(cr);
        }
      }
    }
  }
  cairo_restore(cr);
  std::vector<std::string> labels;
  for (const auto& s : p.series) labels.push_back(s.label);
  draw_legend(cr, l.legend, labels);
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
  const std::vector<double> xt = {0.0, static_cast<double>(n)};
  constexpr double kName = 11, kNameRow = 13;
  const auto measure = [&](const std::string& t) { return text_width(cr, t, kName); };
  const CategoryLabels names = category_labels(c.categories, measure, (pw - kLeft - kRight) / n - 6);
  size_t rows = 1;
  for (const auto& l : names.lines) rows = std::max(rows, l.size());
  std::string caption = c.x_label;
  if (!names.shared.empty()) caption += (caption.empty() ? "" : ": ") + names.shared;
  caption = shortened(caption, [&](const std::string& t) { return text_width(cr, t, 13); }, pw - kLeft - kRight, 0);
  const Frame f = frame_of(ox, oy, pw, ph, xt, yt, true, kBottom + kNameRow * (rows - 1));
  draw_axes(cr, f, ox, oy, pw, ph, c.title, caption, c.y_label, xt, yt, true);
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
    cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
    for (size_t k = 0; k < names.lines[i].size(); ++k) {
      text_at(cr, names.lines[i][k], cx, f.y0 + f.h + 8 + kNameRow * k, kName, false, 0.5, 0);
    }
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

LinePanelLayout line_panel_layout(const PlotPanel& panel, int panel_w, int panel_h) {
  Surface measure(1, 1);
  const LineLayout l = layout_line_panel(measure.cr, 0, 0, panel_w, panel_h, panel);
  LinePanelLayout out{{l.f.x0, l.f.y0, l.f.w, l.f.h}, l.legend, l.mark_label, {}};
  for (const auto& series : l.pieces) {
    out.points.emplace_back();
    for (const auto& piece : series) out.points.back().insert(out.points.back().end(), piece.begin(), piece.end());
  }
  return out;
}

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

LinePanelLayout line_panel_layout(const PlotPanel&, int, int) {
  fail("cannot lay out a plot: this build has no cairo (install libcairo2-dev and rebuild)");
}

void write_line_plot(const std::string& path, const std::vector<PlotPanel>&, int, int, int) {
  fail("cannot write plot " + path + ": this build has no cairo (install libcairo2-dev and rebuild)");
}

void write_bar_charts(const std::string& path, const std::vector<BarChart>&, int, int, int) {
  fail("cannot write plot " + path + ": this build has no cairo (install libcairo2-dev and rebuild)");
}
#endif

}  // namespace p2p
