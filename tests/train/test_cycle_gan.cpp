// Tests for train/cycle_gan beyond the reference comparison (test_cycle_gan_reference.cpp): the model's
// defaults and refusals, identity skipped where channel counts differ, the checkpoint layout (G_A, G_B,
// D_A, D_B, one optimizer over each pair) and an exact continuation from a saved state, pools included.
#include "p2p/core/error.h"
#include "p2p/core/runtime.h"
#include "p2p/io/checkpoint.h"
#include "p2p/io/state_dict.h"
#include "p2p/train/cycle_gan.h"
#include "p2p/train/model.h"

#include <testutil/testutil.h>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <set>

namespace p2p {
namespace {

#define EXPECT_CONTAINS(text, part) EXPECT_NE(std::string(text).find(part), std::string::npos) << (text)
using test::error_of;

NetConfig tiny_cycle_net(int input_nc = 3, int output_nc = 3) {
  NetConfig n;
  n.netG = "resnet_6blocks";
  n.norm = "instance";
  n.no_dropout = true;
  n.ngf = 8;
  n.ndf = 8;
  n.input_nc = input_nc;
  n.output_nc = output_nc;
  return n;
}

TrainConfig cycle_train(int pool = 2) {
  TrainConfig t;
  t.model = "cycle_gan";
  t.gan_mode = "lsgan";
  t.pool_size = pool;
  return t;
}

Batch random_batch(int64_t a_nc, int64_t b_nc, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  Batch b;
  b.A = at::rand({1, a_nc, 32, 32}, gen) * 2 - 1;
  b.B = at::rand({1, b_nc, 32, 32}, gen) * 2 - 1;
  b.stems = {"x"};
  return b;
}

TEST(CycleGanDefaults, ReferenceDefaultsWhereNothingWasTyped) {
  NetConfig net;
  DataConfig data;
  TrainConfig train;
  train.model = "cycle_gan";
  apply_model_defaults(net, data, train, [](const std::string&) { return false; });
  EXPECT_EQ(net.netG, "resnet_9blocks");
  EXPECT_EQ(net.norm, "instance");
  EXPECT_TRUE(net.no_dropout);
  EXPECT_EQ(train.gan_mode, "lsgan");
  EXPECT_EQ(train.pool_size, 50);
  EXPECT_EQ(data.dataset_mode, "unaligned");
  EXPECT_EQ(train.lambda_A, 10.0);
  EXPECT_EQ(train.lambda_B, 10.0);
  EXPECT_EQ(train.lambda_identity, 0.5);

  NetConfig typed;
  typed.netG = "resnet_6blocks";
  TrainConfig t2;
  t2.model = "cycle_gan";
  t2.pool_size = 7;
  apply_model_defaults(typed, data, t2, [](const std::string& f) { return f == "--netG" || f == "--pool_size"; });
  EXPECT_EQ(typed.netG, "resnet_6blocks");
  EXPECT_EQ(t2.pool_size, 7);
}

TEST(CycleGanDefaults, OptionsWithoutMeaningForTheModelAreRefused) {
  auto refusal = [](auto change, const std::string& flag) {
    NetConfig net;
    DataConfig data;
    TrainConfig train;
    train.model = "cycle_gan";
    change(net, data, train);
    return error_of([&] { apply_model_defaults(net, data, train, [&](const std::string& f) { return f == flag; }); });
  };
  EXPECT_CONTAINS(refusal([](NetConfig&, DataConfig&, TrainConfig& t) { t.lambda_L1 = 50; }, "--lambda_L1"), "--lambda_L1");
  EXPECT_CONTAINS(refusal([](NetConfig&, DataConfig&, TrainConfig& t) { t.loss = "l1"; }, "--loss"), "--loss");
  EXPECT_CONTAINS(refusal([](NetConfig&, DataConfig&, TrainConfig& t) { t.lambda_ssim = 1; }, "--lambda_ssim"), "--lambda_ssim");
  EXPECT_CONTAINS(refusal([](NetConfig&, DataConfig& d, TrainConfig&) { d.palette = "facades"; }, "--palette"), "--palette");
  EXPECT_CONTAINS(refusal([](NetConfig& n, DataConfig&, TrainConfig&) { n.num_D = 2; }, "--num_D"), "--num_D");
  EXPECT_CONTAINS(refusal([](NetConfig&, DataConfig&, TrainConfig& t) { t.gan_mode = "wgangp"; }, "--gan_mode"), "wgangp");
  EXPECT_CONTAINS(refusal([](NetConfig&, DataConfig& d, TrainConfig&) { d.dataset_mode = "aligned"; }, "--dataset_mode"),
                  "--dataset_mode aligned");
  // A resumed run passes every stored option as given: the defaults it stored are not refusals.
  NetConfig net;
  DataConfig data;
  TrainConfig train;
  train.model = "cycle_gan";
  apply_model_defaults(net, data, train, [](const std::string&) { return false; });
  EXPECT_NO_THROW(apply_model_defaults(net, data, train, [](const std::string&) { return true; }));
  // And unaligned data is the cycle model's alone.
  DataConfig unaligned;
  unaligned.dataset_mode = "unaligned";
  TrainConfig p2p_train;
  EXPECT_CONTAINS(error_of([&] { apply_model_defaults(net, unaligned, p2p_train, [](const std::string&) { return false; }); }),
                  "--dataset_mode unaligned");
}

TEST(CycleGanStep, LogsTheReferenceLossesAndSkipsIdentityAcrossChannelCounts) {
  seed_everything(3, false);
  CycleGanModel same(tiny_cycle_net(), cycle_train(), c10::Device(c10::kCPU));
  const StepLosses l = same.optimize(random_batch(3, 3, 1));
  std::vector<std::string> names;
  for (const auto& [name, value] : l.values()) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"D_A", "G_A", "cycle_A", "idt_A", "D_B", "G_B", "cycle_B", "idt_B"}));
  EXPECT_GT(l["idt_A"], 0.0);
  EXPECT_TRUE(same.uses_identity());

  // Gray A, colour B: G_A cannot take a B image, so identity is skipped (the reference asserts instead).
  CycleGanModel mixed(tiny_cycle_net(1, 3), cycle_train(), c10::Device(c10::kCPU));
  EXPECT_FALSE(mixed.uses_identity());
  EXPECT_EQ(mixed.G_B().forward(at::zeros({1, 3, 32, 32})).size(1), 1) << "G_B maps B (3 bands) to A (1 band)";
  const StepLosses m = mixed.optimize(random_batch(1, 3, 2));
  EXPECT_EQ(m["idt_A"], 0.0);
  EXPECT_EQ(m["idt_B"], 0.0);
  EXPECT_GT(m["cycle_A"], 0.0);
  EXPECT_CONTAINS(mixed.describe_objective(), "identity skipped");
}

TEST(CycleGanStep, NonFiniteLossStopsBeforeAnyOptimizerStep) {
  seed_everything(4, false);
  CycleGanModel m(tiny_cycle_net(), cycle_train(), c10::Device(c10::kCPU));
  StateDict before = state_dict_of(m.G_B());
  for (auto& [name, t] : before) t = t.clone();  // state_dict_of shares the parameters' storage
  {
    at::NoGradGuard no_grad;
    m.D_A().parameters()[0].view(-1)[0] = NAN;  // D_A's verdict on fake_B, hence G_A's adversarial loss, is NaN
  }
  try {
    m.optimize(random_batch(3, 3, 9));
    FAIL() << "a NaN loss was stepped on";
  } catch (const NonFiniteLoss& e) {
    EXPECT_CONTAINS(e.what(), "loss_G_A");
  }
  const StateDict after = state_dict_of(m.G_B());
  for (size_t i = 0; i < before.size(); ++i) EXPECT_TRUE(at::equal(before[i].second, after[i].second)) << before[i].first;
  EXPECT_EQ(m.iteration(), 0);
}

TEST(CycleGanStep, CheckpointHoldsFourNetsAndContinuesExactly) {
  const std::string dir = test::scratch_dir("cycle_ckpt");
  seed_everything(5, false);
  CycleGanModel a(tiny_cycle_net(), cycle_train(2), c10::Device(c10::kCPU));
  for (uint64_t s = 0; s < 3; ++s) a.optimize(random_batch(3, 3, 10 + s));  // the pools fill (size 2) and draw
  StateDict pools;
  for (const auto& [name, pool] : a.pools()) {
    for (size_t i = 0; i < pool->images().size(); ++i) pools.emplace_back(name + "." + std::to_string(i), pool->images()[i]);
  }
  save_checkpoint(dir + "/latest.pt", a.training_state(), CheckpointMeta{});
  std::set<std::string> prefixes;
  for (const auto& [name, t] : read_state_dict(dir + "/latest.pt")) prefixes.insert(name.substr(0, name.find('.')));
  EXPECT_EQ(prefixes, (std::set<std::string>{"G_A", "G_B", "D_A", "D_B", "opt_G", "opt_D", "meta", "rng"}));
  bool keyed_by_net = false;
  for (const auto& [name, t] : read_state_dict(dir + "/latest.pt")) keyed_by_net = keyed_by_net || name.rfind("opt_G.G_B.", 0) == 0;
  EXPECT_TRUE(keyed_by_net) << "an optimizer over two nets keys its moments by net";

  // a goes on from the saved state (the file holds the RNG state of this moment).
  std::vector<StepLosses> la;
  for (uint64_t s = 0; s < 2; ++s) la.push_back(a.optimize(random_batch(3, 3, 20 + s)));

  seed_everything(99, false);  // other initial weights and RNG state, replaced by the load
  CycleGanModel b(tiny_cycle_net(), cycle_train(2), c10::Device(c10::kCPU));
  load_checkpoint(dir + "/latest.pt", b.training_state(), /*resume=*/true);
  for (const auto& [name, pool] : b.pools()) {
    std::vector<at::Tensor> images;
    for (const auto& [key, t] : pools) {
      if (key.rfind(name + ".", 0) == 0) images.push_back(t);
    }
    pool->restore(images, "test");
  }
  for (uint64_t s = 0; s < 2; ++s) {
    const StepLosses lb = b.optimize(random_batch(3, 3, 20 + s));
    for (const auto& [name, value] : la[s].values()) EXPECT_EQ(lb[name], value) << name << " step " << s;
  }
  const StateDict wa = state_dict_of(a.G_B()), wb = state_dict_of(b.G_B());
  for (size_t i = 0; i < wa.size(); ++i) EXPECT_TRUE(at::equal(wa[i].second, wb[i].second)) << wa[i].first;
  const StateDict da = state_dict_of(a.D_A()), db = state_dict_of(b.D_A());
  for (size_t i = 0; i < da.size(); ++i) EXPECT_TRUE(at::equal(da[i].second, db[i].second)) << da[i].first;
}

}  // namespace
}  // namespace p2p
