// One scorer for `p2p metrics` and `p2p test` (realism.h): each part is built only when its inputs were
// given, and each score comes from p2p/scores.
#include "p2p/eval/realism.h"

#include "p2p/core/config.h"
#include "p2p/core/error.h"
#include "p2p/data/pairing.h"
#include "p2p/data/palette.h"
#include "p2p/io/fs.h"
#include "p2p/io/image.h"
#include "p2p/models/inception.h"
#include "p2p/scores/fid.h"
#include "p2p/scores/lpips.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <filesystem>
#include <iomanip>
#include <map>
#include <sstream>

namespace fs = std::filesystem;

namespace p2p {

namespace {

void check_image(const at::Tensor& t, const std::string& stem, const char* what) {
  if (!t.defined() || t.dim() != 3 || t.size(0) != 3) {
    fail("realism scores: the " + std::string(what) + " of '" + stem + "' must be a 3-channel image (got " +
         (t.defined() ? std::to_string(t.dim() == 3 ? t.size(0) : t.dim()) + " channels" : std::string("none")) + ")");
  }
}

std::string resolve_weights(const std::string& given, const char* file) {
  if (given != "default") return given;
  const std::string path = default_weights_path(file);
  if (path.empty()) fail("--inception_weights default: neither XDG_DATA_HOME nor HOME is set; give the file's path");
  return path;
}

}  // namespace

struct RealismScorer::State {
  RealismOptions options;
  c10::Device device = c10::Device(c10::kCPU);
  std::optional<LabelMapScores> labels;  // --palette: outputs and targets are label maps
  std::shared_ptr<Segmenter> segmenter;
  std::optional<LabelMapScores> fcn;     // the FCN-score, with the segmenter's palette
  std::optional<FidInception> inception;
  std::optional<FeatureAccumulator> pred_features, target_features;  // target_features: FID against targets
  std::optional<FidStatistics> reference;  // --fid_reference
  bool targets_seen = false, targets_missing = false;
  std::unique_ptr<Lpips> lpips;
  std::vector<std::pair<std::string, double>> lpips_per_image;

  // Inception features of one image [3,H,W] in [0,1].
  at::Tensor features(const at::Tensor& unit) {
    at::NoGradGuard no_grad;
    return (*inception)->forward(unit.unsqueeze(0).to(device, at::kFloat)).to(at::kCPU, at::kDouble);
  }
};

RealismScorer::RealismScorer(const RealismOptions& o, const c10::Device& device) : s_(std::make_unique<State>()) {
  s_->options = o;
  s_->device = device;
  if (!o.palette.empty()) {
    s_->labels.emplace(load_palette(o.palette), o.palette_distance > 0 ? o.palette_distance : kDefaultPaletteDistance);
  }
  if (!o.segmenter.empty()) {
    s_->segmenter = Segmenter::load(o.segmenter, o.segmenter_flag, device);
    s_->fcn.emplace(s_->segmenter->palette(),
                    o.palette_distance > 0 ? o.palette_distance : s_->segmenter->data().palette_distance);
  }
  if (!o.inception_weights.empty()) {
    s_->inception = load_fid_inception(resolve_weights(o.inception_weights, kFidInceptionFile), device);
    s_->pred_features.emplace();
    if (!o.fid_reference.empty()) {
      s_->reference = load_fid_statistics(o.fid_reference);
      if (s_->reference->mu.numel() != kFidFeatureDim) {
        fail("--fid_reference: " + o.fid_reference + " holds statistics of " + std::to_string(s_->reference->mu.numel()) +
             "-d features; pytorch-fid's Inception pool features are " + std::to_string(kFidFeatureDim) + "-d");
      }
    } else {
      s_->target_features.emplace();
    }
  } else if (!o.fid_reference.empty() || !o.save_fid_stats.empty()) {
    fail(std::string(o.fid_reference.empty() ? "--save_fid_stats" : "--fid_reference") +
         ": FID statistics need --inception_weights (pytorch-fid's Inception)");
  }
  if (!o.alexnet_weights.empty() || !o.lpips_weights.empty()) {
    if (o.alexnet_weights.empty()) fail("--lpips_weights: LPIPS also needs --alexnet_weights (torchvision's alexnet-owt-7be5be79.pth)");
    if (o.lpips_weights.empty()) fail("--alexnet_weights: LPIPS also needs --lpips_weights (the lpips package's weights/v0.1/alex.pth)");
    s_->lpips = std::make_unique<Lpips>(o.alexnet_weights, o.lpips_weights, device);
  }
}

RealismScorer::~RealismScorer() = default;

bool RealismScorer::needs_target() const {
  return s_->labels || s_->lpips || (s_->target_features && s_->options.save_fid_stats.empty());
}
bool RealismScorer::uses_target() const { return needs_target() || s_->target_features.has_value(); }
bool RealismScorer::needs_labels() const { return static_cast<bool>(s_->segmenter); }

void RealismScorer::add(const std::string& stem, const at::Tensor& pred, const at::Tensor& target, const at::Tensor& labels) {
  check_image(pred, stem, "output");
  if (needs_target()) check_image(target, stem, "target");
  if (s_->labels) s_->labels->add_colour(pred, target);
  if (s_->segmenter) {
    check_image(labels, stem, "label map");
    s_->fcn->add(s_->segmenter->predict_at(pred, labels.size(2), labels.size(1)), labels);
  }
  if (s_->inception) {
    s_->pred_features->add(s_->features(pred));
    if (s_->target_features && target.defined()) {
      check_image(target, stem, "target");
      s_->target_features->add(s_->features(target));
      s_->targets_seen = true;
    } else if (s_->target_features) {
      s_->targets_missing = true;
    }
  }
  if (s_->lpips) s_->lpips_per_image.emplace_back(stem, s_->lpips->distance(pred, target));
}

nlohmann::json RealismScorer::results() const {
  nlohmann::json j = nlohmann::json::object();
  nlohmann::json notes = nlohmann::json::array();
  if (s_->labels) j.update(s_->labels->json());
  if (s_->fcn) {
    j.update(s_->fcn->json());
    j["segmenter"] = fs::absolute(s_->segmenter->checkpoint()).lexically_normal().string();
  }
  if (s_->inception) {
    const FidStatistics a = s_->pred_features->statistics();
    std::optional<FidStatistics> b = s_->reference;
    if (s_->targets_seen && s_->targets_missing) fail("FID: some outputs have a target and some do not; pair every output or none");
    if (!b && s_->targets_seen) b = s_->target_features->statistics();
    if (b) {
      j["fid"] = fid(a, *b);
      if (b->features.defined()) {
        const KidResult k =
            kid(a.features, b->features, s_->options.kid_subsets, s_->options.kid_subset_size, s_->options.kid_seed);
        j["kid"] = k.mean;
        j["kid_std"] = k.std;
        j["kid_subsets"] = k.subsets;
        j["kid_subset_size"] = k.subset_size;
        if (!k.note.empty()) notes.push_back(k.note);
      } else {
        notes.push_back("KID not computed: " + s_->options.fid_reference +
                        " holds only mu and sigma (pytorch-fid's format); KID needs the reference set's features, "
                        "which statistics saved by --save_fid_stats carry");
      }
      if (s_->reference) j["fid_reference"] = s_->options.fid_reference;
    }
    j["fid_images"] = s_->pred_features->count();
    if (!s_->options.save_fid_stats.empty()) j["fid_stats_saved"] = s_->options.save_fid_stats;
  }
  if (s_->lpips) {
    double sum = 0;
    nlohmann::json per = nlohmann::json::array();
    for (const auto& [stem, d] : s_->lpips_per_image) {
      sum += d;
      per.push_back({{"name", stem}, {"lpips", d}});
    }
    j["lpips"] = s_->lpips_per_image.empty() ? 0.0 : sum / static_cast<double>(s_->lpips_per_image.size());
    j["lpips_per_image"] = per;
  }
  if (!notes.empty()) j["notes"] = notes;
  return j;
}

nlohmann::json RealismScorer::finish() {
  if (s_->inception && !s_->options.save_fid_stats.empty()) {
    save_fid_statistics(s_->options.save_fid_stats, s_->pred_features->statistics());
  }
  return results();
}

std::string RealismScorer::summary() const {
  const nlohmann::json j = results();
  std::ostringstream o;
  o << std::fixed << std::setprecision(4);
  auto sep = [&] { if (o.tellp() > 0) o << "  "; };
  if (j.contains("mean_iou")) {
    o << (s_->segmenter ? "FCN-score: " : "") << "mean IoU " << j["mean_iou"].get<double>() << " (present classes "
      << j["mean_iou_present"].get<double>() << ")  pixel acc " << j["pixel_acc"].get<double>() << "  class acc "
      << j["class_acc"].get<double>();
  }
  if (j.contains("fid")) {
    sep();
    o << std::setprecision(2) << "FID " << j["fid"].get<double>();
    if (j.contains("kid")) o << std::setprecision(4) << "  KID " << j["kid"].get<double>() << " ± " << j["kid_std"].get<double>();
  }
  if (j.contains("fid_stats_saved")) {
    sep();
    o << "FID statistics of " << j["fid_images"].get<int64_t>() << " images saved to " << j["fid_stats_saved"].get<std::string>();
  }
  if (j.contains("lpips")) {
    sep();
    o << "LPIPS " << j["lpips"].get<double>();
  }
  if (j.contains("notes")) {
    for (const auto& n : j["notes"]) o << "\nnote: " << n.get<std::string>();
  }
  return o.str();
}

nlohmann::json score_folders(const RealismOptions& options, const std::string& pred_dir, const std::string& target_dir,
                             const std::string& labels_dir, const c10::Device& device, std::string* summary) {
  RealismScorer scorer(options, device);
  if (scorer.needs_target() && target_dir.empty()) fail("--target: required by the scores asked for (label maps, FID/KID, LPIPS)");
  const bool use_targets = scorer.uses_target() && !target_dir.empty();
  if (scorer.needs_labels() && labels_dir.empty()) fail("--labels: required by --segmenter (the FCN-score)");
  // Every output with its partners: by stem in --target and in --labels.
  std::map<std::string, std::string> targets, labels;
  std::vector<std::pair<std::string, std::string>> preds;  // (stem, file)
  if (use_targets) {
    for (const PairRecord& p : pair_outputs_by_stem(pred_dir, target_dir)) targets[p.stem] = p.b_path;
  }
  if (!labels_dir.empty() && scorer.needs_labels()) {
    for (const PairRecord& p : pair_outputs_by_stem(pred_dir, labels_dir)) labels[p.stem] = p.b_path;
  }
  // The outputs as the first pairing found them (both pairings hold every output, or threw).
  if (use_targets || !labels.empty()) {
    for (const PairRecord& p : pair_outputs_by_stem(pred_dir, use_targets ? target_dir : labels_dir)) {
      preds.emplace_back(p.stem, p.a_path);
    }
  } else {
    for (const std::string& file : list_images(pred_dir)) preds.emplace_back(fs::path(file).stem().string(), file);
  }
  if (preds.empty()) fail("--pred: no images in " + pred_dir);
  for (const auto& [stem, file] : preds) {
    const at::Tensor pred = load_image(file, 3);
    const at::Tensor target = targets.count(stem) ? load_image(targets[stem], 3) : at::Tensor();
    const at::Tensor label = labels.count(stem) ? load_image(labels[stem], 3) : at::Tensor();
    scorer.add(stem, pred, target, label);
  }
  nlohmann::json j = scorer.finish();
  if (summary) *summary = scorer.summary();
  j["scored_images"] = static_cast<int64_t>(preds.size());
  return j;
}

}  // namespace p2p
