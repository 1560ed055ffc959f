// Image-quality metrics (MAE, PSNR, SSIM) and their per-folder reports (JSON, CSV).
// Inputs are [C,H,W] in [0,1] (data range 1). SSIM reproduces skimage.metrics.structural_similarity(
// gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1) including its border
// handling, so published numbers computed with it are comparable.
// Every metric runs over bands of rows with sums kept in double (SSIM through the streaming separable
// filter of losses/ssim.h, ssim_valid_sum): memory stays flat in the image height (a dense SSIM through
// conv2d of a 2048² pair needed gigabytes and seconds), and folders are read band by band from the files
// (PNG rows streamed by io/png_rows.h, other files through io/raster.h windows), so memory does not grow
// with a PNG pair's size. The
// SSIM mean is over the pixels whose 11×11 window lies inside the image, so a band carrying 5 rows of
// context above and below gives exactly its own rows' SSIM: no band edge enters the numbers.
#include "p2p/eval/metrics.h"

#include "p2p/core/error.h"
#include "p2p/core/shape.h"
#include "p2p/data/pairing.h"
#include "p2p/io/fs.h"
#include "p2p/io/image.h"
#include "p2p/io/png_rows.h"
#include "p2p/io/raster.h"
#include "p2p/losses/ssim.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <iomanip>
#include <map>
#include <memory>
#include <sstream>

namespace p2p {

namespace {

// PSNR of identical images is infinite; flooring the MSE at 1e-10 caps it at 10*log10(1e10) = 100 dB so
// means over a folder stay finite and JSON-representable.
constexpr double kMinMse = 1e-10;

constexpr int64_t kSsimRadius = 5;  // losses/ssim.h: an 11-tap window
constexpr int64_t kBandRows = 64;   // output rows per band: ~2 MB of float per image row band at 2048 px

void check_pair(const at::Tensor& pred, const at::Tensor& target, const char* metric) {
  if (pred.dim() != 3 || target.dim() != 3 || pred.sizes() != target.sizes()) {
    fail(std::string(metric) + ": expected two [C,H,W] images of the same shape, got " + shape_str(pred.sizes()) +
         " and " + shape_str(target.sizes()));
  }
}

// Sums over one image pair, filled band by band.
struct MetricSums {
  double abs = 0, sq = 0, ssim = 0;
  int64_t pixels = 0, ssim_pixels = 0;
};

// Rows [y, y + h) of both images as float [C,h,W].
using ReadRows = std::function<std::pair<at::Tensor, at::Tensor>(int64_t y, int64_t h)>;

// MAE and MSE over every pixel, SSIM over the valid region, of C×H×W images read through `rows`.
MetricSums band_sums(int64_t c, int64_t h, int64_t w, const ReadRows& rows, bool want_ssim, const char* metric) {
  if (want_ssim && (h < 2 * kSsimRadius + 1 || w < 2 * kSsimRadius + 1)) {
    fail(std::string(metric) + ": images must be at least 11x11 pixels, got " + std::to_string(w) + "x" + std::to_string(h));
  }
  MetricSums s;
  s.pixels = c * h * w;
  // A band computes SSIM rows [y0, y1) of the valid rows [r, h - r) from image rows [y0 - r, y1 + r), and
  // the error sums over its share of rows [y0 - r, y1 - r) (the last band: to the bottom), so every row
  // is counted once.
  const int64_t r = want_ssim ? kSsimRadius : 0;
  for (int64_t y0 = r;; y0 += kBandRows) {
    const int64_t y1 = std::min(h - r, y0 + kBandRows);
    const bool last = y1 >= h - r;
    const int64_t rows_read = (y1 - y0) + 2 * r, share = last ? rows_read : y1 - y0;
    auto [p, t] = rows(y0 - r, rows_read);
    const at::Tensor d = p.narrow(1, 0, share).to(at::kDouble) - t.narrow(1, 0, share).to(at::kDouble);
    s.abs += d.abs().sum().item<double>();
    s.sq += d.square().sum().item<double>();
    if (want_ssim) {
      const int64_t n = c * (y1 - y0) * (w - 2 * r);
      s.ssim += ssim_valid_sum(p, t, metric);
      s.ssim_pixels += n;
    }
    if (last) break;
  }
  return s;
}

ReadRows tensor_rows(const at::Tensor& pred, const at::Tensor& target) {
  const at::Tensor p = pred.detach().to(at::kCPU), t = target.detach().to(at::kCPU);
  return [p, t](int64_t y, int64_t h) {
    return std::make_pair(p.narrow(1, y, h).to(at::kFloat).contiguous(), t.narrow(1, y, h).to(at::kFloat).contiguous());
  };
}

double psnr_of_mse(double mse) { return 10.0 * std::log10(1.0 / std::max(mse, kMinMse)); }

std::string format_number(double v) {
  std::ostringstream s;
  s << std::setprecision(10) << v;
  return s.str();
}

// RFC 4180 quoting for names holding separators or quotes.
std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) {
    if (c == '"') q += '"';
    q += c;
  }
  return q + "\"";
}

nlohmann::json metrics_json(const ImageMetrics& m) {
  return nlohmann::json{{"l1", m.l1}, {"mae", m.mae}, {"psnr", m.psnr}, {"ssim", m.ssim}};
}

}  // namespace

double mae(const at::Tensor& pred, const at::Tensor& target) {
  check_pair(pred, target, "mae");
  const MetricSums s = band_sums(pred.size(0), pred.size(1), pred.size(2), tensor_rows(pred, target), false, "mae");
  return s.abs / static_cast<double>(s.pixels);
}

double psnr(const at::Tensor& pred, const at::Tensor& target) {
  check_pair(pred, target, "psnr");
  const MetricSums s = band_sums(pred.size(0), pred.size(1), pred.size(2), tensor_rows(pred, target), false, "psnr");
  return psnr_of_mse(s.sq / static_cast<double>(s.pixels));
}

double ssim(const at::Tensor& pred, const at::Tensor& target) {
  check_pair(pred, target, "ssim");
  // The training loss (--lambda_ssim) uses the same implementation, on whole images in the network's dtype.
  const MetricSums s = band_sums(pred.size(0), pred.size(1), pred.size(2), tensor_rows(pred, target), true, "ssim");
  return s.ssim / static_cast<double>(s.ssim_pixels);
}

namespace {

ImageMetrics metrics_of_sums(const MetricSums& s) {
  ImageMetrics m;
  m.mae = s.abs / static_cast<double>(s.pixels);
  m.l1 = 2.0 * m.mae;  // [0,1] -> [-1,1] doubles every difference
  m.psnr = psnr_of_mse(s.sq / static_cast<double>(s.pixels));
  m.ssim = s.ssim / static_cast<double>(s.ssim_pixels);
  return m;
}

}  // namespace

ImageMetrics compute_metrics(const at::Tensor& pred, const at::Tensor& target) {
  check_pair(pred, target, "metrics");
  return metrics_of_sums(band_sums(pred.size(0), pred.size(1), pred.size(2), tensor_rows(pred, target), true, "ssim"));
}

ImageMetrics compute_file_metrics(const std::string& pred_path, const std::string& target_path, int channels) {
  // PNGs are streamed row by row; other files through their windowed readers.
  auto open = [&](const std::string& path) {
    std::unique_ptr<RasterReader> r = open_png_rows(path, channels, "--channels");
    return r ? std::move(r) : open_raster(path, channels, "--channels");
  };
  const std::unique_ptr<RasterReader> p = open(pred_path);
  const std::unique_ptr<RasterReader> t = open(target_path);
  const RasterInfo &a = p->info(), &b = t->info();
  if (a.width != b.width || a.height != b.height) {
    fail("metrics: " + pred_path + " is " + std::to_string(a.width) + "x" + std::to_string(a.height) + " but its target " +
         target_path + " is " + std::to_string(b.width) + "x" + std::to_string(b.height) + "; sizes must match");
  }
  const ReadRows rows = [&](int64_t y, int64_t h) {
    return std::make_pair(p->read(0, y, a.width, h), t->read(0, y, b.width, h));
  };
  return metrics_of_sums(band_sums(channels, a.height, a.width, rows, true, "ssim"));
}

MetricsReport summarize(std::vector<std::pair<std::string, ImageMetrics>> per_image) {
  MetricsReport report;
  report.per_image = std::move(per_image);
  if (report.per_image.empty()) return report;
  for (const auto& [name, m] : report.per_image) {
    report.mean.l1 += m.l1;
    report.mean.mae += m.mae;
    report.mean.psnr += m.psnr;
    report.mean.ssim += m.ssim;
  }
  const double n = static_cast<double>(report.per_image.size());
  report.mean.l1 /= n;
  report.mean.mae /= n;
  report.mean.psnr /= n;
  report.mean.ssim /= n;
  return report;
}

MetricsReport evaluate_folders(const std::string& pred_dir, const std::string& target_dir, int channels) {
  if (channels != 1 && channels != 3) fail("evaluate: channels must be 1 or 3, got " + std::to_string(channels));
  std::vector<std::pair<std::string, ImageMetrics>> per_image;
  for (const PairRecord& pair : pair_outputs_by_stem(pred_dir, target_dir)) {
    per_image.emplace_back(pair.stem, compute_file_metrics(pair.a_path, pair.b_path, channels));
  }
  return summarize(std::move(per_image));
}

void write_metrics_json(const std::string& path, const MetricsReport& report, const nlohmann::json& extra) {
  nlohmann::json images = nlohmann::json::array();
  for (const auto& [name, m] : report.per_image) {
    nlohmann::json row = metrics_json(m);
    row["name"] = name;
    images.push_back(row);
  }
  nlohmann::json doc{{"mean", metrics_json(report.mean)},
                     {"images", images},
                     {"count", static_cast<int64_t>(report.per_image.size())}};
  if (extra.is_object()) doc.update(extra);
  write_text_atomically(path, doc.dump(2) + "\n");
}

void write_metrics_csv(const std::string& path, const MetricsReport& report) {
  std::ostringstream out;
  auto row = [&out](const std::string& name, const ImageMetrics& m) {
    out << csv_field(name) << ',' << format_number(m.l1) << ',' << format_number(m.mae) << ','
        << format_number(m.psnr) << ',' << format_number(m.ssim) << '\n';
  };
  out << "name,l1,mae,psnr,ssim\n";
  for (const auto& [name, m] : report.per_image) row(name, m);
  row("mean", report.mean);
  write_text_atomically(path, out.str());
}

}  // namespace p2p
