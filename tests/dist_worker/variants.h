// Training set-ups the data-parallel tests run, shared by the worker (each rank) and the test (the
// single process it is compared with). Tiny networks, a fixed batch of 4 made from a seed: rank r of 2
// trains on images 2r and 2r + 1.
#pragma once

#include "p2p/core/config.h"
#include "p2p/data/dataset.h"
#include "p2p/train/model.h"

#include <ATen/ATen.h>

#include <string>

namespace p2p::testing {

constexpr int kSteps = 3;
constexpr uint64_t kSeed = 11;

inline void variant_config(const std::string& variant, NetConfig& net, TrainConfig& train) {
  net = NetConfig();
  train = TrainConfig();
  net.netG = "unet_32";
  net.ngf = 8;
  net.ndf = 8;
  net.no_dropout = true;  // dropout draws differ per rank by design
  net.norm = "instance";
  train.lr = 2e-3;
  train.seed = kSeed;
  if (variant == "sync_batch") net.norm = "sync_batch";
  if (variant == "batch") net.norm = "batch";  // the single-process counterpart of sync_batch
  if (variant == "wgangp_multiscale") {
    train.gan_mode = "wgangp";
    net.num_D = 2;
    net.netD = "n_layers";  // two layers: the half-size scale (16 x 16) still fits
    net.n_layers_D = 2;
    train.lambda_fm = 5;
  }
  if (variant == "ratios_pool") {
    train.gan_mode = "lsgan";
    train.d_steps_per_g = 2;
    train.pool_size = 4;
    train.clip_grad_D = 0.5;
    net.netG = "resnet_6blocks";
  }
}

// The whole batch (4 images of 32 x 32), or rank r's half of it.
inline Batch variant_batch(int rank = -1) {
  at::manual_seed(1234);
  Batch b;
  b.A = at::rand({4, 3, 32, 32}) * 2 - 1;
  b.B = at::rand({4, 3, 32, 32}) * 2 - 1;
  b.stems = {"0", "1", "2", "3"};
  if (rank >= 0) {
    b.A = b.A.slice(0, 2 * rank, 2 * rank + 2).contiguous();
    b.B = b.B.slice(0, 2 * rank, 2 * rank + 2).contiguous();
    b.stems = {std::to_string(2 * rank), std::to_string(2 * rank + 1)};
  }
  return b;
}

// What the tests compare: G's parameters and buffers, then D's parameters, as copies.
inline std::vector<at::Tensor> model_state(Pix2PixModel& model) {
  std::vector<at::Tensor> state;
  for (const auto& t : model.generator().parameters()) state.push_back(t.detach().clone());
  for (const auto& t : model.generator().buffers()) state.push_back(t.clone());
  for (const auto& t : model.discriminator()->parameters()) state.push_back(t.detach().clone());
  return state;
}

}  // namespace p2p::testing
