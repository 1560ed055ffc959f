// One thread runs every forward pass; compatible jobs that arrive within the wait are concatenated
// along the batch axis and split again after the forward (batcher.h).
#include "p2p/serve/batcher.h"

#include <ATen/ATen.h>
#include <torch/csrc/api/include/torch/utils.h>

#include <future>
#include <vector>

namespace p2p::serve {

struct Batcher::Job {
  int model = 0;
  Runner runner;  // a copy: a caller that timed out may be gone when its batch runs
  at::Tensor x;
  bool shareable = false;
  Clock::time_point arrived, deadline;
  std::promise<at::Tensor> done;
  std::atomic<bool> abandoned{false};

  bool joins(const Job& first) const {
    return shareable && first.shareable && model == first.model && x.sizes().slice(1) == first.x.sizes().slice(1);
  }
};

Batcher::Batcher(BatchPolicy policy, std::function<void(int64_t)> on_batch)
    : policy_(policy), on_batch_(std::move(on_batch)) {
  if (policy_.max_batch < 1) policy_.max_batch = 1;
  if (policy_.wait_ms < 0) policy_.wait_ms = 0;
  thread_ = std::thread([this] { loop(); });
}

Batcher::~Batcher() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

int64_t Batcher::waiting() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return static_cast<int64_t>(queue_.size());
}

at::Tensor Batcher::run(int model, const Runner& runner, const at::Tensor& x, bool shareable, Clock::time_point deadline) {
  auto job = std::make_shared<Job>();
  job->model = model;
  job->runner = runner;
  job->x = x;
  job->shareable = shareable;
  job->arrived = Clock::now();
  job->deadline = deadline;
  std::future<at::Tensor> result = job->done.get_future();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stop_) throw Error("the server is stopping");
    queue_.push_back(job);
  }
  wake_.notify_all();
  if (result.wait_until(deadline) != std::future_status::ready) {
    job->abandoned = true;  // dropped if not started; a running batch's result for it is discarded
    throw Timeout("not answered within the request timeout");
  }
  return result.get();
}

void Batcher::loop() {
  torch::NoGradGuard no_grad;
  while (true) {
    std::vector<std::shared_ptr<Job>> batch;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, nothing left
      // The oldest job waits for companions until its wait is over or the batch is full.
      const std::shared_ptr<Job> first = queue_.front();
      const auto images_ready = [&] {
        int64_t n = 0;
        for (const auto& j : queue_) {
          if (j == first || j->joins(*first)) n += j->x.size(0);
        }
        return n;
      };
      if (first->shareable && !stop_) {
        const auto until = first->arrived + std::chrono::milliseconds(policy_.wait_ms);
        wake_.wait_until(lock, until, [&] { return stop_ || images_ready() >= policy_.max_batch; });
      }
      int64_t images = 0;
      for (auto it = queue_.begin(); it != queue_.end();) {
        const bool take = *it == first ||
                          ((*it)->joins(*first) && images + (*it)->x.size(0) <= policy_.max_batch);
        if (take) {
          images += (*it)->x.size(0);
          batch.push_back(*it);
          it = queue_.erase(it);
        } else {
          ++it;
        }
      }
      running_ = true;  // from the moment its jobs leave the queue (wait_idle)
    }
    // Jobs whose requests gave up are not run.
    std::vector<std::shared_ptr<Job>> live;
    for (auto& j : batch) {
      if (j->abandoned || Clock::now() > j->deadline) {
        j->done.set_exception(std::make_exception_ptr(Timeout("not answered within the request timeout")));
      } else {
        live.push_back(j);
      }
    }
    if (live.empty()) {
      finish_batch();
      continue;
    }
    std::vector<at::Tensor> xs;
    for (const auto& j : live) xs.push_back(j->x);
    try {
      const at::Tensor x = xs.size() == 1 ? xs[0] : at::cat(xs, 0);
      const at::Tensor y = live.front()->runner(x);
      if (!y.defined() || y.dim() < 1 || y.size(0) != x.size(0)) {
        throw Error("the forward pass returned " + (y.defined() ? std::to_string(y.size(0)) : std::string("no")) +
                    " images for " + std::to_string(x.size(0)));
      }
      if (on_batch_) on_batch_(x.size(0));
      int64_t row = 0;
      for (const auto& j : live) {
        const int64_t n = j->x.size(0);
        j->done.set_value(live.size() == 1 ? y : y.narrow(0, row, n).contiguous());
        row += n;
      }
    } catch (...) {
      for (const auto& j : live) j->done.set_exception(std::current_exception());
    }
    finish_batch();
  }
}

void Batcher::finish_batch() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    running_ = false;
  }
  idle_.notify_all();
}

bool Batcher::wait_idle(Clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mutex_);
  return idle_.wait_until(lock, deadline, [this] { return queue_.empty() && !running_; });
}

}  // namespace p2p::serve
