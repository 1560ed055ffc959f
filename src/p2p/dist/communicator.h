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
  void barrier();

 private:
  struct Impl;
  DistEnv env_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace p2p
