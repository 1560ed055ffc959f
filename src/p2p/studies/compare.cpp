// Run comparison: table, bar charts, side-by-side translations and a page (see compare.h).
#include "p2p/studies/compare.h"

#include "p2p/core/config_json.h"
#include "p2p/core/error.h"
#include "p2p/core/runtime.h"
#include "p2p/data/dataset.h"
#include "p2p/data/normalization.h"
#include "p2p/data/unaligned.h"
#include "p2p/io/checkpoint.h"
#include "p2p/io/state_dict.h"
#include "p2p/eval/inference.h"
#include "p2p/io/fs.h"
#include "p2p/io/image.h"
#include "p2p/models/networks.h"
#include "p2p/report/history.h"
#include "p2p/report/html.h"
#include "p2p/report/plot.h"
#include "p2p/io/run_folder.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <torch/csrc/autograd/grad_mode.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <map>
#include <ostream>
#include <set>
#include <sstream>

namespace fs = std::filesystem;

namespace p2p {

namespace {

struct RunInfo {
  std::string dir, label;
  nlohmann::json config;
  std::vector<EpochRecord> history;
  RunResults results;
  nlohmann::json test;  // the run's latest `p2p test` record (tests.jsonl), null when none
};

// The realism scores of a run's latest test that the table and bars show, by their metrics.json keys.
struct TestColumn {
  const char* key;
  const char* label;
  int digits;
  bool higher;
};
const TestColumn kTestColumns[] = {{"mean_iou", "test FCN mIoU", 4, true},
                                   {"pixel_acc", "test FCN pixel acc", 4, true},
                                   {"fid", "test FID", 2, false},
                                   {"kid", "test KID", 4, false},
                                   {"lpips", "test LPIPS", 4, false}};

std::vector<TestColumn> present_test_columns(const std::vector<RunInfo>& runs) {
  std::vector<TestColumn> out;
  for (const TestColumn& c : kTestColumns) {
    if (std::any_of(runs.begin(), runs.end(), [&](const RunInfo& r) { return std::isfinite(json_number(r.test, c.key)); })) {
      out.push_back(c);
    }
  }
  return out;
}

// The validation columns any of the runs has (image metrics, segmentation scores), in the usual order.
std::vector<ValColumn> present_columns(const std::vector<RunInfo>& runs) {
  std::vector<EpochRecord> all;
  for (const auto& r : runs) all.insert(all.end(), r.history.begin(), r.history.end());
  return present_val_columns(all);
}

std::string csv_cell(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

std::string value_text(const nlohmann::json& v) {
  if (!v.is_string()) return v.dump();
  return v.get<std::string>().empty() ? "(default)" : v.get<std::string>();  // e.g. --norm_D: as --norm
}

RunInfo load_run(const std::string& dir) {
  RunInfo r;
  r.dir = dir;
  if (!fs::is_directory(dir)) fail("run folder " + dir + " does not exist");
  r.config = read_run_config(dir);
  const std::string metric = r.config.contains("train") ? r.config["train"].value("best_metric", "val_l1") : "val_l1";
  r.history = read_history((fs::path(dir) / "history.jsonl").string());
  r.results = pick_results(r.history, metric);
  std::ifstream tests(fs::path(dir) / "tests.jsonl");
  for (std::string line; tests && std::getline(tests, line);) {
    nlohmann::json t = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (t.is_object()) r.test = std::move(t);
  }
  r.label = r.config.contains("train") ? r.config["train"].value("name", "") : "";
  if (r.label.empty()) r.label = fs::path(dir).lexically_normal().filename().string();
  return r;
}

// The generator of a run at `checkpoint` with its run's data config, ready to translate its val pairs.
struct RunModel {
  NetworkPtr G;
  DataConfig data;
  std::unique_ptr<Dataset> val;
  std::map<std::string, size_t> index;  // stem -> position in val
  // The target shown beside sample i: B of a pair; for unaligned data (CycleGAN) the input's true partner
  // where the dataset records one (an unrelated B would mislead), else none.
  at::Tensor target(size_t i) const {
    const auto* unaligned = dynamic_cast<const UnalignedDataset*>(val.get());
    if (!unaligned) return val->get(i, 0).B;
    auto it = unaligned->partners().find(val->get(i, 0).stem);
    return it == unaligned->partners().end() ? at::Tensor() : unaligned->load_partner(it->second);
  }
};

RunModel load_model(const RunInfo& run, const CompareOptions& opt) {
  RunModel m;
  NetConfig net;
  if (run.config.contains("net")) update_from_json(net, run.config["net"], run.dir + "/config.json");
  if (run.config.contains("data")) update_from_json(m.data, run.config["data"], run.dir + "/config.json");
  const std::string weights = existing_checkpoint(run.dir, opt.checkpoint, /*reference=*/false);
  m.G = make_generator(net);
  const bool cycle = run.config.contains("train") && run.config["train"].value("model", "") == "cycle_gan";
  if (cycle) {  // G_A: the run's A -> B translator
    load_into(*m.G, checkpoint_section(read_state_dict(weights), "G_A."), weights + " (G_A)");
  } else {
    load_generator_weights(*m.G, weights);
  }
  m.G->to(opt.device);
  m.data.input_nc = net.input_nc;
  m.data.output_nc = m.data.palette.empty() ? net.output_nc : 3;  // label maps are read as RGB
  m.data.size_multiple = static_cast<int>(m.G->size_multiple());
  if (m.data.dataset_mode == "unaligned") {
    std::string phase = m.data.phase;  // validated on val, else test, else the training images (trainer.cpp)
    for (const char* p : {"test", "val"}) {
      if (has_unaligned(m.data.dataroot, p)) phase = p;
    }
    m.val = std::make_unique<UnalignedDataset>(find_unaligned(m.data, m.data.dataroot, phase), m.data, /*augment=*/false);
  } else {
    m.val = std::make_unique<PairedDataset>(train_val_split(m.data).val, m.data, /*augment=*/false);
  }
  for (size_t i = 0; i < m.val->size(); ++i) m.index[m.val->get(i, 0).stem] = i;
  return m;
}

// [C,H,W] display tile at the row's size (runs trained at another crop are resized to line up).
at::Tensor tile(const at::Tensor& unit, int64_t h, int64_t w) {
  at::Tensor t = to_display(unit.clamp(0, 1));
  if (t.size(0) == 1) t = t.expand({3, t.size(1), t.size(2)});
  if (t.size(1) != h || t.size(2) != w) {
    t = at::upsample_bilinear2d(t.unsqueeze(0), {h, w}, /*align_corners=*/false).squeeze(0).clamp(0, 1);
  }
  return t.contiguous();
}

// The results table as text, one list of columns for compare.md and the page, so they cannot differ.
struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;  // first cell: the run's label
};

Table results_table(const std::vector<RunInfo>& runs,
                    const std::vector<std::pair<std::string, std::vector<std::string>>>& diff) {
  const std::vector<ValColumn> columns = present_columns(runs);
  const std::vector<TestColumn> tests = present_test_columns(runs);
  auto short_label = [](const ValColumn& c) { return std::string(c.label).substr(4); };  // "val L1" -> "L1"
  Table t;
  t.header.push_back("run");
  for (const auto& d : diff) t.header.push_back(d.first);
  for (const char* which : {"best", "last"}) {
    t.header.push_back(std::string(which) + " epoch");
    for (const ValColumn& c : columns) t.header.push_back(std::string(which) + " val " + short_label(c));
  }
  for (const TestColumn& c : tests) t.header.push_back(c.label);
  for (size_t r = 0; r < runs.size(); ++r) {
    const RunResults& res = runs[r].results;
    std::vector<std::string> row = {runs[r].label};
    for (const auto& d : diff) row.push_back(d.second[r]);
    for (const bool best : {true, false}) {
      const bool has = best ? res.has_best : res.has_last;
      const EpochRecord& rec = best ? res.best : res.last;
      row.push_back(!has ? "–" : std::to_string(rec.epoch) + (best ? " (" + res.metric + ")" : ""));
      for (const ValColumn& c : columns) row.push_back(has ? table_number(rec.val.*c.field, c.digits) : "–");
    }
    for (const TestColumn& c : tests) row.push_back(table_number(json_number(runs[r].test, c.key), c.digits));
    t.rows.push_back(std::move(row));
  }
  return t;
}

std::string table_markdown(const Table& t) {
  std::ostringstream s;
  s << "|";
  for (const auto& h : t.header) s << " " << h << " |";
  s << "\n|";
  for (size_t i = 0; i < t.header.size(); ++i) s << "---|";
  s << "\n";
  for (const auto& row : t.rows) {
    s << "|";
    for (const auto& cell : row) s << " " << cell << " |";
    s << "\n";
  }
  return s.str();
}

std::string table_csv(const std::vector<RunInfo>& runs,
                      const std::vector<std::pair<std::string, std::vector<std::string>>>& diff) {
  const std::vector<ValColumn> columns = present_columns(runs);
  const std::vector<TestColumn> tests = present_test_columns(runs);
  std::ostringstream s;
  s << "run,dir";
  for (const auto& d : diff) s << "," << csv_cell(d.first);
  s << ",best_metric";
  for (const char* which : {"best", "last"}) {
    s << "," << which << "_epoch";
    for (const ValColumn& c : columns) s << "," << which << "_" << c.metric;
  }
  for (const TestColumn& c : tests) s << ",test_" << c.key;
  s << "\n";
  for (size_t r = 0; r < runs.size(); ++r) {
    const RunResults& res = runs[r].results;
    s << csv_cell(runs[r].label) << "," << csv_cell(fs::absolute(runs[r].dir).lexically_normal().string());
    for (const auto& d : diff) s << "," << csv_cell(d.second[r]);
    s << "," << res.metric;
    for (const bool best : {true, false}) {
      const bool has = best ? res.has_best : res.has_last;
      const EpochRecord& rec = best ? res.best : res.last;
      s << "," << (has ? std::to_string(rec.epoch) : "");
      for (const ValColumn& c : columns) s << "," << (has ? csv_number(rec.val.*c.field) : "");
    }
    for (const TestColumn& c : tests) s << "," << csv_number(json_number(runs[r].test, c.key));
    s << "\n";
  }
  return s.str();
}

}  // namespace

std::vector<std::pair<std::string, std::vector<std::string>>> differing_settings(const std::vector<nlohmann::json>& configs) {
  static const std::set<std::string> kBookkeeping = {"name", "checkpoints_dir", "continue_train", "epoch"};
  std::map<std::string, std::vector<std::string>> values;  // ordered by flag name
  for (size_t i = 0; i < configs.size(); ++i) {
    for (const char* section : {"net", "data", "train"}) {
      if (!configs[i].contains(section) || !configs[i][section].is_object()) continue;
      for (auto kv = configs[i][section].begin(); kv != configs[i][section].end(); ++kv) {
        if (kBookkeeping.count(kv.key())) continue;
        auto& v = values[kv.key()];
        v.resize(configs.size(), "–");
        v[i] = value_text(kv.value());
      }
    }
  }
  std::vector<std::pair<std::string, std::vector<std::string>>> out;
  for (auto& [key, v] : values) {
    v.resize(configs.size(), "–");
    if (std::any_of(v.begin(), v.end(), [&](const std::string& x) { return x != v[0]; })) out.emplace_back(key, v);
  }
  return out;
}

void compare_runs(const CompareOptions& opt, std::ostream& log) {
  if (opt.runs.empty()) fail("compare: give at least one run folder");
  if (opt.out_dir.empty()) fail("--out: required (the folder the comparison is written to)");
  if (opt.num_samples < 0) fail("--num_samples must be 0 or more");
  std::vector<RunInfo> runs;
  for (const auto& dir : opt.runs) runs.push_back(load_run(dir));
  std::map<std::string, int> seen;  // two folders with one run name: tell them apart
  for (auto& r : runs) {
    if (seen[r.label]++) r.label += " (" + std::to_string(seen[r.label]) + ")";
  }
  std::vector<nlohmann::json> configs;
  for (const auto& r : runs) configs.push_back(r.config);
  const auto diff = differing_settings(configs);
  make_dirs(opt.out_dir);
  const fs::path out(opt.out_dir);
  const Table table = results_table(runs, diff);
  const std::string md = table_markdown(table);
  write_text_atomically((out / "compare.md").string(), md);
  write_text_atomically((out / "compare.csv").string(), table_csv(runs, diff));

  // Bar charts of the best epoch's metrics.
  std::vector<std::string> bar_files;
  if (plots_available()) {
    const struct {
      const char* metric;
      const char* title;
      const char* unit;
    } specs[] = {{"val_l1", "Best validation L1 (lower is better)", "L1"},
                 {"val_psnr", "Best validation PSNR (higher is better)", "dB"},
                 {"val_ssim", "Best validation SSIM (higher is better)", "SSIM"},
                 {"val_miou", "Best validation mean IoU (higher is better)", "mean IoU"}};
    const std::vector<ValColumn> columns = present_columns(runs);
    for (const auto& s : specs) {
      if (std::none_of(columns.begin(), columns.end(), [&](const ValColumn& c) { return c.metric == std::string(s.metric); })) {
        continue;
      }
      BarChart c{s.title, s.unit, {}, {}, "runs"};
      for (const auto& r : runs) {
        c.categories.push_back(r.label);
        c.values.push_back(r.results.has_best ? val_metric(r.results.best.val, s.metric) : NAN);
      }
      const std::string file = std::string("bars_") + s.metric + ".png";
      write_bar_charts((out / file).string(), {c}, 1, std::max(480, 110 * static_cast<int>(runs.size()) + 120), 380);
      bar_files.push_back(file);
    }
    // The realism scores of each run's latest test.
    for (const TestColumn& t : present_test_columns(runs)) {
      BarChart c{std::string(t.label) + (t.higher ? " (higher is better)" : " (lower is better)"), t.label, {}, {}, "runs"};
      for (const auto& r : runs) {
        c.categories.push_back(r.label);
        c.values.push_back(json_number(r.test, t.key));
      }
      const std::string file = std::string("bars_test_") + t.key + ".png";
      write_bar_charts((out / file).string(), {c}, 1, std::max(480, 110 * static_cast<int>(runs.size()) + 120), 380);
      bar_files.push_back(file);
    }
  }

  // The same validation inputs through every run's generator.
  std::vector<std::pair<std::string, std::string>> rows;  // (stem, image file)
  if (opt.num_samples > 0) {
    std::vector<RunModel> models;
    std::vector<std::string> failed(runs.size());
    for (size_t i = 0; i < runs.size(); ++i) {
      try {
        models.push_back(load_model(runs[i], opt));
      } catch (const Error& e) {
        models.emplace_back();
        failed[i] = e.what();
        log << "note: " << runs[i].label << ": no translations (" << e.what() << ")\n";
      }
    }
    const RunModel* first = nullptr;
    for (const auto& m : models) {
      if (m.val && m.val->size() > 0) {
        first = &m;
        break;
      }
    }
    if (first) {
      make_dirs((out / "samples").string());
      const size_t n = std::min<size_t>(opt.num_samples, first->val->size());
      at::NoGradGuard no_grad;
      for (size_t k = 0; k < n; ++k) {
        const Sample s0 = first->val->get(k, 0);
        const at::Tensor A = input_from_network(s0.A, first->data);
        const int64_t h = A.size(1), w = A.size(2);
        std::vector<at::Tensor> tiles = {tile(A, h, w)};
        for (auto& m : models) {
          auto it = m.G ? m.index.find(s0.stem) : m.index.end();
          if (it == m.index.end()) {
            tiles.push_back(at::full({3, h, w}, 0.5));  // no model, or this pair is not in its val split
            continue;
          }
          const Sample s = m.val->get(it->second, 0);
          m.G->train();  // the paper's test mode, as validation scores it
          seed_everything(opt.seed, false);  // the same dropout draws for every run
          const at::Tensor fake = m.G->forward(s.A.unsqueeze(0).to(opt.device)).squeeze(0).cpu();
          tiles.push_back(tile(to_unit_range(fake), h, w));
        }
        const at::Tensor target = first->target(k);
        tiles.push_back(target.defined() ? tile(to_unit_range(target), h, w) : at::full({3, h, w}, 0.5));
        const std::string file = "samples/sample_" + std::to_string(k) + ".png";
        save_png((out / file).string(), at::cat(tiles, 2));
        rows.emplace_back(s0.stem, file);
      }
    }
  }

  // The page.
  std::ostringstream h;
  h << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Comparison of " << runs.size()
    << " runs — pix2pix.cpp</title>\n<style>\nbody { font-family: sans-serif; margin: 1em 2em; }\n"
    << "table { border-collapse: collapse; margin: 0.5em 0; }\ntd, th { border: 1px solid #ccc; padding: 4px 8px; }\n"
    << "img.bar { max-width: 32%; border: 1px solid #ddd; }\n.row img { image-rendering: pixelated; height: 160px; }\n"
    << ".labels span { display: inline-block; text-align: center; font-size: 90%; }\n</style>\n</head>\n<body>\n"
    << "<h1>Comparison of " << runs.size() << " runs</h1>\n<h2>Results</h2>\n<table>\n<tr>";
  for (const auto& c : table.header) h << "<th>" << html_escape(c) << "</th>";
  h << "</tr>\n";
  for (size_t r = 0; r < runs.size(); ++r) {
    const std::string report = relative_link(opt.out_dir, (fs::path(runs[r].dir) / "report.html").string());
    h << "<tr><td><a href=\"" << report << "\">" << html_escape(table.rows[r][0]) << "</a></td>";
    for (size_t c = 1; c < table.rows[r].size(); ++c) h << "<td>" << html_escape(table.rows[r][c]) << "</td>";
    h << "</tr>\n";
  }
  h << "</table>\n<p><a href=\"compare.csv\">compare.csv</a> · <a href=\"compare.md\">compare.md</a></p>\n";
  if (!bar_files.empty()) {
    h << "<h2>Best epoch per run</h2>\n";
    for (const auto& f : bar_files) h << "<img class=\"bar\" src=\"" << f << "\" alt=\"" << f << "\">\n";
  }
  if (!rows.empty()) {
    h << "<h2>The same validation inputs</h2>\n<p>input";
    for (const auto& r : runs) h << " | " << html_escape(r.label);
    h << " | target (" << html_escape(opt.checkpoint) << " checkpoints, paper test mode, seed " << opt.seed << ")</p>\n";
    for (const auto& [stem, file] : rows) {
      h << "<div class=\"row\"><h3>" << html_escape(stem) << "</h3><a href=\"" << url_escape_path(file) << "\"><img src=\""
        << url_escape_path(file) << "\" alt=\"" << html_escape(stem) << "\"></a></div>\n";
    }
  }
  h << "</body>\n</html>\n";
  write_text_atomically((out / "index.html").string(), h.str());
  log << md;
}

}  // namespace p2p
