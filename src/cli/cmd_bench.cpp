// `p2p bench`: seconds per training step and per inference forward for a network at a size, on random
// data (no disk I/O), after warm-up. Prints one JSON object so scripts can compare runs
// (bench/compare.sh puts it beside the Python reference pipeline; bench/compare_cycle.sh does the same
// for --model cycle_gan, whose step trains G_A, G_B, D_A and D_B with the reference's CycleGAN options).
#include "cli/commands.h"
#include "cli/options.h"

#include "p2p/core/config_json.h"
#include "p2p/core/cpu_features.h"
#include "p2p/core/error.h"
#include "p2p/core/runtime.h"
#include "p2p/data/dataset.h"
#include "p2p/eval/generator.h"
#include "p2p/models/networks.h"
#include "p2p/train/cycle_gan.h"
#include "p2p/train/family.h"
#include "p2p/train/model.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/csrc/autograd/profiler_legacy.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>

namespace p2p::cli {

namespace {
struct Stats {
  double mean = 0, median = 0, min = 0;
};
// The machine's convolution peak in GFLOP/s: the best of 5 timings of two large 3x3 convolutions (256
// channels at 128x128 and 512 at 64x64, batch 1) in `type`, the yardstick BENCHMARKS.md's "% of peak"
// divides by.
double conv_peak_gflops(at::ScalarType type) {
  double best = 0;
  for (const auto& [channels, side] : {std::pair<int64_t, int64_t>{256, 128}, {512, 64}}) {
    const at::Tensor x = at::randn({1, channels, side, side}).to(type), w = at::randn({channels, channels, 3, 3}).to(type);
    const double flop = 2.0 * channels * channels * 9 * side * side;
    for (int i = 0; i < 6; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      (void)at::conv2d(x, w, {}, 1, 1);
      const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (i > 0) best = std::max(best, flop / dt / 1e9);  // the first selects kernels
    }
  }
  return best;
}

// The convolution arithmetic of one step, in GFLOP (2 per multiply-accumulate): a backward pass costs
// two forwards (input and weight gradients). pix2pix: G forward + backward (3 G), D on the fake and the
// real pair forward + backward in the D step (6 D), D on the fake forward + input gradients in the G
// step (2 D). Null where the count is not known (CycleGAN, multi-scale D).
nlohmann::json step_gflop(const NetConfig& net, const std::string& model, int64_t size, int64_t batch, bool inference) {
  if (model != "pix2pix") return nullptr;
  const at::Tensor x = at::zeros({batch, net.input_nc, size, size});
  MacCounter g;
  {
    at::NoGradGuard no_grad;
    make_generator(net)->forward_counting(x, g);
  }
  if (inference) return 2 * g.macs / 1e9;
  if (net.num_D != 1) return nullptr;
  MacCounter d;
  {
    at::NoGradGuard no_grad;
    make_discriminator(net, net.input_nc + net.output_nc)
        ->forward_counting(at::zeros({batch, net.input_nc + net.output_nc, size, size}), d);
  }
  return 2 * (3 * g.macs + 8 * d.macs) / 1e9;
}

Stats stats(std::vector<double> v) {
  Stats s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  for (double x : v) s.mean += x;
  s.mean /= v.size();
  s.median = v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
  s.min = v.front();
  return s;
}
}  // namespace

void register_bench(CLI::App& app) {
  auto* cmd = app.add_subcommand("bench", "time training steps and inference on random data");
  auto net = std::make_shared<NetConfig>();
  auto train = std::make_shared<TrainConfig>();
  auto rt = std::make_shared<RuntimeOptions>();
  struct Opts {
    int size = 256, batch = 1, steps = 10, warmup = 3;
    bool inference = false, eval = false, no_fold = false, no_pack = false, peak = false;
    std::string model = "pix2pix", profile;
  };
  auto o = std::make_shared<Opts>();
  add_net_options(*cmd, *net);
  add_runtime_options(*cmd, *rt);
  add_precision_option(*cmd, rt->precision);
  cmd->add_option("--crop_size", o->size, "square input side")->check(positive_int())->capture_default_str();
  cmd->add_option("--model", o->model,
                  "pix2pix, or cycle_gan (its step: G_A, G_B, D_A, D_B; resnet_9blocks, instance norm, lsgan, pool 50 "
                  "unless typed; --inference times G_A)")
      ->check(CLI::IsMember({"pix2pix", "cycle_gan"}))
      ->capture_default_str();
  cmd->add_option("--batch_size", o->batch, "images per step")->check(positive_int())->capture_default_str();
  cmd->add_option("--steps", o->steps, "timed steps")->check(positive_int())->capture_default_str();
  cmd->add_option("--warmup", o->warmup, "untimed steps first")->check(non_negative_int())->capture_default_str();
  cmd->add_flag("--inference", o->inference, "time G forward (no grad) instead of training steps");
  cmd->add_flag("--eval", o->eval, "with --inference: running statistics, no dropout, batch norm folded into the convs");
  cmd->add_flag("--no_fold", o->no_fold, "with --eval: keep the batch-norm layers (to measure what folding saves)");
  cmd->add_flag("--no_pack", o->no_pack,
                "LibTorch's own kernels, to measure what ours save: with --inference on the CPU, no packed oneDNN "
                "layers (translate and test use them); in training, the U-Net's up-convolutions on LibTorch's "
                "transposed convolution instead of oneDNN passes");
  cmd->add_option("--profile", o->profile,
                  "write a Chrome trace of the timed steps to this file (LibTorch's profiler; "
                  "bench/profile_step.py sums it by kind of work)");
  cmd->add_flag("--peak", o->peak,
                "measure the machine's convolution peak instead (GFLOP/s of large 3x3 convolutions in fp32 and, where "
                "the CPU has native bf16, in bf16): what bench/compare.sh's '% of peak' divides by");
  cmd->callback([=] {
    if (o->peak) {
      setup_runtime(*rt, std::cerr);
      at::NoGradGuard no_grad;
      const std::string bf16 = cpu_bf16_instructions();
      nlohmann::json out = {{"impl", "pix2pix.cpp"}, {"mode", "peak"}, {"threads", at::get_num_threads()},
                            {"cpu_isa", cpu_isa_name(cpu_isa())}, {"fp32_gflops", conv_peak_gflops(at::kFloat)},
                            {"bf16_instructions", bf16}, {"bf16_gflops", nullptr}};
      if (!bf16.empty()) out["bf16_gflops"] = conv_peak_gflops(at::kBFloat16);
      std::cout << out.dump() << "\n";
      return;
    }
    if (!o->profile.empty() && !std::ofstream(o->profile)) {
      fail("--profile " + o->profile + ": cannot write that file (its folder must exist and be writable)");
    }
    if (o->eval && !o->inference) fail("--eval: only with --inference (a training step uses batch statistics)");
    const c10::Device device = setup_runtime(*rt, std::cerr);
    train->model = o->model;
    if (o->model == "cycle_gan") {
      DataConfig unused;
      apply_cycle_gan_defaults(*net, unused, *train, [cmd](const std::string& flag) { return given(*cmd, flag); });
    }
    CalibrationWorkload work{!o->inference, *net, o->size, o->batch};
    const Precision precision = setup_precision(rt->precision, device, work, std::cerr, train.get());
    setup_blas_threads(*rt, device, work, std::cerr, train.get());
    seed_everything(0, false);
    const std::unique_ptr<TrainModel> trained = make_train_model(*net, *train, device);
    TrainModel& model = *trained;
    Batch batch;
    batch.A = at::rand({o->batch, net->input_nc, o->size, o->size}) * 2 - 1;
    batch.B = at::rand({o->batch, net->output_nc, o->size, o->size}) * 2 - 1;
    batch.stems = std::vector<std::string>(o->batch, "random");
    const at::Tensor A = batch.A.to(device);
    InferencePrepared prepared;  // what test and translate run
    if (o->inference) {
      prepared = prepare_network_for_inference(model.generator(), device, o->eval, {!o->no_fold, !o->no_pack, precision});
    } else {
      use_onednn_up_convolutions(model.generator(), !o->no_pack);
    }
    std::vector<double> times;
    std::unique_ptr<torch::autograd::profiler::RecordProfile> profiling;
    for (int i = 0; i < o->warmup + o->steps; ++i) {
      if (i == o->warmup && !o->profile.empty()) {
        profiling = std::make_unique<torch::autograd::profiler::RecordProfile>(o->profile);
      }
      const auto t0 = std::chrono::steady_clock::now();
      if (o->inference) {
        at::NoGradGuard no_grad;
        at::Tensor out = model.generator().infer(A);
        (void)out.sum().item<double>();  // waits for the device
      } else {
        const PrecisionScope scope(precision);  // as the trainer runs each step
        model.optimize(batch);
      }
      const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (i >= o->warmup) times.push_back(dt);
    }
    profiling.reset();  // writes the trace
    const Stats s = stats(times);
    // What the timed step ran, read from the graph a training forward records (after the timing).
    int onednn_up_convolutions = 0;
    if (!o->inference) onednn_up_convolutions = onednn_up_convolution_nodes(model.generator().forward(A));
    nlohmann::json out = {{"impl", "pix2pix.cpp"},
                          {"model", o->model},
                          {"mode", o->inference ? (o->eval ? "inference_eval" : "inference") : "train_step"},
                          {"folded_batch_norms", prepared.folded},
                          {"packed_layers", prepared.packed},
                          {"onednn_up_convolutions", onednn_up_convolutions},
                          {"netG", net->netG},
                          {"netD", net->netD},
                          {"size", o->size},
                          {"batch_size", o->batch},
                          {"device", device.str()},
                          {"precision", precision_name(precision)},
                          {"cpu_isa", cpu_isa_name(cpu_isa())},
                          {"threads", at::get_num_threads()},
                          {"steps", o->steps},
                          {"seconds_per_step_mean", s.mean},
                          {"seconds_per_step_median", s.median},
                          {"seconds_per_step_min", s.min},
                          {"gflop_per_step", step_gflop(*net, o->model, o->size, o->batch, o->inference)}};
    std::cout << out.dump() << "\n";
  });
}

}  // namespace p2p::cli
