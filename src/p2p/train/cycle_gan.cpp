// CycleGAN's training step (see cycle_gan.h). Why two cycles: with unpaired data nothing ties G_A(a) to
// a particular b; asking G_B(G_A(a)) to return a (and the reverse) keeps each translation a function of
// its input's content instead of any image the discriminator likes (paper, Sec. 3.2).
#include "p2p/train/cycle_gan.h"

#include "p2p/core/console.h"
#include "p2p/core/error.h"
#include "p2p/core/runtime.h"
#include "p2p/data/normalization.h"
#include "p2p/data/transforms.h"
#include "p2p/data/unaligned.h"
#include "p2p/io/fs.h"
#include "p2p/io/image.h"
#include "p2p/train/fused_adam.h"
#include "p2p/train/step_tools.h"
#include "p2p/train/model.h"
#include "p2p/train/validation.h"

#include <ATen/ATen.h>

#include <chrono>
#include <filesystem>
#include <iomanip>
#include <map>
#include <sstream>

namespace fs = std::filesystem;

namespace p2p {

void apply_cycle_gan_defaults(NetConfig& net, DataConfig& data, TrainConfig& train,
                              const std::function<bool(const std::string&)>& given) {
  const std::string why = ": --model cycle_gan has no such option (its objective is adversarial + cycle + identity: "
                          "--lambda_A, --lambda_B, --lambda_identity)";
  // By value as well as by flag: a resumed run passes every stored option as given.
  const TrainConfig d;
  const std::vector<std::pair<const char*, bool>> pix2pix_only = {
      {"--loss", train.loss != d.loss && train.loss != "gan"},
      {"--lambda_L1", train.lambda_L1 != d.lambda_L1},
      {"--lambda_charbonnier", train.lambda_charbonnier != d.lambda_charbonnier},
      {"--lambda_ssim", train.lambda_ssim != d.lambda_ssim},
      {"--lambda_grad", train.lambda_grad != d.lambda_grad},
      {"--lambda_perc", train.lambda_perc != d.lambda_perc},
      {"--lambda_fm", train.lambda_fm != d.lambda_fm},
      {"--loss_schedule", train.loss_schedule != d.loss_schedule},
      {"--g_steps_per_d", train.g_steps_per_d != d.g_steps_per_d},
      {"--d_steps_per_g", train.d_steps_per_g != d.d_steps_per_g}};
  for (const auto& [flag, differs] : pix2pix_only) {
    if (given(flag) && differs) fail(std::string(flag) + why);
  }
  if (!data.palette.empty()) fail("--palette: --model cycle_gan translates images of two domains; label maps are the segmentation model's");
  if (!train.val_segmenter.empty()) {
    fail("--val_segmenter: --model cycle_gan scores its test outputs with `p2p test --segmenter` instead of during training");
  }
  if (net.num_D != 1) fail("--num_D " + std::to_string(net.num_D) + ": CycleGAN's discriminators are single-scale PatchGANs here");
  if (net.attention != "none") fail("--attention: --model cycle_gan uses ResNet generators (attention is for U-Nets)");
  if (train.gan_mode == "wgangp") {
    fail("--gan_mode wgangp: --model cycle_gan trains with lsgan (the reference's), vanilla or hinge; no gradient penalty here");
  }
  if (given("--dataset_mode") && data.dataset_mode != "unaligned") {
    fail("--dataset_mode " + data.dataset_mode + ": --model cycle_gan trains on unaligned data (<phase>A/ and <phase>B/; "
         "`p2p data unpair` makes such a dataset from AB images)");
  }
  if (train.lambda_A < 0 || train.lambda_B < 0 || train.lambda_identity < 0) {
    fail("--lambda_A, --lambda_B and --lambda_identity must be >= 0");
  }
  data.dataset_mode = "unaligned";
  train.loss = "gan";  // unconditional Ds; no L1 to a partner (there is none)
  if (!given("--netG")) net.netG = "resnet_9blocks";
  if (!given("--norm")) net.norm = "instance";
  if (!given("--no_dropout")) net.no_dropout = true;
  if (!given("--gan_mode")) train.gan_mode = "lsgan";
  if (!given("--pool_size")) train.pool_size = 50;
}

NetConfig reversed_generator(const NetConfig& net) {
  NetConfig r = net;
  std::swap(r.input_nc, r.output_nc);
  return r;
}

namespace {

std::vector<at::Tensor> joined(torch::nn::Module& a, torch::nn::Module& b) {
  std::vector<at::Tensor> out = a.parameters();
  for (auto& p : b.parameters()) out.push_back(p);
  return out;
}


}  // namespace

CycleGanModel::CycleGanModel(const NetConfig& net, const TrainConfig& train, const c10::Device& device)
    : net_(net), train_(train), device_(device), gan_mode_(parse_gan_mode(train.gan_mode)),
      pool_B_(train.pool_size), pool_A_(train.pool_size) {
  if (train.lr <= 0) fail("--lr: must be > 0 (got " + std::to_string(train.lr) + ")");
  if (train.beta1 < 0 || train.beta1 >= 1) fail("--beta1: must be in [0, 1)");
  if (gan_mode_ == GanMode::kWgangp) fail("--gan_mode wgangp: not available for --model cycle_gan");
  if (net.num_D != 1) fail("--num_D: --model cycle_gan has single-scale discriminators");
  check_stabilisers(train);
  identity_ = train.lambda_identity > 0 && net.input_nc == net.output_nc;
  G_A_ = make_generator(net);
  G_B_ = make_generator(reversed_generator(net));
  D_A_ = make_discriminator(net, net.output_nc);  // judges B-domain images
  D_B_ = make_discriminator(net, net.input_nc);   // judges A-domain images
  // Initialised in the reference's order (define_G A, define_G B, define_D A, define_D B).
  for (Network* n : {G_A_.get(), G_B_.get(), D_A_.get(), D_B_.get()}) {
    init_weights(*n, net.init_type, net.init_gain);
    n->to(device_);
    n->train();
  }
  const auto betas = std::make_tuple(train.beta1, train.beta2);
  opt_G_ = std::make_unique<FusedAdam>(joined(*G_A_, *G_B_), torch::optim::AdamOptions(train.lr).betas(betas));
  opt_D_ = std::make_unique<FusedAdam>(joined(*D_A_, *D_B_), torch::optim::AdamOptions(effective_lr_D(train)).betas(betas));
}

void CycleGanModel::set_learning_rates(double lr_G, double lr_D) {
  for (auto& group : opt_G_->param_groups()) static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr_G);
  for (auto& group : opt_D_->param_groups()) static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr_D);
}

StepLosses CycleGanModel::optimize(const Batch& batch) {
  for (const at::Tensor* t : {&batch.A, &batch.B}) {
    const int64_t m = G_A_->size_multiple();
    if (t->size(2) % m != 0 || t->size(3) % m != 0) {
      fail("training batch of size " + std::to_string(t->size(2)) + "x" + std::to_string(t->size(3)) + " (first image '" +
           (batch.stems.empty() ? std::string("?") : batch.stems[0]) + "') is not a multiple of " + std::to_string(m) +
           " as --netG " + net_.netG + " needs; choose --crop_size/--load_size accordingly");
    }
  }
  const at::Tensor A = batch.A.to(device_), B = batch.B.to(device_);
  // 1. Both generators forward.
  const at::Tensor fake_B = G_A_->forward(A);
  const at::Tensor rec_A = G_B_->forward(fake_B);
  const at::Tensor fake_A = G_B_->forward(B);
  const at::Tensor rec_B = G_A_->forward(fake_A);

  // 2. G step, Ds frozen.
  set_requires_grad(*D_A_, false);
  set_requires_grad(*D_B_, false);
  clear_grads(*opt_G_);
  at::Tensor idt_A_loss, idt_B_loss;
  if (identity_) {
    idt_A_loss = at::l1_loss(G_A_->forward(B), B) * (train_.lambda_B * train_.lambda_identity);
    idt_B_loss = at::l1_loss(G_B_->forward(A), A) * (train_.lambda_A * train_.lambda_identity);
  }
  const at::Tensor G_A_loss = generator_gan_loss(D_A_->forward(fake_B), gan_mode_);
  const at::Tensor G_B_loss = generator_gan_loss(D_B_->forward(fake_A), gan_mode_);
  const at::Tensor cycle_A = at::l1_loss(rec_A, A) * train_.lambda_A;
  const at::Tensor cycle_B = at::l1_loss(rec_B, B) * train_.lambda_B;
  at::Tensor loss_G = G_A_loss + G_B_loss + cycle_A + cycle_B;
  if (identity_) loss_G = loss_G + idt_A_loss + idt_B_loss;
  check_finite_loss("loss_G_A", G_A_loss, iteration_);
  check_finite_loss("loss_G_B", G_B_loss, iteration_);
  check_finite_loss("loss_cycle_A", cycle_A, iteration_);
  check_finite_loss("loss_cycle_B", cycle_B, iteration_);
  if (identity_) check_finite_loss("loss_idt_A", idt_A_loss, iteration_), check_finite_loss("loss_idt_B", idt_B_loss, iteration_);
  if (hooks_.before_G) hooks_.before_G();
  loss_G.backward();
  if (hooks_.after_G) hooks_.after_G();
  clip_grads(*opt_G_, train_.clip_grad_G);
  opt_G_->step();

  // 3. D step on pooled fakes. D_A's and D_B's parameters are disjoint, so one backward of the sum
  // gives each exactly the gradient of its own loss (the reference runs two backwards).
  set_requires_grad(*D_A_, true);
  set_requires_grad(*D_B_, true);
  clear_grads(*opt_D_);
  auto d_loss = [&](Network& D, const at::Tensor& real, const at::Tensor& fake) {
    const at::Tensor loss_real = discriminator_loss(D.forward(real), true, gan_mode_, train_.real_label);
    const at::Tensor loss_fake = discriminator_loss(D.forward(fake.detach()), false, gan_mode_, train_.fake_label);
    return (loss_real + loss_fake) * 0.5;
  };
  // Pools keep fp32 images (they are checkpointed) whatever the step's precision.
  const at::Tensor D_A_loss = d_loss(*D_A_, B, pool_B_.query(fake_B.detach().to(at::kFloat)));
  const at::Tensor D_B_loss = d_loss(*D_B_, A, pool_A_.query(fake_A.detach().to(at::kFloat)));
  check_finite_loss("loss_D_A", D_A_loss, iteration_);
  check_finite_loss("loss_D_B", D_B_loss, iteration_);
  if (hooks_.before_D) hooks_.before_D();
  (D_A_loss + D_B_loss).backward();
  if (hooks_.after_D) hooks_.after_D();
  clip_grads(*opt_D_, train_.clip_grad_D);
  opt_D_->step();
  ++iteration_;

  StepLosses out;  // the reference's order and names
  out.set("D_A", D_A_loss.item<double>());
  out.set("G_A", G_A_loss.item<double>());
  out.set("cycle_A", cycle_A.item<double>());
  out.set("idt_A", identity_ ? idt_A_loss.item<double>() : 0.0);
  out.set("D_B", D_B_loss.item<double>());
  out.set("G_B", G_B_loss.item<double>());
  out.set("cycle_B", cycle_B.item<double>());
  out.set("idt_B", identity_ ? idt_B_loss.item<double>() : 0.0);
  return out;
}

TrainingState CycleGanModel::training_state() {
  TrainingState s;
  s.nets = {{"G_A", G_A_.get()}, {"G_B", G_B_.get()}, {"D_A", D_A_.get()}, {"D_B", D_B_.get()}};
  s.optimizers = {{"opt_G", opt_G_.get(), {"G_A", "G_B"}}, {"opt_D", opt_D_.get(), {"D_A", "D_B"}}};
  return s;
}

std::vector<std::pair<std::string, ImagePool*>> CycleGanModel::pools() {
  return {{"pool_fake_B", &pool_B_}, {"pool_fake_A", &pool_A_}};
}

std::vector<torch::nn::Module*> CycleGanModel::networks() { return {G_A_.get(), G_B_.get(), D_A_.get(), D_B_.get()}; }
std::vector<at::Tensor> CycleGanModel::parameters_G() { return joined(*G_A_, *G_B_); }
std::vector<at::Tensor> CycleGanModel::parameters_D() { return joined(*D_A_, *D_B_); }

std::string CycleGanModel::describe_networks() const {
  return "G_A, G_B " + net_.netG + " " + with_commas(count_parameters(*G_A_)) + " + " +
         with_commas(count_parameters(*G_B_)) + " parameters, D_A, D_B " + net_.netD + " " +
         with_commas(count_parameters(*D_A_)) + " + " + with_commas(count_parameters(*D_B_)) + " parameters";
}

std::string CycleGanModel::describe_objective() const {
  std::ostringstream o;
  o << "GAN(" << train_.gan_mode << ") + " << train_.lambda_A << " * cycle_A + " << train_.lambda_B << " * cycle_B";
  if (identity_) o << " + " << train_.lambda_identity << " * (" << train_.lambda_B << " * idt_A + " << train_.lambda_A << " * idt_B)";
  if (train_.lambda_identity > 0 && !identity_) {
    o << " (identity skipped: --input_nc " << net_.input_nc << " != --output_nc " << net_.output_nc << ")";
  }
  return o.str();
}

nlohmann::json CycleGanModel::weights() const {
  return {{"GAN", 1.0}, {"cycle_A", train_.lambda_A}, {"cycle_B", train_.lambda_B},
          {"identity", identity_ ? train_.lambda_identity : 0.0}};
}

namespace {

at::Tensor display_row(const std::vector<at::Tensor>& unit_images) {
  std::vector<at::Tensor> parts;
  for (const at::Tensor& t : unit_images) parts.push_back(to_display(t.clamp(0, 1)));
  bool mixed = false;
  for (const at::Tensor& p : parts) mixed = mixed || p.size(0) != parts[0].size(0);
  for (auto& p : parts) {
    if (mixed && p.size(0) == 1) p = p.expand({3, p.size(1), p.size(2)});
  }
  return at::cat(parts, 2);
}

}  // namespace

// Samples: [real_A | fake_B | rec_A] over [real_B | fake_A | rec_B] (two files when the rows' sizes
// differ). Metrics: fake_B against the true partner of each validation A when the dataset records one.
ValResult CycleGanModel::validate(const ValidationContext& ctx) {
  ValResult result;
  if (ctx.val.size() == 0) return result;
  const auto* val = dynamic_cast<const UnalignedDataset*>(&ctx.val);
  if (!val) fail("internal: --model cycle_gan validates on unaligned data");
  const auto t0 = std::chrono::steady_clock::now();
  const std::map<std::string, std::string>& truth = val->partners();
  std::vector<std::pair<std::string, ImageMetrics>> per_image;
  bool stopped = false;
  run_without_side_effects({G_A_.get(), G_B_.get()}, [&] {
    at::NoGradGuard no_grad;
    const size_t n = ctx.train.max_val > 0 ? std::min<size_t>(val->size(), ctx.train.max_val) : val->size();
    for (size_t i = 0; i < n; ++i) {
      if (ctx.stoppable && stop_requested()) {
        stopped = true;
        return;
      }
      const Sample s = val->get(i, 0);
      const bool sample = static_cast<int>(i) < ctx.train.num_samples;
      auto it = truth.find(s.stem);
      if (!sample && it == truth.end()) continue;
      const at::Tensor fake_B = G_A_->forward(s.A.unsqueeze(0).to(device_)).squeeze(0).cpu();
      if (it != truth.end()) {
        const at::Tensor target = val->load_partner(it->second);
        if (target.sizes() == fake_B.sizes()) {
          per_image.emplace_back(s.stem, compute_metrics(to_unit_range(fake_B), to_unit_range(target)));
        }
      }
      if (!sample) continue;
      const at::Tensor rec_A = G_B_->forward(fake_B.unsqueeze(0).to(device_)).squeeze(0).cpu();
      const at::Tensor fake_A = G_B_->forward(s.B.unsqueeze(0).to(device_)).squeeze(0).cpu();
      const at::Tensor rec_B = G_A_->forward(fake_A.unsqueeze(0).to(device_)).squeeze(0).cpu();
      const at::Tensor row_A = display_row({input_from_network(s.A, ctx.data), to_unit_range(fake_B), to_unit_range(rec_A)});
      const at::Tensor row_B = display_row({to_unit_range(s.B), to_unit_range(fake_A), to_unit_range(rec_B)});
      std::ostringstream name;
      name << "epoch_" << std::setw(3) << std::setfill('0') << ctx.epoch << "_" << s.stem;
      const fs::path base = fs::path(ctx.samples_dir) / name.str();
      if (row_A.sizes() == row_B.sizes()) {
        save_png(base.string() + ".png", at::cat({row_A, row_B}, 1));
      } else {
        save_png(base.string() + ".png", row_A);
        save_png(base.string() + "_B.png", row_B);
      }
    }
  });
  if (stopped) return result;
  if (!per_image.empty()) {
    result.has = true;
    result.has_image = true;
    result.mean = summarize(per_image).mean;
    result.count = static_cast<int64_t>(per_image.size());
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return result;
}

}  // namespace p2p
