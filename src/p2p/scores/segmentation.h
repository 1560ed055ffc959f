// Segmentation scores from a confusion matrix summed over all pixels of all images, as the pix2pix /
// CycleGAN FCN-score script computes them (scripts/eval_cityscapes util.py fast_hist / get_scores), and
// the scoring of two folders of colour label maps decoded with a palette (p2p/data/palette.h).
#pragma once

#include "p2p/data/palette.h"

#include <ATen/Tensor.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace p2p {

struct ClassScore {
  std::string name;
  double iou = 0;          // diag / (gt + pred - diag + 1e-12); 0 for a class in neither
  double acc = 0;          // diag / (gt + 1e-12): recall
  int64_t gt_pixels = 0;   // target pixels of the class (the row total)
  int64_t pred_pixels = 0; // scored pixels predicted as the class (the column total)
};

// Which mean is which: pixel_acc, class_acc and mean_iou are the reference script's three numbers (its
// "Mean pixel accuracy", "Mean class accuracy", "Mean class IoU"), means over ALL K classes, so a class
// absent from both target and prediction counts 0. mean_iou_present averages IoU over the classes present
// in the target or the prediction only (union > 0), the usual mIoU of segmentation benchmarks on a
// subset; it is never below mean_iou.
struct SegmentationScores {
  double pixel_acc = 0;         // sum(diag) / (scored pixels + 1e-12)
  double class_acc = 0;         // mean over all K of ClassScore::acc
  double mean_iou = 0;          // mean over all K of ClassScore::iou
  double mean_iou_present = 0;  // mean of ClassScore::iou over classes with union > 0 (0 when none)
  std::vector<ClassScore> per_class;
  int64_t pixels = 0;           // scored pixels: target in [0,K)
  int64_t pred_unmatched = 0;   // scored pixels whose prediction is no class (counted wrong)
};

// Rows: target class, columns: predicted class, summed over add() calls.
class ConfusionMatrix {
 public:
  explicit ConfusionMatrix(int num_classes);
  // pred_ids and target_ids: integer tensors of one shape. Target pixels outside [0,K) (ignore) are
  // skipped. A prediction outside [0,K) (an undecodable predicted colour) counts as wrong: in its row's
  // total, in no column. (The reference script instead folds such a prediction into the next row, and
  // drops a whole frame when that overflows; that is a bug not reproduced here.)
  void add(const at::Tensor& pred_ids, const at::Tensor& target_ids);
  // Adds another matrix of the same size (per-worker or per-folder partial sums).
  void merge(const ConfusionMatrix& other);
  int num_classes() const { return k_; }
  // int64 [K, K+1]: column K counts the predictions outside [0,K).
  const at::Tensor& counts() const { return counts_; }
  // names: one per class, or empty for "0", "1", ...
  SegmentationScores scores(const std::vector<std::string>& names = {}) const;

 private:
  int k_;
  at::Tensor counts_;
};

// Keys pixel_acc, class_acc, mean_iou, mean_iou_present, pixels, pred_unmatched and per_class (an array
// of {name, iou, acc, gt_pixels, pred_pixels}).
nlohmann::json to_json(const SegmentationScores& scores);

// Predicted class ids scored against colour label maps, one image at a time: each label map is decoded
// with the palette (decode_labels, max_distance: farther pixels are ignored), a prediction of another size
// is brought to the label map's size by nearest neighbour on the ids (PyTorch's nearest: source index
// floor(i * in / out)), so labels are never interpolated; one confusion matrix over all pixels, and the
// share of label-map pixels that were no class. `p2p metrics`, `p2p test` and the FCN-score all score
// through this.
class LabelMapScores {
 public:
  LabelMapScores(Palette palette, double max_distance = kDefaultPaletteDistance);
  // pred_ids: [h,w] integer class ids; target_rgb: the colour label map [3,H,W] in [0,1].
  void add(const at::Tensor& pred_ids, const at::Tensor& target_rgb);
  // A predicted colour label map [3,h,w] in [0,1], decoded with the same palette and distance.
  void add_colour(const at::Tensor& pred_rgb, const at::Tensor& target_rgb);
  SegmentationScores scores() const { return cm_.scores(palette_.class_names()); }
  double ignored_fraction() const { return pixels_ > 0 ? ignored_ / pixels_ : 0.0; }
  // to_json(scores()) and labels_ignored (ignored_fraction()).
  nlohmann::json json() const;
  const Palette& palette() const { return palette_; }
  double max_distance() const { return distance_; }

 private:
  Palette palette_;
  double distance_;
  ConfusionMatrix cm_;
  double ignored_ = 0, pixels_ = 0;
};

// Scores the colour label maps of pred_dir against those of target_dir, paired by file stem as the
// outputs are paired with their targets (pair_outputs_by_stem: an unmatched file on either side throws
// naming it), through LabelMapScores. One image pair is held at a time. ignored_fraction_out (optional)
// receives the share of target pixels that were no class, so not scored.
SegmentationScores score_label_folders(const std::string& pred_dir, const std::string& target_dir,
                                       const Palette& palette, double max_distance = kDefaultPaletteDistance,
                                       double* ignored_fraction_out = nullptr);

}  // namespace p2p
