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

// A palette's confusion matrix and the share of target pixels no class explains.
struct LabelScores {
  Palette palette;
  double distance = kDefaultPaletteDistance;
  std::unique_ptr<ConfusionMatrix> cm;
  double ignored = 0, pixels = 0;

  void add(const at::Tensor& pred_ids, const DecodedLabels& target) {
    cm->add(pred_ids, target.ids);
    const double n = static_cast<double>(target.ids.numel());
    ignored += target.ignored_fraction * n;
    pixels += n;
  }
  nlohmann::json json() const {
    nlohmann::json j = to_json(cm->scores(palette.class_names()));
    j["labels_ignored"] = pixels > 0 ? ignored / pixels : 0.0;
    return j;
  }
};

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
  std::optional<LabelScores> labels;  // --palette: outputs and targets are label maps
  std::shared_ptr<Segmenter> segmenter;
  std::optional<LabelScores> fcn;     // the FCN-score, with the segmenter's palette
  std::optional<FidInception> inception;
  std::optional<FeatureAccumulator> pred_features, target_features;
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
    LabelScores l;
    l.palette = load_palette(o.palette);
    l.distance = o.palette_distance > 0 ? o.palette_distance : kDefaultPaletteDistance;
    l.cm = std::make_unique<ConfusionMatrix>(l.palette.num_classes());
    s_->labels = std::move(l);
  }
  if (!o.segmenter.empty()) {
    s_->segmenter = Segmenter::load(o.segmenter, o.segmenter_flag, device);
    LabelScores l;
    l.palette = s_->segmenter->palette();
    l.distance = o.palette_distance > 0 ? o.palette_distance : s_->segmenter->data().palette_distance;
    l.cm = std::make_unique<ConfusionMatrix>(l.palette.num_classes());
    s_->fcn = std::move(l);
  }
  if (!o.inception_weights.empty()) {
    s_->inception = load_fid_inception(resolve_weights(o.inception_weights, kFidInceptionFile), device);
    s_->pred_features.emplace();
    s_->target_features.emplace();
  }
  if (!o.alexnet_weights.empty() || !o.lpips_weights.empty()) {
    if (o.alexnet_weights.empty()) fail("--lpips_weights: LPIPS also needs --alexnet_weights (torchvision's alexnet-owt-7be5be79.pth)");
    if (o.lpips_weights.empty()) fail("--alexnet_weights: LPIPS also needs --lpips_weights (the lpips package's weights/v0.1/alex.pth)");
    s_->lpips = std::make_unique<Lpips>(o.alexnet_weights, o.lpips_weights, device);
  }
}

RealismScorer::~RealismScorer() = default;

bool RealismScorer::needs_target() const { return s_->labels || s_->inception || s_->lpips; }
bool RealismScorer::needs_labels() const { return static_cast<bool>(s_->segmenter); }

void RealismScorer::add(const std::string& stem, const at::Tensor& pred, const at::Tensor& target, const at::Tensor& labels) {
  check_image(pred, stem, "output");
  if (needs_target()) check_image(target, stem, "target");
  if (s_->labels) {
    at::Tensor pred_ids = decode_labels(pred, s_->labels->palette, s_->labels->distance).ids;
    const DecodedLabels truth = decode_labels(target, s_->labels->palette, s_->labels->distance);
    if (pred_ids.sizes() != truth.ids.sizes()) {
      fail("label maps of '" + stem + "' differ in size: output " + std::to_string(pred.size(2)) + "x" +
           std::to_string(pred.size(1)) + ", target " + std::to_string(target.size(2)) + "x" + std::to_string(target.size(1)));
    }
    s_->labels->add(pred_ids, truth);
  }
  if (s_->segmenter) {
    check_image(labels, stem, "label map");
    const DecodedLabels truth = decode_labels(labels, s_->fcn->palette, s_->fcn->distance);
    s_->fcn->add(s_->segmenter->predict_at(pred, labels.size(2), labels.size(1)), truth);
  }
  if (s_->inception) {
    s_->pred_features->add(s_->features(pred));
    s_->target_features->add(s_->features(target));
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
    const FidStatistics a = s_->pred_features->statistics(), b = s_->target_features->statistics();
    j["fid"] = fid(a, b);
    const KidResult k = kid(a.features, b.features, s_->options.kid_subsets, s_->options.kid_subset_size, s_->options.kid_seed);
    j["kid"] = k.mean;
    j["kid_std"] = k.std;
    j["kid_subsets"] = k.subsets;
    j["kid_subset_size"] = k.subset_size;
    if (!k.note.empty()) notes.push_back(k.note);
    j["fid_images"] = s_->pred_features->count();
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
    o << std::setprecision(2) << "FID " << j["fid"].get<double>() << std::setprecision(4) << "  KID " << j["kid"].get<double>()
      << " ± " << j["kid_std"].get<double>();
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
  if (scorer.needs_labels() && labels_dir.empty()) fail("--labels: required by --segmenter (the FCN-score)");
  // Every output with its partners: by stem in --target and in --labels.
  std::map<std::string, std::string> targets, labels;
  std::vector<std::pair<std::string, std::string>> preds;  // (stem, file)
  if (!target_dir.empty() && scorer.needs_target()) {
    for (const PairRecord& p : pair_outputs_by_stem(pred_dir, target_dir)) targets[p.stem] = p.b_path;
  }
  if (!labels_dir.empty() && scorer.needs_labels()) {
    for (const PairRecord& p : pair_outputs_by_stem(pred_dir, labels_dir)) labels[p.stem] = p.b_path;
  }
  // The outputs as the first pairing found them (both pairings hold every output, or threw).
  for (const PairRecord& p : pair_outputs_by_stem(pred_dir, scorer.needs_target() ? target_dir : labels_dir)) {
    preds.emplace_back(p.stem, p.a_path);
  }
  for (const auto& [stem, file] : preds) {
    const at::Tensor pred = load_image(file, 3);
    const at::Tensor target = targets.count(stem) ? load_image(targets[stem], 3) : at::Tensor();
    const at::Tensor label = labels.count(stem) ? load_image(labels[stem], 3) : at::Tensor();
    scorer.add(stem, pred, target, label);
  }
  if (summary) *summary = scorer.summary();
  nlohmann::json j = scorer.results();
  j["scored_images"] = static_cast<int64_t>(preds.size());
  return j;
}

}  // namespace p2p
