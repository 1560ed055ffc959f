// Comparing finished (or running) training runs, the seeds' "E5" made automatic: one table of best and
// last validation metrics per run with the settings that differ between the runs as columns, a bar
// chart per metric, the same validation inputs translated by each run's best checkpoint side by side
// (input | run 1 | run 2 | ... | target), and one HTML page holding all of it. Everything is read from
// the run folders; nothing in them changes.
//   <out>/compare.md, compare.csv, bars_val_l1.png, bars_val_psnr.png, bars_val_ssim.png,
//   <out>/samples/<stem>.png, <out>/index.html
#pragma once

#include <c10/core/Device.h>
#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <iosfwd>
#include <string>
#include <utility>
#include <vector>

namespace p2p {

struct CompareOptions {
  std::vector<std::string> runs;  // run folders (<checkpoints_dir>/<name>)
  std::string out_dir;
  int num_samples = 4;            // validation pairs shown side by side (0 = none)
  std::string checkpoint = "best";  // whose weights translate them: best, latest or an epoch number
  uint64_t seed = 0;              // dropout draws of the paper's test mode, the same for every run
  c10::Device device = c10::Device(c10::kCPU);
};

// Settings (flag name -> value as text) whose values are not the same in every config; bookkeeping
// options (name, checkpoints_dir, continue_train, epoch, overrides, build, device) are left out. In
// flag-name order; a setting absent from a config (older runs) reads as "–".
std::vector<std::pair<std::string, std::vector<std::string>>> differing_settings(const std::vector<nlohmann::json>& configs);

// Writes everything listed above. Throws p2p::Error naming the run folder when one lacks config.json or
// history.jsonl; a run without a checkpoint (or whose generator fails) gets grey tiles and a note.
void compare_runs(const CompareOptions& opt, std::ostream& log);

}  // namespace p2p
