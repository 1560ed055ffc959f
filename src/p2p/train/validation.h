// Validation during training: the generator in the paper's test mode (dropout on, batch statistics) on
// the validation pairs, mean metrics and sample triplets. Batch statistics are this process's own, also
// under --norm sync_batch (rank 0 validates alone in a data-parallel job). It leaves training untouched: G's buffers
// (BatchNorm running statistics) and the random state are put back afterwards, so a run with
// validation takes exactly the steps of a run without it.
#pragma once

#include "p2p/core/config.h"
#include "p2p/data/dataset.h"
#include "p2p/eval/metrics.h"
#include "p2p/train/model.h"

#include <cstdint>
#include <string>

namespace p2p {

struct ValResult {
  bool has = false;      // false: no validation pairs, or stopped before the end
  ImageMetrics mean;
  int64_t count = 0;     // pairs scored
  double seconds = 0;
};

// Scores at most cfg.max_val pairs (0 = all) and writes the first cfg.num_samples as
// samples_dir/epoch_<EEE>_<stem>.png triplets [A | G(A) | B]; `data` is the config `val` was built
// with (its input mapping shows A as loaded). `stoppable`: gives up (has = false) as soon as a stop is
// requested (SIGINT/SIGTERM), for validations that no checkpoint depends on.
ValResult validate(Pix2PixModel& model, const PairedDataset& val, const DataConfig& data, const TrainConfig& cfg,
                   int64_t epoch, const std::string& samples_dir, bool stoppable = false);

// --best_metric: its value in `m`, and whether higher is better (PSNR, SSIM) or lower (L1).
// Throws p2p::Error naming --best_metric for unknown names.
double metric_value(const ImageMetrics& m, const std::string& best_metric);
bool higher_is_better(const std::string& best_metric);

}  // namespace p2p
