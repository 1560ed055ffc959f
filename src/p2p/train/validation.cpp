// Validation during training (see validation.h).
#include "p2p/train/validation.h"

#include "p2p/core/error.h"
#include "p2p/core/random_state.h"
#include "p2p/core/runtime.h"
#include "p2p/data/normalization.h"
#include "p2p/data/palette.h"
#include "p2p/io/image.h"
#include "p2p/models/sync_batch_norm.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <mutex>
#include <sstream>

namespace fs = std::filesystem;

namespace p2p {

namespace {

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

namespace {
const char* const kBestMetrics = "val_l1|val_psnr|val_ssim|val_miou|val_pixel_acc";

// Segmenter samples: [photo | predicted labels | true labels], colours from the palette.
at::Tensor label_triplet(const at::Tensor& A, const at::Tensor& pred, const at::Tensor& target, const DataConfig& data,
                         const Palette& palette) {
  return at::cat({to_display(input_from_network(A, data).clamp(0, 1)), encode_labels(pred, palette),
                  encode_labels(target, palette)},
                 2);
}
}  // namespace

void run_without_side_effects(const std::vector<torch::nn::Module*>& nets, const std::function<void()>& fn) {
  std::vector<at::Tensor> saved;
  for (torch::nn::Module* net : nets) {
    for (auto& b : net->buffers()) saved.push_back(b.clone());
  }
  const KeepRandomState keep;
  fn();
  at::NoGradGuard no_grad;
  size_t i = 0;
  for (torch::nn::Module* net : nets) {
    for (auto& b : net->buffers()) b.copy_(saved[i++]);
  }
}

nlohmann::json val_json(const ValResult& v) {
  nlohmann::json j = nlohmann::json::object();
  if (v.has_image) j = {{"l1", v.mean.l1}, {"mae", v.mean.mae}, {"psnr", v.mean.psnr}, {"ssim", v.mean.ssim}};
  if (v.seg) {
    j["miou"] = v.seg->mean_iou;
    j["miou_present"] = v.seg->mean_iou_present;
    j["pixel_acc"] = v.seg->pixel_acc;
    j["class_acc"] = v.seg->class_acc;
  }
  return j;
}

std::string val_summary(const ValResult& v) {
  std::ostringstream o;
  o << std::fixed << std::setprecision(4) << "val";
  if (v.has_image) {
    o << " L1 " << v.mean.l1 << " PSNR " << std::setprecision(2) << v.mean.psnr << " SSIM " << std::setprecision(4)
      << v.mean.ssim;
  }
  if (v.seg) o << " mIoU " << v.seg->mean_iou << " pixel acc " << v.seg->pixel_acc;
  return o.str();
}

double metric_value(const ValResult& v, const std::string& best_metric) {
  check_choice("--best_metric", best_metric, kBestMetrics);
  if (best_metric == "val_miou") return v.seg ? v.seg->mean_iou : NAN;
  if (best_metric == "val_pixel_acc") return v.seg ? v.seg->pixel_acc : NAN;
  if (!v.has_image) return NAN;
  if (best_metric == "val_psnr") return v.mean.psnr;
  if (best_metric == "val_ssim") return v.mean.ssim;
  return v.mean.l1;
}

bool higher_is_better(const std::string& best_metric) {
  check_choice("--best_metric", best_metric, kBestMetrics);
  return best_metric != "val_l1";
}

ValResult validate(Pix2PixModel& model, const PairedDataset& val, const DataConfig& data, const TrainConfig& cfg,
                   int64_t epoch, const std::string& samples_dir, bool stoppable, const Segmenter* segmenter) {
  ValResult result;
  if (val.size() == 0) return result;
  const auto t0 = std::chrono::steady_clock::now();
  const LocalBatchStatistics local;  // one rank validates alone: sync batch norm must not wait for peers
  Network& G = model.generator();
  const bool segmentation = cfg.model == "segmentation";
  std::optional<Palette> palette;
  if (segmentation) palette = load_palette(data.palette);
  const Palette* seg_palette = segmentation ? &*palette : segmenter ? &segmenter->palette() : nullptr;
  std::optional<ConfusionMatrix> confusion;
  if (seg_palette) confusion.emplace(seg_palette->num_classes());
  std::vector<std::pair<std::string, ImageMetrics>> per_image;
  bool stopped = false;
  int64_t count = 0;
  run_without_side_effects({&G}, [&] {
    at::NoGradGuard no_grad;
    // Paper test mode for translators (dropout on, batch statistics); a segmenter is used in eval mode.
    set_eval_mode(G, segmentation);
    const size_t n = cfg.max_val > 0 ? std::min<size_t>(val.size(), cfg.max_val) : val.size();
    for (size_t i = 0; i < n; ++i) {
      if (stoppable && stop_requested()) {
        stopped = true;
        return;
      }
      Sample s = val.get(i, 0);
      at::Tensor fake = G.forward(s.A.unsqueeze(0).to(model.device())).squeeze(0).cpu();
      at::Tensor sample;
      if (segmentation) {
        const at::Tensor pred = fake.argmax(0), target = s.B.squeeze(0).to(at::kLong);
        confusion->add(pred, target);
        if (static_cast<int>(i) < cfg.num_samples) sample = label_triplet(s.A, pred, target, data, *palette);
      } else {
        per_image.emplace_back(s.stem, compute_metrics(to_unit_range(fake), to_unit_range(s.B)));
        if (segmenter) {
          // The FCN-score: the input label map is the ground truth the output should show.
          const at::Tensor labels = input_from_network(s.A, data).clamp(0, 1);
          const DecodedLabels target = decode_labels(labels, segmenter->palette(), segmenter->data().palette_distance);
          confusion->add(segmenter->predict(to_unit_range(fake).clamp(0, 1)), target.ids);
        }
        if (static_cast<int>(i) < cfg.num_samples) sample = triplet(s.A, fake, s.B, data);
      }
      ++count;
      if (static_cast<int>(i) < cfg.num_samples) {
        std::ostringstream name;
        name << "epoch_" << std::setw(3) << std::setfill('0') << epoch << "_" << s.stem << ".png";
        save_png((fs::path(samples_dir) / name.str()).string(), sample);
      }
    }
  });
  G.train();
  if (stopped) return result;
  result.has = true;
  result.has_image = !segmentation;
  if (!segmentation) result.mean = summarize(per_image).mean;
  if (confusion) result.seg = confusion->scores(seg_palette->class_names());
  result.count = count;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return result;
}

}  // namespace p2p
