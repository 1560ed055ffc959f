// The pix2pix model for training: G, D, their Adam optimizers and one optimisation step in the
// reference order (G forward once; D step on detached fake + real; G step with D frozen).
#pragma once

#include "p2p/core/config.h"
#include "p2p/data/dataset.h"
#include "p2p/losses/gan_loss.h"
#include "p2p/models/networks.h"

#include <c10/core/Device.h>
#include <torch/optim/adam.h>

#include <memory>
#include <string>

namespace p2p {

// Losses of one step, as plain numbers. Names follow the reference's loss_<net>_<term>.
struct StepLosses {
  double G_total = 0, G_GAN = 0, G_L1 = 0, D_real = 0, D_fake = 0, D_gp = 0;
};

// What `--loss` turns on. cgan: D sees cat(A, B) (conditional); gan: D sees B alone.
struct LossSetup {
  bool use_gan = true;
  bool conditional = true;
  bool use_l1 = true;
};
LossSetup parse_loss(const std::string& loss);  // throws p2p::Error naming --loss

class Pix2PixModel {
 public:
  // Builds and initialises the networks (with the current global seed) and the optimizers.
  Pix2PixModel(const NetConfig& net, const TrainConfig& train, const c10::Device& device);

  // One optimisation step on `batch`. Throws NonFiniteLoss naming the loss before any optimizer
  // steps on a non-finite value, and p2p::Error when the batch's size does not suit G.
  StepLosses optimize(const Batch& batch);

  void set_learning_rates(double lr_G, double lr_D);

  Network& generator() { return *G_; }
  NetworkPtr generator_ptr() { return G_; }
  Network* discriminator() { return D_.get(); }
  torch::optim::Adam& optimizer_G() { return *opt_G_; }
  torch::optim::Adam* optimizer_D() { return opt_D_.get(); }
  const c10::Device& device() const { return device_; }
  const LossSetup& losses() const { return setup_; }
  int64_t iteration() const { return iteration_; }
  void set_iteration(int64_t it) { iteration_ = it; }

 private:
  at::Tensor discriminator_input(const at::Tensor& A, const at::Tensor& B) const;
  void backward_D(const at::Tensor& A, const at::Tensor& B, const at::Tensor& fake_B, StepLosses& out);
  void backward_G(const at::Tensor& A, const at::Tensor& B, const at::Tensor& fake_B, StepLosses& out);
  void check_finite(const char* name, const at::Tensor& loss) const;

  NetConfig net_;
  TrainConfig train_;
  c10::Device device_;
  LossSetup setup_;
  GanMode gan_mode_;
  NetworkPtr G_;
  NetworkPtr D_;
  std::unique_ptr<torch::optim::Adam> opt_G_;
  std::unique_ptr<torch::optim::Adam> opt_D_;
  int64_t iteration_ = 0;
};

}  // namespace p2p
