// Forward passes of concurrent requests run as one batch. Every forward of a server goes through one
// Batcher thread: a job that arrives waits up to `wait_ms` for others of the same model and input shape,
// and they run together (up to `max_batch` images), so a burst of requests costs a few large forwards
// instead of many small ones. Jobs of models whose output for one image depends on the batch or on
// random draws (batch statistics, dropout: the paper's test mode) always run alone.
#pragma once

#include "p2p/core/error.h"

#include <ATen/Tensor.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

namespace p2p::serve {

using Clock = std::chrono::steady_clock;

// A request that was not answered within its deadline (--timeout_s).
class Timeout : public Error {
 public:
  explicit Timeout(const std::string& what) : Error(what) {}
};

struct BatchPolicy {
  int64_t max_batch = 8;  // images per forward at most (a job larger than this runs alone)
  int wait_ms = 5;        // how long the first job of a batch waits for companions
};

class Batcher {
 public:
  // Runs one batch [N,C,H,W] -> [N,...] of one model; called on the batcher's thread only.
  using Runner = std::function<at::Tensor(const at::Tensor&)>;

  // `on_batch(images)` is called after every forward (metrics).
  explicit Batcher(BatchPolicy policy, std::function<void(int64_t)> on_batch = {});
  // Finishes the jobs already queued, then stops the thread.
  ~Batcher();
  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;

  // Runs `runner` on x [n,C,H,W]: with other jobs of the same `model` and shape when `shareable`, alone
  // otherwise. Blocks until its rows of the result are ready. Throws Timeout when `deadline` passes first
  // (a job not yet started is dropped; a running one's result is discarded), and rethrows the runner's
  // errors (every job of a failed batch gets the error).
  at::Tensor run(int model, const Runner& runner, const at::Tensor& x, bool shareable, Clock::time_point deadline);

  // Jobs waiting for the thread (not counting the batch being run).
  int64_t waiting() const;
  // Blocks until no job waits and none runs (a timed-out job's forward may still be running), or until
  // `deadline`; false then.
  bool wait_idle(Clock::time_point deadline);

 private:
  struct Job;
  void loop();
  void finish_batch();

  BatchPolicy policy_;
  std::function<void(int64_t)> on_batch_;
  mutable std::mutex mutex_;
  std::condition_variable wake_, idle_;
  std::deque<std::shared_ptr<Job>> queue_;
  bool stop_ = false;
  bool running_ = false;  // a batch is in its forward
  std::thread thread_;
};

}  // namespace p2p::serve
