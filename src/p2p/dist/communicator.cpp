// c10d process group (see communicator.h).
#include "p2p/dist/communicator.h"

#include "p2p/core/error.h"

#if P2P_HAVE_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif

namespace p2p {

#if P2P_HAVE_GLOO
struct Communicator::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;
};

bool distributed_available() { return true; }

namespace {

// Runs a collective; c10d's errors (a peer gone, the timeout) become p2p::Error naming this rank.
template <typename F>
void collective(const char* what, int rank, F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    fail(std::string(what) + " failed on rank " + std::to_string(rank) +
         " (another rank stopped, or did not answer within the timeout): " + e.what());
  }
}

}  // namespace

Communicator::Communicator(const DistEnv& env, std::chrono::milliseconds timeout) : env_(env), impl_(new Impl) {
  collective("rendezvous", env.rank, [&] {
    c10d::TCPStoreOptions opts;
    opts.port = static_cast<uint16_t>(env.master_port);
    opts.isServer = env.rank == 0;
    opts.numWorkers = env.world_size;
    opts.timeout = timeout;
    impl_->store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, opts);
    auto options = c10d::ProcessGroupGloo::Options::create(timeout);
    options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(env.master_addr));
    impl_->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(impl_->store, env.rank, env.world_size, options);
  });
}

Communicator::~Communicator() = default;

void Communicator::broadcast(std::vector<at::Tensor>& tensors, int root) {
  collective("broadcast", env_.rank, [&] {
    c10d::BroadcastOptions o;
    o.rootRank = root;
    for (auto& t : tensors) {
      std::vector<at::Tensor> one = {t};
      impl_->pg->broadcast(one, o)->wait();
    }
  });
}

void Communicator::allreduce_mean(std::vector<at::Tensor>& tensors) {
  collective("all-reduce", env_.rank, [&] {
    for (auto& t : tensors) {
      std::vector<at::Tensor> one = {t};
      impl_->pg->allreduce(one)->wait();
      t.div_(env_.world_size);
    }
  });
}

void Communicator::barrier() {
  collective("barrier", env_.rank, [&] { impl_->pg->barrier()->wait(); });
}
#else
struct Communicator::Impl {};

bool distributed_available() { return false; }

Communicator::Communicator(const DistEnv& env, std::chrono::milliseconds) : env_(env) {
  fail("this build has no distributed training: Gloo's headers were not found (install libgloo-dev and rebuild)");
}
Communicator::~Communicator() = default;
void Communicator::broadcast(std::vector<at::Tensor>&, int) {}
void Communicator::allreduce_mean(std::vector<at::Tensor>&) {}
void Communicator::barrier() {}
#endif

}  // namespace p2p
