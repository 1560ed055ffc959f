// Image-quality metrics (MAE, PSNR, SSIM) and their per-folder reports (JSON, CSV).
// Inputs are [C,H,W] tensors in [0,1] (data range 1); every computation runs in double precision so
// the numbers agree with scikit-image to well below the reported digits. SSIM reproduces
// skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
// data_range=1) including its border handling, so published numbers computed with it are comparable.
#include "p2p/eval/metrics.h"

#include "p2p/core/error.h"
#include "p2p/io/fs.h"
#include "p2p/io/image.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <map>
#include <sstream>

namespace p2p {

namespace {

// PSNR of identical images is infinite; flooring the MSE at 1e-10 caps it at 10*log10(1e10) = 100 dB so
// means over a folder stay finite and JSON-representable.
constexpr double kMinMse = 1e-10;

// SSIM constants of Wang et al. 2004 (as skimage's defaults), for data range 1.
constexpr double kSsimK1 = 0.01;
constexpr double kSsimK2 = 0.03;
constexpr double kSsimSigma = 1.5;
// skimage fixes truncate = 3.5 for Gaussian weights: radius int(3.5 * 1.5 + 0.5) = 5, an 11-tap window.
constexpr int64_t kSsimRadius = 5;

std::string shape_str(const at::Tensor& t) {
  std::ostringstream s;
  s << t.sizes();
  return s.str();
}

// Both tensors as contiguous double [C,H,W] of equal shape.
std::pair<at::Tensor, at::Tensor> as_double_pair(const at::Tensor& pred, const at::Tensor& target,
                                                 const char* metric) {
  if (pred.dim() != 3 || target.dim() != 3 || pred.sizes() != target.sizes()) {
    fail(std::string(metric) + ": expected two [C,H,W] images of the same shape, got " + shape_str(pred) +
         " and " + shape_str(target));
  }
  return {pred.detach().to(at::kCPU, at::kDouble).contiguous(),
          target.detach().to(at::kCPU, at::kDouble).contiguous()};
}

// Indices that extend [0, n) by `r` samples on each side with scipy.ndimage's 'reflect' rule: the edge
// sample is repeated (d c b a | a b c d | d c b a), periodic with period 2n, so any n >= 1 works.
at::Tensor symmetric_indices(int64_t n, int64_t r) {
  std::vector<int64_t> idx;
  idx.reserve(static_cast<size_t>(n + 2 * r));
  const int64_t period = 2 * n;
  for (int64_t i = -r; i < n + r; ++i) {
    int64_t m = ((i % period) + period) % period;
    if (m >= n) m = period - 1 - m;
    idx.push_back(m);
  }
  return at::tensor(idx, at::kLong);
}

// Normalised 1-D Gaussian weights over [-r, r], as scipy.ndimage.gaussian_filter builds them.
at::Tensor gaussian_taps() {
  std::vector<double> w;
  double sum = 0;
  for (int64_t x = -kSsimRadius; x <= kSsimRadius; ++x) {
    double v = std::exp(-0.5 * static_cast<double>(x * x) / (kSsimSigma * kSsimSigma));
    w.push_back(v);
    sum += v;
  }
  for (double& v : w) v /= sum;
  return at::tensor(w, at::kDouble);
}

// Separable Gaussian filter of every [H,W] plane of x [N,1,H,W] with symmetric borders.
at::Tensor gaussian_filter(const at::Tensor& x, const at::Tensor& taps) {
  const int64_t h = x.size(2), w = x.size(3), k = taps.numel();
  at::Tensor padded = x.index_select(3, symmetric_indices(w, kSsimRadius));
  at::Tensor out = at::conv2d(padded, taps.view({1, 1, 1, k}));
  padded = out.index_select(2, symmetric_indices(h, kSsimRadius));
  return at::conv2d(padded, taps.view({1, 1, k, 1}));
}

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

// stem -> path for the images of `dir`; two files with one stem (a.png, a.jpg) would be ambiguous.
std::map<std::string, std::string> images_by_stem(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const std::string& path : list_images(dir)) {
    auto [it, inserted] = out.emplace(file_stem(path), path);
    if (!inserted) fail("two images with the name '" + it->first + "' in " + dir + ": " + it->second + " and " + path);
  }
  return out;
}

}  // namespace

double mae(const at::Tensor& pred, const at::Tensor& target) {
  auto [p, t] = as_double_pair(pred, target, "mae");
  return (p - t).abs().mean().item<double>();
}

double psnr(const at::Tensor& pred, const at::Tensor& target) {
  auto [p, t] = as_double_pair(pred, target, "psnr");
  const double mse = (p - t).pow(2).mean().item<double>();
  return 10.0 * std::log10(1.0 / std::max(mse, kMinMse));
}

double ssim(const at::Tensor& pred, const at::Tensor& target) {
  auto [x, y] = as_double_pair(pred, target, "ssim");
  const int64_t c = x.size(0), h = x.size(1), w = x.size(2);
  const int64_t win = 2 * kSsimRadius + 1;
  if (h < win || w < win) {
    fail("ssim: images must be at least " + std::to_string(win) + "x" + std::to_string(win) + " pixels, got " +
         std::to_string(w) + "x" + std::to_string(h));
  }
  // Filter the five moment images of every channel in one batch: [5C,1,H,W].
  at::Tensor stack = at::cat({x, y, x * x, y * y, x * y}, 0).unsqueeze(1);
  at::Tensor f = gaussian_filter(stack, gaussian_taps()).squeeze(1);
  at::Tensor ux = f.narrow(0, 0, c), uy = f.narrow(0, c, c);
  at::Tensor uxx = f.narrow(0, 2 * c, c), uyy = f.narrow(0, 3 * c, c), uxy = f.narrow(0, 4 * c, c);
  // Population (co)variances, as Wang et al. (use_sample_covariance=False).
  at::Tensor vx = uxx - ux * ux, vy = uyy - uy * uy, vxy = uxy - ux * uy;
  const double c1 = kSsimK1 * kSsimK1, c2 = kSsimK2 * kSsimK2;
  at::Tensor s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2));
  // The filter radius at each border saw reflected data; skimage leaves it out of the mean. Equal-size
  // channels make the mean of channel means the mean over all cropped values.
  at::Tensor valid = s.narrow(1, kSsimRadius, h - 2 * kSsimRadius).narrow(2, kSsimRadius, w - 2 * kSsimRadius);
  return valid.mean().item<double>();
}

ImageMetrics compute_metrics(const at::Tensor& pred, const at::Tensor& target) {
  ImageMetrics m;
  m.mae = mae(pred, target);
  m.l1 = 2.0 * m.mae;  // [0,1] -> [-1,1] doubles every difference
  m.psnr = psnr(pred, target);
  m.ssim = ssim(pred, target);
  return m;
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
  const auto preds = images_by_stem(pred_dir);
  const auto targets = images_by_stem(target_dir);
  if (preds.empty()) fail("no images in " + pred_dir);
  // Report every unmatched name on either side before doing any work.
  for (const auto& [stem, path] : preds) {
    if (!targets.count(stem)) fail(path + " has no target named '" + stem + ".*' in " + target_dir);
  }
  for (const auto& [stem, path] : targets) {
    if (!preds.count(stem)) fail(path + " has no prediction named '" + stem + ".*' in " + pred_dir);
  }
  std::vector<std::pair<std::string, ImageMetrics>> per_image;
  for (const auto& [stem, pred_path] : preds) {
    const std::string& target_path = targets.at(stem);
    at::Tensor p = load_image(pred_path, channels);
    at::Tensor t = load_image(target_path, channels);
    if (p.sizes() != t.sizes()) {
      fail("image sizes differ: " + pred_path + " is " + std::to_string(p.size(2)) + "x" + std::to_string(p.size(1)) +
           ", " + target_path + " is " + std::to_string(t.size(2)) + "x" + std::to_string(t.size(1)));
    }
    per_image.emplace_back(stem, compute_metrics(p, t));
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
