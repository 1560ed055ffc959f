// Validation during training (see validation.h).
#include "p2p/train/validation.h"

#include "p2p/core/error.h"
#include "p2p/core/runtime.h"
#include "p2p/data/normalization.h"
#include "p2p/io/image.h"
#include "p2p/models/sync_batch_norm.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <chrono>
#include <filesystem>
#include <iomanip>
#include <mutex>
#include <sstream>

namespace fs = std::filesystem;

namespace p2p {

namespace {

// Runs `fn` and then puts back G's buffers (BatchNorm running stats) and the RNG state, so that
// evaluating in the paper's test mode (batch statistics, dropout on) leaves training untouched.
template <typename Fn>
void without_side_effects(torch::nn::Module& G, Fn&& fn) {
  std::vector<at::Tensor> saved;
  for (auto& b : G.buffers()) saved.push_back(b.clone());
  at::Tensor rng;
  auto gen = at::detail::getDefaultCPUGenerator();
  {
    std::lock_guard<std::mutex> lock(gen.mutex());
    rng = gen.get_state();
  }
  fn();
  at::NoGradGuard no_grad;
  size_t i = 0;
  for (auto& b : G.buffers()) b.copy_(saved[i++]);
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(rng);
}

// Side-by-side [A | fake_B | B] in [0,1], gray expanded to RGB when channel counts differ; N-channel
// sides show their first bands. A is mapped back from the network range by the run's own input mapping
// (unit*2-1, or the dataset statistics of --normalize dataset), so it shows what the file held.
at::Tensor triplet(const at::Tensor& A, const at::Tensor& fake, const at::Tensor& B, const DataConfig& data) {
  std::vector<at::Tensor> parts = {to_display(input_from_network(A, data).clamp(0, 1)),
                                   to_display(to_unit_range(fake)), to_display(to_unit_range(B))};
  const bool mixed = parts[0].size(0) != parts[2].size(0) || parts[1].size(0) != parts[2].size(0);
  for (auto& p : parts) {
    if (mixed && p.size(0) == 1) p = p.expand({3, p.size(1), p.size(2)});
  }
  return at::cat(parts, 2);
}

}  // namespace

double metric_value(const ImageMetrics& m, const std::string& best_metric) {
  check_choice("--best_metric", best_metric, "val_l1|val_psnr|val_ssim");
  if (best_metric == "val_psnr") return m.psnr;
  if (best_metric == "val_ssim") return m.ssim;
  return m.l1;
}

bool higher_is_better(const std::string& best_metric) {
  check_choice("--best_metric", best_metric, "val_l1|val_psnr|val_ssim");
  return best_metric != "val_l1";
}

ValResult validate(Pix2PixModel& model, const PairedDataset& val, const DataConfig& data, const TrainConfig& cfg,
                   int64_t epoch, const std::string& samples_dir, bool stoppable) {
  ValResult result;
  if (val.size() == 0) return result;
  const auto t0 = std::chrono::steady_clock::now();
  const LocalBatchStatistics local;  // one rank validates alone: sync batch norm must not wait for peers
  Network& G = model.generator();
  std::vector<std::pair<std::string, ImageMetrics>> per_image;
  bool stopped = false;
  without_side_effects(G, [&] {
    at::NoGradGuard no_grad;
    G.train();  // paper test mode: dropout on, batch statistics
    const size_t n = cfg.max_val > 0 ? std::min<size_t>(val.size(), cfg.max_val) : val.size();
    for (size_t i = 0; i < n; ++i) {
      if (stoppable && stop_requested()) {
        stopped = true;
        return;
      }
      Sample s = val.get(i, 0);
      at::Tensor fake = G.forward(s.A.unsqueeze(0).to(model.device())).squeeze(0).cpu();
      per_image.emplace_back(s.stem, compute_metrics(to_unit_range(fake), to_unit_range(s.B)));
      if (static_cast<int>(i) < cfg.num_samples) {
        std::ostringstream name;
        name << "epoch_" << std::setw(3) << std::setfill('0') << epoch << "_" << s.stem << ".png";
        save_png((fs::path(samples_dir) / name.str()).string(), triplet(s.A, fake, s.B, data));
      }
    }
  });
  G.train();
  if (stopped) return result;
  result.has = true;
  result.mean = summarize(per_image).mean;
  result.count = static_cast<int64_t>(per_image.size());
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return result;
}

}  // namespace p2p
