// A run's history.jsonl read back (one JSON record per finished epoch, as the trainer appends them, plus
// the epoch-0 baseline of the untrained generator), and the flat tables made from it:
//   history.csv   epoch, lr, every loss term, val_l1, val_mae, val_psnr, val_ssim, seconds, images_per_s
//   results.md/.csv  the best epoch (by the run's --best_metric) and the last epoch, with val metrics.
// history.jsonl stays the source of truth; everything here is derived and can be rewritten any time.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace p2p {

// Validation numbers of one epoch: image metrics (translators) and segmentation scores (segmentation
// runs, and translators with --val_segmenter: the FCN-score). Absent ones are NaN.
struct ValMetrics {
  double l1 = NAN, mae = NAN, psnr = NAN, ssim = NAN;
  double miou = NAN, miou_present = NAN, pixel_acc = NAN, class_acc = NAN;
};



struct EpochRecord {
  int64_t epoch = 0;
  bool baseline = false;  // epoch 0: validation of the untrained generator, no training numbers
  int64_t iters = 0;
  double lr_G = NAN, lr_D = NAN, seconds = NAN, it_per_s = NAN, images_per_s = NAN;
  std::vector<std::pair<std::string, double>> train;    // epoch-mean losses (G_total, G_GAN, ...) by name
  std::vector<std::pair<std::string, double>> weights;  // objective weights in force that epoch
  bool has_val = false;
  ValMetrics val;
};

// One validation column of the tables: its record key ("miou"), its metric name ("val_miou"), its table
// heading, decimals, whether higher is better, its field and group.
struct ValColumn {
  const char* key;
  const char* metric;
  const char* label;
  int digits;
  bool higher;
  double ValMetrics::*field;
  bool segmentation;  // a segmentation score (as opposed to an image metric)
};
const std::vector<ValColumn>& val_columns();
// The columns `records` have values for (image metrics, segmentation scores or both), in val_columns() order.
std::vector<ValColumn> present_val_columns(const std::vector<EpochRecord>& records);

// Reads every non-empty line. Throws p2p::Error naming the file and line for unreadable files, bad
// JSON or a record without "epoch". An absent file throws too (a run folder always has one).
std::vector<EpochRecord> read_history(const std::string& path);

// The loss names of all records (columns of history.csv, series of the plots) in the objective's order:
// G_total, G_GAN, G_L1, other G_ terms, D_real, D_fake, other D_ terms (each group by name).
std::vector<std::string> loss_names(const std::vector<EpochRecord>& records);

// One value of a validation metric by its --best_metric name (val_l1, val_mae, val_psnr, val_ssim, val_miou,
// val_miou_present, val_pixel_acc, val_class_acc).
// Throws p2p::Error naming --best_metric for other names.
double val_metric(const ValMetrics& m, const std::string& metric);
bool metric_higher_is_better(const std::string& metric);

struct RunResults {
  std::string metric;         // the --best_metric the best epoch was picked by
  bool has_best = false;      // false when no trained epoch has a finite value of `metric`
  EpochRecord best;           // ties go to the earliest epoch (as the trainer keeps best.pt)
  bool has_last = false;      // false when no epoch was trained
  EpochRecord last;           // the last trained epoch
};

// Best and last among trained epochs (the baseline never counts as best).
RunResults pick_results(const std::vector<EpochRecord>& records, const std::string& metric);

// Flat CSV of `records` (numbers with full precision; empty cells where a record has no value).
std::string history_csv(const std::vector<EpochRecord>& records);

// The results table: markdown (for reading) and CSV (row,epoch,val_l1,val_mae,val_psnr,val_ssim, then
// val_miou,... when the run has segmentation scores). `columns`: present_val_columns of the run.
std::string results_markdown(const RunResults& r, const std::vector<ValColumn>& columns);
std::string results_csv(const RunResults& r, const std::vector<ValColumn>& columns);

// Cell text shared by the run's tables, the report and comparisons: `digits` decimals, "–" when the value
// is not finite; and CSV numbers: the shortest text that reads back to the same double, "" when not finite.
std::string table_number(double v, int digits);
std::string csv_number(double v);

// obj[key] as a number; NaN when absent or not a number (JSON writes NaN as null).
double json_number(const nlohmann::json& obj, const char* key);

// Reads <run_dir>/history.jsonl and writes history.csv, results.md and results.csv beside it
// (atomically). Returns what it read, for callers that draw from it next.
std::vector<EpochRecord> write_run_tables(const std::string& run_dir, const std::string& best_metric);

}  // namespace p2p
