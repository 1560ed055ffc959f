// What a run folder shows about itself, rebuilt from its files after every epoch (and by `p2p report`):
//   history.csv, results.md, results.csv   (history.h)
//   plots/losses.png    G total | G terms (GAN, L1, ...) | D real / fake, per epoch
//   plots/metrics.png   validation L1 | PSNR | SSIM per epoch (epoch 0 = untrained), best epoch marked
//   report.html         config, plots, results, sample triplets by epoch (newest first), links to the
//                       checkpoints and to the `p2p test` results recorded in tests.jsonl.
// Everything is derived from history.jsonl, config.json, samples/ and tests.jsonl, so it can be redrawn
// at any time; nothing here changes training state.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace p2p {

// `live`: the page reloads itself every 30 s (while training); a finished run's page does not.
// Throws p2p::Error naming the file when history.jsonl or config.json cannot be read.
void write_run_report(const std::string& run_dir, bool live);

// Records one `p2p test` output folder in <run_dir>/tests.jsonl (phase, epoch, folder, and `scores`: the
// mean metrics and realism scores by their metrics.json keys: l1, psnr, ssim, mean_iou, fid, kid, lpips ...), so the run's report can link to it; appends, one JSON object per line.
void record_test_result(const std::string& run_dir, const std::string& phase, const std::string& epoch,
                        const std::string& results_dir, const nlohmann::json& scores, long count);

}  // namespace p2p
