// One pix2pix training step (see model.h). Why D sees cat(A, B): a conditional D judges whether B is a
// plausible translation *of A*, not merely a plausible image, which is what makes the output follow
// the input's structure (paper, Sec. 3.1 and the cGAN vs GAN ablation).
#include "p2p/train/model.h"

#include "p2p/core/error.h"
#include "p2p/train/cycle_gan.h"
#include "p2p/data/palette.h"
#include "p2p/train/fused_adam.h"
#include "p2p/train/step_tools.h"

#include <ATen/ATen.h>
#include <ATen/record_function.h>
#include <torch/nn/module.h>

#include <cmath>
#include <sstream>

namespace p2p {

LossSetup parse_loss(const std::string& loss) {
  check_choice("--loss", loss, "cgan+l1|gan+l1|cgan|gan|l1|ce");
  LossSetup s;
  s.use_ce = loss == "ce";
  s.use_gan = loss != "l1" && !s.use_ce;
  s.conditional = loss.rfind("cgan", 0) == 0;
  s.use_l1 = loss.find("l1") != std::string::npos;
  return s;
}

void apply_model_defaults(NetConfig& net, DataConfig& data, TrainConfig& train,
                          const std::function<bool(const std::string&)>& given) {
  check_choice("--model", train.model, "pix2pix|segmentation|cycle_gan");
  if (train.model == "cycle_gan") return apply_cycle_gan_defaults(net, data, train, given);
  if (data.dataset_mode == "unaligned") {
    fail("--dataset_mode unaligned: unpaired data trains --model cycle_gan; --model " + train.model + " needs pairs");
  }
  const bool by_segmenter = train.best_metric == "val_miou" || train.best_metric == "val_pixel_acc";
  if (train.model == "pix2pix") {
    if (train.loss == "ce") fail("--loss ce is the segmentation model's objective: add --model segmentation --palette ...");
    if (by_segmenter && train.val_segmenter.empty()) {
      fail("--best_metric " + train.best_metric + ": a pix2pix run has segmentation scores only with --val_segmenter RUN "
           "(a segmentation run that scores the validation outputs)");
    }
    return;
  }
  if (data.palette.empty()) {
    fail("--model segmentation: give --palette (cityscapes, facades, or a palette JSON file; `p2p data palette` proposes one)");
  }
  if (!train.val_segmenter.empty()) fail("--val_segmenter: a segmentation run is scored by its own predictions");
  if (given("--loss") && train.loss != "ce") {
    fail("--loss " + train.loss + ": --model segmentation trains with per-pixel cross-entropy (--loss ce) and no D");
  }
  const int classes = load_palette(data.palette).num_classes();
  if (given("--output_nc") && net.output_nc != classes) {
    fail("--output_nc " + std::to_string(net.output_nc) + ": --model segmentation outputs one logit per class of --palette " +
         data.palette + " (" + std::to_string(classes) + ")");
  }
  if (given("--output_activation") && net.output_activation != "none") {
    fail("--output_activation " + net.output_activation + ": a segmenter outputs raw logits (none)");
  }
  train.loss = "ce";
  net.output_nc = classes;
  net.output_activation = "none";
  // The segmenter's default network: of the U-Nets (widths 8/16/32, instance or batch norm) and the
  // ResNet G measured on facades (BENCHMARKS.md, bench/segmenter_arch.sh), resnet_6blocks with instance
  // norm reached the highest validation mean IoU, and the highest at every equal CPU budget past 4 minutes.
  if (!given("--netG")) net.netG = "resnet_6blocks";
  if (!given("--norm")) net.norm = "instance";
  if (!given("--no_dropout")) net.no_dropout = true;
  if (!given("--best_metric")) train.best_metric = "val_miou";
  if (train.best_metric != "val_miou" && train.best_metric != "val_pixel_acc") {
    fail("--best_metric " + train.best_metric + ": a segmentation run is judged by val_miou or val_pixel_acc");
  }
}

double effective_lr_D(const TrainConfig& cfg) {
  if (cfg.lr_D > 0) return cfg.lr_D;
  if (cfg.lr_D_ratio > 0) return cfg.lr * cfg.lr_D_ratio;
  return cfg.lr;
}

void check_stabilisers(const TrainConfig& c) {
  auto in_unit = [](const char* flag, double v) {
    if (!(v >= 0 && v <= 1)) fail(std::string(flag) + ": must be in [0, 1] (got " + std::to_string(v) + ")");
  };
  in_unit("--real_label", c.real_label);
  in_unit("--fake_label", c.fake_label);
  if (c.fake_label >= c.real_label) {
    fail("--fake_label: must be below --real_label (got " + std::to_string(c.fake_label) + " vs " +
         std::to_string(c.real_label) + ")");
  }
  if (c.g_steps_per_d < 1) fail("--g_steps_per_d: must be >= 1");
  if (c.d_steps_per_g < 1) fail("--d_steps_per_g: must be >= 1");
  if (c.g_steps_per_d > 1 && c.d_steps_per_g > 1) {
    fail("--g_steps_per_d and --d_steps_per_g: give at most one of them a value above 1");
  }
  if (c.clip_grad_G < 0) fail("--clip_grad_G: must be >= 0 (0 = off)");
  if (c.clip_grad_D < 0) fail("--clip_grad_D: must be >= 0 (0 = off)");
  if (c.pool_size < 0) fail("--pool_size: must be >= 0 (0 = off)");
  if (c.lr_D_ratio < 0) fail("--lr_D_ratio: must be > 0");
  if (c.lr_D > 0 && c.lr_D_ratio > 0) fail("--lr_D_ratio: give either --lr_D or --lr_D_ratio, not both");
}

Pix2PixModel::Pix2PixModel(const NetConfig& net, const TrainConfig& train, const c10::Device& device)
    : net_(net), train_(train), device_(device), setup_(parse_loss(train.loss)),
      gan_mode_(parse_gan_mode(train.gan_mode)), pool_(train.pool_size) {
  if (train.lr <= 0) fail("--lr: must be > 0 (got " + std::to_string(train.lr) + ")");
  if (train.beta1 < 0 || train.beta1 >= 1) fail("--beta1: must be in [0, 1)");
  if (train.lambda_L1 < 0) fail("--lambda_L1: must be >= 0");
  check_stabilisers(train);
  objective_ = std::make_unique<Objective>(train, setup_, net.output_nc, device);
  G_ = make_generator(net);
  init_weights(*G_, net.init_type, net.init_gain);
  G_->to(device_);
  const auto betas = std::make_tuple(train.beta1, train.beta2);
  opt_G_ = std::make_unique<FusedAdam>(G_->parameters(), torch::optim::AdamOptions(train.lr).betas(betas));
  if (setup_.use_gan) {
    const int64_t d_in = setup_.conditional ? net.input_nc + net.output_nc : net.output_nc;
    D_ = std::make_shared<MultiScaleDiscriminator>(net, d_in);
    init_weights(*D_, net.init_type, net.init_gain);
    D_->to(device_);
    opt_D_ = std::make_unique<FusedAdam>(D_->parameters(),
                                         torch::optim::AdamOptions(effective_lr_D(train)).betas(betas));
  }
  G_->train();
  if (D_) D_->train();
}

torch::nn::Module* Pix2PixModel::discriminator() {
  if (!D_) return nullptr;
  if (D_->num_scales() == 1) return &D_->scale(0);
  return D_.get();
}

void Pix2PixModel::set_learning_rates(double lr_G, double lr_D) {
  for (auto& group : opt_G_->param_groups()) static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr_G);
  if (opt_D_) {
    for (auto& group : opt_D_->param_groups()) static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr_D);
  }
}

at::Tensor Pix2PixModel::discriminator_input(const at::Tensor& A, const at::Tensor& B) const {
  return setup_.conditional ? at::cat({A, B}, 1) : B;
}

// Mean over scales (one scale: the loss itself, bit for bit the reference's).
at::Tensor Pix2PixModel::discriminator_loss_over_scales(const std::vector<at::Tensor>& logits, bool real) const {
  const double label = real ? train_.real_label : train_.fake_label;
  at::Tensor sum = discriminator_loss(logits[0], real, gan_mode_, label);
  if (logits.size() == 1) return sum;
  for (size_t k = 1; k < logits.size(); ++k) sum = sum + discriminator_loss(logits[k], real, gan_mode_, label);
  return sum / static_cast<double>(logits.size());
}

void Pix2PixModel::backward_D(const at::Tensor& A, const at::Tensor& B, const at::Tensor& fake_B,
                              StepLosses& out) {
  set_requires_grad(*D_, true);
  clear_grads(*opt_D_);
  // Detach: the D step must not push gradients into G. The pool (when on) swaps in past fakes.
  const at::Tensor fake_in = pool_.query(discriminator_input(A, fake_B).detach());
  const at::Tensor real_in = discriminator_input(A, B);
  at::Tensor loss_fake = discriminator_loss_over_scales(D_->forward(fake_in), false);
  at::Tensor loss_real = discriminator_loss_over_scales(D_->forward(real_in), true);
  at::Tensor loss = (loss_fake + loss_real) * 0.5;
  check_finite_loss("loss_D_fake", loss_fake, iteration_);
  check_finite_loss("loss_D_real", loss_real, iteration_);
  if (gan_mode_ == GanMode::kWgangp) {
    // One penalty per scale, averaged like the adversarial losses.
    at::Tensor gp;
    for (size_t k = 0; k < D_->num_scales(); ++k) {
      at::Tensor p = gradient_penalty([this, k](const at::Tensor& x) { return D_->forward_scale(k, x); }, real_in,
                                      fake_in, train_.lambda_gp);
      gp = gp.defined() ? gp + p : p;
    }
    if (D_->num_scales() > 1) gp = gp / static_cast<double>(D_->num_scales());
    check_finite_loss("loss_D_gp", gp, iteration_);
    out.set("D_gp", gp.item<double>());
    loss = loss + gp;
  }
  if (hooks_.before_D) hooks_.before_D();
  loss.backward();
  if (hooks_.after_D) hooks_.after_D();
  clip_grads(*opt_D_, train_.clip_grad_D);
  opt_D_->step();
  out.set("D_real", loss_real.item<double>());
  out.set("D_fake", loss_fake.item<double>());
}

void Pix2PixModel::backward_G(const at::Tensor& A, const at::Tensor& B, const at::Tensor& fake_B,
                              StepLosses& out) {
  clear_grads(*opt_G_);
  GeneratorInputs in{A, B, fake_B, {}, {}};
  if (D_ && objective_->needs_discriminator()) {
    set_requires_grad(*D_, false);  // D is fixed while G learns to fool it
    if (objective_->needs_real_features()) {
      in.d_fake = D_->forward_features(discriminator_input(A, fake_B));
      at::NoGradGuard no_grad;
      in.d_real = D_->forward_features(discriminator_input(A, B));
    } else {
      for (at::Tensor& logits : D_->forward(discriminator_input(A, fake_B))) in.d_fake.push_back({logits});
    }
  }
  StepLosses terms;
  at::Tensor loss = objective_->total(in, terms, iteration_);
  if (hooks_.before_G) hooks_.before_G();
  loss.backward();
  if (hooks_.after_G) hooks_.after_G();
  clip_grads(*opt_G_, train_.clip_grad_G);
  opt_G_->step();
  out.set("G_total", loss.item<double>());
  for (const auto& [name, value] : terms.values()) out.set(name, value);
  if (D_) set_requires_grad(*D_, true);
}

StepLosses Pix2PixModel::optimize(const Batch& batch) {
  const int64_t m = G_->size_multiple();
  const int64_t h = batch.A.size(2), w = batch.A.size(3);
  if (h % m != 0 || w % m != 0) {
    fail("training batch of size " + std::to_string(h) + "x" + std::to_string(w) + " (first image '" +
         (batch.stems.empty() ? std::string("?") : batch.stems[0]) + "') is not a multiple of " +
         std::to_string(m) + " as --netG " + net_.netG + " needs; choose --crop_size/--load_size accordingly");
  }
  const at::Tensor A = batch.A.to(device_);
  const at::Tensor B = batch.B.to(device_);
  const at::Tensor fake_B = [&] {
    RECORD_USER_SCOPE("p2p::G_forward");  // scopes name the phases in `p2p bench --profile`
    return G_->forward(A).to(at::kFloat);  // fp32 whatever the precision: losses, the pool and D's input
  }();  // computed once, shared by the D and G steps
  const bool step_D = D_ && iteration_ % train_.g_steps_per_d == 0;
  const bool step_G = iteration_ % train_.d_steps_per_g == 0;
  StepLosses out, d_losses;  // logged G terms first, then D's
  if (step_D) {
    RECORD_USER_SCOPE("p2p::D_step");
    backward_D(A, B, fake_B, d_losses);
  }
  if (step_G) {
    RECORD_USER_SCOPE("p2p::G_step");
    backward_G(A, B, fake_B, out);
  }
  for (const auto& [name, value] : d_losses.values()) out.set(name, value);
  ++iteration_;
  return out;
}

}  // namespace p2p
