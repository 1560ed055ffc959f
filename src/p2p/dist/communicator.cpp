// c10d process group (see communicator.h).
#include "p2p/dist/communicator.h"

#include "p2p/core/error.h"
#include "p2p/core/runtime.h"

#include <c10/util/Exception.h>
#include <dlfcn.h>

#include <algorithm>
#include <sstream>
#include <string>
#include <thread>

#include <torch/version.h>

// Written against LibTorch 1.13's c10d, where ProcessGroupGloo is itself the ProcessGroup the Reducer
// takes; 2.x splits that into a Backend under a ProcessGroup. Other versions build without it.
#if P2P_HAVE_GLOO && !(TORCH_VERSION_MAJOR == 1 && TORCH_VERSION_MINOR == 13)
#undef P2P_HAVE_GLOO
#define P2P_HAVE_GLOO 0
#endif

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

// The first line of an exception's message, without the C++ stack trace c10 appends to its own.
std::string one_line(const std::exception& e) {
  const auto* c10_error = dynamic_cast<const c10::Error*>(&e);
  std::string s = c10_error ? c10_error->what_without_backtrace() : e.what();
  s = s.substr(0, s.find('\n'));
  return s;
}

// Runs a collective; c10d's errors (a peer gone, the timeout) become p2p::Error naming this rank.
template <typename F>
void collective(const char* what, int rank, F&& f) {
  try {
    f();
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    fail(std::string(what) + " failed on rank " + std::to_string(rank) +
         " (another rank stopped, or did not answer within the timeout): " + one_line(e));
  }
}

// c10d logs each failed bind or connect to stderr through glog before it throws, and the exception says
// it again, in the one line p2p prints; glog is quieted for the rendezvous. Its level is looked up at run
// time: glog comes with LibTorch and is not linked here.
class QuietGlog {
 public:
  QuietGlog() : level_(static_cast<int32_t*>(::dlsym(RTLD_DEFAULT, "_ZN3fLI17FLAGS_minloglevelE"))) {
    if (level_) saved_ = *level_, *level_ = 3;  // FATAL only
  }
  ~QuietGlog() {
    if (level_) *level_ = saved_;
  }
  QuietGlog(const QuietGlog&) = delete;
  QuietGlog& operator=(const QuietGlog&) = delete;

 private:
  int32_t* level_;
  int32_t saved_ = 0;
};

std::string seconds(std::chrono::milliseconds t) {
  std::ostringstream s;
  s << static_cast<double>(t.count()) / 1000.0;
  return s.str();
}

}  // namespace

Communicator::Communicator(const DistEnv& env, std::chrono::milliseconds timeout) : env_(env), impl_(new Impl) {
  // Nothing is saved yet: a stop signal during the rendezvous ends the process at once (status 128 +
  // signal) instead of waiting, unheard, for ranks that may never come.
  const StopEndsProcess stop_ends_process;
  const QuietGlog quiet;
  // One deadline for the whole rendezvous (reaching rank 0, then every rank joining), so it takes at most
  // --dist_timeout, and the rank that gives up names the ranks that did not come.
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const std::string at = env.master_addr + ":" + std::to_string(env.master_port);
  const std::string me = "rendezvous: rank " + std::to_string(env.rank) + " of " + std::to_string(env.world_size);
  const std::string within = " within --dist_timeout " + seconds(timeout) + " s";
  try {
    c10d::TCPStoreOptions opts;
    opts.port = static_cast<uint16_t>(env.master_port);
    opts.isServer = env.rank == 0;
    opts.numWorkers = env.world_size;
    opts.waitWorkers = false;  // waited for below, by name
    opts.timeout = timeout;
    impl_->store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, opts);
  } catch (const std::exception& e) {
    if (env.rank == 0) {
      fail(me + " cannot listen on " + at + " (is the port taken? choose another --master_port): " + one_line(e));
    }
    fail(me + ": rank 0 did not answer at " + at + within + " (is its node started, with this --master_addr and "
         "--master_port?): " + one_line(e));
  }
  std::vector<std::string> keys;
  for (int r = 0; r < env.world_size; ++r) keys.push_back("p2p/joined/" + std::to_string(r));
  try {
    impl_->store->set(keys[static_cast<size_t>(env.rank)], std::vector<uint8_t>{1});
    while (!impl_->store->check(keys)) {
      if (std::chrono::steady_clock::now() > deadline) {
        std::string missing;
        int n = 0;
        for (int r = 0; r < env.world_size; ++r) {
          if (impl_->store->check({keys[static_cast<size_t>(r)]})) continue;
          missing += (missing.empty() ? "" : ", ") + std::to_string(r);
          ++n;
        }
        fail(me + ": rank" + (n > 1 ? "s " : " ") + missing + " did not join" + within +
             " (start every node's p2p launch with the same --nnodes, --master_addr and --master_port)");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    fail(me + ": lost rank 0 at " + at + " while the ranks gathered (it stopped): " + one_line(e));
  }
  collective("rendezvous", env.rank, [&] {
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
  allreduce_sum(tensors);
  for (auto& t : tensors) t.div_(env_.world_size);
}

void Communicator::allreduce_sum(std::vector<at::Tensor>& tensors) {
  collective("all-reduce", env_.rank, [&] {
    for (auto& t : tensors) {
      std::vector<at::Tensor> one = {t};
      impl_->pg->allreduce(one)->wait();
    }
  });
}

void Communicator::barrier() {
  collective("barrier", env_.rank, [&] { impl_->pg->barrier()->wait(); });
}

// Buckets as DDP forms them: parameters in reverse order (about the order backward produces their
// gradients), a first small bucket so communication starts early, then larger ones.
constexpr size_t kFirstBucketBytes = 1 << 20, kBucketBytes = 25 << 20;

struct GradientSync::Impl {
  struct Bucket {
    at::Tensor flat;                 // this backward's gradients, side by side
    std::vector<size_t> params;      // indices into `params`
    std::vector<int64_t> offsets;
    size_t pending = 0;              // gradients still to arrive
    c10::intrusive_ptr<c10d::Work> work;  // the all-reduce in flight
  };
  Communicator* comm = nullptr;
  c10d::ProcessGroupGloo* pg = nullptr;
  std::vector<at::Tensor> params;
  std::vector<std::pair<size_t, size_t>> where;  // param -> (bucket, slot)
  std::vector<Bucket> buckets;
  std::vector<bool> arrived;
  bool armed = false;

  void launch(Bucket& b) {
    std::vector<at::Tensor> one = {b.flat};
    b.work = pg->allreduce(one);
  }

  void on_gradient(size_t index, const at::Tensor& grad) {
    if (!armed || arrived[index]) return;
    arrived[index] = true;
    const auto [bi, slot] = where[index];
    Bucket& b = buckets[bi];
    b.flat.narrow(0, b.offsets[slot], grad.numel()).copy_(grad.reshape({-1}));
    if (--b.pending == 0) launch(b);  // runs on Gloo's threads while backward goes on
  }
};

GradientSync::GradientSync(Communicator& comm, const std::vector<at::Tensor>& parameters) : impl_(new Impl) {
  Impl& m = *impl_;
  m.comm = &comm;
  m.pg = comm.impl_->pg.get();
  m.params = parameters;
  m.where.resize(parameters.size());
  m.arrived.assign(parameters.size(), false);
  size_t bytes = 0;
  for (size_t k = parameters.size(); k-- > 0;) {
    const at::Tensor& p = parameters[k];
    const size_t cap = m.buckets.size() <= 1 ? kFirstBucketBytes : kBucketBytes;
    if (m.buckets.empty() || bytes >= cap) {
      m.buckets.emplace_back();
      bytes = 0;
    }
    Impl::Bucket& b = m.buckets.back();
    m.where[k] = {m.buckets.size() - 1, b.params.size()};
    b.offsets.push_back(b.params.empty() ? 0 : b.offsets.back() + parameters[b.params.back()].numel());
    b.params.push_back(k);
    bytes += static_cast<size_t>(p.numel()) * p.element_size();
  }
  for (Impl::Bucket& b : m.buckets) {
    const at::Tensor& last = parameters[b.params.back()];
    b.flat = at::zeros({b.offsets.back() + last.numel()}, last.options().requires_grad(false));
  }
  for (size_t k = 0; k < parameters.size(); ++k) {
    at::Tensor p = parameters[k];
    Impl* impl = impl_.get();
    p.register_hook([impl, k](const at::Tensor& grad) { impl->on_gradient(k, grad); });
  }
}

GradientSync::~GradientSync() = default;

void GradientSync::prepare_for_backward() {
  Impl& m = *impl_;
  for (Impl::Bucket& b : m.buckets) {
    if (b.work) fail("gradient all-reduce: the previous backward was not finished (finish_backward)");
    b.pending = b.params.size();
  }
  std::fill(m.arrived.begin(), m.arrived.end(), false);
  m.armed = true;
}

void GradientSync::finish_backward() {
  Impl& m = *impl_;
  if (!m.armed) return;
  m.armed = false;
  const int world = m.comm->world_size();
  collective("gradient all-reduce", m.comm->rank(), [&] {
    for (Impl::Bucket& b : m.buckets) {
      if (b.pending > 0) {  // parameters without a gradient this time count as zero
        for (size_t s = 0; s < b.params.size(); ++s) {
          if (!m.arrived[b.params[s]]) {
            b.flat.narrow(0, b.offsets[s], m.params[b.params[s]].numel()).zero_();
          }
        }
        b.pending = 0;
        m.launch(b);
      }
    }
    for (Impl::Bucket& b : m.buckets) {
      auto work = std::move(b.work);
      work->wait();
      b.flat.div_(world);
      for (size_t s = 0; s < b.params.size(); ++s) {
        at::Tensor& p = m.params[b.params[s]];
        const at::Tensor mean = b.flat.narrow(0, b.offsets[s], p.numel()).view(p.sizes());
        if (p.grad().defined()) {
          p.mutable_grad().copy_(mean);
        } else {
          p.mutable_grad() = mean.clone();
        }
      }
    }
  });
}

size_t GradientSync::buckets() const { return impl_->buckets.size(); }
#else
struct Communicator::Impl {};

bool distributed_available() { return false; }

Communicator::Communicator(const DistEnv& env, std::chrono::milliseconds) : env_(env) {
  fail("this build has no distributed training: Gloo's headers were not found (install libgloo-dev and rebuild)");
}
Communicator::~Communicator() = default;
void Communicator::broadcast(std::vector<at::Tensor>&, int) {}
void Communicator::allreduce_mean(std::vector<at::Tensor>&) {}
void Communicator::allreduce_sum(std::vector<at::Tensor>&) {}
void Communicator::barrier() {}

struct GradientSync::Impl {};
GradientSync::GradientSync(Communicator&, const std::vector<at::Tensor>&) {
  fail("this build has no distributed training");
}
GradientSync::~GradientSync() = default;
void GradientSync::prepare_for_backward() {}
void GradientSync::finish_backward() {}
size_t GradientSync::buckets() const { return 0; }
#endif

}  // namespace p2p
