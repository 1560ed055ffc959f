// Tests for dist/sampler: exact coverage across ranks, padding and dropping as torch's
// DistributedSampler, the same permutation on every rank, a new one every epoch.
#include "p2p/dist/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>

namespace p2p {
namespace {

TEST(Sampler, CoversEveryItemOnceAcrossRanksWhenDivisible) {
  for (int world : {1, 2, 3, 4}) {
    const int64_t n = 12;
    std::vector<int64_t> all;
    for (int r = 0; r < world; ++r) {
      const auto mine = shard_indices(n, r, world, 5, 3, true, false);
      EXPECT_EQ(static_cast<int64_t>(mine.size()), n / world);
      all.insert(all.end(), mine.begin(), mine.end());
    }
    std::sort(all.begin(), all.end());
    for (int64_t i = 0; i < n; ++i) EXPECT_EQ(all[i], i) << "world " << world;
  }
}

TEST(Sampler, PadsOrDropsWhenNotDivisible) {
  const int64_t n = 10;
  const int world = 4;
  std::map<int64_t, int> count;
  for (int r = 0; r < world; ++r) {
    const auto mine = shard_indices(n, r, world, 1, 0, true, false);
    EXPECT_EQ(mine.size(), 3u);  // ceil(10/4)
    for (auto i : mine) ++count[i];
  }
  EXPECT_EQ(count.size(), 10u);  // every item at least once
  const auto perm = epoch_permutation(n, 1, 0, true);
  EXPECT_EQ(count[perm[0]], 2);  // the padding repeats the permutation's first items
  EXPECT_EQ(count[perm[1]], 2);
  std::map<int64_t, int> dropped;
  for (int r = 0; r < world; ++r) {
    const auto mine = shard_indices(n, r, world, 1, 0, true, true);
    EXPECT_EQ(mine.size(), 2u);  // floor(10/4)
    for (auto i : mine) ++dropped[i];
  }
  EXPECT_EQ(dropped.size(), 8u);
  for (const auto& [i, c] : dropped) EXPECT_EQ(c, 1);
}

TEST(Sampler, ReshufflesPerEpochDeterministically) {
  const auto a = epoch_permutation(100, 7, 1, true), b = epoch_permutation(100, 7, 2, true);
  EXPECT_NE(a, b);
  EXPECT_EQ(a, epoch_permutation(100, 7, 1, true));  // every rank computes the same one
  EXPECT_NE(a, epoch_permutation(100, 8, 1, true));
  std::vector<int64_t> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 100; ++i) EXPECT_EQ(sorted[i], i);  // a permutation
  const auto ordered = epoch_permutation(5, 7, 1, false);
  EXPECT_EQ(ordered, (std::vector<int64_t>{0, 1, 2, 3, 4}));
  // Unbiased enough to spread: over 2000 epochs, item 0 lands in each of 10 slots about 200 times.
  std::vector<int> slot(10);
  for (int e = 0; e < 2000; ++e) {
    const auto p = epoch_permutation(10, 3, e, true);
    ++slot[std::find(p.begin(), p.end(), 0) - p.begin()];
  }
  for (int s : slot) EXPECT_NEAR(s, 200, 60);
}

}  // namespace
}  // namespace p2p
