// A rank of a data-parallel job for tests/dist: started twice with RANK/WORLD_SIZE/MASTER_* set.
//   worker collectives  broadcast from rank 0 and a mean all-reduce; prints what this rank ends with
//   worker hang         rank 1 joins and then never takes part; rank 0's all-reduce must time out
#include "p2p/core/error.h"
#include "p2p/dist/communicator.h"

#include <ATen/ATen.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  try {
    const p2p::DistEnv env = p2p::dist_env();
    p2p::Communicator comm(env, std::chrono::milliseconds(mode == "hang" ? 3000 : 30000));
    if (mode == "collectives") {
      std::vector<at::Tensor> b = {env.rank == 0 ? at::arange(5, at::kFloat) : at::zeros({5})};
      comm.broadcast(b, 0);
      std::vector<at::Tensor> m = {at::full({3}, static_cast<float>(env.rank + 1))};
      comm.allreduce_mean(m);
      comm.barrier();
      std::printf("rank %d broadcast %g mean %g\n", env.rank, b[0].sum().item<float>(), m[0][0].item<float>());
      return 0;
    }
    if (mode == "hang") {
      if (env.rank == 1) {
        std::this_thread::sleep_for(std::chrono::seconds(8));
        return 0;
      }
      std::vector<at::Tensor> m = {at::ones({3})};
      comm.allreduce_mean(m);
      std::printf("rank 0 finished an all-reduce alone\n");
      return 0;
    }
    std::fprintf(stderr, "unknown mode %s\n", mode.c_str());
    return 2;
  } catch (const p2p::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
