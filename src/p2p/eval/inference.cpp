// Inference with a trained generator: any-size translation of one tensor, loading G's weights from
// either checkpoint format, and `p2p test` (dataset pairs -> images, metrics, index.html).
// Assumes the caller built G for the right channels, moved it to `device` and already chose its mode
// (set_eval_mode): the paper's test mode keeps dropout and batch statistics, so nothing here touches it.
#include "p2p/eval/inference.h"

#include "p2p/core/error.h"
#include "p2p/core/runtime.h"
#include "p2p/data/dataset.h"
#include "p2p/data/normalization.h"
#include "p2p/data/palette.h"
#include "p2p/eval/batch.h"
#include "p2p/eval/metrics.h"
#include "p2p/eval/realism.h"
#include "p2p/eval/test_output.h"
#include "p2p/io/checkpoint.h"
#include "p2p/io/fs.h"
#include "p2p/io/image.h"
#include "p2p/io/state_dict.h"
#include "p2p/io/tiff.h"
#include "p2p/report/html.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/utils.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <ostream>
#include <system_error>
#include <vector>

namespace fs = std::filesystem;

namespace p2p {

using detail::one_item;
using detail::output_extension;
using detail::png_channels;

namespace {

// Indices extending [0, n) by `before`/`after` samples with mirror reflection that does not repeat the
// edge (c b | a b c | b a), repeated as often as needed: a 10-pixel image padded to 256 keeps bouncing
// between its borders instead of failing as a single reflection would. n == 1 replicates.
at::Tensor reflect_indices(int64_t n, int64_t before, int64_t after) {
  std::vector<int64_t> idx;
  idx.reserve(static_cast<size_t>(n + before + after));
  const int64_t period = 2 * (n - 1);
  for (int64_t i = -before; i < n + after; ++i) {
    if (n == 1) {
      idx.push_back(0);
      continue;
    }
    int64_t m = ((i % period) + period) % period;
    if (m >= n) m = period - m;
    idx.push_back(m);
  }
  return at::tensor(idx, at::kLong);
}

// Smallest multiple of m that is >= n and >= m (a generator needs at least one full block).
int64_t round_up(int64_t n, int64_t m) { return std::max<int64_t>(m, (n + m - 1) / m * m); }

}  // namespace

namespace detail {

// Writes a [C,H,W] unit-range image as PNG (8 bits) or, for other channel counts, float32 TIFF.
void save_output(const std::string& path, const at::Tensor& unit) {
  if (png_channels(unit.size(0))) {
    save_png(path, unit);
  } else {
    save_tiff(path, unit);
  }
}

// The values save_output stores (8 bits for PNG, float32 as is for TIFF), so metrics of `p2p test`
// equal those recomputed from its files.
at::Tensor as_saved(const at::Tensor& unit) {
  if (!png_channels(unit.size(0))) return unit.to(at::kFloat);
  return (unit.clamp(0, 1) * 255.0).round() / 255.0;
}

std::string format_fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string metrics_note(const ImageMetrics& m) {
  return "L1 " + format_fixed(m.l1, 4) + "  PSNR " + format_fixed(m.psnr, 2) + " dB  SSIM " + format_fixed(m.ssim, 4);
}

// "<model> results: <run name> · <checkpoint file> (epoch N) · <phase>", from what is known.
std::string results_title(const nlohmann::json& provenance, const std::string& phase, const std::string& model) {
  std::string t = model + " results: ";
  if (provenance.is_object() && provenance.contains("run") && provenance["run"].is_string()) {
    t += fs::path(provenance["run"].get<std::string>()).filename().string() + " · ";
  }
  if (provenance.is_object() && provenance.contains("checkpoint") && provenance["checkpoint"].is_string()) {
    t += fs::path(provenance["checkpoint"].get<std::string>()).filename().string();
    if (provenance.contains("epoch") && provenance["epoch"].is_number_integer()) {
      t += " (epoch " + std::to_string(provenance["epoch"].get<int64_t>()) + ")";
    }
    t += " · ";
  }
  return t + phase;
}

// index.html in file order, and by_<metric>_<best|worst>.html with the same rows sorted, each linking
// the others and the metric files. Written last: a page only appears once every file it names exists.
void write_results_pages(const std::string& out_dir, const std::string& title, const std::string& summary,
                         const std::vector<HtmlRow>& rows, const std::vector<std::pair<std::string, ImageMetrics>>& scored) {
  const struct {
    const char* key;
    const char* label;
    bool higher_better;
    double ImageMetrics::*field;
  } metrics[] = {{"l1", "L1", false, &ImageMetrics::l1}, {"psnr", "PSNR", true, &ImageMetrics::psnr},
                 {"ssim", "SSIM", true, &ImageMetrics::ssim}};
  std::vector<std::pair<std::string, std::string>> links = {{"metrics.csv", "metrics.csv"},
                                                            {"metrics.json", "metrics.json"},
                                                            {"by name", "index.html"}};
  for (const auto& m : metrics) {
    for (const char* order : {"best", "worst"}) {
      links.emplace_back(std::string(m.label) + " " + order + " first",
                         std::string("by_") + m.key + "_" + order + ".html");
    }
  }
  for (const auto& m : metrics) {
    for (const bool best : {true, false}) {
      std::vector<size_t> order(rows.size());
      for (size_t i = 0; i < order.size(); ++i) order[i] = i;
      const bool ascending = best != m.higher_better;  // best L1 = lowest; best PSNR = highest
      std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
        const double va = scored[a].second.*m.field, vb = scored[b].second.*m.field;
        return ascending ? va < vb : va > vb;
      });
      std::vector<HtmlRow> sorted;
      for (size_t i : order) sorted.push_back(rows[i]);
      const std::string name = std::string("by_") + m.key + "_" + (best ? "best" : "worst") + ".html";
      write_html((fs::path(out_dir) / name).string(),
                 title + " — " + m.label + (best ? ", best first" : ", worst first"), summary, sorted, 256, links);
    }
  }
  write_html((fs::path(out_dir) / "index.html").string(), title, summary, rows, 256, links);
}

// Removes a previous run's summary files so that, if this run fails midway, no index.html or metrics
// file describes images that were not (re)generated by it.
void remove_stale(const std::string& path) {
  std::error_code ec;
  fs::remove(path, ec);
  if (ec) fail("cannot remove old " + path + ": " + ec.message());
}

}  // namespace detail

using detail::as_saved;
using detail::metrics_note;
using detail::remove_stale;
using detail::results_title;
using detail::save_output;
using detail::write_results_pages;

at::Tensor translate_tensor(Network& G, const at::Tensor& a, const c10::Device& device, const BatchForward& forward) {
  if (a.dim() != 3) fail("translate: expected one image [C,H,W]");
  return translate_batch(G, a.unsqueeze(0), device, forward).squeeze(0);
}

at::Tensor translate_batch(Network& G, const at::Tensor& batch, const c10::Device& device, const BatchForward& forward) {
  if (batch.dim() != 4) fail("translate: expected a batch [N,C,H,W]");
  const int64_t h = batch.size(2), w = batch.size(3);
  if (h < 1 || w < 1) fail("translate: empty image");
  const int64_t m = std::max<int64_t>(1, G.size_multiple());
  const int64_t ph = round_up(h, m) - h, pw = round_up(w, m) - w;
  // Centred padding keeps the image where the network's receptive fields are most symmetric.
  const int64_t top = ph / 2, left = pw / 2;
  at::Tensor x = batch.detach().to(at::kCPU, at::kFloat);
  if (ph > 0) x = x.index_select(2, reflect_indices(h, top, ph - top));
  if (pw > 0) x = x.index_select(3, reflect_indices(w, left, pw - left));
  at::Tensor y;
  if (forward) {
    y = forward(x.contiguous());
  } else {
    torch::NoGradGuard no_grad;
    y = G.infer(x.to(device));
  }
  return y.narrow(2, top, h).narrow(3, left, w).to(at::kCPU, at::kFloat).contiguous();
}

void load_generator_weights(Network& G, const std::string& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    fail("generator weights not found: " + path +
         " (expected a pix2pix.cpp checkpoint .pt or a reference <epoch>_net_G.pth)");
  }
  load_generator_weights(G, read_state_dict(path), path);
}

void load_generator_weights(Network& G, const StateDict& file, const std::string& source) {
  if (is_p2p_checkpoint(file)) {
    // A CycleGAN checkpoint has no G: its first generator, G_A (load_generator chooses between them).
    StateDict g = checkpoint_section(file, "G.");
    if (g.empty()) g = checkpoint_section(file, "G_A.");
    load_into(G, g, source + " (generator)");
  } else {
    load_into(G, file, source);
  }
}


TestReport run_test(Network& G, const DataConfig& data, const TestConfig& test, const c10::Device& device,
                    const std::string& out_dir, const nlohmann::json& provenance, std::ostream& log,
                    RealismScorer* realism) {
  // Test uses the training preprocessing without randomness (centre crop, no flip). The dataset must
  // not round sizes to G's multiple: translate_tensor pads and crops back, so results keep the
  // preprocessed image size (e.g. the native size under 'none').
  DataConfig cfg = data;
  cfg.no_flip = true;
  cfg.size_multiple = 1;
  check_input_statistics(cfg);  // before any file is written
  const std::string split_dir = (fs::path(data.dataroot) / data.phase).string();
  std::vector<PairRecord> records = find_pairs(cfg, split_dir);
  TestReport report;
  report.available = static_cast<int64_t>(records.size());
  if (test.num_test > 0 && static_cast<int64_t>(records.size()) > test.num_test) {
    records.resize(static_cast<size_t>(test.num_test));
  }
  // Outputs are named by stem; two inputs with one stem (1.jpg, 1.png) would overwrite each other.
  std::map<std::string, std::string> seen;
  for (const PairRecord& r : records) {
    auto [it, inserted] = seen.emplace(r.stem, r.a_path);
    if (!inserted) fail("two pairs named '" + r.stem + "' in " + split_dir + ": " + it->second + " and " + r.a_path);
  }

  const std::string images_dir = (fs::path(out_dir) / "images").string();
  const std::string index_path = (fs::path(out_dir) / "index.html").string();
  const std::string json_path = (fs::path(out_dir) / "metrics.json").string();
  const std::string csv_path = (fs::path(out_dir) / "metrics.csv").string();
  make_dirs(images_dir);
  remove_stale(index_path);
  for (const char* m : {"l1", "psnr", "ssim"}) {
    for (const char* order : {"best", "worst"}) {
      remove_stale((fs::path(out_dir) / (std::string("by_") + m + "_" + order + ".html")).string());
    }
  }
  remove_stale(json_path);
  remove_stale(csv_path);

  PairedDataset dataset(records, cfg, /*augment=*/false);
  std::optional<Palette> palette;  // a segmentation run: logits out, class ids in B
  if (!cfg.palette.empty()) palette = load_palette(cfg.palette);
  std::vector<std::pair<std::string, ImageMetrics>> per_image;
  std::vector<HtmlRow> rows;  // rows[i] shows per_image[i]
  for (size_t i = 0; i < dataset.size(); ++i) {
    one_item(dataset.record(i).a_path, report.failed, log, [&] {
      const Sample s = dataset.get(i, /*seed=*/0);
      seed_item(test.seed, s.stem);  // a pair's dropout draws do not depend on --num_test or the others
      at::Tensor fake = translate_tensor(G, s.A, device);
      at::Tensor real = s.B;
      if (palette) {
        // Shown and scored as colour label maps; to_unit_range below maps them back exactly.
        fake = to_network_range(encode_labels(fake.argmax(0), *palette));
        real = to_network_range(encode_labels(s.B.squeeze(0).to(at::kLong), *palette));
      }
      if (fake.size(0) != real.size(0)) {
        fail("--output_nc: the generator produces " + std::to_string(fake.size(0)) + " channels but B of " +
             dataset.record(i).b_path + " was loaded with " + std::to_string(s.B.size(0)));
      }
      // real_A goes back through the input mapping (dataset normalisation), so it shows the loaded A.
      const at::Tensor real_a = input_from_network(s.A, cfg), fake_b = to_unit_range(fake), real_b = to_unit_range(real);
      const std::string name_a = s.stem + "_real_A" + output_extension(real_a.size(0));
      const std::string name_f = s.stem + "_fake_B" + output_extension(fake_b.size(0));
      const std::string name_b = s.stem + "_real_B" + output_extension(real_b.size(0));
      save_output((fs::path(images_dir) / name_a).string(), real_a);
      save_output((fs::path(images_dir) / name_f).string(), fake_b);
      save_output((fs::path(images_dir) / name_b).string(), real_b);
      const ImageMetrics m = compute_metrics(as_saved(fake_b), as_saved(real_b));
      if (realism) realism->add(s.stem, as_saved(fake_b), as_saved(real_b), as_saved(real_a));
      per_image.emplace_back(s.stem, m);
      rows.push_back({s.stem,
                      {{"real_A", "images/" + name_a}, {"fake_B", "images/" + name_f}, {"real_B", "images/" + name_b}},
                      metrics_note(m)});
    });
  }

  const std::vector<std::pair<std::string, ImageMetrics>> scored = per_image;
  const MetricsReport metrics = summarize(std::move(per_image));
  report.scored = static_cast<int64_t>(metrics.per_image.size());
  report.mean = metrics.mean;
  nlohmann::json extra = provenance.is_object() ? provenance : nlohmann::json::object();
  extra["split"] = split_dir;
  extra["available"] = report.available;
  extra["eval_mode"] = test.eval;
  extra["seed"] = test.seed;
  nlohmann::json failed = nlohmann::json::array();
  for (const auto& [file, why] : report.failed) failed.push_back({{"file", file}, {"error", why}});
  extra["failed"] = failed;
  if (realism) {
    report.scores = realism->finish();
    report.scores_summary = realism->summary();
    extra.update(report.scores);
  }
  write_metrics_json(json_path, metrics, extra);
  write_metrics_csv(csv_path, metrics);
  const std::string summary = "Scored " + std::to_string(report.scored) + " of " + std::to_string(report.available) +
                              " pairs from " + split_dir + ". Mean " + metrics_note(metrics.mean) +
                              " (fake_B vs real_B, images in [0,1])." +
                              (report.scores_summary.empty() ? std::string() : " " + report.scores_summary + ".");
  write_results_pages(out_dir, results_title(provenance, data.phase), summary, rows, scored);
  return report;
}

}  // namespace p2p
