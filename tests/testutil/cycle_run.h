// A tiny CycleGAN run written directly (no training): G_A, G_B, D_A, D_B with random weights in a
// checkpoint laid out as CycleGanModel saves it (save_checkpoint with a TrainingState naming them), the
// config stored in it and in config.json ({"train": {"model": "cycle_gan"}}). Header-only: used by the
// eval and cli tests, which link the library themselves.
#pragma once

#include "p2p/core/config.h"
#include "p2p/core/config_json.h"
#include "p2p/io/checkpoint.h"
#include "p2p/io/fs.h"
#include "p2p/models/networks.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <string>

namespace p2p::test {

struct CycleRun {
  NetConfig net;  // G_A's; G_B has input_nc and output_nc swapped
  NetworkPtr G_A, G_B, D_A, D_B;
  std::string dir;  // the run folder: config.json, latest.pt
};

// He-scaled random weights, so outputs vary with the input (the N(0, 0.02) init gives near-constant ones).
inline void randomize_weights(torch::nn::Module& net, uint64_t seed) {
  torch::manual_seed(seed);
  torch::NoGradGuard no_grad;
  for (auto& p : net.named_parameters()) {
    at::Tensor w = p.value();
    if (w.dim() == 4) {
      w.copy_(at::randn_like(w) / std::sqrt(static_cast<double>(w.size(1) * w.size(2) * w.size(3))));
    } else {
      w.copy_(at::randn_like(w) * 0.1);
    }
  }
}

// A CycleGAN run in <checkpoints_dir>/<name>: resnet_6blocks, ngf 8, instance norm, no dropout, A with
// `input_nc` channels and B with `output_nc` (different counts show that G_B's are swapped).
inline CycleRun write_cycle_run(const std::string& checkpoints_dir, const std::string& name, int input_nc = 1,
                                int output_nc = 3) {
  CycleRun r;
  r.net.netG = "resnet_6blocks";
  r.net.ngf = 8;
  r.net.ndf = 8;
  r.net.norm = "instance";
  r.net.no_dropout = true;
  r.net.input_nc = input_nc;
  r.net.output_nc = output_nc;
  NetConfig reversed = r.net;
  std::swap(reversed.input_nc, reversed.output_nc);
  r.G_A = make_generator(r.net);
  r.G_B = make_generator(reversed);
  r.D_A = make_discriminator(r.net, output_nc);
  r.D_B = make_discriminator(r.net, input_nc);
  randomize_weights(*r.G_A, 11);
  randomize_weights(*r.G_B, 12);
  randomize_weights(*r.D_A, 13);
  randomize_weights(*r.D_B, 14);
  DataConfig data;
  data.dataset_mode = "unaligned";
  data.preprocess = "none";
  data.load_size = 32;
  data.crop_size = 32;
  data.input_nc = input_nc;
  data.output_nc = output_nc;
  TrainConfig train;
  train.model = "cycle_gan";
  train.name = name;
  const nlohmann::json config = {{"net", to_json(r.net)}, {"data", to_json(data)}, {"train", to_json(train)}};
  r.dir = (std::filesystem::path(checkpoints_dir) / name).string();
  make_dirs(r.dir);
  TrainingState state;
  state.nets = {{"G_A", r.G_A.get()}, {"G_B", r.G_B.get()}, {"D_A", r.D_A.get()}, {"D_B", r.D_B.get()}};
  CheckpointMeta meta;
  meta.epoch = 3;
  meta.config_json = config.dump();
  save_checkpoint(r.dir + "/latest.pt", state, meta);
  write_text_atomically(r.dir + "/config.json", config.dump(2));
  return r;
}

// G on [C,H,W] in [-1,1] (batch of one, no padding: sizes must suit G), in the mode `eval` chooses.
inline at::Tensor forward_one(Network& G, const at::Tensor& x, bool eval = true) {
  set_eval_mode(G, eval);
  torch::NoGradGuard no_grad;
  return G.forward(x.unsqueeze(0)).squeeze(0);
}

}  // namespace p2p::test
