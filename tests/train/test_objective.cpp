// Tests for train/objective: the weighted sum of named terms, --loss_schedule parsing and staging, and the
// errors that must come before training starts.
#include "p2p/core/error.h"
#include "p2p/losses/gan_loss.h"
#include "p2p/train/model.h"
#include "p2p/train/objective.h"
#include "p2p/train/step_losses.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <testutil/testutil.h>

namespace p2p {
namespace {

const c10::Device kCpu(c10::kCPU);

GeneratorInputs inputs(uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  GeneratorInputs in;
  in.A = at::rand({1, 3, 16, 16}, gen) * 2 - 1;
  in.B = at::rand({1, 3, 16, 16}, gen) * 2 - 1;
  in.fake = at::rand({1, 3, 16, 16}, gen) * 2 - 1;
  in.d_fake = {{at::rand({1, 1, 2, 2}, gen) * 4 - 2}};
  return in;
}

TEST(Objective, DefaultIsGanPlusHundredL1ExactlyAsTheReferenceSumsThem) {
  TrainConfig cfg;
  Objective obj(cfg, parse_loss("cgan+l1"), 3, kCpu);
  GeneratorInputs in = inputs(1);
  StepLosses out;
  const at::Tensor total = obj.total(in, out, 0);
  const at::Tensor gan = gan_loss(in.d_fake[0].back(), true, GanMode::kVanilla);
  const at::Tensor l1 = at::l1_loss(in.fake, in.B);
  const at::Tensor expected = at::zeros({}) + gan + l1 * 100.0;  // the reference's order of operations
  EXPECT_TRUE(at::equal(total, expected)) << total.item<double>() << " vs " << expected.item<double>();
  EXPECT_EQ(out["G_GAN"], gan.item<double>());
  EXPECT_EQ(out["G_L1"], l1.item<double>());
  EXPECT_FALSE(out.has("G_ssim"));  // weight 0: not computed
  EXPECT_EQ(obj.describe(), "1 * GAN(vanilla) + 100 * L1");
  EXPECT_EQ(obj.weights(), (std::map<std::string, double>{{"GAN", 1.0}, {"L1", 100.0}}));
}

// --loss ce (the segmentation model): the CE term alone, as the per-pixel softmax cross-entropy written out
// here, averaged over the pixels whose id is a class (the ignore id counts nowhere).
TEST(Objective, CrossEntropyAloneIgnoresTheIgnoreLabel) {
  TrainConfig cfg;
  Objective obj(cfg, parse_loss("ce"), 4, kCpu);
  at::manual_seed(7);
  GeneratorInputs in;
  in.A = at::zeros({2, 3, 3, 5});
  in.fake = at::randn({2, 4, 3, 5}, at::kDouble);
  at::Tensor ids = at::randint(0, 4, {2, 1, 3, 5}, at::kLong);
  ids[0][0][1][2] = 255;
  ids[1][0][0][0] = 255;
  in.B = ids.to(at::kDouble);
  StepLosses out;
  const double total = obj.total(in, out, 0).item<double>();
  const at::Tensor logp = in.fake - in.fake.exp().sum(1, true).log();  // log-softmax over classes
  double sum = 0;
  int n = 0;
  for (int b = 0; b < 2; ++b) {
    for (int y = 0; y < 3; ++y) {
      for (int x = 0; x < 5; ++x) {
        const int64_t c = ids[b][0][y][x].item<int64_t>();
        if (c == 255) continue;
        sum -= logp[b][c][y][x].item<double>();
        ++n;
      }
    }
  }
  EXPECT_EQ(n, 28);
  EXPECT_NEAR(total, sum / n, 1e-12);
  EXPECT_EQ(out.values().size(), 1u);  // G_CE only: no L1 of logits against ids
  EXPECT_EQ(obj.describe(), "1 * CE");
  cfg.lambda_ssim = 1;
  EXPECT_NE(test::error_of([&] { Objective(cfg, parse_loss("ce"), 4, kCpu); }).find("--lambda_ssim"), std::string::npos);
}

TEST(Objective, EveryTermIsWeightedAndLoggedUnderItsName) {
  TrainConfig cfg;
  cfg.lambda_L1 = 10;
  cfg.lambda_charbonnier = 2;
  cfg.lambda_ssim = 3;
  cfg.lambda_grad = 4;
  Objective obj(cfg, parse_loss("cgan+l1"), 3, kCpu);
  GeneratorInputs in = inputs(2);
  StepLosses out;
  const double total = obj.total(in, out, 0).item<double>();
  for (const char* name : {"G_GAN", "G_L1", "G_charbonnier", "G_ssim", "G_grad"}) EXPECT_TRUE(out.has(name)) << name;
  const double expected = out["G_GAN"] + 10 * out["G_L1"] + 2 * out["G_charbonnier"] + 3 * out["G_ssim"] + 4 * out["G_grad"];
  EXPECT_NEAR(total, expected, 1e-5);
  EXPECT_GT(out["G_ssim"], 0.0);
  EXPECT_GT(out["G_grad"], 0.0);
}

TEST(Objective, L1IsLoggedEvenWhenOffAndGanNeedsADiscriminator) {
  TrainConfig cfg;
  Objective cgan(cfg, parse_loss("cgan"), 3, kCpu);  // --loss cgan: L1 logged, not optimised
  GeneratorInputs in = inputs(3);
  StepLosses out;
  const double total = cgan.total(in, out, 0).item<double>();
  EXPECT_GT(out["G_L1"], 0.0);
  EXPECT_NEAR(total, out["G_GAN"], 1e-6);
  cfg.lambda_fm = 1;
  EXPECT_NE(test::error_of([&] { Objective(cfg, parse_loss("l1"), 3, kCpu); }).find("--lambda_fm"), std::string::npos);
  cfg.lambda_fm = 0;
  cfg.loss_schedule = "3:GAN=1";
  EXPECT_NE(test::error_of([&] { Objective(cfg, parse_loss("l1"), 3, kCpu); }).find("--loss_schedule"), std::string::npos);
}

TEST(Objective, PerceptualTermNeedsAVggFileBeforeTrainingStarts) {
  TrainConfig cfg;
  cfg.lambda_perc = 1;
  EXPECT_NE(test::error_of([&] { Objective(cfg, parse_loss("cgan+l1"), 3, kCpu); }).find("--vgg_weights"), std::string::npos);
  cfg.vgg_weights = "/nonexistent/vgg16.pth";
  EXPECT_NE(test::error_of([&] { Objective(cfg, parse_loss("cgan+l1"), 3, kCpu); }).find("vgg16.pth"), std::string::npos);
}

TEST(LossSchedule, ParsesStagesAndRefusesBadInputNamingTheFlag) {
  const auto stages = parse_loss_schedule(" 1:L1=100,GAN=1; 51: l1=50 , SSIM=10,perc=1 ");
  ASSERT_EQ(stages.size(), 2u);
  EXPECT_EQ(stages[0].epoch, 1);
  EXPECT_EQ(stages[1].epoch, 51);
  EXPECT_EQ(stages[1].weights[0], (std::pair<std::string, double>{"L1", 50.0}));  // names are case-insensitive
  EXPECT_EQ(stages[1].weights[1].first, "ssim");
  EXPECT_TRUE(parse_loss_schedule("").empty());
  for (const char* bad : {"1:L3=1", "1:L1=-1", "0:L1=1", "5:L1=1;3:L1=2", "1:L1", "L1=1", "1:L1=abc", "2.5:L1=1"}) {
    const std::string msg = test::error_of([&] { parse_loss_schedule(bad); });
    EXPECT_NE(msg.find("--loss_schedule"), std::string::npos) << bad << ": " << msg;
  }
  EXPECT_NE(test::error_of([] { parse_loss_schedule("1:L3=1"); }).find("known: GAN, L1, charbonnier, ssim, grad, perc, fm"),
            std::string::npos);
}

TEST(LossSchedule, StagedWeightsSwitchAtTheirEpoch) {
  TrainConfig cfg;
  cfg.loss_schedule = "1:L1=100,GAN=1; 3:L1=50,ssim=10";
  Objective obj(cfg, parse_loss("cgan+l1"), 3, kCpu);
  GeneratorInputs in = inputs(4);
  auto total_at = [&](int64_t epoch, StepLosses& out) {
    obj.set_epoch(epoch);
    return obj.total(in, out, 0).item<double>();
  };
  StepLosses e1, e2, e3, e9;
  const double t1 = total_at(1, e1), t2 = total_at(2, e2), t3 = total_at(3, e3), t9 = total_at(9, e9);
  EXPECT_NEAR(t1, e1["G_GAN"] + 100 * e1["G_L1"], 1e-5);
  EXPECT_EQ(t2, t1);
  EXPECT_FALSE(e2.has("G_ssim"));
  EXPECT_NEAR(t3, e3["G_GAN"] + 50 * e3["G_L1"] + 10 * e3["G_ssim"], 1e-5);  // GAN keeps its weight
  EXPECT_EQ(t9, t3);
  obj.set_epoch(2);
  EXPECT_EQ(obj.weights().at("L1"), 100.0);
  EXPECT_EQ(obj.weights().at("ssim"), 0.0);
  obj.set_epoch(3);
  EXPECT_EQ(obj.weights().at("L1"), 50.0);
  EXPECT_EQ(obj.weights().at("ssim"), 10.0);
}

TEST(Objective, NonFiniteTermIsNamed) {
  TrainConfig cfg;
  cfg.lambda_ssim = 1;
  Objective obj(cfg, parse_loss("cgan+l1"), 3, kCpu);
  GeneratorInputs in = inputs(5);
  in.fake = in.fake.clone();
  in.fake[0][0][0][0] = std::numeric_limits<float>::quiet_NaN();
  StepLosses out;
  const std::string msg = test::error_of([&] { obj.total(in, out, 6); });
  EXPECT_NE(msg.find("loss_G_L1"), std::string::npos) << msg;
  EXPECT_NE(msg.find("iteration 7"), std::string::npos) << msg;
}

TEST(StepLossSums, MeansPerNameAndResumeFromJson) {
  StepLosses a, b;
  a.set("G_total", 2), a.set("D_real", 1);
  b.set("G_total", 4);  // a G-only step (--g_steps_per_d 2): D's mean is over its own steps
  LossSums sums;
  sums.add(a), sums.add(b);
  EXPECT_EQ(sums.means()["G_total"].get<double>(), 3.0);
  EXPECT_EQ(sums.means()["D_real"].get<double>(), 1.0);
  LossSums back = LossSums::from_json(sums.to_json());
  EXPECT_EQ(back.means(), sums.means());
  EXPECT_EQ(back.count(), 2);
  EXPECT_EQ(format_losses(a), "G 2.000 D_real 1.000");
}

}  // namespace
}  // namespace p2p
