// What the trainer (run.h) knows of a model family: one training step, the state a checkpoint holds,
// the image pools that travel with it, the parameters each backward fills (data parallelism averages
// them) and how the family validates. The run folder, loop, checkpoints, schedule, history and reports
// are shared by every family; each family's step is its own unit:
//   pix2pix, segmentation   Pix2PixModel (model.h), through the adapter in family.cpp
//   cycle_gan               CycleGanModel (cycle_gan.h)
#pragma once

#include "p2p/core/config.h"
#include "p2p/data/dataset.h"
#include "p2p/io/checkpoint.h"
#include "p2p/models/networks.h"
#include "p2p/train/image_pool.h"
#include "p2p/train/step_losses.h"

#include <ATen/Tensor.h>
#include <c10/core/Device.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace p2p {

class Segmenter;
struct ValResult;  // validation.h

// Called around the backward of each G and D step, before the optimizer steps (data parallelism
// averages the gradients over ranks there). Empty: nothing.
struct BackwardHooks {
  std::function<void()> before_D, after_D, before_G, after_G;
};

// What a validation needs besides the family's own networks.
struct ValidationContext {
  const Dataset& val;
  const DataConfig& data;  // the config `val` was built with
  const TrainConfig& train;
  int64_t epoch = 0;
  std::string samples_dir;
  bool stoppable = false;  // give up (has = false) as soon as a stop is requested
  const Segmenter* segmenter = nullptr;
};

class TrainModel {
 public:
  virtual ~TrainModel() = default;

  // One optimisation step; throws NonFiniteLoss naming the loss before any optimizer steps on it.
  virtual StepLosses optimize(const Batch& batch) = 0;
  virtual void set_learning_rates(double lr_G, double lr_D) = 0;
  virtual void set_epoch(int64_t epoch) = 0;
  virtual int64_t iteration() const = 0;
  virtual void set_iteration(int64_t it) = 0;
  virtual const c10::Device& device() const = 0;

  // The generator that translates the training input A (its size multiple constrains crops).
  virtual Network& generator() = 0;
  // Networks and optimizers as checkpoints store them.
  virtual TrainingState training_state() = 0;
  // Image pools by the name their contents carry in checkpoints (trainer.<name>.<rank>.*).
  virtual std::vector<std::pair<std::string, ImagePool*>> pools() = 0;
  // Every network, in a fixed order (data parallelism broadcasts them from rank 0), and the parameters
  // the G and D backward passes fill.
  virtual std::vector<torch::nn::Module*> networks() = 0;
  virtual std::vector<at::Tensor> parameters_G() = 0;
  virtual std::vector<at::Tensor> parameters_D() = 0;
  virtual void set_backward_hooks(BackwardHooks hooks) = 0;

  // The start line's networks ("G resnet_9blocks 11,378,179 parameters ...") and objective.
  virtual std::string describe_networks() const = 0;
  virtual std::string describe_objective() const = 0;
  // Loss-term weights in force, for history.jsonl.
  virtual nlohmann::json weights() const = 0;
  // Validation metrics and this epoch's samples (validation.h).
  virtual ValResult validate(const ValidationContext& ctx) = 0;
};

// The model family cfg.model names (pix2pix | segmentation | cycle_gan), built and initialised from the
// current global seed. Throws p2p::Error naming the flag for options the family refuses.
std::unique_ptr<TrainModel> make_train_model(const NetConfig& net, const TrainConfig& train, const c10::Device& device);

}  // namespace p2p
