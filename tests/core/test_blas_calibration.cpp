// Tests for core/blas_calibration: the faster setting is kept (ties go to one thread); the answer is
// cached under this machine's and workload's key and read back without measuring; a corrupt cache is
// measured again; a capped instruction set is cached apart.
#include "p2p/core/blas_calibration.h"

#include "p2p/core/cpu_features.h"

#include "testutil/testutil.h"

#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <thread>

namespace p2p {
namespace {

// Under a P2P_CPU_ISA cap other kernels run, so their measurements are kept apart from the CPU's own
// (a capped run must neither reuse nor overwrite the uncapped choice).
TEST(BlasCalibration, ACappedInstructionSetHasKeysOfItsOwn) {
  if (cpu_isa_uncapped() == CpuIsa::kBaseline) GTEST_SKIP() << "nothing to cap on this CPU";
  const std::string own = [] {
    const test::CappedIsa uncapped("avx512");  // at or above what the CPU has: no cap
    return blas_cache_key(2, "train");
  }();
  const test::CappedIsa capped("baseline");
  const std::string key = blas_cache_key(2, "train");
  EXPECT_NE(key, own);
  EXPECT_EQ(key, own + "|baseline");
}

TEST(BlasCalibration, KeepsTheFasterSettingAndCachesIt) {
  const std::string cache = test::scratch_dir("blas_cache") + "/sub/blas.json";
  int calls = 0;
  const BlasChoice two = calibrate_blas_threads(2, "train", cache, [&](int t) {
    ++calls;
    return t == 2 ? 0.5 : 1.0;
  });
  EXPECT_EQ(two.threads, 2);
  EXPECT_FALSE(two.cached);
  EXPECT_GT(calls, 2);
  const nlohmann::json stored = nlohmann::json::parse(test::read_file(cache));
  EXPECT_EQ(stored.at(blas_cache_key(2, "train")).at("blas_threads"), 2);

  // Read back without measuring.
  const BlasChoice again = calibrate_blas_threads(2, "train", cache, [](int) -> double {
    ADD_FAILURE() << "measured although cached";
    return 1.0;
  });
  EXPECT_EQ(again.threads, 2);
  EXPECT_TRUE(again.cached);

  // Another thread count is another key: measured; a near tie keeps one thread.
  const BlasChoice four = calibrate_blas_threads(4, "train", cache, [](int t) { return t == 4 ? 0.98 : 1.0; });
  EXPECT_EQ(four.threads, 1);
  EXPECT_EQ(calibrate_blas_threads(2, "train", cache, [](int) { return 1.0; }).threads, 2) << "the first entry was kept";
  // Another workload is another key too.
  EXPECT_EQ(calibrate_blas_threads(2, "inference", cache, [](int t) { return t == 1 ? 0.5 : 1.0; }).threads, 1);
  EXPECT_EQ(calibrate_blas_threads(2, "train", cache, [](int) { return 1.0; }).threads, 2);

  // A corrupt cache is measured again and rewritten.
  std::ofstream(cache) << "{not json";
  const BlasChoice fresh = calibrate_blas_threads(2, "train", cache, [](int t) { return t == 1 ? 0.5 : 1.0; });
  EXPECT_EQ(fresh.threads, 1);
  EXPECT_FALSE(fresh.cached);
  EXPECT_EQ(nlohmann::json::parse(test::read_file(cache)).at(blas_cache_key(2, "train")).at("blas_threads"), 1);

  // One compute thread: nothing to choose, nothing measured.
  EXPECT_EQ(calibrate_blas_threads(1, "train", cache, [](int) -> double {
              ADD_FAILURE() << "measured for one thread";
              return 1.0;
            }).threads,
            1);
}

// Processes that start together (the ranks of a data-parallel job) measure one at a time: the first
// measures, the second waits for it and reads its answer instead of timing on shared cores.
TEST(BlasCalibration, ConcurrentCallersMeasureOnce) {
  const std::string cache = test::scratch_dir("blas_lock") + "/blas.json";
  std::atomic<int> calls{0}, running{0}, overlapped{0};
  auto pass = [&](int t) {
    ++calls;
    if (++running > 1) ++overlapped;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    --running;
    return t == 2 ? 0.5 : 1.0;
  };
  BlasChoice a, b;
  std::thread first([&] { a = calibrate_blas_threads(2, "train unet_32", cache, pass); });
  std::thread second([&] { b = calibrate_blas_threads(2, "train unet_32", cache, pass); });
  first.join();
  second.join();
  EXPECT_EQ(a.threads, 2);
  EXPECT_EQ(b.threads, 2);
  EXPECT_NE(a.cached, b.cached) << "exactly one of the two measured";
  EXPECT_EQ(calls.load(), 8) << "one calibration is 2 warm-up and 6 timed passes";
  EXPECT_EQ(overlapped.load(), 0);
}

}  // namespace
}  // namespace p2p
