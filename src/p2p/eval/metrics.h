// Image-quality metrics. Inputs are [C,H,W] float tensors in [0,1] (data range 1).
#pragma once

#include <ATen/Tensor.h>
#include <nlohmann/json.hpp>

#include <string>
#include <utility>
#include <vector>

namespace p2p {

struct ImageMetrics {
  double l1 = 0;    // mean |pred - target| in the network range [-1,1] (= the training L1), = 2 * mae
  double mae = 0;   // mean |pred - target| in [0,1]
  double psnr = 0;  // 10 log10(1 / MSE), capped at 100 dB for identical images
  double ssim = 0;  // Gaussian SSIM, see ssim()
};

double mae(const at::Tensor& pred, const at::Tensor& target);
double psnr(const at::Tensor& pred, const at::Tensor& target);
// SSIM as scikit-image structural_similarity(gaussian_weights=True, sigma=1.5,
// use_sample_covariance=False, data_range=1): 11x11 Gaussian window (truncate 3.5), K1 0.01, K2 0.03,
// mean over the valid region (crop (win-1)/2 at each border), then mean over channels. One implementation
// with the --lambda_ssim loss: p2p/losses/ssim.h.
double ssim(const at::Tensor& pred, const at::Tensor& target);
ImageMetrics compute_metrics(const at::Tensor& pred, const at::Tensor& target);
// The same for two image files read band by band (io/raster.h: PNG/JPEG held as 8-bit samples, TIFF
// windows), as `channels` (1 or 3) channels; sizes must match (the error names both files).
ImageMetrics compute_file_metrics(const std::string& pred_path, const std::string& target_path, int channels);

struct MetricsReport {
  std::vector<std::pair<std::string, ImageMetrics>> per_image;  // (name, metrics)
  ImageMetrics mean;
};
MetricsReport summarize(std::vector<std::pair<std::string, ImageMetrics>> per_image);

// Pairs pred_dir and target_dir images by file stem; a pred without target (or the reverse) throws
// p2p::Error naming it; sizes must match. channels: 1 or 3 (images are converted on load).
MetricsReport evaluate_folders(const std::string& pred_dir, const std::string& target_dir, int channels);

// `extra` (an object) adds top-level fields, e.g. which run and checkpoint produced the images.
void write_metrics_json(const std::string& path, const MetricsReport& report,
                        const nlohmann::json& extra = nlohmann::json::object());
void write_metrics_csv(const std::string& path, const MetricsReport& report);

}  // namespace p2p
