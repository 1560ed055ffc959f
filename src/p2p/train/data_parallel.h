// Data-parallel training on c10d (dist/communicator.h): every rank holds the whole model, trains on its
// shard of each epoch and applies the same optimizer step, because the gradients it steps on are the
// mean over ranks. What makes the ranks agree:
//  - initial state: G's and D's parameters and buffers are broadcast from rank 0 once, after set-up or
//    resume;
//  - gradients: one GradientSync (bucketed, overlapped all-reduce) per network around each backward;
//  - --norm sync_batch: batch statistics summed over ranks in forward and backward;
//  - decisions: a stop (signal or --max_iters) and the validation metric that drives the schedule are
//    agreed on through collectives, so no rank leaves a collective the others are waiting in.
// Rank 0 alone writes (checkpoints, history, samples, reports) and validates.
#pragma once

#include "p2p/dist/communicator.h"
#include "p2p/dist/env.h"
#include "p2p/train/family.h"

#include <memory>
#include <string>
#include <vector>

namespace p2p {

class DataParallel {
 public:
  // Rendezvous with the other ranks; `timeout_seconds` bounds every wait for them (--dist_timeout).
  DataParallel(const DistEnv& env, double timeout_seconds);
  ~DataParallel();

  int rank() const { return env_.rank; }
  int world_size() const { return env_.world_size; }

  // Throws p2p::Error naming the flag for training set-ups data parallelism does not support.
  static void check_supported(const NetConfig& net, const TrainConfig& cfg, const c10::Device& device);

  // Makes `model` data-parallel: broadcasts its state from rank 0, attaches the sync-batch-norm group and
  // installs the gradient all-reduce. Then sets this rank's random stream (dropout, the image pool, the
  // WGAN-GP mix): `rng_state` when defined (this rank's state from a checkpoint of a job of the same
  // world size, so the resume is exact), else reseeded from (seed, rank, iteration), so ranks draw
  // differently.
  void attach(TrainModel& model, uint64_t seed, const at::Tensor& rng_state = at::Tensor());
  // True on every rank when any rank asks to stop.
  bool any(bool local);
  // Element-wise mean over ranks.
  std::vector<double> mean(const std::vector<double>& values);
  // Rank 0's values on every rank.
  std::vector<double> from_rank0(const std::vector<double>& values);
  // Every rank's `local` tensors (any number, dtype and shape, up to 4 dimensions; CPU) on rank 0,
  // indexed by rank; empty on the other ranks. For the per-rank state rank 0 writes into checkpoints.
  std::vector<std::vector<at::Tensor>> gather_to_rank0(const std::vector<at::Tensor>& local);
  // Turns a failure inside a collective (a peer gone, the timeout) into p2p::Error naming this rank.
  [[noreturn]] void rethrow_as_peer_failure(const std::exception& e) const;

 private:
  DistEnv env_;
  double timeout_seconds_;
  std::unique_ptr<Communicator> comm_;
  std::unique_ptr<GradientSync> sync_G_, sync_D_;
};

}  // namespace p2p
