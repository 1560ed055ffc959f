// The run folder's tables, plots and report page (see run_report.h).
#include "p2p/report/run_report.h"

#include "p2p/core/error.h"
#include "p2p/io/fs.h"
#include "p2p/report/history.h"
#include "p2p/report/html.h"
#include "p2p/report/plot.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <iomanip>
#include <map>
#include <sstream>

namespace fs = std::filesystem;

namespace p2p {

namespace {

nlohmann::json read_json(const fs::path& path) {
  std::ifstream in(path);
  if (!in) fail("cannot read " + path.string() + " (expected the config.json of a training run)");
  try {
    return nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    fail(path.string() + ": not valid JSON (" + e.what() + ")");
  }
}

PlotSeries series_of(const std::vector<EpochRecord>& h, const std::string& label, double (*get)(const EpochRecord&,
                                                                                               const std::string&),
                     const std::string& key) {
  PlotSeries s;
  s.label = label;
  for (const auto& r : h) {
    s.x.push_back(static_cast<double>(r.epoch));
    s.y.push_back(get(r, key));
  }
  return s;
}

double loss_of(const EpochRecord& r, const std::string& name) {
  for (const auto& kv : r.train) {
    if (kv.first == name) return kv.second;
  }
  return NAN;
}

double val_of(const EpochRecord& r, const std::string& metric) { return r.has_val ? val_metric(r.val, metric) : NAN; }

// The loss panels: G_total alone (its scale is lambda_L1 times the rest), the other G terms, and D's.
std::vector<PlotPanel> loss_panels(const std::vector<EpochRecord>& h) {
  PlotPanel total{"Generator objective", "epoch", "G total (weighted sum)", {}, NAN, ""};
  PlotPanel terms{"Generator terms (unweighted)", "epoch", "loss", {}, NAN, ""};
  PlotPanel disc{"Discriminator", "epoch", "loss", {}, NAN, ""};
  std::vector<EpochRecord> trained;
  for (const auto& r : h) {
    if (!r.baseline) trained.push_back(r);
  }
  const std::vector<std::string> names = loss_names(trained);
  if (std::find(names.begin(), names.end(), "cycle_A") != names.end()) {
    // CycleGAN: the generators' adversarial terms, the cycle and identity terms (weighted, as logged), both Ds.
    PlotPanel adversarial{"Generators, adversarial", "epoch", "loss", {}, NAN, ""};
    PlotPanel cycle{"Cycle and identity (weighted)", "epoch", "loss", {}, NAN, ""};
    PlotPanel ds{"Discriminators", "epoch", "loss", {}, NAN, ""};
    for (const std::string& n : names) {
      PlotSeries s = series_of(trained, n, loss_of, n);
      if (n == "G_A" || n == "G_B") adversarial.series.push_back(std::move(s));
      else if (n == "D_A" || n == "D_B") ds.series.push_back(std::move(s));
      else cycle.series.push_back(std::move(s));
    }
    return {adversarial, cycle, ds};
  }
  for (const std::string& n : names) {
    PlotSeries s = series_of(trained, n, loss_of, n);
    if (n == "G_total") total.series.push_back(std::move(s));
    else if (n.rfind("D_", 0) == 0) disc.series.push_back(std::move(s));
    else terms.series.push_back(std::move(s));
  }
  std::vector<PlotPanel> panels = {total, terms};
  if (!disc.series.empty()) panels.push_back(disc);  // an L1-only run has no discriminator
  return panels;
}

std::vector<PlotPanel> metric_panels(const std::vector<EpochRecord>& h, const RunResults& r) {
  const struct {
    const char* metric;
    const char* title;
    const char* unit;
    const char* label;
  } specs[] = {{"val_l1", "Validation L1", "L1 (network range [-1,1])", "val L1"},
               {"val_psnr", "Validation PSNR", "PSNR (dB)", "val PSNR"},
               {"val_ssim", "Validation SSIM", "SSIM", "val SSIM"},
               {"val_miou", "Validation mean IoU", "mean IoU (all palette classes)", "val mIoU"},
               {"val_pixel_acc", "Validation pixel accuracy", "pixel accuracy", "val pixel acc"},
               {"val_class_acc", "Validation class accuracy", "mean class accuracy", "val class acc"}};
  const std::vector<ValColumn> present = present_val_columns(h);
  std::vector<PlotPanel> panels;
  for (const auto& s : specs) {
    if (std::none_of(present.begin(), present.end(), [&](const ValColumn& c) { return c.metric == std::string(s.metric); })) {
      continue;
    }
    PlotPanel p{s.title, "epoch (0 = untrained)", s.unit, {series_of(h, s.label, val_of, s.metric)}, NAN, ""};
    if (r.has_best) {
      p.mark_x = static_cast<double>(r.best.epoch);
      p.mark_label = "best epoch " + std::to_string(r.best.epoch) + " (" + r.metric + ")";
    }
    panels.push_back(std::move(p));
  }
  return panels;
}

// samples/epoch_<EEE>_<stem>.png grouped by epoch, newest epoch first.
std::map<int64_t, std::vector<std::string>, std::greater<int64_t>> samples_by_epoch(const fs::path& dir) {
  std::map<int64_t, std::vector<std::string>, std::greater<int64_t>> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("epoch_", 0) != 0 || e.path().extension() != ".png") continue;
    const size_t us = name.find('_', 6);
    if (us == std::string::npos) continue;
    try {
      out[std::stoll(name.substr(6, us - 6))].push_back(name);
    } catch (const std::exception&) {
    }
  }
  for (auto& kv : out) std::sort(kv.second.begin(), kv.second.end());
  return out;
}

std::string results_html(const RunResults& r, const std::vector<ValColumn>& columns) {
  std::ostringstream h;
  h << "<table class=\"results\"><tr><th></th><th>epoch</th>";
  for (const ValColumn& c : columns) h << "<th>" << html_escape(c.label) << "</th>";
  h << "</tr>\n";
  auto row = [&](const std::string& label, const EpochRecord& e) {
    h << "<tr><td>" << html_escape(label) << "</td><td>" << e.epoch << "</td>";
    for (const ValColumn& c : columns) h << "<td>" << table_number(e.val.*c.field, c.digits) << "</td>";
    h << "</tr>\n";
  };
  if (r.has_best) row("best (" + r.metric + ")", r.best);
  if (r.has_last) row("last", r.last);
  h << "</table>\n";
  return h.str();
}

}  // namespace

void write_run_report(const std::string& run_dir_str, bool live) {
  const fs::path run_dir(run_dir_str);
  const nlohmann::json config = read_json(run_dir / "config.json");
  const std::string metric = config.contains("train") ? config["train"].value("best_metric", "val_l1") : "val_l1";
  const std::vector<EpochRecord> history = write_run_tables(run_dir_str, metric);
  const RunResults results = pick_results(history, metric);
  if (plots_available()) {
    make_dirs((run_dir / "plots").string());
    write_line_plot((run_dir / "plots" / "losses.png").string(), loss_panels(history), 3, 560, 380);
    write_line_plot((run_dir / "plots" / "metrics.png").string(), metric_panels(history, results), 3, 560, 380);
  }

  const std::string name = config.contains("train") ? config["train"].value("name", run_dir.filename().string())
                                                    : run_dir.filename().string();
  std::ostringstream h;
  h << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  if (live) h << "<meta http-equiv=\"refresh\" content=\"30\">\n";
  h << "<title>" << html_escape(name) << " — pix2pix.cpp run report</title>\n<style>\n"
    << "body { font-family: sans-serif; margin: 1em 2em; max-width: 1800px; }\n"
    << "table { border-collapse: collapse; margin: 0.5em 0; }\n"
    << "td, th { border: 1px solid #ccc; padding: 4px 10px; text-align: right; }\n"
    << "td:first-child { text-align: left; }\n"
    << "img.plot { max-width: 100%; border: 1px solid #ddd; }\n"
    << ".samples img { height: 128px; image-rendering: pixelated; margin: 2px; }\n"
    << "pre { background: #f6f6f6; padding: 0.6em; max-height: 30em; overflow: auto; }\n"
    << "</style>\n</head>\n<body>\n";
  h << "<h1>" << html_escape(name) << "</h1>\n<p>";
  const EpochRecord* last = history.empty() ? nullptr : &history.back();
  if (last && !last->baseline) {
    h << "Epoch " << last->epoch;
    if (config.contains("train")) {
      const auto& t = config["train"];
      h << " of " << (t.value("n_epochs", 0) + t.value("n_epochs_decay", 0));
    }
    h << ", " << last->iters << " iterations";
  } else {
    h << "No epoch finished yet";
  }
  h << (live ? " — training; this page reloads every 30 s." : " — finished.") << "</p>\n";

  h << "<h2>Results</h2>\n" << results_html(results, present_val_columns(history))
    << "<p><a href=\"results.csv\">results.csv</a> · <a href=\"history.csv\">history.csv</a> · "
       "<a href=\"history.jsonl\">history.jsonl</a></p>\n";
  h << "<h2>Curves</h2>\n";
  if (plots_available()) {
    h << "<img class=\"plot\" src=\"plots/metrics.png\" alt=\"validation metrics\">\n"
      << "<img class=\"plot\" src=\"plots/losses.png\" alt=\"training losses\">\n";
  } else {
    h << "<p>This build has no cairo, so no plots; history.csv holds the numbers.</p>\n";
  }

  h << "<h2>Checkpoints</h2>\n<ul>\n";
  std::vector<std::string> ckpts;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(run_dir, ec)) {
    if (e.path().extension() == ".pt") ckpts.push_back(e.path().filename().string());
  }
  std::sort(ckpts.begin(), ckpts.end());
  for (const auto& c : ckpts) h << "<li><a href=\"" << url_escape_path(c) << "\">" << html_escape(c) << "</a></li>\n";
  if (ckpts.empty()) h << "<li>none yet</li>\n";
  h << "</ul>\n";

  h << "<h2>Test results</h2>\n";
  std::ifstream tests(run_dir / "tests.jsonl");
  std::string line;
  std::vector<nlohmann::json> test_rows;
  while (tests && std::getline(tests, line)) {
    nlohmann::json t = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (t.is_object() && t.contains("dir") && t["dir"].is_string()) test_rows.push_back(std::move(t));
  }
  // The columns any test has: image metrics, then the realism scores (FCN-score, FID, KID, LPIPS).
  const struct {
    const char* key;
    const char* label;
    int digits;
  } score_columns[] = {{"l1", "L1", 4},          {"psnr", "PSNR (dB)", 2}, {"ssim", "SSIM", 4},
                       {"pixel_acc", "pixel acc", 4}, {"class_acc", "class acc", 4}, {"mean_iou", "mean IoU", 4},
                       {"fid", "FID", 2},        {"kid", "KID", 4},        {"lpips", "LPIPS", 4}};
  if (test_rows.empty()) {
    h << "<p>None yet: <code>p2p test --name " << html_escape(name) << "</code> adds them here.</p>\n";
  } else {
    h << "<table><tr><th>split (checkpoint)</th><th>images</th>";
    std::vector<size_t> shown;
    for (size_t k = 0; k < std::size(score_columns); ++k) {
      const bool any = std::any_of(test_rows.begin(), test_rows.end(),
                                   [&](const nlohmann::json& t) { return std::isfinite(json_number(t, score_columns[k].key)); });
      if (!any) continue;
      shown.push_back(k);
      h << "<th>" << score_columns[k].label << "</th>";
    }
    h << "</tr>\n";
    for (const nlohmann::json& t : test_rows) {
      const fs::path dir = t["dir"].get<std::string>();
      h << "<tr><td><a href=\"" << relative_link(run_dir.string(), (dir / "index.html").string()) << "\">"
        << html_escape(t.value("phase", "") + " (" + t.value("epoch", "") + ")") << "</a></td><td>" << json_number(t, "count")
        << "</td>";
      for (size_t k : shown) h << "<td>" << table_number(json_number(t, score_columns[k].key), score_columns[k].digits) << "</td>";
      h << "</tr>\n";
    }
    h << "</table>\n";
  }

  h << "<h2>Samples by epoch</h2>\n<p>[input | output | target], newest epoch first.</p>\n";
  const auto samples = samples_by_epoch(run_dir / "samples");
  if (samples.empty()) h << "<p>No samples (--num_samples 0, or no validation pairs).</p>\n";
  for (const auto& kv : samples) {
    h << "<div class=\"samples\"><h3>epoch " << kv.first << "</h3>\n";
    for (const auto& f : kv.second) {
      const std::string src = "samples/" + url_escape_path(f);
      h << "<a href=\"" << src << "\"><img src=\"" << src << "\" alt=\"" << html_escape(f) << "\"></a>\n";
    }
    h << "</div>\n";
  }
  h << "<h2>Configuration</h2>\n<pre>" << html_escape(config.dump(2)) << "</pre>\n</body>\n</html>\n";
  write_text_atomically((run_dir / "report.html").string(), h.str());
}

void record_test_result(const std::string& run_dir, const std::string& phase, const std::string& epoch,
                        const std::string& results_dir, const nlohmann::json& scores, long count) {
  std::error_code ec;
  nlohmann::json j = {{"phase", phase},
                      {"epoch", epoch},
                      {"dir", fs::absolute(results_dir, ec).lexically_normal().string()},
                      {"count", count}};
  if (scores.is_object()) {
    for (auto it = scores.begin(); it != scores.end(); ++it) {
      if (it.value().is_number()) j[it.key()] = it.value();
    }
  }
  std::ofstream out(fs::path(run_dir) / "tests.jsonl", std::ios::app);
  out << j.dump() << "\n";
  if (!out) fail("cannot append to " + (fs::path(run_dir) / "tests.jsonl").string());
}

}  // namespace p2p
