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
      for (const ValColumn& c : val_columns()) r.val.*c.field = json_number(v, c.key);
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
    // CycleGAN's, in the reference's order.
    static const std::vector<std::string> cycle = {"D_A", "G_A", "cycle_A", "idt_A", "D_B", "G_B", "cycle_B", "idt_B"};
    auto c = std::find(cycle.begin(), cycle.end(), n);
    if (c != cycle.end()) return 10 + static_cast<int>(c - cycle.begin());
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

const std::vector<ValColumn>& val_columns() {
  static const std::vector<ValColumn> columns = {
      {"l1", "val_l1", "val L1", 4, false, &ValMetrics::l1, false},
      {"mae", "val_mae", "val MAE", 4, false, &ValMetrics::mae, false},
      {"psnr", "val_psnr", "val PSNR (dB)", 2, true, &ValMetrics::psnr, false},
      {"ssim", "val_ssim", "val SSIM", 4, true, &ValMetrics::ssim, false},
      {"miou", "val_miou", "val mIoU", 4, true, &ValMetrics::miou, true},
      {"miou_present", "val_miou_present", "val mIoU (present)", 4, true, &ValMetrics::miou_present, true},
      {"pixel_acc", "val_pixel_acc", "val pixel acc", 4, true, &ValMetrics::pixel_acc, true},
      {"class_acc", "val_class_acc", "val class acc", 4, true, &ValMetrics::class_acc, true},
  };
  return columns;
}

std::vector<ValColumn> present_val_columns(const std::vector<EpochRecord>& records) {
  // Image metrics come as one group (a run that has them has all four), and so do segmentation scores.
  bool image = false, seg = false;
  for (const auto& r : records) {
    image = image || (r.has_val && std::isfinite(r.val.l1));
    seg = seg || (r.has_val && std::isfinite(r.val.miou));
  }
  if (!image && !seg) image = true;  // no validation yet: the translator's columns, empty
  std::vector<ValColumn> out;
  for (const ValColumn& c : val_columns()) {
    if (c.segmentation ? seg : image) out.push_back(c);
  }
  return out;
}

namespace {
const ValColumn& column_of(const std::string& metric) {
  for (const ValColumn& c : val_columns()) {
    if (metric == c.metric) return c;
  }
  std::string names;
  for (const ValColumn& c : val_columns()) names += (names.empty() ? "" : "|") + std::string(c.metric);
  check_choice("--best_metric", metric, names);
  fail("--best_metric " + metric);  // not reached: check_choice throws
}
}  // namespace

double val_metric(const ValMetrics& m, const std::string& metric) { return m.*column_of(metric).field; }

bool metric_higher_is_better(const std::string& metric) { return column_of(metric).higher; }

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
  const std::vector<ValColumn> columns = present_val_columns(records);
  std::ostringstream s;
  s << "epoch,iters,lr,lr_D";
  for (const auto& n : losses) s << "," << n;
  for (const ValColumn& c : columns) s << "," << c.metric;
  s << ",seconds,images_per_s\n";
  for (const auto& r : records) {
    s << r.epoch << "," << r.iters << "," << csv_number(r.lr_G) << "," << csv_number(r.lr_D);
    for (const auto& n : losses) {
      auto it = std::find_if(r.train.begin(), r.train.end(), [&](const auto& kv) { return kv.first == n; });
      s << "," << (it == r.train.end() ? "" : csv_number(it->second));
    }
    const ValMetrics v = r.has_val ? r.val : ValMetrics{};
    for (const ValColumn& c : columns) s << "," << csv_number(v.*c.field);
    s << "," << csv_number(r.seconds) << "," << csv_number(r.images_per_s) << "\n";
  }
  return s.str();
}

std::string results_markdown(const RunResults& r, const std::vector<ValColumn>& columns) {
  std::ostringstream s;
  s << "| | epoch |";
  for (const ValColumn& c : columns) s << " " << c.label << " |";
  s << "\n|---|---|";
  for (size_t i = 0; i < columns.size(); ++i) s << "---|";
  s << "\n";
  auto row = [&](const std::string& label, const EpochRecord& e) {
    s << "| " << label << " | " << e.epoch << " |";
    for (const ValColumn& c : columns) s << " " << table_number(e.val.*c.field, c.digits) << " |";
    s << "\n";
  };
  if (r.has_best) row("best (" + r.metric + ")", r.best);
  if (r.has_last) row("last", r.last);
  if (!r.has_best && !r.has_last) {
    s << "| no trained epoch yet | |";
    for (size_t i = 0; i < columns.size(); ++i) s << " |";
    s << "\n";
  }
  return s.str();
}

std::string results_csv(const RunResults& r, const std::vector<ValColumn>& columns) {
  std::ostringstream s;
  s << "row,epoch";
  for (const ValColumn& c : columns) s << "," << c.metric;
  s << "\n";
  auto row = [&](const std::string& label, const EpochRecord& e) {
    const ValMetrics v = e.has_val ? e.val : ValMetrics{};
    s << label << "," << e.epoch;
    for (const ValColumn& c : columns) s << "," << csv_number(v.*c.field);
    s << "\n";
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
                            results_markdown(results, present_val_columns(records)));
  write_text_atomically((dir / "results.csv").string(), results_csv(results, present_val_columns(records)));
  return records;
}

}  // namespace p2p
