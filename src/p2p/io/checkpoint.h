// pix2pix.cpp training checkpoints: full state (G, D, both optimizers, schedule position, RNG, config)
// in one file, written atomically so a kill at any moment leaves the previous checkpoint intact.
#pragma once

#include "p2p/io/state_dict.h"

#include <ATen/Tensor.h>
#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>

#include <cstdint>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

namespace p2p {

struct CheckpointMeta {
  int64_t epoch = 0;            // last fully or partly trained epoch
  int64_t epoch_iter = 0;       // batches of `epoch` already trained (0 = epoch complete)
  int64_t total_iters = 0;      // optimisation steps so far
  std::string best_metric;      // what 'best' is chosen by (val_l1 ...); empty: no best epoch yet
  double best_value = 0;        // its value at best_epoch
  int64_t best_epoch = 0;       // the epoch best.pt holds (0 = none)
  std::string config_json;      // every resolved option
  std::string scheduler_json;   // scheduler state (plateau counters etc.)
  std::string extra_json;       // trainer state of a partly trained epoch (running loss sums)
};

// The networks and optimizers of a model family, by the names their entries carry in the file:
// pix2pix G, D, opt_G, opt_D; CycleGAN G_A, G_B, D_A, D_B, opt_G (over G_A and G_B), opt_D.
struct TrainingState {
  struct Net {
    std::string name;
    torch::nn::Module* module = nullptr;
  };
  struct Optimizer {
    std::string name;
    torch::optim::Optimizer* optimizer = nullptr;
    // The nets whose parameters it steps. One: moments keyed <opt>.<param>; several: <opt>.<net>.<param>.
    std::vector<std::string> nets;
  };
  std::vector<Net> nets;              // the first one is required
  std::vector<Optimizer> optimizers;  // none when loading for inference
  // The trainer's own state (image pools, per-rank RNG states), stored as "trainer.<name>" entries:
  // saved as given; on load replaced by the file's (empty for files written before it existed).
  StateDict* trainer = nullptr;

  // pix2pix's layout; D, opt_G and opt_D may be null (an L1-only run has no D; inference no optimizers).
  static TrainingState pix2pix(torch::nn::Module* G, torch::nn::Module* D = nullptr,
                               torch::optim::Optimizer* opt_G = nullptr, torch::optim::Optimizer* opt_D = nullptr);
};

// Writes everything to `path` atomically (temp + rename), including the CPU RNG state. Refuses, with
// NonFiniteState naming the tensors, to write a state holding NaN/Inf (so no checkpoint is ever poisoned).
void save_checkpoint(const std::string& path, const TrainingState& state, const CheckpointMeta& meta);

// Names (as in the file: G.*, D.*, opt_G.<param>.exp_avg ...) of the floating tensors of `state` that
// hold NaN/Inf.
std::vector<std::string> non_finite_entries(const TrainingState& state);

// Restores what `state` lists. `resume`: also the RNG state, and every
// part of an exact resume must be there — a checkpoint missing optimizer moments, the discriminator or
// the RNG state is refused naming what is missing, instead of silently restarting it.
// Throws p2p::Error naming the file and the mismatching tensor for another architecture, naming the
// tensors that hold NaN/Inf, and naming the file for a truncated/corrupt one or one whose data does not
// match the checksum save_checkpoint records in its metadata (files of older versions carry none).
CheckpointMeta load_checkpoint(const std::string& path, const TrainingState& state, bool resume);

// Reads only the metadata (config) of a checkpoint.
CheckpointMeta read_checkpoint_meta(const std::string& path);

// The key of `param` in an optimizer's state map. LibTorch 1.13 keys state by the parameter's
// TensorImpl address printed as a string, newer releases by the raw pointer; both come from the same
// TensorImpl, so this works with either.
template <typename Map>
typename Map::key_type optimizer_state_key(const at::Tensor& param) {
  using Key = typename Map::key_type;
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream address;  // as LibTorch prints it
    address << static_cast<const void*>(param.unsafeGetTensorImpl());
    return address.str();
  } else {
    return static_cast<Key>(param.unsafeGetTensorImpl());
  }
}

// True when `path` is a pix2pix.cpp checkpoint (as opposed to a reference .pth state_dict).
bool is_p2p_checkpoint(const std::string& path);

// The same questions for a file already read with read_state_dict, so callers read large files once.
bool is_p2p_checkpoint(const StateDict& file);
CheckpointMeta checkpoint_meta(const StateDict& file, const std::string& path);
// Entries under `prefix` ("G.", "D.", "opt_G." ...) with the prefix removed.
StateDict checkpoint_section(const StateDict& file, const std::string& prefix);

}  // namespace p2p
