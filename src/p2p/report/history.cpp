// Reading history.jsonl and the tables derived from it (see history.h).
#include "p2p/report/history.h"

#include "p2p/core/error.h"
#include "p2p/io/fs.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <limits>
#include <sstream>

namespace fs = std::filesystem;

namespace p2p {

namespace {

std::vector<std::pair<std::string, double>> number_map(const nlohmann::json& obj, const char* key) {
  std::vector<std::pair<std::string, double>> out;
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_object()) return out;
  for (auto kv = it->begin(); kv != it->end(); ++kv) {
    if (kv.value().is_number()) out.emplace_back(kv.key(), kv.value().get<double>());
  }
  return out;
}

}  // namespace

double json_number(const nlohmann::json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_number() ? it->get<double>() : NAN;
}

std::string csv_number(double v) {
  if (!std::isfinite(v)) return "";
  std::string text;
  for (int digits = 6; digits <= std::numeric_limits<double>::max_digits10; ++digits) {
    std::ostringstream t;
    t << std::setprecision(digits) << v;
    text = t.str();
    if (std::stod(text) == v) break;
  }
  return text;
}

std::string table_number(double v, int digits) {
  if (!std::isfinite(v)) return "–";
  std::ostringstream s;
  s << std::fixed << std::setprecision(digits) << v;
  return s.str();
}

std::vector<EpochRecord> read_history(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail("cannot read run history " + path + " (expected the history.jsonl of a training run)");
  std::vector<EpochRecord> out;
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const std::exception& e) {
      fail(path + ":" + std::to_string(line_no) + ": not a JSON record (" + e.what() + ")");
    }
    if (!j.is_object() || !j.contains("epoch") || !j["epoch"].is_number_integer()) {
      fail(path + ":" + std::to_string(line_no) + ": record without an integer \"epoch\"");
    }
    EpochRecord r;
    r.epoch = j["epoch"].get<int64_t>();
    r.baseline = j.value("baseline", false);
    r.iters = j.contains("iters") && j["iters"].is_number_integer() ? j["iters"].get<int64_t>() : 0;
    r.lr_G = json_number(j, "lr_G");
    r.lr_D = json_number(j, "lr_D");
    r.seconds = json_number(j, "seconds");
    r.it_per_s = json_number(j, "it_per_s");
    r.images_per_s = json_number(j, "images_per_s");
    r.train = number_map(j, "train");
    r.weights = number_map(j, "weights");
    if (j.contains("val") && j["val"].is_object()) {
      const nlohmann::json& v = j["val"];
      r.has_val = true;
      r.val = {json_number(v, "l1"), json_number(v, "mae"), json_number(v, "psnr"), json_number(v, "ssim")};
    }
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<std::string> loss_names(const std::vector<EpochRecord>& records) {
  std::vector<std::string> names;
  for (const auto& r : records) {
    for (const auto& kv : r.train) {
      if (std::find(names.begin(), names.end(), kv.first) == names.end()) names.push_back(kv.first);
    }
  }
  // JSON objects come back sorted by name; read them in the order of the objective instead.
  auto rank = [](const std::string& n) {
    if (n == "G_total") return 0;
    if (n == "G_GAN") return 1;
    if (n == "G_L1") return 2;
    if (n.rfind("G_", 0) == 0) return 3;
    if (n == "D_real") return 4;
    if (n == "D_fake") return 5;
    if (n.rfind("D_", 0) == 0) return 6;
    return 7;
  };
  std::stable_sort(names.begin(), names.end(), [&](const std::string& a, const std::string& b) {
    return rank(a) != rank(b) ? rank(a) < rank(b) : a < b;
  });
  return names;
}

double val_metric(const ValMetrics& m, const std::string& metric) {
  check_choice("--best_metric", metric, "val_l1|val_mae|val_psnr|val_ssim");
  if (metric == "val_mae") return m.mae;
  if (metric == "val_psnr") return m.psnr;
  if (metric == "val_ssim") return m.ssim;
  return m.l1;
}

bool metric_higher_is_better(const std::string& metric) {
  check_choice("--best_metric", metric, "val_l1|val_mae|val_psnr|val_ssim");
  return metric == "val_psnr" || metric == "val_ssim";
}

RunResults pick_results(const std::vector<EpochRecord>& records, const std::string& metric) {
  RunResults r;
  r.metric = metric;
  const bool higher = metric_higher_is_better(metric);
  double best = NAN;
  for (const auto& e : records) {
    if (e.baseline) continue;
    // A resumed run rewrites its history from the resume point, so the last record is the last epoch.
    r.has_last = true;
    r.last = e;
    if (!e.has_val) continue;
    const double v = val_metric(e.val, metric);
    if (!std::isfinite(v)) continue;
    if (!r.has_best || (higher ? v > best : v < best)) {
      best = v;
      r.best = e;
      r.has_best = true;
    }
  }
  return r;
}

std::string history_csv(const std::vector<EpochRecord>& records) {
  const std::vector<std::string> losses = loss_names(records);
  std::ostringstream s;
  s << "epoch,iters,lr,lr_D";
  for (const auto& n : losses) s << "," << n;
  s << ",val_l1,val_mae,val_psnr,val_ssim,seconds,images_per_s\n";
  for (const auto& r : records) {
    s << r.epoch << "," << r.iters << "," << csv_number(r.lr_G) << "," << csv_number(r.lr_D);
    for (const auto& n : losses) {
      auto it = std::find_if(r.train.begin(), r.train.end(), [&](const auto& kv) { return kv.first == n; });
      s << "," << (it == r.train.end() ? "" : csv_number(it->second));
    }
    const ValMetrics v = r.has_val ? r.val : ValMetrics{};
    s << "," << csv_number(v.l1) << "," << csv_number(v.mae) << "," << csv_number(v.psnr) << "," << csv_number(v.ssim) << ","
      << csv_number(r.seconds) << "," << csv_number(r.images_per_s) << "\n";
  }
  return s.str();
}

std::string results_markdown(const RunResults& r) {
  std::ostringstream s;
  s << "| | epoch | val L1 | val MAE | val PSNR (dB) | val SSIM |\n|---|---|---|---|---|---|\n";
  auto row = [&](const std::string& label, const EpochRecord& e) {
    s << "| " << label << " | " << e.epoch << " | " << table_number(e.val.l1, 4) << " | " << table_number(e.val.mae, 4) << " | "
      << table_number(e.val.psnr, 2) << " | " << table_number(e.val.ssim, 4) << " |\n";
  };
  if (r.has_best) row("best (" + r.metric + ")", r.best);
  if (r.has_last) row("last", r.last);
  if (!r.has_best && !r.has_last) s << "| no trained epoch yet | | | | | |\n";
  return s.str();
}

std::string results_csv(const RunResults& r) {
  std::ostringstream s;
  s << "row,epoch,val_l1,val_mae,val_psnr,val_ssim\n";
  auto row = [&](const std::string& label, const EpochRecord& e) {
    const ValMetrics v = e.has_val ? e.val : ValMetrics{};
    s << label << "," << e.epoch << "," << csv_number(v.l1) << "," << csv_number(v.mae) << "," << csv_number(v.psnr) << "," << csv_number(v.ssim)
      << "\n";
  };
  if (r.has_best) row("best", r.best);
  if (r.has_last) row("last", r.last);
  return s.str();
}

std::vector<EpochRecord> write_run_tables(const std::string& run_dir, const std::string& best_metric) {
  const fs::path dir(run_dir);
  std::vector<EpochRecord> records = read_history((dir / "history.jsonl").string());
  const RunResults results = pick_results(records, best_metric);
  write_text_atomically((dir / "history.csv").string(), history_csv(records));
  write_text_atomically((dir / "results.md").string(),
                        "# Results\n\nBest epoch by " + best_metric + " and the last epoch (validation split).\n\n" +
                            results_markdown(results));
  write_text_atomically((dir / "results.csv").string(), results_csv(results));
  return records;
}

}  // namespace p2p
