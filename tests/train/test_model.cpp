// Tests for train/model: the reference step order (checked against a hand-written step), loss modes,
// an overfit-one-batch run whose L1 falls, and the non-finite loss guard.
#include "p2p/core/error.h"
#include "p2p/core/precision.h"
#include "p2p/core/runtime.h"
#include "p2p/io/state_dict.h"
#include "p2p/io/checkpoint.h"
#include "p2p/losses/gan_loss.h"
#include "p2p/train/fused_adam.h"
#include "p2p/train/model.h"

#include <testutil/testutil.h>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/autograd.h>
#include <torch/optim/adam.h>

namespace p2p {
namespace {

NetConfig tiny_net() {
  NetConfig n;
  n.netG = "unet_32";
  n.ngf = 8;
  n.ndf = 8;
  n.no_dropout = true;  // dropout would make the hand-written step draw different random numbers
  return n;
}

Batch random_batch(int64_t n, int64_t size, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  Batch b;
  b.A = at::rand({n, 3, size, size}, gen) * 2 - 1;
  b.B = at::rand({n, 3, size, size}, gen) * 2 - 1;
  b.stems.assign(n, "x");
  return b;
}

void copy_weights(torch::nn::Module& from, torch::nn::Module& to) { load_into(to, state_dict_of(from), "copy"); }

double max_diff(torch::nn::Module& a, torch::nn::Module& b) {
  auto pa = a.parameters(), pb = b.parameters();
  double m = 0;
  for (size_t i = 0; i < pa.size(); ++i) m = std::max(m, (pa[i] - pb[i]).abs().max().item<double>());
  return m;
}

TEST(Pix2PixStep, MatchesTheReferenceOrderWrittenOutByHand) {
  seed_everything(7, false);
  NetConfig net = tiny_net();
  TrainConfig train;
  Pix2PixModel model(net, train, c10::Device(c10::kCPU));
  NetworkPtr G = make_generator(net), D = make_discriminator(net, 6), D_stale = make_discriminator(net, 6);
  copy_weights(model.generator(), *G);
  copy_weights(*model.discriminator(), *D);
  copy_weights(*model.discriminator(), *D_stale);
  G->train(), D->train(), D_stale->train();
  auto opts = torch::optim::AdamOptions(2e-4).betas(std::make_tuple(0.5, 0.999));
  torch::optim::Adam opt_G(G->parameters(), opts), opt_D(D->parameters(), opts);
  Batch batch = random_batch(1, 32, 1);

  // 1. fake_B = G(A) once. 2. D step on detached fake + real, x0.5. 3. G step through the updated D.
  at::Tensor fake = G->forward(batch.A);
  opt_D.zero_grad();
  at::Tensor loss_D = (at::binary_cross_entropy_with_logits(D->forward(at::cat({batch.A, fake.detach()}, 1)),
                                                             at::zeros({1, 1, 2, 2})) +
                       at::binary_cross_entropy_with_logits(D->forward(at::cat({batch.A, batch.B}, 1)),
                                                             at::ones({1, 1, 2, 2}))) * 0.5;
  loss_D.backward();
  opt_D.step();
  opt_G.zero_grad();
  at::Tensor pred = D->forward(at::cat({batch.A, fake}, 1));
  at::Tensor loss_G = at::binary_cross_entropy_with_logits(pred, at::ones_like(pred)) + at::l1_loss(fake, batch.B) * 100.0;
  loss_G.backward();
  opt_G.step();

  StepLosses l = model.optimize(batch);
  EXPECT_NEAR(l["G_total"], loss_G.item<double>(), 1e-4);
  EXPECT_NEAR((l["D_fake"] + l["D_real"]) * 0.5, loss_D.item<double>(), 1e-6);
  EXPECT_LT(max_diff(model.generator(), *G), 1e-6);
  EXPECT_LT(max_diff(*model.discriminator(), *D), 1e-6);
  EXPECT_EQ(model.iteration(), 1);
}

TEST(Pix2PixStep, LossModesBuildTheRightDiscriminator) {
  EXPECT_FALSE(parse_loss("l1").use_gan);
  EXPECT_TRUE(parse_loss("gan").use_gan && !parse_loss("gan").conditional && !parse_loss("gan").use_l1);
  EXPECT_TRUE(parse_loss("cgan+l1").conditional && parse_loss("cgan+l1").use_l1);
  EXPECT_THROW(parse_loss("l2"), Error);
  TrainConfig t;
  NetConfig net = tiny_net();
  t.loss = "l1";
  Pix2PixModel l1(net, t, c10::Device(c10::kCPU));
  EXPECT_EQ(l1.discriminator(), nullptr);
  StepLosses s = l1.optimize(random_batch(1, 32, 2));
  EXPECT_NEAR(s["G_total"], 100.0 * s["G_L1"], 1e-4);
  EXPECT_EQ(s["G_GAN"], 0.0);
  t.loss = "gan";  // unconditional D judges B alone: output_nc channels
  Pix2PixModel gan(net, t, c10::Device(c10::kCPU));
  EXPECT_EQ(gan.discriminator()->parameters()[0].size(1), 3);
  s = gan.optimize(random_batch(1, 32, 3));
  EXPECT_NEAR(s["G_total"], s["G_GAN"], 1e-6);  // no L1 term
  t.loss = "cgan";
  Pix2PixModel cgan(net, t, c10::Device(c10::kCPU));
  EXPECT_EQ(cgan.discriminator()->parameters()[0].size(1), 6);
}

TEST(Pix2PixStep, LambdaL1AndBetasReachTheOptimisation) {
  TrainConfig t;
  t.lambda_L1 = 10.0;
  t.beta1 = 0.3;
  t.lr_D = 5e-4;
  Pix2PixModel m(tiny_net(), t, c10::Device(c10::kCPU));
  StepLosses s = m.optimize(random_batch(1, 32, 9));
  EXPECT_NEAR(s["G_total"], s["G_GAN"] + 10.0 * s["G_L1"], 1e-4);
  auto& g = static_cast<torch::optim::AdamOptions&>(m.optimizer_G().param_groups()[0].options());
  auto& d = static_cast<torch::optim::AdamOptions&>(m.optimizer_D()->param_groups()[0].options());
  EXPECT_DOUBLE_EQ(std::get<0>(g.betas()), 0.3);
  EXPECT_DOUBLE_EQ(g.lr(), 2e-4);
  EXPECT_DOUBLE_EQ(d.lr(), 5e-4);
  m.set_learning_rates(1e-5, 2e-5);
  EXPECT_DOUBLE_EQ(g.lr(), 1e-5);
  EXPECT_DOUBLE_EQ(d.lr(), 2e-5);
}

TEST(Pix2PixStep, WgangpStepIncludesTheGradientPenalty) {
  // The D step of --gan_mode wgangp written out by hand: Wasserstein critic loss plus
  // lambda_gp * E[(||grad_x D(x)||_2 - 1)^2] at x = e*real + (1-e)*fake. D's weights after the step
  // must match; without the penalty they would not (checked below), so dropping it fails this test.
  seed_everything(11, false);
  NetConfig net = tiny_net();
  TrainConfig train;
  train.gan_mode = "wgangp";
  Pix2PixModel model(net, train, c10::Device(c10::kCPU));
  Batch batch = random_batch(2, 32, 12);
  auto step_by_hand = [&](double lambda_gp) {
    NetworkPtr G = make_generator(net), D = make_discriminator(net, 6);
    copy_weights(model.generator(), *G);
    copy_weights(*model.discriminator(), *D);
    G->train(), D->train();
    torch::optim::Adam opt_D(D->parameters(), torch::optim::AdamOptions(2e-4).betas(std::make_tuple(0.5, 0.999)));
    seed_everything(21, false);
    at::Tensor fake = G->forward(batch.A).detach();
    const at::Tensor fake_in = at::cat({batch.A, fake}, 1), real_in = at::cat({batch.A, batch.B}, 1);
    opt_D.zero_grad();
    at::Tensor loss = (D->forward(fake_in).mean() - D->forward(real_in).mean()) * 0.5;
    at::Tensor e = at::rand({2, 1, 1, 1});
    at::Tensor x = (e * real_in + (1 - e) * fake_in).requires_grad_(true);
    at::Tensor out = D->forward(x);
    at::Tensor grad = torch::autograd::grad({out}, {x}, {at::ones_like(out)}, true, true)[0];
    at::Tensor penalty = (grad.reshape({2, -1}).norm(2, 1) - 1).pow(2).mean() * lambda_gp;
    (loss + penalty).backward();
    opt_D.step();
    return D;
  };
  NetworkPtr with_penalty = step_by_hand(10.0), without_penalty = step_by_hand(0.0);
  seed_everything(21, false);
  StepLosses l = model.optimize(batch);
  EXPECT_GT(l["D_gp"], 0.0);
  EXPECT_LT(max_diff(*model.discriminator(), *with_penalty), 1e-6);
  EXPECT_GT(max_diff(*model.discriminator(), *without_penalty), 1e-5);  // the penalty moved D
}

TEST(Pix2PixStep, WgangpAddsAPenaltyScaledByLambdaGp) {
  TrainConfig t;
  t.gan_mode = "wgangp";
  seed_everything(4, false);
  Pix2PixModel m(tiny_net(), t, c10::Device(c10::kCPU));
  StepLosses s = m.optimize(random_batch(1, 32, 4));
  EXPECT_GT(s["D_gp"], 0.0);
  t.lambda_gp = 0.0;
  seed_everything(4, false);
  Pix2PixModel off(tiny_net(), t, c10::Device(c10::kCPU));
  EXPECT_EQ(off.optimize(random_batch(1, 32, 4))["D_gp"], 0.0);
}

TEST(Pix2PixStep, OverfitOneBatchL1Falls) {
  seed_everything(3, false);
  TrainConfig t;
  t.lr = 1e-3;
  Pix2PixModel m(tiny_net(), t, c10::Device(c10::kCPU));
  Batch b = random_batch(2, 32, 5);
  b.B = -b.A.flip({1});  // a per-pixel mapping (negated, channels reversed) G can learn
  const double first = m.optimize(b)["G_L1"];
  double last = first;
  for (int i = 0; i < 200; ++i) last = m.optimize(b)["G_L1"];
  EXPECT_LT(last, 0.5 * first) << "first " << first << " last " << last;
}

TEST(Pix2PixStep, SizeNotSuitingTheGeneratorIsAClearError) {
  Pix2PixModel m(tiny_net(), TrainConfig(), c10::Device(c10::kCPU));
  try {
    m.optimize(random_batch(1, 48, 6));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("multiple of 32"), std::string::npos) << e.what();
  }
}

TEST(Pix2PixStep, NonFiniteLossStopsBeforeAnyOptimizerStep) {
  NetConfig net = tiny_net();
  net.norm = "none";
  Pix2PixModel m(net, TrainConfig(), c10::Device(c10::kCPU));
  {
    at::NoGradGuard g;
    m.generator().parameters()[0].fill_(std::numeric_limits<float>::quiet_NaN());
  }
  std::vector<at::Tensor> d_before;
  for (auto& p : m.discriminator()->parameters()) d_before.push_back(p.clone());
  try {
    m.optimize(random_batch(1, 32, 8));
    FAIL() << "expected NonFiniteLoss";
  } catch (const NonFiniteLoss& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("loss_D_fake"), std::string::npos) << msg;
    EXPECT_NE(msg.find("iteration 1"), std::string::npos) << msg;
  }
  auto after = m.discriminator()->parameters();
  for (size_t i = 0; i < after.size(); ++i) EXPECT_TRUE(at::equal(after[i], d_before[i]));
  EXPECT_EQ(m.iteration(), 0);
}

}  // namespace
}  // namespace p2p

namespace p2p {
namespace {

// The default step, written out with the same optimizer and the same operations in the same order as
// before the objective became a list of terms: losses and weights must agree bit for bit.
TEST(Pix2PixStep, DefaultPathIsBitIdenticalToTheFixedReferenceStep) {
  seed_everything(7, false);
  NetConfig net = tiny_net();
  Pix2PixModel model(net, TrainConfig(), c10::Device(c10::kCPU));
  NetworkPtr G = make_generator(net), D = make_discriminator(net, 6);
  copy_weights(model.generator(), *G);
  copy_weights(*model.discriminator(), *D);
  G->train(), D->train();
  auto opts = torch::optim::AdamOptions(2e-4).betas(std::make_tuple(0.5, 0.999));
  FusedAdam opt_G(G->parameters(), opts), opt_D(D->parameters(), opts);
  auto drop_grads = [](torch::optim::Optimizer& o) {
    for (auto& p : o.param_groups()[0].params()) p.mutable_grad() = at::Tensor();
  };
  for (int step = 0; step < 2; ++step) {
    Batch batch = random_batch(1, 32, 30 + step);
    at::Tensor fake = G->forward(batch.A);
    drop_grads(opt_D);
    at::Tensor loss_fake = gan_loss(D->forward(at::cat({batch.A, fake}, 1).detach()), false, GanMode::kVanilla);
    at::Tensor loss_real = gan_loss(D->forward(at::cat({batch.A, batch.B}, 1)), true, GanMode::kVanilla);
    ((loss_fake + loss_real) * 0.5).backward();
    opt_D.step();
    drop_grads(opt_G);
    for (auto& p : D->parameters()) p.set_requires_grad(false);
    at::Tensor loss = at::zeros({}) + gan_loss(D->forward(at::cat({batch.A, fake}, 1)), true, GanMode::kVanilla);
    at::Tensor l1 = at::l1_loss(fake, batch.B);
    loss = loss + l1 * 100.0;
    loss.backward();
    opt_G.step();
    for (auto& p : D->parameters()) p.set_requires_grad(true);

    StepLosses l = model.optimize(batch);
    EXPECT_EQ(l["G_total"], loss.item<double>()) << "step " << step;
    EXPECT_EQ(l["G_L1"], l1.item<double>());
    EXPECT_EQ(l["D_fake"], loss_fake.item<double>());
    EXPECT_EQ(l["D_real"], loss_real.item<double>());
    EXPECT_EQ(max_diff(model.generator(), *G), 0.0);
    EXPECT_EQ(max_diff(*model.discriminator(), *D), 0.0);
  }
}

// D's logits on `in` with a copy of the model's current D (the model's own D is about to step).
at::Tensor logits_before(Pix2PixModel& m, const NetConfig& net, const at::Tensor& in) {
  NetworkPtr D = make_discriminator(net, in.size(1));
  copy_weights(*m.discriminator(), *D);
  D->train();
  return D->forward(in).detach();
}

TEST(Pix2PixStep, LabelSmoothingSetsTheDiscriminatorTargets) {
  seed_everything(8, false);
  NetConfig net = tiny_net();
  TrainConfig t;
  t.real_label = 0.9;
  t.fake_label = 0.1;
  Pix2PixModel m(net, t, c10::Device(c10::kCPU));
  Batch b = random_batch(1, 32, 8);
  const at::Tensor real = logits_before(m, net, at::cat({b.A, b.B}, 1));
  const StepLosses l = m.optimize(b);
  EXPECT_NEAR(l["D_real"], at::binary_cross_entropy_with_logits(real, at::full_like(real, 0.9)).item<double>(), 1e-6);
  EXPECT_GT(std::abs(l["D_real"] - at::binary_cross_entropy_with_logits(real, at::ones_like(real)).item<double>()), 1e-4);
  TrainConfig bad;
  bad.real_label = 0.9;
  bad.fake_label = 0.95;
  EXPECT_NE(test::error_of([&] { Pix2PixModel(net, bad, c10::Device(c10::kCPU)); }).find("--fake_label"), std::string::npos);
}

TEST(Pix2PixStep, HingeDiscriminatorLossOnRealPairs) {
  seed_everything(9, false);
  NetConfig net = tiny_net();
  TrainConfig t;
  t.gan_mode = "hinge";
  Pix2PixModel m(net, t, c10::Device(c10::kCPU));
  Batch b = random_batch(1, 32, 9);
  const at::Tensor real = logits_before(m, net, at::cat({b.A, b.B}, 1));
  const StepLosses l = m.optimize(b);
  EXPECT_NEAR(l["D_real"], at::relu(1 - real).mean().item<double>(), 1e-6);
}

TEST(Pix2PixStep, StepRatiosCountOptimizerSteps) {
  auto steps = [](torch::optim::Optimizer& opt) -> int64_t {
    const auto& p = opt.param_groups()[0].params()[0];
    const auto& state = opt.state();
    auto it = state.find(optimizer_state_key<std::decay_t<decltype(state)>>(p));
    if (it == state.end()) return 0;
    return static_cast<torch::optim::AdamParamState&>(*it->second).step();
  };
  NetConfig net = tiny_net();
  TrainConfig t;
  t.g_steps_per_d = 3;
  Pix2PixModel m(net, t, c10::Device(c10::kCPU));
  int with_d = 0;
  for (int i = 0; i < 7; ++i) with_d += m.optimize(random_batch(1, 32, 40 + i)).has("D_real") ? 1 : 0;
  EXPECT_EQ(steps(m.optimizer_G()), 7);
  EXPECT_EQ(steps(*m.optimizer_D()), 3);  // iterations 0, 3, 6
  EXPECT_EQ(with_d, 3);
  t.g_steps_per_d = 1;
  t.d_steps_per_g = 2;
  Pix2PixModel n(net, t, c10::Device(c10::kCPU));
  for (int i = 0; i < 5; ++i) n.optimize(random_batch(1, 32, 50 + i));
  EXPECT_EQ(steps(n.optimizer_G()), 3);  // iterations 0, 2, 4
  EXPECT_EQ(steps(*n.optimizer_D()), 5);
}

TEST(Pix2PixStep, GradientClippingLimitsTheStep) {
  // Adam normalises the gradient, so clipping shows once the clipped norm is far below Adam's eps:
  // the update then shrinks by orders of magnitude.
  auto moved = [](double clip) {
    seed_everything(10, false);
    TrainConfig t;
    t.clip_grad_G = clip;
    t.clip_grad_D = clip;
    Pix2PixModel m(tiny_net(), t, c10::Device(c10::kCPU));
    std::vector<at::Tensor> before;
    for (auto& p : m.generator().parameters()) before.push_back(p.detach().clone());
    m.optimize(random_batch(1, 32, 10));
    double most = 0;
    auto after = m.generator().parameters();
    for (size_t i = 0; i < after.size(); ++i) most = std::max(most, (after[i] - before[i]).abs().max().item<double>());
    return most;
  };
  const double free = moved(0.0), clipped = moved(1e-12);
  EXPECT_GT(free, 1e-4);
  EXPECT_LT(clipped, free * 1e-2);
}

TEST(Pix2PixStep, LrDRatioSetsTheDiscriminatorRate) {
  TrainConfig t;
  t.lr_D_ratio = 0.5;
  EXPECT_DOUBLE_EQ(effective_lr_D(t), 1e-4);
  Pix2PixModel m(tiny_net(), t, c10::Device(c10::kCPU));
  EXPECT_DOUBLE_EQ(static_cast<torch::optim::AdamOptions&>(m.optimizer_D()->param_groups()[0].options()).lr(), 1e-4);
  t.lr_D = 3e-4;
  EXPECT_NE(test::error_of([&] { Pix2PixModel(tiny_net(), t, c10::Device(c10::kCPU)); }).find("--lr_D_ratio"), std::string::npos);
}

TEST(Pix2PixStep, MultiScaleAndFeatureMatchingTrain) {
  seed_everything(12, false);
  NetConfig net = tiny_net();
  net.num_D = 2;
  TrainConfig t;
  t.lambda_fm = 10;
  t.pool_size = 2;
  Pix2PixModel m(net, t, c10::Device(c10::kCPU));
  ASSERT_EQ(m.discriminators()->num_scales(), 2u);
  NetworkPtr single = make_discriminator(net, 6);
  EXPECT_EQ(count_parameters(*m.discriminator()), 2 * count_parameters(*single));
  const StepLosses l = m.optimize(random_batch(1, 64, 12));  // the 2nd scale sees 32x32
  EXPECT_GT(l["G_fm"], 0.0);
  EXPECT_NEAR(l["G_total"], l["G_GAN"] + 100 * l["G_L1"] + 10 * l["G_fm"], 1e-3);
  EXPECT_TRUE(std::isfinite(l["D_real"]));
}

}  // namespace
}  // namespace p2p

namespace p2p {
namespace {

// --model segmentation fills what the user did not type with the segmenter's defaults (the measured
// architecture, instance norm, no dropout, cross-entropy, one logit per palette class) and keeps what
// they typed.
TEST(SegmentationModel, DefaultsApplyOnlyWhereNotGiven) {
  NetConfig net;
  DataConfig data;
  data.palette = "facades";
  TrainConfig train;
  train.model = "segmentation";
  apply_model_defaults(net, data, train, [](const std::string&) { return false; });
  EXPECT_EQ(net.netG, "resnet_6blocks");
  EXPECT_EQ(net.norm, "instance");
  EXPECT_TRUE(net.no_dropout);
  EXPECT_EQ(net.output_nc, 12);
  EXPECT_EQ(net.output_activation, "none");
  EXPECT_EQ(train.loss, "ce");
  EXPECT_EQ(train.best_metric, "val_miou");

  NetConfig typed;
  typed.netG = "unet_64";
  typed.norm = "batch";
  TrainConfig train2;
  train2.model = "segmentation";
  apply_model_defaults(typed, data, train2, [](const std::string& f) { return f == "--netG" || f == "--norm"; });
  EXPECT_EQ(typed.netG, "unet_64");
  EXPECT_EQ(typed.norm, "batch");
}

// A bf16 step (core/precision.h, as the trainer runs it) against the fp32 step from the same weights and
// batch. G's gradients (read after the G backward, before its optimizer step) point the same way
// (cosine > 0.98, measured 0.991) and differ by at most 20 % of their norm (measured 13.5 %: bf16 keeps 8
// significant bits per operand, and batch norm over this tiny net's few values per channel amplifies
// that); a broken layer would leave them unrelated (cosine near 0). The step's losses agree within 2 %.
// They do differ (bf16 ran), and weights and gradients stay fp32.
TEST(Pix2PixStep, Bf16StepFollowsTheFp32StepWithFp32MasterState) {
  if (cpu_bf16_instructions().empty()) GTEST_SKIP() << "this CPU has no native bf16 instructions";
  const NetConfig net = tiny_net();
  const TrainConfig train;
  const Batch batch = random_batch(2, 32, 3);
  std::vector<at::Tensor> grads[2];
  StepLosses losses[2];
  std::unique_ptr<Pix2PixModel> models[2];
  for (int k = 0; k < 2; ++k) {
    seed_everything(7, false);
    models[k] = std::make_unique<Pix2PixModel>(net, train, c10::Device(c10::kCPU));
    Pix2PixModel& model = *models[k];
    BackwardHooks hooks;
    hooks.after_G = [&model, &grads, k] {
      for (const at::Tensor& p : model.generator().parameters()) grads[k].push_back(p.grad().clone());
    };
    model.set_backward_hooks(hooks);
    const PrecisionScope scope(k == 0 ? Precision::kFp32 : Precision::kBf16);
    losses[k] = model.optimize(batch);
  }
  ASSERT_EQ(grads[0].size(), grads[1].size());
  ASSERT_FALSE(grads[0].empty());
  const auto flat = [](const std::vector<at::Tensor>& gs) {
    std::vector<at::Tensor> parts;
    for (const auto& g : gs) {
      EXPECT_EQ(g.scalar_type(), at::kFloat);
      parts.push_back(g.flatten());
    }
    return at::cat(parts);
  };
  const at::Tensor a = flat(grads[0]), b = flat(grads[1]);
  const double cosine = (a * b).sum().item<double>() / (a.norm() * b.norm()).item<double>();
  const double relative = ((a - b).norm() / a.norm()).item<double>();
  EXPECT_GT(cosine, 0.98);
  EXPECT_LT(relative, 0.2);
  EXPECT_GT(relative, 1e-5) << "the bf16 step computed in fp32";
  for (const at::Tensor& p : models[1]->generator().parameters()) EXPECT_EQ(p.scalar_type(), at::kFloat);
  for (const at::Tensor& p : models[1]->discriminator()->parameters()) EXPECT_EQ(p.scalar_type(), at::kFloat);
  const auto& l0 = losses[0].values();
  const auto& l1 = losses[1].values();
  ASSERT_EQ(l0.size(), l1.size());
  for (size_t i = 0; i < l0.size(); ++i) {
    EXPECT_NEAR(l1[i].second, l0[i].second, 0.02 * std::abs(l0[i].second) + 1e-3) << l0[i].first;
  }
}

}  // namespace
}  // namespace p2p
