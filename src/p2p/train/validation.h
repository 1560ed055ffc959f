// Validation during training: the generator in the paper's test mode (dropout on, batch statistics) on
// the validation pairs, mean metrics and sample triplets. Batch statistics are this process's own, also
// under --norm sync_batch (rank 0 validates alone in a data-parallel job). It leaves training untouched: G's buffers
// (BatchNorm running statistics) and the random state are put back afterwards, so a run with
// validation takes exactly the steps of a run without it.
#pragma once

#include "p2p/core/config.h"
#include "p2p/data/dataset.h"
#include "p2p/eval/metrics.h"
#include "p2p/eval/segmenter.h"
#include "p2p/scores/segmentation.h"
#include "p2p/train/model.h"

#include <nlohmann/json.hpp>

#include <optional>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace p2p {

struct ValResult {
  bool has = false;      // false: no validation pairs, or stopped before the end
  bool has_image = false;  // mean holds image metrics (not for a segmentation run, whose outputs are logits)
  ImageMetrics mean;
  // Segmentation scores: a segmentation run's predictions against B, or a pix2pix run's outputs as
  // --val_segmenter segments them against the input label maps (the FCN-score).
  std::optional<SegmentationScores> seg;
  int64_t count = 0;     // pairs scored
  double seconds = 0;
};

// The "val" record of history.jsonl: l1, mae, psnr, ssim (image runs) and miou, miou_present, pixel_acc,
// class_acc (with segmentation scores).
nlohmann::json val_json(const ValResult& v);
// "val L1 0.1234 PSNR 20.01 SSIM 0.5123 mIoU 0.2345" for the epoch line.
std::string val_summary(const ValResult& v);

// Scores at most cfg.max_val pairs (0 = all) and writes the first cfg.num_samples as
// samples_dir/epoch_<EEE>_<stem>.png triplets [A | G(A) | B]; `data` is the config `val` was built
// with (its input mapping shows A as loaded). `stoppable`: gives up (has = false) as soon as a stop is
// requested (SIGINT/SIGTERM), for validations that no checkpoint depends on. A segmentation run
// (cfg.model) is scored in eval mode (running statistics, no dropout: how a segmenter is used), its samples
// [photo | predicted labels | true labels]; `segmenter` (--val_segmenter) adds the FCN-score of a pix2pix
// run's outputs against its input label maps.
ValResult validate(Pix2PixModel& model, const PairedDataset& val, const DataConfig& data, const TrainConfig& cfg,
                   int64_t epoch, const std::string& samples_dir, bool stoppable = false,
                   const Segmenter* segmenter = nullptr);

// Runs `fn`, then puts back the buffers of `nets` (BatchNorm running statistics) and the global RNG state:
// a validation in the paper's test mode (batch statistics, dropout on) leaves training untouched.
void run_without_side_effects(const std::vector<torch::nn::Module*>& nets, const std::function<void()>& fn);

// --best_metric: its value in `v` (NaN when `v` lacks it), and whether higher is better (PSNR, SSIM, mIoU,
// pixel accuracy) or lower (L1). Throws p2p::Error naming --best_metric for unknown names.
double metric_value(const ValResult& v, const std::string& best_metric);
bool higher_is_better(const std::string& best_metric);

}  // namespace p2p
