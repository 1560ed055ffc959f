// A rank of a data-parallel job for tests/dist: started twice with RANK/WORLD_SIZE/MASTER_* set.
//   worker collectives  broadcast from rank 0 and a mean all-reduce; prints what this rank ends with
//   worker grads        gradient all-reduce of four parameters (two buckets; one gets no gradient)
//   worker hang         rank 1 joins and then never takes part; rank 0's all-reduce must time out
//   worker train V OUT  trains set-up V (variants.h) data-parallel for kSteps steps on this rank's half
//                       of the batch and saves G's and D's tensors to OUT/rank<R>.pt
#include "p2p/core/error.h"
#include "p2p/core/runtime.h"
#include "p2p/dist/communicator.h"
#include "p2p/train/data_parallel.h"
#include "p2p/train/model.h"
#include "variants.h"

#include <torch/nn/module.h>
#include <torch/serialize.h>

#include <ATen/ATen.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  try {
    const p2p::DistEnv env = p2p::dist_env();
    if (mode == "train" && argc > 3) {
      p2p::NetConfig net;
      p2p::TrainConfig train;
      p2p::testing::variant_config(argv[2], net, train);
      p2p::seed_everything(train.seed, false);
      p2p::Pix2PixModel model(net, train, c10::Device(c10::kCPU));
      p2p::DataParallel dp(env, 30);
      dp.attach(model, train.seed);
      const p2p::Batch batch = p2p::testing::variant_batch(env.rank);
      for (int s = 0; s < p2p::testing::kSteps; ++s) model.optimize(batch);
      torch::save(p2p::testing::model_state(model), std::string(argv[3]) + "/rank" + std::to_string(env.rank) + ".pt");
      std::printf("rank %d trained %d steps\n", env.rank, p2p::testing::kSteps);
      return 0;
    }
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
    if (mode == "grads") {
      // Gradients rank + 1, 2 (rank + 1), 3 (rank + 1) and none: means 1.5, 3, 4.5 and 0 over two ranks.
      std::vector<at::Tensor> params = {at::ones({300000}).requires_grad_(), at::ones({300000}).requires_grad_(),
                                        at::ones({10}).requires_grad_(), at::ones({5}).requires_grad_()};
      p2p::GradientSync sync(comm, params);
      for (int step = 0; step < 2; ++step) {  // twice: the second backward reuses the buckets
        for (auto& p : params) p.mutable_grad() = at::Tensor();
        const double f = env.rank + 1;
        at::Tensor loss = (params[0] * f).sum() + (params[1] * 2 * f).sum() + (params[2] * 3 * f).sum();
        sync.prepare_for_backward();
        loss.backward();
        sync.finish_backward();
      }
      std::printf("rank %d buckets %zu grads %g %g %g %g\n", env.rank, sync.buckets(), params[0].grad().mean().item<double>(),
                  params[1].grad().mean().item<double>(), params[2].grad().mean().item<double>(),
                  params[3].grad().defined() ? params[3].grad().abs().sum().item<double>() : -1.0);
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
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
