// A trained segmentation run (`p2p train --model segmentation`) used as a scorer: photos -> class ids
// with the run's palette, on the prepared CPU inference path (running statistics, norms folded, weights
// packed). The FCN-score of the pix2pix paper is this segmenter applied to generated photos and scored
// against the label maps they were generated from; on the real photos it gives the upper bound.
#pragma once

#include "p2p/core/config.h"
#include "p2p/data/palette.h"
#include "p2p/models/networks.h"
#include "p2p/scores/segmentation.h"

#include <ATen/Tensor.h>
#include <c10/core/Device.h>

#include <memory>
#include <string>

namespace p2p {

class Segmenter {
 public:
  // run_dir: a segmentation run folder; epoch: best (default: falls back to latest when the run kept no
  // best.pt) | latest | N. A run of another model, or a missing folder or checkpoint, throws p2p::Error
  // naming `flag` (the option that named the run) and the folder.
  static std::shared_ptr<Segmenter> load(const std::string& run_dir, const std::string& flag,
                                         const c10::Device& device, const std::string& epoch = "best");

  // photo [3,H,W] in [0,1] -> class ids [H,W] (int64) at the photo's own size (reflect-padded to the
  // network's multiple and cropped back, as translation does).
  at::Tensor predict(const at::Tensor& photo) const;
  // The same with the photo first resized (bilinear, as the reference's evaluation resizes generated images
  // to the label size) to width x height.
  at::Tensor predict_at(const at::Tensor& photo, int64_t width, int64_t height) const;

  const Palette& palette() const { return palette_; }
  const DataConfig& data() const { return data_; }
  const std::string& run_dir() const { return run_dir_; }
  const std::string& checkpoint() const { return checkpoint_; }

 private:
  Segmenter() = default;
  NetworkPtr G_;
  DataConfig data_;
  Palette palette_;
  std::string run_dir_, checkpoint_;
  c10::Device device_ = c10::Device(c10::kCPU);
};

struct FcnScore {
  SegmentationScores scores;
  double ignored_fraction = 0;  // label pixels no palette colour explains (or an ignore colour)
  int64_t images = 0;
};

// The FCN-score of the photos in `photos_dir` against the colour label maps in `labels_dir`, paired by file
// stem: each photo resized to its label map's size and segmented; the label maps decoded with the
// segmenter's palette (`palette_distance` < 0: the segmenter run's own --palette_distance) and never
// interpolated. One confusion matrix over every pixel of every image; images are not held.
FcnScore fcn_score(const Segmenter& seg, const std::string& photos_dir, const std::string& labels_dir,
                   double palette_distance = -1);

}  // namespace p2p
