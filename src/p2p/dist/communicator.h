// The process group of a data-parallel job on LibTorch's distributed engine, c10d: ranks meet through a
// TCPStore at MASTER_ADDR:MASTER_PORT (rank 0 serves it) and talk over ProcessGroupGloo (CPU tensors).
// The c10d types stay inside communicator.cpp, so the rest of the library includes only this header.
// A peer that dies or hangs makes every collective fail after `timeout` with an error saying so,
// instead of waiting forever.
#pragma once

#include "p2p/dist/env.h"

#include <ATen/Tensor.h>

#include <chrono>
#include <memory>
#include <vector>

namespace p2p {

// False when this build has no Gloo (the headers of Debian's libgloo-dev were not found); then
// Communicator's constructor throws p2p::Error saying so.
bool distributed_available();

class Communicator {
 public:
  Communicator(const DistEnv& env, std::chrono::milliseconds timeout);
  ~Communicator();
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  int rank() const { return env_.rank; }
  int world_size() const { return env_.world_size; }

  // In place, every tensor: the root's values on every rank (initial weights, buffers).
  void broadcast(std::vector<at::Tensor>& tensors, int root = 0);
  // In place: the sum over ranks divided by world_size (gradients, loss means).
  void allreduce_mean(std::vector<at::Tensor>& tensors);
  // In place: the sum over ranks (batch statistics).
  void allreduce_sum(std::vector<at::Tensor>& tensors);
  void barrier();

 private:
  friend class GradientSync;
  struct Impl;
  DistEnv env_;
  std::unique_ptr<Impl> impl_;
};

// The gradient all-reduce of data parallelism for one network, bucketed and overlapped with backward
// as torch's DistributedDataParallel does it: gradients are gathered into buckets (parameters in reverse
// order, a 1 MiB bucket first, then 25 MiB ones) and each bucket's all-reduce is started on c10d's
// asynchronous Gloo collective as soon as backward has produced all of its gradients, so communication
// runs while backward goes on. (c10d's own Reducer cannot be used: its header needs LibTorch's
// distributed-autograd headers, which Debian's libtorch-dev does not ship.)
class GradientSync {
 public:
  GradientSync(Communicator& comm, const std::vector<at::Tensor>& parameters);
  ~GradientSync();
  GradientSync(const GradientSync&) = delete;
  GradientSync& operator=(const GradientSync&) = delete;

  // Call between the forward pass and backward(), and finish_backward() after it: every parameter's
  // .grad then holds the mean over ranks (a parameter that got no gradient counts as zero). A backward
  // that was not prepared for leaves the local gradients alone.
  void prepare_for_backward();
  void finish_backward();
  size_t buckets() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace p2p
