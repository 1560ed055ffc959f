// Image-quality metrics (MAE, PSNR, SSIM) and their per-folder reports (JSON, CSV).
// Inputs are [C,H,W] tensors in [0,1] (data range 1); every computation runs in double precision so
// the numbers agree with scikit-image to well below the reported digits. SSIM reproduces
// skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
// data_range=1) including its border handling, so published numbers computed with it are comparable.
#include "p2p/eval/metrics.h"

#include "p2p/core/error.h"
#include "p2p/data/pairing.h"
#include "p2p/io/fs.h"
#include "p2p/io/image.h"
#include "p2p/losses/ssim.h"

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
  // The training loss (--lambda_ssim) uses the same implementation, in the network's dtype.
  return ssim_mean(x.unsqueeze(0), y.unsqueeze(0), "ssim").item<double>();
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
  std::vector<std::pair<std::string, ImageMetrics>> per_image;
  for (const PairRecord& pair : pair_outputs_by_stem(pred_dir, target_dir)) {
    at::Tensor p = load_image(pair.a_path, channels);
    at::Tensor t = load_image(pair.b_path, channels);
    check_pair_sizes(pair, p, t);
    per_image.emplace_back(pair.stem, compute_metrics(p, t));
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
