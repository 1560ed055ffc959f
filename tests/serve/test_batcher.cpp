// The batcher: concurrent jobs of one model and shape share a forward and get back their own rows; other
// jobs run apart; expired jobs are dropped unrun; a failing forward fails every job of its batch.
#include "p2p/serve/batcher.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

using namespace p2p::serve;

namespace {

// Records the batch sizes it is given; answers x * 2 + 1 (so every row's answer is its own).
struct CountingRunner {
  std::mutex mutex;
  std::vector<int64_t> sizes;
  Batcher::Runner fn() {
    return [this](const at::Tensor& x) {
      std::lock_guard<std::mutex> lock(mutex);
      sizes.push_back(x.size(0));
      return x * 2 + 1;
    };
  }
};

Clock::time_point in_seconds(double s) {
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

}  // namespace

TEST(Batcher, ConcurrentJobsOfOneShapeShareAForwardAndGetTheirOwnRows) {
  std::vector<int64_t> observed;
  Batcher batcher({8, 400}, [&](int64_t n) { observed.push_back(n); });
  CountingRunner counting;
  const Batcher::Runner runner = counting.fn();
  std::vector<at::Tensor> results(6);
  std::vector<std::thread> threads;
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&, i] {
      results[i] = batcher.run(0, runner, at::full({1, 3, 4, 4}, static_cast<float>(i)), true, in_seconds(10));
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < 6; ++i) {
    ASSERT_EQ(results[i].sizes(), (std::vector<int64_t>{1, 3, 4, 4}));
    EXPECT_EQ(results[i].min().item<float>(), 2.0f * i + 1) << "job " << i << " got another job's rows";
    EXPECT_EQ(results[i].max().item<float>(), 2.0f * i + 1) << "job " << i << " got another job's rows";
  }
  // All six arrived within the 400 ms wait: far fewer forwards than jobs, every image run once.
  int64_t total = 0;
  for (int64_t n : counting.sizes) total += n;
  EXPECT_EQ(total, 6);
  EXPECT_LE(counting.sizes.size(), 2u) << "jobs that arrived together were not batched";
  EXPECT_EQ(observed, counting.sizes);
}

TEST(Batcher, OtherShapesOtherModelsAndUnshareableJobsRunApart) {
  Batcher batcher({8, 300});
  CountingRunner a, b;
  const Batcher::Runner ra = a.fn(), rb = b.fn();
  std::vector<std::thread> threads;
  std::vector<at::Tensor> out(5);
  threads.emplace_back([&] { out[0] = batcher.run(0, ra, at::full({1, 3, 4, 4}, 1.0f), true, in_seconds(10)); });
  threads.emplace_back([&] { out[1] = batcher.run(0, ra, at::full({1, 3, 8, 4}, 2.0f), true, in_seconds(10)); });
  threads.emplace_back([&] { out[2] = batcher.run(1, rb, at::full({1, 3, 4, 4}, 3.0f), true, in_seconds(10)); });
  threads.emplace_back([&] { out[3] = batcher.run(0, ra, at::full({1, 3, 4, 4}, 4.0f), false, in_seconds(10)); });
  threads.emplace_back([&] { out[4] = batcher.run(0, ra, at::full({1, 3, 4, 4}, 5.0f), false, in_seconds(10)); });
  for (auto& t : threads) t.join();
  for (int i = 0; i < 5; ++i) EXPECT_EQ(out[i].max().item<float>(), 2.0f * (i + 1) + 1);
  // Model 0 saw four jobs, none of which may share: two shapes, and two unshareable jobs.
  EXPECT_EQ(a.sizes, (std::vector<int64_t>{1, 1, 1, 1}));
  EXPECT_EQ(b.sizes, (std::vector<int64_t>{1}));
}

TEST(Batcher, LargeJobsAreNotSplitAndBatchesStayWithinMaxBatch) {
  Batcher batcher({4, 300});
  CountingRunner counting;
  const Batcher::Runner runner = counting.fn();
  std::vector<std::thread> threads;
  for (int i = 0; i < 5; ++i) {
    threads.emplace_back([&, i] {
      const int64_t n = i == 0 ? 6 : 1;  // a tiled request's six tiles, four single images
      const at::Tensor y = batcher.run(0, runner, at::full({n, 1, 2, 2}, static_cast<float>(i)), true, in_seconds(10));
      EXPECT_EQ(y.size(0), n);
      EXPECT_EQ(y.max().item<float>(), 2.0f * i + 1);
    });
  }
  for (auto& t : threads) t.join();
  int64_t total = 0;
  for (int64_t n : counting.sizes) {
    total += n;
    EXPECT_TRUE(n == 6 || n <= 4) << "a batch of " << n << " images exceeds --max_batch 4";
  }
  EXPECT_EQ(total, 10);
}

TEST(Batcher, AJobPastItsDeadlineIsDroppedUnrun) {
  Batcher batcher({8, 0});
  std::atomic<int> rows{0};
  const Batcher::Runner slow = [&](const at::Tensor& x) {
    rows += static_cast<int>(x.size(0));
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    return x;
  };
  std::thread first([&] { batcher.run(0, slow, at::zeros({1, 1, 2, 2}), false, in_seconds(10)); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the first is running
  const auto start = Clock::now();
  EXPECT_THROW(batcher.run(0, slow, at::zeros({1, 1, 2, 2}), false, in_seconds(0.1)), Timeout);
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - start).count(), 0.3) << "the timeout waited for the forward";
  first.join();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(rows.load(), 1) << "the expired job was run anyway";
  // The batcher still works.
  EXPECT_EQ(batcher.run(0, slow, at::ones({1, 1, 2, 2}), false, in_seconds(10)).sum().item<float>(), 4.0f);
}

TEST(Batcher, AFailingForwardFailsEveryJobOfItsBatchAndNothingElse) {
  Batcher batcher({8, 300});
  const Batcher::Runner failing = [](const at::Tensor& x) -> at::Tensor {
    if (x.size(0) > 1) throw p2p::Error("out of memory in the forward");
    return x;
  };
  std::vector<std::string> errors(3);
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i) {
    threads.emplace_back([&, i] {
      try {
        batcher.run(0, failing, at::zeros({1, 1, 2, 2}), true, in_seconds(10));
      } catch (const p2p::Error& e) {
        errors[i] = e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  int failed = 0;
  for (const auto& e : errors) failed += e == "out of memory in the forward";
  EXPECT_GE(failed, 2);
  EXPECT_EQ(batcher.run(0, failing, at::ones({1, 1, 2, 2}), true, in_seconds(10)).sum().item<float>(), 4.0f);
}
