// What the `p2p test` variants (run_test in inference.h, the CycleGAN and single-folder tests in
// cycle_test.h) share when writing their results: the image files, the values metrics see, the pages.
#pragma once

#include "p2p/eval/metrics.h"
#include "p2p/report/html.h"

#include <ATen/Tensor.h>
#include <nlohmann/json.hpp>

#include <string>
#include <utility>
#include <vector>

namespace p2p::detail {

// Writes a [C,H,W] unit-range image as PNG (8 bits) or, for other channel counts, float32 TIFF.
void save_output(const std::string& path, const at::Tensor& unit);
// The values save_output stores (8 bits for PNG, float32 as is for TIFF), so metrics equal those
// recomputed from the files.
at::Tensor as_saved(const at::Tensor& unit);
// "L1 0.1234  PSNR 21.00 dB  SSIM 0.5000".
std::string metrics_note(const ImageMetrics& m);
// "<model> results: <run name> · <checkpoint file> (epoch N) · <phase>", from what `provenance` knows.
std::string results_title(const nlohmann::json& provenance, const std::string& phase,
                          const std::string& model = "pix2pix");
// index.html in file order, plus by_<metric>_<best|worst>.html orderings (scored[i] belongs to rows[i]).
void write_results_pages(const std::string& out_dir, const std::string& title, const std::string& summary,
                         const std::vector<HtmlRow>& rows, const std::vector<std::pair<std::string, ImageMetrics>>& scored);
// Removes a previous run's summary file (no page may describe images this run did not write).
void remove_stale(const std::string& path);

}  // namespace p2p::detail
