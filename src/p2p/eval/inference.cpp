// Inference with a trained generator: any-size translation of one tensor, loading G's weights from
// either checkpoint format, `p2p test` (dataset pairs -> images, metrics, index.html) and
// `p2p translate` (image files -> translated PNGs of the same size).
// Assumes the caller built G for the right channels, moved it to `device` and already chose its mode
// (set_eval_mode): the paper's test mode keeps dropout and batch statistics, so nothing here touches it.
#include "p2p/eval/inference.h"

#include "p2p/core/console.h"
#include "p2p/core/error.h"
#include "p2p/data/dataset.h"
#include "p2p/data/normalization.h"
#include "p2p/eval/metrics.h"
#include "p2p/io/checkpoint.h"
#include "p2p/io/fs.h"
#include "p2p/io/image.h"
#include "p2p/io/raster.h"
#include "p2p/io/state_dict.h"
#include "p2p/io/tiff.h"
#include "p2p/report/html.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/utils.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <new>
#include <ostream>
#include <sstream>
#include <system_error>
#include <vector>

namespace fs = std::filesystem;

namespace p2p {

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

// PNG holds 1 (gray) or 3 (RGB) channels; any other count is written as a float32 TIFF.
bool png_channels(int64_t c) { return c == 1 || c == 3; }
const char* output_extension(int64_t c) { return png_channels(c) ? ".png" : ".tif"; }

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

// "pix2pix results: <run name> · <checkpoint file> (epoch N) · <phase>", from what is known.
std::string results_title(const nlohmann::json& provenance, const std::string& phase) {
  std::string t = "pix2pix results: ";
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

}  // namespace

at::Tensor translate_tensor(Network& G, const at::Tensor& a, const c10::Device& device) {
  if (a.dim() != 3) fail("translate: expected one image [C,H,W]");
  return translate_batch(G, a.unsqueeze(0), device).squeeze(0);
}

at::Tensor translate_batch(Network& G, const at::Tensor& batch, const c10::Device& device) {
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
  torch::NoGradGuard no_grad;
  at::Tensor y = G.forward(x.to(device));
  return y.narrow(2, top, h).narrow(3, left, w).to(at::kCPU).contiguous();
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
    load_into(G, checkpoint_section(file, "G."), source + " (generator)");
  } else {
    load_into(G, file, source);
  }
}

namespace {

// Runs `step` for one input of a batch job; a failure is reported and returned instead of ending the
// job (bad files, sizes the machine cannot hold).
template <typename Fn>
bool one_item(const std::string& file, std::vector<std::pair<std::string, std::string>>& failed, std::ostream& log,
              Fn&& step, const std::function<void()>& before_message = {}) {
  std::string why;
  try {
    step();
    return true;
  } catch (const Error& e) {
    why = e.what();
  } catch (const c10::Error& e) {
    why = e.what_without_backtrace();
  } catch (const std::bad_alloc&) {
    why = "not enough memory for this image";
  }
  why = why.substr(0, why.find('\n'));
  if (before_message) before_message();
  log << "skipped " << file << ": " << why << "\n";
  failed.emplace_back(file, why);
  return false;
}

}  // namespace

TestReport run_test(Network& G, const DataConfig& data, const TestConfig& test, const c10::Device& device,
                    const std::string& out_dir, const nlohmann::json& provenance, std::ostream& log) {
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
  std::vector<std::pair<std::string, ImageMetrics>> per_image;
  std::vector<HtmlRow> rows;  // rows[i] shows per_image[i]
  for (size_t i = 0; i < dataset.size(); ++i) {
    one_item(dataset.record(i).a_path, report.failed, log, [&] {
      const Sample s = dataset.get(i, /*seed=*/0);
      const at::Tensor fake = translate_tensor(G, s.A, device);
      if (fake.size(0) != s.B.size(0)) {
        fail("--output_nc: the generator produces " + std::to_string(fake.size(0)) + " channels but B of " +
             dataset.record(i).b_path + " was loaded with " + std::to_string(s.B.size(0)));
      }
      // real_A goes back through the input mapping (dataset normalisation), so it shows the loaded A.
      const at::Tensor real_a = input_from_network(s.A, cfg), fake_b = to_unit_range(fake), real_b = to_unit_range(s.B);
      const std::string name_a = s.stem + "_real_A" + output_extension(real_a.size(0));
      const std::string name_f = s.stem + "_fake_B" + output_extension(fake_b.size(0));
      const std::string name_b = s.stem + "_real_B" + output_extension(real_b.size(0));
      save_output((fs::path(images_dir) / name_a).string(), real_a);
      save_output((fs::path(images_dir) / name_f).string(), fake_b);
      save_output((fs::path(images_dir) / name_b).string(), real_b);
      const ImageMetrics m = compute_metrics(as_saved(fake_b), as_saved(real_b));
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
  write_metrics_json(json_path, metrics, extra);
  write_metrics_csv(csv_path, metrics);
  const std::string summary = "Scored " + std::to_string(report.scored) + " of " + std::to_string(report.available) +
                              " pairs from " + split_dir + ". Mean " + metrics_note(metrics.mean) +
                              " (fake_B vs real_B, images in [0,1]).";
  write_results_pages(out_dir, results_title(provenance, data.phase), summary, rows, scored);
  return report;
}

namespace {

bool is_list_file(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == ".txt" || ext == ".lst" || ext == ".list";
}

// The output raster is created at the first write, when G's channel count is known; it must agree with
// the extension chosen from output_nc before anything was written.
class OutputRaster : public RasterWriter {
 public:
  OutputRaster(std::string path, const RasterInfo& in, int output_nc, std::string georef_from)
      : path_(std::move(path)), in_(in), output_nc_(output_nc), georef_from_(std::move(georef_from)) {}
  void write(int64_t x, int64_t y, const at::Tensor& values) override {
    if (!raster_) {
      const int64_t c = values.size(0);
      if (png_channels(output_nc_) ? !png_channels(c) : c != output_nc_) {
        fail("the generator produces " + std::to_string(c) + " channels but --output_nc is " + std::to_string(output_nc_));
      }
      RasterSpec spec;
      spec.width = in_.width;
      spec.height = in_.height;
      spec.bands = static_cast<int>(c);
      // A TIFF output keeps the input's sample type; a TIFF from a colour file holds floats.
      spec.type = is_tiff_file(georef_from_) ? in_.type : SampleType::f32;
      raster_ = create_raster(path_, spec, georef_from_);
    }
    raster_->write(x, y, values);
  }
  void finish() override {
    if (!raster_) fail("nothing was translated for " + path_);
    raster_->finish();
  }

 private:
  std::string path_;
  RasterInfo in_;
  int output_nc_;
  std::string georef_from_;
  std::unique_ptr<RasterWriter> raster_;
};

// One line per file in logs; on a terminal one line redrawn in place (files done, the current file's
// tiles, ETA). Failures are printed on lines of their own by one_item.
class BatchProgress {
 public:
  BatchProgress(std::ostream& log, bool live, int64_t total) : log_(log), live_(live), total_(total) {}
  void tile(int64_t index, const std::string& file, int64_t done, int64_t tiles) {
    if (!live_) return;
    const double elapsed = seconds();
    const double per_file = index > 0 ? elapsed / static_cast<double>(index) : -1;
    std::ostringstream line;
    line << progress_bar(index, total_, 22) << " " << index << "/" << total_ << " files";
    if (tiles > 1) line << "  tile " << done << "/" << tiles;
    line << "  " << fs::path(file).filename().string() << "  eta "
         << format_seconds(per_file * static_cast<double>(total_ - index));
    std::string text = line.str();
    const size_t width = static_cast<size_t>(std::max(20, terminal_width() - 1));
    if (text.size() > width) text.resize(width);
    log_ << "\r\033[K" << text << std::flush;
  }
  void clear() {
    if (live_) log_ << "\r\033[K" << std::flush;
  }
  void done(int64_t index, const std::string& file, const std::string& out, double secs) {
    if (live_) return;
    log_ << "[" << index + 1 << "/" << total_ << "] " << file << " -> " << out << " (" << format_fixed(secs, 2)
         << " s)\n";
  }
  void exists(int64_t index, const std::string& out) {
    if (!live_) log_ << "[" << index + 1 << "/" << total_ << "] " << out << " exists, skipped (--resume)\n";
  }
  void finish() { clear(); }
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  std::ostream& log_;
  bool live_;
  int64_t total_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

}  // namespace

std::vector<std::string> collect_inputs(const std::string& input) {
  std::error_code ec;
  if (fs::is_directory(input, ec)) {
    std::vector<std::string> files = list_images(input);
    if (files.empty()) fail("no image files in folder " + input + " (expected .png, .jpg, .bmp, .tga, .ppm/.pgm, .tif)");
    return files;
  }
  if (!fs::is_regular_file(input, ec)) fail("input not found: " + input + " (expected an image file, a folder of images or a list file)");
  if (is_list_file(input)) {
    std::ifstream in(input);
    if (!in) fail("cannot read list file " + input);
    std::vector<std::string> files;
    const fs::path base = fs::path(input).parent_path();
    std::string line;
    while (std::getline(in, line)) {
      const size_t b = line.find_first_not_of(" \t\r"), e = line.find_last_not_of(" \t\r");
      if (b == std::string::npos || line[b] == '#') continue;
      const fs::path p = line.substr(b, e - b + 1);
      files.push_back(p.is_absolute() ? p.string() : (base / p).lexically_normal().string());
    }
    if (files.empty()) fail("list file " + input + " names no images (one path per line)");
    return files;
  }
  if (!is_image_file(input)) {
    fail(input + " is not an image file (expected .png, .jpg, .bmp, .tga, .ppm/.pgm, .tif) or a list file (.txt)");
  }
  return {input};
}

void translate_file(Network& G, const std::string& input, const std::string& output, const DataConfig& data,
                    const TileOptions& tiles, const c10::Device& device, std::ostream& log,
                    const std::function<void(int64_t, int64_t)>& on_tile) {
  double db_lo = 0, db_hi = 0;
  if (data.sar_db) parse_db_range(data.db_range, db_lo, db_hi);
  // The same mapping training used: SAR dB, then unit*2-1 or the run's dataset statistics. Per pixel,
  // so applying it tile by tile is exact.
  const auto to_network = [&](const at::Tensor& window) {
    return input_to_network(data.sar_db ? sar_db_to_unit(window, db_lo, db_hi) : window, data);
  };
  std::unique_ptr<RasterReader> in = open_raster(input, data.input_nc, "--input_nc");
  OutputRaster out(output, in->info(), data.output_nc, input);
  translate_raster(G, *in, out, to_network, tiles, device, log, on_tile);
  out.finish();
}

std::string output_path(const std::string& file, const std::string& output_dir, int output_nc) {
  const char* ext = is_tiff_file(file) ? ".tif" : output_extension(output_nc);
  return (fs::path(output_dir) / (file_stem(file) + ext)).string();
}

TranslateReport run_translate(Network& G, const std::string& input, const std::string& output_dir, int input_nc,
                              const c10::Device& device, std::ostream& log) {
  if (input_nc != 1 && input_nc != 3) {
    fail("--input_nc: translate reads images as 1 (gray) or 3 (RGB) channels, got " + std::to_string(input_nc));
  }
  DataConfig data;
  data.input_nc = input_nc;
  data.output_nc = 3;  // PNG outputs; a gray G's single channel is written as gray PNG
  return run_translate(G, input, output_dir, data, device, log);
}

TranslateReport run_translate(Network& G, const std::string& input, const std::string& output_dir,
                              const DataConfig& data, const c10::Device& device, std::ostream& log,
                              const TranslateOptions& options) {
  if (data.input_nc < 1) fail("--input_nc must be at least 1 (got " + std::to_string(data.input_nc) + ")");
  check_input_statistics(data);
  check_tile_options(options.tiles, G.size_multiple());
  const std::vector<std::string> files = collect_inputs(input);

  // Mistakes of the command itself end it before anything is written: name clashes, and outputs that
  // would replace their own inputs. A bad file only loses that file.
  std::error_code ec;
  std::vector<std::string> outs;
  std::map<std::string, std::string> outputs;  // output path -> input path
  for (const std::string& file : files) {
    outs.push_back(output_path(file, output_dir, data.output_nc));
    auto [it, inserted] = outputs.emplace(outs.back(), file);
    if (!inserted) fail("inputs " + it->second + " and " + file + " would both be written to " + outs.back());
    if (fs::exists(outs.back(), ec) && fs::equivalent(outs.back(), file, ec)) {
      fail("output " + outs.back() + " would overwrite its input; choose another output folder");
    }
  }
  make_dirs(output_dir);

  TranslateReport report;
  BatchProgress progress(log, options.progress, static_cast<int64_t>(files.size()));
  for (size_t i = 0; i < files.size(); ++i) {
    const std::string& file = files[i];
    const int64_t index = static_cast<int64_t>(i);
    if (options.resume && fs::exists(outs[i], ec)) {
      progress.exists(index, outs[i]);
      ++report.skipped;
      continue;
    }
    const double start = progress.seconds();
    const bool ok = one_item(file, report.failed, log, [&] {
      progress.tile(index, file, 0, 0);
      translate_file(G, file, outs[i], data, options.tiles, device, log,
                     [&](int64_t done, int64_t tiles) { progress.tile(index, file, done, tiles); });
    }, [&] { progress.clear(); });
    if (ok) {
      ++report.written;
      progress.done(index, file, outs[i], progress.seconds() - start);
    }
  }
  progress.finish();
  return report;
}

}  // namespace p2p
