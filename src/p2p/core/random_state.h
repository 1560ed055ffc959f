// Keeping LibTorch's global CPU random stream where it was.
#pragma once

#include <ATen/core/Tensor.h>

namespace p2p {

// Saves the global CPU generator's state and puts it back when it goes: work that draws random numbers
// for its own ends (measuring a workload, building a throwaway network, a validation pass) must not
// move a seeded run's stream, so a run computes the same whether that work ran or came from a cache.
class KeepRandomState {
 public:
  KeepRandomState();
  ~KeepRandomState();
  KeepRandomState(const KeepRandomState&) = delete;
  KeepRandomState& operator=(const KeepRandomState&) = delete;

 private:
  at::Tensor state_;
};

}  // namespace p2p
