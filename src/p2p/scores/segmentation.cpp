// Confusion matrix and segmentation scores (see segmentation.h). The formulas are those of the pix2pix
// FCN-score script's get_scores, including its +1e-12 in every denominator, so numbers computed from the
// same label maps agree with it; only predictions that are no class are handled differently (counted
// wrong instead of shifting into the next row).
#include "p2p/scores/segmentation.h"

#include "p2p/core/error.h"
#include "p2p/core/shape.h"
#include "p2p/data/pairing.h"
#include "p2p/io/image.h"

#include <ATen/ATen.h>

#include <cmath>
#include <sstream>
#include <utility>

namespace p2p {

namespace {

constexpr double kEps = 1e-12;  // the reference script's guard against empty rows and unions

// ids [h,w] -> [height,width] by nearest neighbour; ids (< 2^24) are exact in float.
at::Tensor resize_ids(const at::Tensor& ids, int64_t height, int64_t width) {
  const at::Tensor f = ids.to(at::kFloat).view({1, 1, ids.size(0), ids.size(1)});
  return at::upsample_nearest2d(f, {height, width}).view({height, width}).to(at::kLong);
}

}  // namespace

ConfusionMatrix::ConfusionMatrix(int num_classes) : k_(num_classes) {
  if (num_classes < 1) fail("confusion matrix: the number of classes must be at least 1, got " + std::to_string(num_classes));
  counts_ = at::zeros({k_, k_ + 1}, at::kLong);
}

void ConfusionMatrix::add(const at::Tensor& pred_ids, const at::Tensor& target_ids) {
  if (pred_ids.sizes() != target_ids.sizes()) {
    fail("confusion matrix: predicted ids " + shape_str(pred_ids.sizes()) + " and target ids " + shape_str(target_ids.sizes()) +
         " differ in shape");
  }
  if (pred_ids.is_floating_point() || target_ids.is_floating_point()) {
    fail("confusion matrix: expected integer class ids, got floating-point tensors");
  }
  const int64_t k = k_;
  const at::Tensor t = target_ids.detach().to(at::kCPU, at::kLong).flatten();
  const at::Tensor p = pred_ids.detach().to(at::kCPU, at::kLong).flatten();
  const at::Tensor valid = (t >= 0).logical_and(t < k);
  const at::Tensor tv = t.masked_select(valid);
  at::Tensor pv = p.masked_select(valid);
  pv = at::where((pv >= 0).logical_and(pv < k), pv, at::full_like(pv, k));
  counts_ += at::bincount(tv * (k + 1) + pv, {}, k * (k + 1)).view({k, k + 1});
}

void ConfusionMatrix::merge(const ConfusionMatrix& other) {
  if (other.k_ != k_) {
    fail("confusion matrix: cannot add a " + std::to_string(other.k_) + "-class matrix to a " + std::to_string(k_) +
         "-class one");
  }
  counts_ += other.counts_;
}

SegmentationScores ConfusionMatrix::scores(const std::vector<std::string>& names) const {
  if (!names.empty() && names.size() != static_cast<size_t>(k_)) {
    fail("segmentation scores: " + std::to_string(names.size()) + " class names for " + std::to_string(k_) + " classes");
  }
  const auto h = counts_.accessor<int64_t, 2>();
  SegmentationScores s;
  int64_t diag_sum = 0;
  for (int i = 0; i < k_; ++i) {
    for (int j = 0; j <= k_; ++j) s.pixels += h[i][j];
    s.pred_unmatched += h[i][k_];
    diag_sum += h[i][i];
  }
  s.pixel_acc = double(diag_sum) / (double(s.pixels) + kEps);
  int present = 0;
  for (int c = 0; c < k_; ++c) {
    ClassScore cs;
    cs.name = names.empty() ? std::to_string(c) : names[c];
    for (int j = 0; j <= k_; ++j) cs.gt_pixels += h[c][j];
    for (int i = 0; i < k_; ++i) cs.pred_pixels += h[i][c];
    const double diag = double(h[c][c]);
    const double uni = double(cs.gt_pixels) + double(cs.pred_pixels) - diag;
    cs.acc = diag / (double(cs.gt_pixels) + kEps);
    cs.iou = diag / (uni + kEps);
    s.class_acc += cs.acc;
    s.mean_iou += cs.iou;
    if (uni > 0) {
      s.mean_iou_present += cs.iou;
      ++present;
    }
    s.per_class.push_back(cs);
  }
  s.class_acc /= k_;
  s.mean_iou /= k_;
  if (present > 0) s.mean_iou_present /= present;
  return s;
}

nlohmann::json to_json(const SegmentationScores& scores) {
  nlohmann::json per_class = nlohmann::json::array();
  for (const ClassScore& c : scores.per_class) {
    per_class.push_back({{"name", c.name},
                         {"iou", c.iou},
                         {"acc", c.acc},
                         {"gt_pixels", c.gt_pixels},
                         {"pred_pixels", c.pred_pixels}});
  }
  return nlohmann::json{{"pixel_acc", scores.pixel_acc},
                        {"class_acc", scores.class_acc},
                        {"mean_iou", scores.mean_iou},
                        {"mean_iou_present", scores.mean_iou_present},
                        {"pixels", scores.pixels},
                        {"pred_unmatched", scores.pred_unmatched},
                        {"per_class", per_class}};
}

LabelMapScores::LabelMapScores(Palette palette, double max_distance)
    : palette_(std::move(palette)), distance_(max_distance), cm_(palette_.num_classes()) {}

void LabelMapScores::add(const at::Tensor& pred_ids, const at::Tensor& target_rgb) {
  const DecodedLabels target = decode_labels(target_rgb, palette_, distance_);
  const int64_t h = target.ids.size(0), w = target.ids.size(1);
  if (pred_ids.dim() != 2) fail("label-map scores: predicted ids must be [h,w], got " + shape_str(pred_ids.sizes()));
  cm_.add(pred_ids.sizes() == target.ids.sizes() ? pred_ids : resize_ids(pred_ids, h, w), target.ids);
  ignored_ += target.ignored_fraction * double(h * w);
  pixels_ += double(h * w);
}

void LabelMapScores::add_colour(const at::Tensor& pred_rgb, const at::Tensor& target_rgb) {
  add(decode_labels(pred_rgb, palette_, distance_).ids, target_rgb);
}

nlohmann::json LabelMapScores::json() const {
  nlohmann::json j = to_json(scores());
  j["labels_ignored"] = ignored_fraction();
  return j;
}

SegmentationScores score_label_folders(const std::string& pred_dir, const std::string& target_dir,
                                       const Palette& palette, double max_distance, double* ignored_fraction_out) {
  const std::vector<PairRecord> pairs = pair_outputs_by_stem(pred_dir, target_dir);
  if (pairs.empty()) fail("no label images to score in " + pred_dir + " and " + target_dir);
  LabelMapScores scores(palette, max_distance);
  for (const PairRecord& pair : pairs) scores.add_colour(load_image(pair.a_path, 3), load_image(pair.b_path, 3));
  if (ignored_fraction_out) *ignored_fraction_out = scores.ignored_fraction();
  return scores.scores();
}

}  // namespace p2p
