// Tests for train/model: the reference step order (checked against a hand-written step), loss modes,
// an overfit-one-batch run whose L1 falls, and the non-finite loss guard.
#include "p2p/core/error.h"
#include "p2p/core/runtime.h"
#include "p2p/io/state_dict.h"
#include "p2p/train/model.h"

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
  EXPECT_NEAR(l.G_total, loss_G.item<double>(), 1e-4);
  EXPECT_NEAR((l.D_fake + l.D_real) * 0.5, loss_D.item<double>(), 1e-6);
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
  EXPECT_NEAR(s.G_total, 100.0 * s.G_L1, 1e-4);
  EXPECT_EQ(s.G_GAN, 0.0);
  t.loss = "gan";  // unconditional D judges B alone: output_nc channels
  Pix2PixModel gan(net, t, c10::Device(c10::kCPU));
  EXPECT_EQ(gan.discriminator()->parameters()[0].size(1), 3);
  s = gan.optimize(random_batch(1, 32, 3));
  EXPECT_NEAR(s.G_total, s.G_GAN, 1e-6);  // no L1 term
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
  EXPECT_NEAR(s.G_total, s.G_GAN + 10.0 * s.G_L1, 1e-4);
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
  EXPECT_GT(l.D_gp, 0.0);
  EXPECT_LT(max_diff(*model.discriminator(), *with_penalty), 1e-6);
  EXPECT_GT(max_diff(*model.discriminator(), *without_penalty), 1e-5);  // the penalty moved D
}

TEST(Pix2PixStep, WgangpAddsAPenaltyScaledByLambdaGp) {
  TrainConfig t;
  t.gan_mode = "wgangp";
  seed_everything(4, false);
  Pix2PixModel m(tiny_net(), t, c10::Device(c10::kCPU));
  StepLosses s = m.optimize(random_batch(1, 32, 4));
  EXPECT_GT(s.D_gp, 0.0);
  t.lambda_gp = 0.0;
  seed_everything(4, false);
  Pix2PixModel off(tiny_net(), t, c10::Device(c10::kCPU));
  EXPECT_EQ(off.optimize(random_batch(1, 32, 4)).D_gp, 0.0);
}

TEST(Pix2PixStep, OverfitOneBatchL1Falls) {
  seed_everything(3, false);
  TrainConfig t;
  t.lr = 1e-3;
  Pix2PixModel m(tiny_net(), t, c10::Device(c10::kCPU));
  Batch b = random_batch(2, 32, 5);
  b.B = -b.A.flip({1});  // a per-pixel mapping (negated, channels reversed) G can learn
  const double first = m.optimize(b).G_L1;
  double last = first;
  for (int i = 0; i < 200; ++i) last = m.optimize(b).G_L1;
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
