// CycleGAN (Zhu et al. 2017) as the reference trains it: two generators G_A: A -> B and G_B: B -> A,
// two unconditional discriminators D_A (judges B-domain images) and D_B (judges A-domain images), one
// Adam over both generators and one over both discriminators. One step, in the reference's order:
//   1. forward: fake_B = G_A(A), rec_A = G_B(fake_B), fake_A = G_B(B), rec_B = G_A(fake_A);
//   2. G step with both Ds frozen: GAN(D_A(fake_B), real) + GAN(D_B(fake_A), real)
//        + lambda_A * L1(rec_A, A) + lambda_B * L1(rec_B, B)
//        + lambda_identity * (lambda_B * L1(G_A(B), B) + lambda_A * L1(G_B(A), A));
//   3. D step: D_A on real B and a pooled fake_B, D_B on real A and a pooled fake_A, each
//      0.5 * (GAN(real, real) + GAN(fake, fake)).
// Logged as the reference logs them (weighted): D_A, G_A, cycle_A, idt_A, D_B, G_B, cycle_B, idt_B.
// Identity needs G_A to accept a B image: with input_nc != output_nc it is skipped (the reference
// asserts instead; README "What differs").
#pragma once

#include "p2p/core/config.h"
#include "p2p/losses/gan_loss.h"
#include "p2p/train/family.h"

#include <torch/optim/adam.h>

#include <functional>
#include <memory>

namespace p2p {

// What --model cycle_gan sets where the user typed nothing, as the reference's CycleGAN options do:
// resnet_9blocks, instance norm, no dropout, lsgan, pool 50, unaligned data. Options that have no
// meaning for the model (--loss, --lambda_L1 and the other pix2pix terms, --palette, --num_D > 1 ...)
// throw p2p::Error naming the flag. `given(flag)` says whether the user typed a flag.
void apply_cycle_gan_defaults(NetConfig& net, DataConfig& data, TrainConfig& train,
                              const std::function<bool(const std::string&)>& given);

// G_B's architecture: the run's with input and output channels swapped.
NetConfig reversed_generator(const NetConfig& net);

class CycleGanModel : public TrainModel {
 public:
  CycleGanModel(const NetConfig& net, const TrainConfig& train, const c10::Device& device);

  StepLosses optimize(const Batch& batch) override;
  void set_learning_rates(double lr_G, double lr_D) override;
  void set_epoch(int64_t) override {}
  int64_t iteration() const override { return iteration_; }
  void set_iteration(int64_t it) override { iteration_ = it; }
  const c10::Device& device() const override { return device_; }
  Network& generator() override { return *G_A_; }
  TrainingState training_state() override;
  std::vector<std::pair<std::string, ImagePool*>> pools() override;
  std::vector<torch::nn::Module*> networks() override;
  std::vector<at::Tensor> parameters_G() override;
  std::vector<at::Tensor> parameters_D() override;
  void set_backward_hooks(BackwardHooks hooks) override { hooks_ = std::move(hooks); }
  std::string describe_networks() const override;
  std::string describe_objective() const override;
  nlohmann::json weights() const override;
  ValResult validate(const ValidationContext& ctx) override;

  Network& G_A() { return *G_A_; }
  Network& G_B() { return *G_B_; }
  Network& D_A() { return *D_A_; }
  Network& D_B() { return *D_B_; }
  torch::optim::Adam& optimizer_G() { return *opt_G_; }
  torch::optim::Adam& optimizer_D() { return *opt_D_; }
  ImagePool& pool_fake_B() { return pool_B_; }
  ImagePool& pool_fake_A() { return pool_A_; }
  bool uses_identity() const { return identity_; }

 private:
  NetConfig net_;
  TrainConfig train_;
  c10::Device device_;
  GanMode gan_mode_;
  bool identity_ = false;
  NetworkPtr G_A_, G_B_, D_A_, D_B_;
  ImagePool pool_B_, pool_A_;  // past fake_B for D_A, past fake_A for D_B
  std::unique_ptr<torch::optim::Adam> opt_G_, opt_D_;
  BackwardHooks hooks_;
  int64_t iteration_ = 0;
};

}  // namespace p2p
