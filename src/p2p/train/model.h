// The pix2pix model for training: G, the discriminator side (one PatchGAN or one per scale), their Adam
// optimizers and one optimisation step in the reference order (G forward once; D step on the detached
// fake + real; G step with D frozen on the objective's weighted terms).
#pragma once

#include "p2p/core/config.h"
#include "p2p/data/dataset.h"
#include "p2p/losses/gan_loss.h"
#include "p2p/models/multiscale.h"
#include "p2p/models/networks.h"
#include "p2p/train/family.h"
#include "p2p/train/image_pool.h"
#include "p2p/train/objective.h"
#include "p2p/train/step_losses.h"

#include <c10/core/Device.h>
#include <torch/optim/adam.h>

#include <functional>
#include <memory>
#include <string>

namespace p2p {

// What `--loss` turns on. cgan: D sees cat(A, B) (conditional); gan: D sees B alone; ce: per-pixel
// cross-entropy of G's logits against B's class ids, no D (the segmentation model).
struct LossSetup {
  bool use_gan = true;
  bool conditional = true;
  bool use_l1 = true;
  bool use_ce = false;
};
LossSetup parse_loss(const std::string& loss);  // throws p2p::Error naming --loss

// What --model sets, as the reference's models own their defaults. segmentation: G alone with one logit
// per palette class (--output_nc, --output_activation none) under per-pixel cross-entropy (--loss ce), with
// instance norm and no dropout unless typed (batch-size independent, deterministic when used), best.pt by
// val_miou. pix2pix: refuses --loss ce, and val_miou / val_pixel_acc without --val_segmenter. `given(flag)`
// says whether the user typed a flag: typed values win, contradictions throw p2p::Error naming the flag.
void apply_model_defaults(NetConfig& net, DataConfig& data, TrainConfig& train,
                          const std::function<bool(const std::string&)>& given);

// D's learning rate: --lr_D when given, else --lr times --lr_D_ratio when given, else --lr.
double effective_lr_D(const TrainConfig& cfg);

// Checks the stabiliser flags (labels, step ratios, clipping, pool); throws p2p::Error naming the flag.
void check_stabilisers(const TrainConfig& cfg);

// The pix2pix and segmentation families. The TrainModel glue (checkpoint layout, start line, validation)
// is in family.cpp.
class Pix2PixModel : public TrainModel {
 public:
  // Builds and initialises the networks (with the current global seed), the optimizers and the
  // objective (which loads the VGG file when the perceptual term is on).
  Pix2PixModel(const NetConfig& net, const TrainConfig& train, const c10::Device& device);

  // One optimisation step on `batch`: a D step when iteration % g_steps_per_d == 0, a G step when
  // iteration % d_steps_per_g == 0. Throws NonFiniteLoss naming the loss before any optimizer steps on a
  // non-finite value, and p2p::Error when the batch's size does not suit G.
  StepLosses optimize(const Batch& batch) override;

  void set_backward_hooks(BackwardHooks hooks) override { hooks_ = std::move(hooks); }
  void set_learning_rates(double lr_G, double lr_D) override;
  void set_epoch(int64_t epoch) override { objective_->set_epoch(epoch); }

  Network& generator() override { return *G_; }
  // The module holding D's weights as checkpoints store them: the single PatchGAN itself when num_D is 1
  // (reference keys), else the multi-scale stack (scale0.*, scale1.*). Null for --loss l1.
  torch::nn::Module* discriminator();
  MultiScaleDiscriminator* discriminators() { return D_.get(); }
  torch::optim::Adam& optimizer_G() { return *opt_G_; }
  torch::optim::Adam* optimizer_D() { return opt_D_.get(); }
  const c10::Device& device() const override { return device_; }
  const LossSetup& losses() const { return setup_; }
  Objective& objective() { return *objective_; }
  ImagePool& pool() { return pool_; }  // its contents travel in checkpoints (run_checkpoints.cpp)
  int64_t iteration() const override { return iteration_; }
  void set_iteration(int64_t it) override { iteration_ = it; }

  // TrainModel (family.cpp).
  TrainingState training_state() override;
  std::vector<std::pair<std::string, ImagePool*>> pools() override { return {{"pool", &pool_}}; }
  std::vector<torch::nn::Module*> networks() override;
  std::vector<at::Tensor> parameters_G() override;
  std::vector<at::Tensor> parameters_D() override;
  std::string describe_networks() const override;
  std::string describe_objective() const override;
  nlohmann::json weights() const override;
  ValResult validate(const ValidationContext& ctx) override;

 private:
  at::Tensor discriminator_input(const at::Tensor& A, const at::Tensor& B) const;
  at::Tensor discriminator_loss_over_scales(const std::vector<at::Tensor>& logits, bool real) const;
  void backward_D(const at::Tensor& A, const at::Tensor& B, const at::Tensor& fake_B, StepLosses& out);
  void backward_G(const at::Tensor& A, const at::Tensor& B, const at::Tensor& fake_B, StepLosses& out);

  NetConfig net_;
  TrainConfig train_;
  c10::Device device_;
  LossSetup setup_;
  GanMode gan_mode_;
  NetworkPtr G_;
  std::shared_ptr<MultiScaleDiscriminator> D_;
  std::unique_ptr<Objective> objective_;
  ImagePool pool_;
  std::unique_ptr<torch::optim::Adam> opt_G_;
  std::unique_ptr<torch::optim::Adam> opt_D_;
  BackwardHooks hooks_;
  int64_t iteration_ = 0;
};

}  // namespace p2p
