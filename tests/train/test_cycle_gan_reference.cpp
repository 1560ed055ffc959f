// CycleGanModel against the Python port of the reference's CycleGAN step (bench/reference/cycle_gan.py,
// `fixture` mode): the same initial weights (reference-format init_<net>.pth loaded into G_A, G_B, D_A,
// D_B), the same batches and the same seed before the steps, so both image pools make the same choices
// (the port draws its pool coin and slot from torch's global generator, as image_pool.cpp does). Per
// step the eight logged losses must agree, and after the last step every weight and every gradient of
// the four networks (G gradients from the last G backward, D gradients from the last D backward).
//
// Cases: the pool's random branch (steps > pool_size; the fixture must show both a swap and a keep)
// with identity on; identity off with two images per batch (per-image pool draws); vanilla GAN loss
// without a pool.
//
// Tolerances (float32 on both sides): a loss within kLossTol * (1 + |loss|); a tensor's largest element
// difference within tol * (1 + its largest magnitude), kWeightTol for weights, kGradTol for gradients.
// Gradients get more room because the step amplifies rounding: Adam turns a float-noise difference in
// a near-zero gradient element into a step of up to +-lr, and instance norm's scale invariance makes
// the next gradients sensitive to such steps (the port in float32 against itself in float64 differs by
// ~1% in some gradients after 2 steps). Both sides here run the same LibTorch kernels, so they stay far
// closer: measured after 3-5 steps, weights <= 6e-7 and gradients <= 8e-5 apart (<= 7e-6 relative).
// Any change of the objective, the order, the pool or the optimiser moves gradients by percents.
// One exception: the bias of a convolution followed by instance norm is cancelled by the norm (the mean
// is subtracted), so its true gradient is 0 and what backward returns is rounding noise (~1e-6 to 1e-8
// here, within kGradTol). Adam normalises that noise to steps of up to ~lr, in a direction neither side
// can reproduce, so those biases are only held to moving at most kCancelledBiasSteps * lr per step
// apart; they have no effect on any output, which the losses and the other tensors check.
#include "p2p/core/config.h"
#include "p2p/data/dataset.h"
#include "p2p/io/state_dict.h"
#include "p2p/train/cycle_gan.h"
#include "testutil/testutil.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <iostream>
#include <map>
#include <regex>
#include <sstream>

namespace p2p {
namespace {

constexpr double kLossTol = 1e-5;
constexpr double kWeightTol = 1e-5;
constexpr double kGradTol = 1e-4;
constexpr double kCancelledBiasSteps = 3.0;  // |m_hat| / sqrt(v_hat) stays below ~1.3 in a few Adam steps; both sides move
constexpr double kLr = 2e-4;
const char* const kNets[] = {"G_A", "G_B", "D_A", "D_B"};
const char* const kLosses[] = {"D_A", "G_A", "cycle_A", "idt_A", "D_B", "G_B", "cycle_B", "idt_B"};

struct Case {
  std::string tag;
  int steps = 4;
  int pool_size = 2;
  int batch = 1;
  double lambda_identity = 0.5;
  std::string gan_mode = "lsgan";
  int seed = 3;        // weights and batches (Python side)
  int step_seed = 11;  // both sides seed with it before the first step
  int size = 32;
};

std::string args_of(const Case& c) {
  std::ostringstream s;
  s << " --steps " << c.steps << " --pool_size " << c.pool_size << " --batch " << c.batch << " --lambda_identity "
    << c.lambda_identity << " --gan_mode " << c.gan_mode << " --seed " << c.seed << " --step_seed " << c.step_seed
    << " --size " << c.size << " --ngf 8 --ndf 8 --input_nc 3 --output_nc 3";
  return s.str();
}

// Runs the port once per case and process; "" and a message on failure.
std::string fixture_dir(const Case& c, std::string& error) {
  static std::map<std::string, std::string> made;
  auto it = made.find(c.tag);
  if (it != made.end()) return it->second;
  const std::string dir = test::scratch_dir("cycle_gan_" + c.tag);
  const test::CommandResult r =
      test::run_python_script("../bench/reference/cycle_gan.py", "fixture '" + dir + "'" + args_of(c));
  if (r.exit_code != 0) {
    error = "bench/reference/cycle_gan.py fixture failed:\n" + r.output;
    return "";
  }
  made[c.tag] = dir;
  return dir;
}

std::map<std::string, at::Tensor> read_map(const std::string& path) {
  std::map<std::string, at::Tensor> m;
  for (auto& [k, v] : read_state_dict(path)) m[k] = v;
  return m;
}

// Biases whose gradient instance norm cancels: resnet generator convs 1, 4, 7, 19 (up), 22 (up) and both
// convs of each residual block; the basic PatchGAN's convs 2, 5, 8. Not the heads (model.26, model.0, model.11).
bool cancelled_by_norm(const std::string& net, const std::string& key) {
  static const std::regex g(R"(model\.(1|4|7|19|22)\.bias|model\.\d+\.conv_block\.(1|5)\.bias)");
  static const std::regex d(R"(model\.(2|5|8)\.bias)");
  return std::regex_match(key, net[0] == 'G' ? g : d);
}

Network& net_of(CycleGanModel& m, const std::string& name) {
  if (name == "G_A") return m.G_A();
  if (name == "G_B") return m.G_B();
  if (name == "D_A") return m.D_A();
  return m.D_B();
}

struct Worst {
  double diff = 0, bound = 1;
  std::string where;
  void see(double d, double b, const std::string& w) {
    if (d / b > diff / bound) diff = d, bound = b, where = w;
  }
};

// Compares `ours` with the reference tensors by name; the key sets must be equal.
void compare_tensors(const std::string& what, const std::string& net, const std::map<std::string, at::Tensor>& ours,
                     const std::map<std::string, at::Tensor>& ref, bool weights, int steps, Worst& worst,
                     double& worst_cancelled) {
  ASSERT_EQ(ours.size(), ref.size()) << what << " " << net << ": key counts differ";
  for (const auto& [key, want] : ref) {
    const auto it = ours.find(key);
    ASSERT_NE(it, ours.end()) << what << " " << net << ": no " << key << " on the C++ side";
    ASSERT_EQ(it->second.sizes(), want.sizes()) << what << " " << net << "." << key;
    const double diff = (it->second.to(at::kDouble) - want.to(at::kDouble)).abs().max().item<double>();
    ASSERT_TRUE(std::isfinite(diff)) << what << " " << net << "." << key;
    if (weights && cancelled_by_norm(net, key)) {
      worst_cancelled = std::max(worst_cancelled, diff);
      EXPECT_LE(diff, kCancelledBiasSteps * kLr * steps) << what << " " << net << "." << key;
      continue;
    }
    const double bound = (weights ? kWeightTol : kGradTol) * (1 + want.abs().max().item<double>());
    worst.see(diff, bound, net + "." + key);
    EXPECT_LE(diff, bound) << what << " " << net << "." << key << " (largest element difference)";
  }
}

void check_case(const Case& c) {
  ASSERT_TRUE(test::python_can_import("torch", "python3-torch"));
  std::string error;
  const std::string dir = fixture_dir(c, error);
  ASSERT_FALSE(dir.empty()) << error;
  const auto meta = nlohmann::json::parse(test::read_file(dir + "/meta.json"));
  ASSERT_EQ(meta.at("steps").get<int>(), c.steps);
  ASSERT_EQ(meta.at("pool_size").get<int>(), c.pool_size);
  ASSERT_EQ(meta.at("step_seed").get<int>(), c.step_seed);
  const auto ref_losses = nlohmann::json::parse(test::read_file(dir + "/losses.json"));
  ASSERT_EQ(ref_losses.size(), static_cast<size_t>(c.steps));

  NetConfig net;
  net.input_nc = 3;
  net.output_nc = 3;
  net.ngf = 8;
  net.ndf = 8;
  net.netG = "resnet_9blocks";
  net.netD = "basic";
  net.norm = "instance";
  net.no_dropout = true;
  net.init_type = "normal";
  net.init_gain = 0.02;
  TrainConfig train;
  train.model = "cycle_gan";
  train.gan_mode = c.gan_mode;
  train.pool_size = c.pool_size;
  train.lambda_identity = c.lambda_identity;
  train.lambda_A = 10;
  train.lambda_B = 10;
  train.lr = kLr;
  train.beta1 = 0.5;
  train.beta2 = 0.999;
  train.batch_size = c.batch;
  at::manual_seed(0);
  CycleGanModel model(net, train, c10::Device(c10::kCPU));
  ASSERT_EQ(model.uses_identity(), c.lambda_identity > 0);
  for (const char* name : kNets) {
    const std::string file = dir + "/init_" + name + ".pth";
    load_into(net_of(model, name), read_state_dict(file), file);
  }
  const auto data = read_map(dir + "/data.pth");

  at::manual_seed(c.step_seed);
  Worst worst_loss;
  for (int i = 0; i < c.steps; ++i) {
    SCOPED_TRACE("step " + std::to_string(i + 1));
    Batch batch{data.at("A." + std::to_string(i)), data.at("B." + std::to_string(i)),
                std::vector<std::string>(c.batch, "x")};
    const StepLosses got = model.optimize(batch);
    for (const char* name : kLosses) {
      const double want = ref_losses[i].at(name).get<double>();
      const bool idt = std::string(name).rfind("idt", 0) == 0;
      if (!idt || c.lambda_identity > 0) {
        EXPECT_TRUE(got.has(name)) << "no loss " << name;
      }
      EXPECT_NEAR(got[name], want, kLossTol * (1 + std::abs(want))) << "loss " << name;
      worst_loss.see(std::abs(got[name] - want), kLossTol * (1 + std::abs(want)), name + (" step " + std::to_string(i + 1)));
    }
  }
  const size_t expect_stored = static_cast<size_t>(std::min(c.pool_size, c.steps * c.batch));
  EXPECT_EQ(model.pool_fake_B().stored(), expect_stored);
  EXPECT_EQ(model.pool_fake_A().stored(), expect_stored);

  Worst worst_weight, worst_grad;
  double worst_cancelled = 0;
  for (const char* name : kNets) {
    SCOPED_TRACE(name);
    Network& n = net_of(model, name);
    std::map<std::string, at::Tensor> weights, grads;
    for (auto& [k, v] : state_dict_of(n)) weights[k] = v;
    for (const auto& p : n.named_parameters()) {
      ASSERT_TRUE(p.value().grad().defined()) << name << "." << p.key() << " has no gradient after the step";
      grads[p.key()] = p.value().grad();
    }
    compare_tensors("weight", name, weights, read_map(dir + "/after_" + name + ".pth"), true, c.steps, worst_weight,
                    worst_cancelled);
    compare_tensors("gradient", name, grads, read_map(dir + "/grad_" + name + ".pth"), false, c.steps, worst_grad,
                    worst_cancelled);
  }
  std::cout << "[ " << c.tag << " ] largest loss difference " << worst_loss.diff << " (bound " << worst_loss.bound << ", "
            << worst_loss.where << "); weight " << worst_weight.diff << " (bound "
            << worst_weight.bound << ", " << worst_weight.where << "); gradient " << worst_grad.diff << " (bound "
            << worst_grad.bound << ", " << worst_grad.where << "); norm-cancelled biases " << worst_cancelled
            << "\n";
}

std::vector<std::string> events(const nlohmann::json& meta, const char* pool) {
  return meta.at("pool_events").at(pool).get<std::vector<std::string>>();
}

TEST(CycleGanReference, PoolRandomBranchAndIdentityMatchThePort) {
  Case c;
  c.tag = "pool_identity";
  c.steps = 5;
  check_case(c);
  // The case is only worth its name when the seeded pools both swapped and kept.
  std::string error;
  const auto meta = nlohmann::json::parse(test::read_file(fixture_dir(c, error) + "/meta.json"));
  for (const char* pool : {"fake_A", "fake_B"}) {
    const auto e = events(meta, pool);
    EXPECT_TRUE(std::any_of(e.begin(), e.end(), [](const std::string& s) { return s.rfind("swap", 0) == 0; })) << pool;
    EXPECT_TRUE(std::count(e.begin(), e.end(), "keep") > 0) << pool;
  }
}

TEST(CycleGanReference, NoIdentityTwoImagesPerBatchMatchThePort) {
  Case c;
  c.tag = "no_identity_batch2";
  c.steps = 3;
  c.batch = 2;
  c.lambda_identity = 0;
  check_case(c);
}

TEST(CycleGanReference, VanillaGanWithoutPoolMatchesThePort) {
  Case c;
  c.tag = "vanilla_no_pool";
  c.steps = 3;
  c.pool_size = 0;
  c.gan_mode = "vanilla";
  check_case(c);
}

}  // namespace
}  // namespace p2p
