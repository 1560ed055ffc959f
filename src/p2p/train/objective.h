// The generator's objective as a list of named, weighted terms, built once from the config:
//   G loss = sum_k w_k * term_k(A, B, fake, D's view of the pairs)
// Terms: GAN (adversarial, averaged over D's scales), L1, charbonnier, ssim, grad, perc (VGG), fm (D
// feature matching), CE (per-pixel cross-entropy against class ids: the segmentation model). The weights come from the flags (--lambda_*) and may change per epoch through
// --loss_schedule ("1:L1=100,GAN=1; 51:L1=50,ssim=10"): a stage sets the terms it names from its first
// epoch on; terms it does not name keep their weight. Each term's unweighted value is logged as
// G_<name> (G_GAN, G_L1, G_ssim ...). Adding a term = one small unit in objective.cpp + one line in its
// registry there; the training step never branches on terms.
#pragma once

#include "p2p/core/config.h"
#include "p2p/losses/gan_loss.h"

#include <ATen/Tensor.h>
#include <c10/core/Device.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace p2p {

class StepLosses;
struct LossSetup;

// What a term may look at. D's outputs are per scale: that scale's intermediate features, the last
// entry being its logits. d_real is filled only when some term asks for it (feature matching).
struct GeneratorInputs {
  at::Tensor A, B, fake;  // network range
  std::vector<std::vector<at::Tensor>> d_fake;
  std::vector<std::vector<at::Tensor>> d_real;
};

class GeneratorTerm {
 public:
  virtual ~GeneratorTerm() = default;
  virtual at::Tensor value(const GeneratorInputs& in) = 0;
  virtual bool needs_discriminator() const { return false; }  // reads d_fake
  virtual bool needs_real_features() const { return false; }  // reads d_real
};

// One stage of --loss_schedule: from `epoch` on, these term weights (keys as in the registry).
struct WeightStage {
  int64_t epoch = 1;
  std::vector<std::pair<std::string, double>> weights;
};
// Parses --loss_schedule; unknown term names, weights < 0, epochs < 1 or not increasing throw p2p::Error
// naming --loss_schedule and what was expected.
std::vector<WeightStage> parse_loss_schedule(const std::string& text);

class Objective {
 public:
  // Validates the term flags and loads what the terms need (the VGG file) before any training starts.
  // Without a discriminator (--loss l1, ce) GAN and fm may not be given weights; --loss ce is the CE term
  // alone (a segmenter's objective: image terms do not apply to logits against class ids).
  Objective(const TrainConfig& cfg, const LossSetup& losses, int output_nc, const c10::Device& device);
  ~Objective();
  Objective(const Objective&) = delete;
  Objective& operator=(const Objective&) = delete;

  // Puts the weights of `epoch` in force (flags, then the schedule's stages up to it).
  void set_epoch(int64_t epoch);
  // term name -> weight in force, for history.jsonl.
  std::map<std::string, double> weights() const;
  bool needs_discriminator() const;
  bool needs_real_features() const;

  // The weighted total. Logs each computed term as G_<name> into `out` and checks it is finite (throws
  // NonFiniteLoss naming loss_G_<name> at `iteration`). Terms with weight 0 are skipped, except L1,
  // which is always logged (it is the reference's progress number).
  at::Tensor total(const GeneratorInputs& in, StepLosses& out, int64_t iteration);

  // "1 * GAN(vanilla) + 100 * L1" and the schedule's stages, for `p2p info` and the start line.
  std::string describe() const;

 private:
  struct Entry;
  std::vector<std::unique_ptr<Entry>> terms_;
  std::vector<WeightStage> schedule_;
  std::string gan_mode_;
};

}  // namespace p2p
