// Multi-threaded batch loader (see DataLoader in dataset.h). Workers claim whole batches in order and
// park the results in a map keyed by batch index, so next() delivers batches in epoch order whatever
// thread finished first; a batch's content depends only on (seed, epoch, index), never on timing.
// At most max(prefetch, num_threads) batches are claimed beyond the last one delivered.
#include "p2p/core/error.h"
#include "p2p/data/dataset.h"
#include "p2p/data/sampling.h"

#include <ATen/ATen.h>

#include <condition_variable>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

namespace p2p {

namespace {

// What an epoch visits on this rank: dataset indices, and the epoch positions that seed their
// augmentation (k on a single process; k * world + rank on a rank of a data-parallel job).
struct EpochPlan {
  std::vector<int64_t> index, position;
};

// Loads the samples at this rank's entries [first, first + count) and stacks them.
Batch load_batch(const Dataset& dataset, const EpochPlan& plan, int64_t first, int64_t count, uint64_t seed,
                 int64_t epoch) {
  const std::vector<int64_t>& order = plan.index;
  std::vector<Sample> samples;
  samples.reserve(static_cast<size_t>(count));
  for (int64_t k = first; k < first + count; ++k) {
    const size_t index = static_cast<size_t>(order[static_cast<size_t>(k)]);
    try {
      samples.push_back(dataset.get(index, sample_seed(seed, epoch, plan.position[static_cast<size_t>(k)])));
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      fail("loading " + dataset.describe(index) + ": " + e.what());
    }
  }
  Batch batch;
  std::vector<at::Tensor> as, bs;
  for (size_t i = 0; i < samples.size(); ++i) {
    const Sample& s = samples[i];
    if (i > 0 && (s.A.sizes() != samples[0].A.sizes() || s.B.sizes() != samples[0].B.sizes())) {
      const size_t i0 = static_cast<size_t>(order[static_cast<size_t>(first)]);
      const size_t ii = static_cast<size_t>(order[static_cast<size_t>(first) + i]);
      fail("cannot batch images of different sizes: " + dataset.describe(i0) + " gives " +
           c10::str(samples[0].A.sizes()) + " / " + c10::str(samples[0].B.sizes()) + " but " + dataset.describe(ii) +
           " gives " + c10::str(s.A.sizes()) + " / " + c10::str(s.B.sizes()) +
           "; use --batch_size 1 or a cropping --preprocess (resize_and_crop, crop, scale_width_and_crop)");
    }
    as.push_back(s.A);
    bs.push_back(s.B);
    batch.stems.push_back(s.stem);
  }
  batch.A = at::stack(as);
  batch.B = at::stack(bs);
  return batch;
}

}  // namespace

struct DataLoader::State {
  struct Result {
    Batch batch;
    std::exception_ptr error;
  };
  std::mutex mu;
  std::condition_variable work_cv;  // workers: a batch may be claimed, or stop
  std::condition_variable done_cv;  // next(): a result arrived
  std::vector<std::thread> workers;
  bool stop = false;
  bool active = false;
  uint64_t generation = 0;  // bumped by start_epoch: results of an abandoned epoch are dropped
  std::shared_ptr<const EpochPlan> plan;  // shared: workers keep theirs across start_epoch
  uint64_t seed = 0;
  int64_t epoch = 0;
  int64_t n_batches = 0;
  int64_t next_claim = 0;
  int64_t next_deliver = 0;
  std::map<int64_t, Result> ready;
};

DataLoader::DataLoader(const Dataset& dataset, int batch_size, bool shuffle, int num_threads, Shard shard,
                       int prefetch)
    : dataset_(dataset), batch_size_(batch_size), shuffle_(shuffle), num_threads_(num_threads), shard_(shard),
      prefetch_(prefetch) {
  shard_positions(0, shard.rank, shard.world_size);  // checks the rank
  if (batch_size < 1) fail("--batch_size must be at least 1 (got " + std::to_string(batch_size) + ")");
  if (num_threads < 0) fail("--num_threads must be 0 or more (got " + std::to_string(num_threads) + ")");
  prefetch_ = std::max({prefetch_, num_threads_, 1});
  state_ = new State();
  for (int t = 0; t < num_threads_; ++t) {
    state_->workers.emplace_back([this] {
      State& st = *state_;
      std::unique_lock<std::mutex> lock(st.mu);
      for (;;) {
        st.work_cv.wait(lock, [&] {
          return st.stop || (st.active && st.next_claim < st.n_batches && st.next_claim < st.next_deliver + prefetch_);
        });
        if (st.stop) return;
        const int64_t b = st.next_claim++;
        const uint64_t gen = st.generation;
        const std::shared_ptr<const EpochPlan> plan = st.plan;
        const uint64_t seed = st.seed;
        const int64_t epoch = st.epoch;
        lock.unlock();
        State::Result result;
        const int64_t first = b * batch_size_;
        const int64_t count = std::min<int64_t>(batch_size_, static_cast<int64_t>(plan->index.size()) - first);
        try {
          result.batch = load_batch(dataset_, *plan, first, count, seed, epoch);
        } catch (...) {
          result.error = std::current_exception();
        }
        lock.lock();
        if (gen == st.generation) {
          st.ready.emplace(b, std::move(result));
          st.done_cv.notify_all();
        }
      }
    });
  }
}

DataLoader::~DataLoader() {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->stop = true;
  }
  state_->work_cv.notify_all();
  for (std::thread& t : state_->workers) t.join();
  delete state_;
}

int64_t DataLoader::batches_per_epoch() const {
  const int64_t n = static_cast<int64_t>(dataset_.size());
  const int64_t mine = (n + shard_.world_size - 1) / shard_.world_size;
  return (mine + batch_size_ - 1) / batch_size_;
}

void DataLoader::start_epoch(uint64_t seed, int64_t epoch, int64_t skip_batches) {
  if (skip_batches < 0) fail("cannot skip a negative number of batches (" + std::to_string(skip_batches) + ")");
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    State& st = *state_;
    ++st.generation;
    st.ready.clear();
    const int64_t n = static_cast<int64_t>(dataset_.size());
    const std::vector<int64_t> order = epoch_order(n, shuffle_, seed, epoch);
    auto plan = std::make_shared<EpochPlan>();
    plan->position = shard_positions(n, shard_.rank, shard_.world_size);
    for (int64_t p : plan->position) plan->index.push_back(order[static_cast<size_t>(p % n)]);
    st.plan = std::move(plan);
    st.seed = seed;
    st.epoch = epoch;
    st.n_batches = batches_per_epoch();
    st.next_claim = st.next_deliver = std::min(skip_batches, st.n_batches);
    st.active = true;
  }
  state_->work_cv.notify_all();
}

bool DataLoader::next(Batch& out) {
  State& st = *state_;
  if (num_threads_ == 0) {
    if (!st.active || st.next_deliver >= st.n_batches) return false;
    const int64_t b = st.next_deliver++;
    const int64_t first = b * batch_size_;
    const int64_t count = std::min<int64_t>(batch_size_, static_cast<int64_t>(st.plan->index.size()) - first);
    out = load_batch(dataset_, *st.plan, first, count, st.seed, st.epoch);
    return true;
  }
  State::Result result;
  {
    std::unique_lock<std::mutex> lock(st.mu);
    if (!st.active || st.next_deliver >= st.n_batches) return false;
    st.done_cv.wait(lock, [&] { return st.ready.count(st.next_deliver) > 0; });
    auto it = st.ready.find(st.next_deliver);
    result = std::move(it->second);
    st.ready.erase(it);
    ++st.next_deliver;
  }
  st.work_cv.notify_all();
  if (result.error) std::rethrow_exception(result.error);
  out = std::move(result.batch);
  return true;
}

}  // namespace p2p
