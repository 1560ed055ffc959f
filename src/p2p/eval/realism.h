// The scores beyond per-pixel errors, for a set of outputs, from whichever inputs the user gave:
//   palette              outputs and targets are colour label maps (photo -> labels): confusion-matrix scores
//   segmenter            the FCN-score: a segmentation run segments the outputs (photos), scored against the
//                        label maps they were generated from
//   inception weights    FID and KID between the output set and the target set (or saved statistics of a
//                        reference set: fid_reference); the outputs' statistics can be saved (save_fid_stats)
//   alexnet + lpips      LPIPS of each output against its target, and the mean
// `p2p metrics` (folders) and `p2p test` (the pairs it translates) feed one RealismScorer, so the two
// cannot compute a score differently; the scores themselves live in p2p/scores.
#pragma once

#include "p2p/eval/segmenter.h"
#include "p2p/scores/segmentation.h"

#include <ATen/Tensor.h>
#include <c10/core/Device.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace p2p {

struct RealismOptions {
  std::string palette;              // outputs and targets are label maps of this palette
  double palette_distance = -1;     // < 0: the default (DataConfig), or the segmenter run's own
  std::string segmenter;            // a segmentation run folder (the FCN-score)
  std::string segmenter_flag = "--segmenter";  // how the user named it, for messages
  std::string inception_weights;    // pytorch-fid's Inception file: FID and KID
  std::string fid_reference;        // .npz statistics of the reference set, used instead of the targets' images
  std::string save_fid_stats;       // write the outputs' statistics here (.npz, pytorch-fid's keys + features)
  std::string alexnet_weights;      // torchvision AlexNet + the lpips package's linear layers: LPIPS
  std::string lpips_weights;
  int kid_subsets = 100;            // torch-fidelity's defaults
  int kid_subset_size = 1000;
  uint64_t kid_seed = 2020;
  // FID reads the targets' images unless a reference file is given; with only save_fid_stats asked for,
  // targets are used when present but not required.
  bool fid_uses_targets() const { return !inception_weights.empty() && fid_reference.empty(); }
  bool needs_target_folder() const {
    return !palette.empty() || (fid_uses_targets() && save_fid_stats.empty()) || !alexnet_weights.empty() ||
           !lpips_weights.empty();
  }
  bool any() const {
    return !palette.empty() || !segmenter.empty() || !inception_weights.empty() || !alexnet_weights.empty() ||
           !lpips_weights.empty() || !fid_reference.empty() || !save_fid_stats.empty();
  }
};

class RealismScorer {
 public:
  // Loads what the options name (segmenter run, weight files) before any image is read; a missing or wrong
  // file throws p2p::Error naming its flag and file. LPIPS needs both of its files.
  RealismScorer(const RealismOptions& options, const c10::Device& device);
  ~RealismScorer();
  RealismScorer(const RealismScorer&) = delete;
  RealismScorer& operator=(const RealismScorer&) = delete;

  bool needs_target() const;  // palette, FID/KID against the targets' images, or LPIPS
  bool uses_target() const;   // needs_target(), or FID statistics to save that can also be compared
  bool needs_labels() const;  // the FCN-score
  // One output. pred, target: [3,H,W] in [0,1] (target may be undefined when !needs_target(); when
  // uses_target() it is given for every output or for none);
  // labels: the colour label map pred was generated from ([3,h,w] in [0,1], any size; read with a segmenter).
  void add(const std::string& stem, const at::Tensor& pred, const at::Tensor& target, const at::Tensor& labels);

  // Keys as scripts read them: pixel_acc, class_acc, mean_iou, mean_iou_present, per_class,
  // labels_ignored (label-map scores or FCN-score), fid, kid, kid_std, kid_subsets, kid_subset_size (FID/KID),
  // lpips and lpips_per_image (LPIPS), notes (e.g. KID's subset size clamped to the set size).
  nlohmann::json results() const;
  // results(), after writing the outputs' FID statistics where save_fid_stats asks (atomically).
  nlohmann::json finish();
  // "mean IoU 0.4321  pixel acc 0.7654  FID 123.45  KID 0.0123 ± 0.0012  LPIPS 0.3456" (what was computed).
  std::string summary() const;

 private:
  struct State;
  std::unique_ptr<State> s_;
};

// Scores the images of pred_dir: paired by file stem with target_dir (palette, LPIPS; FID/KID take both
// folders' images as the two sets) and with labels_dir (the FCN-score). Images are read one at a time.
// target_dir may be empty when only the FCN-score or only saved FID statistics are asked for.
nlohmann::json score_folders(const RealismOptions& options, const std::string& pred_dir, const std::string& target_dir,
                             const std::string& labels_dir, const c10::Device& device, std::string* summary = nullptr);

}  // namespace p2p
