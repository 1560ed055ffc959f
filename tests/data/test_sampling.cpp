// Tests for deterministic sampling: hash known answers, epoch permutations and the val selection.
#include "p2p/core/error.h"
#include "p2p/data/sampling.h"

#include <gtest/gtest.h>

#include <algorithm>

using namespace p2p;

TEST(Sampling, Splitmix64KnownAnswer) {
  // First output of the reference splitmix64 generator seeded with 0.
  EXPECT_EQ(splitmix64(0), 0xE220A8397B1DCDAFull);
  EXPECT_NE(mix_seed(1, 2), mix_seed(2, 1));
  EXPECT_NE(sample_seed(0, 0, 1), sample_seed(0, 1, 0));
  EXPECT_EQ(sample_seed(5, 3, 7), sample_seed(5, 3, 7));
}

TEST(Sampling, EpochOrder) {
  std::vector<int64_t> id = epoch_order(5, false, 9, 3);
  EXPECT_EQ(id, (std::vector<int64_t>{0, 1, 2, 3, 4}));
  std::vector<int64_t> a = epoch_order(50, true, 9, 0);
  std::vector<int64_t> b = epoch_order(50, true, 9, 1);
  EXPECT_EQ(a, epoch_order(50, true, 9, 0));
  EXPECT_NE(a, b);
  EXPECT_NE(a, epoch_order(50, true, 10, 0));
  std::vector<int64_t> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, epoch_order(50, false, 0, 0));
  EXPECT_TRUE(epoch_order(0, true, 1, 1).empty());
}

TEST(Sampling, ValMaskEveryKth) {
  auto count = [](const std::vector<bool>& m) { return std::count(m.begin(), m.end(), true); };
  std::vector<bool> m = val_mask(400, 0.1);
  EXPECT_EQ(count(m), 40);
  EXPECT_TRUE(m[9]);
  EXPECT_TRUE(m[399]);
  EXPECT_FALSE(m[0]);
  EXPECT_EQ(count(val_mask(10, 0.25)), 2);  // k = 4: positions 3 and 7
  EXPECT_EQ(count(val_mask(100, 0.0)), 0);
  std::vector<bool> two = val_mask(2, 0.01);  // at least one, never all
  EXPECT_EQ(count(two), 1);
  EXPECT_EQ(count(val_mask(1, 0.3)), 0);
  EXPECT_EQ(count(val_mask(4, 0.5)), 2);
  EXPECT_THROW(val_mask(10, 0.6), Error);
  EXPECT_THROW(val_mask(10, -0.1), Error);
}

// Data-parallel shards: positions rank, rank + world, ... of the one epoch order all ranks share.
TEST(Sampling, ShardsCoverAnEpochExactlyOnceAcrossRanks) {
  for (int world : {1, 2, 3, 4}) {
    const int64_t n = 12;
    const std::vector<int64_t> order = epoch_order(n, true, 5, 3);
    std::vector<int64_t> seen;
    for (int r = 0; r < world; ++r) {
      const std::vector<int64_t> mine = shard_positions(n, r, world);
      EXPECT_EQ(static_cast<int64_t>(mine.size()), n / world);
      for (size_t k = 0; k < mine.size(); ++k) {
        EXPECT_EQ(mine[k], static_cast<int64_t>(k) * world + r);  // the global position, which seeds augmentation
        seen.push_back(order[static_cast<size_t>(mine[k])]);
      }
    }
    std::sort(seen.begin(), seen.end());
    EXPECT_EQ(seen, epoch_order(n, false, 0, 0)) << "world " << world;
  }
}

TEST(Sampling, ShardsPadByRepeatingTheFirstPositionsWhenUneven) {
  const int64_t n = 10;
  const int world = 4;
  std::vector<int> visits(n, 0);
  for (int r = 0; r < world; ++r) {
    const std::vector<int64_t> mine = shard_positions(n, r, world);
    EXPECT_EQ(mine.size(), 3u);  // ceil(10 / 4)
    for (int64_t p : mine) ++visits[static_cast<size_t>(p % n)];
  }
  // 12 slots for 10 positions: positions 0 and 1 come round again, every other one once.
  for (int64_t p = 0; p < n; ++p) EXPECT_EQ(visits[static_cast<size_t>(p)], p < 2 ? 2 : 1) << p;
  EXPECT_THROW(shard_positions(n, 4, 4), Error);
  EXPECT_THROW(shard_positions(n, -1, 2), Error);
  EXPECT_TRUE(shard_positions(0, 1, 2).empty());
}
