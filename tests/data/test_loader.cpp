// Tests for the DataLoader: epoch order and per-sample seeds are functions of (seed, epoch) only, so
// thread count and skipping do not change the data; errors surface from next() naming the file.
#include "p2p/core/error.h"
#include "p2p/data/dataset.h"
#include "p2p/data/sampling.h"
#include "p2p/io/image.h"
#include "testutil/testutil.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <fstream>

using namespace p2p;
using namespace p2p::test;

namespace {

// n AB files 0.png .. (n-1).png of 32x12 (halves 16x12), crop 8: random crop and flip both matter.
std::vector<PairRecord> make_dataset(const std::string& dir, int n) {
  for (int i = 0; i < n; ++i) write_random_png(dir + "/" + std::to_string(i) + ".png", 32, 12, 3, 100 + i);
  return find_pairs(DataConfig{}, dir);
}

DataConfig crop_config() {
  DataConfig cfg;
  cfg.preprocess = "crop";
  cfg.crop_size = 8;
  return cfg;
}

std::vector<Batch> epoch_batches(DataLoader& loader, uint64_t seed, int64_t epoch, int64_t skip = 0) {
  loader.start_epoch(seed, epoch, skip);
  std::vector<Batch> out;
  Batch b;
  while (loader.next(b)) out.push_back(b);
  return out;
}

std::vector<std::string> all_stems(const std::vector<Batch>& batches) {
  std::vector<std::string> out;
  for (auto& b : batches) out.insert(out.end(), b.stems.begin(), b.stems.end());
  return out;
}

void expect_same(const std::vector<Batch>& x, const std::vector<Batch>& y) {
  ASSERT_EQ(x.size(), y.size());
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_EQ(x[i].stems, y[i].stems);
    EXPECT_TRUE(at::equal(x[i].A, y[i].A)) << "batch " << i;
    EXPECT_TRUE(at::equal(x[i].B, y[i].B)) << "batch " << i;
  }
}

}  // namespace

TEST(DataLoader, InOrderBatchesAndShapes) {
  PairedDataset ds(make_dataset(scratch_dir("loader_order"), 7), crop_config(), true);
  DataLoader loader(ds, 3, false, 2);
  EXPECT_EQ(loader.batches_per_epoch(), 3);
  std::vector<Batch> batches = epoch_batches(loader, 1, 0);
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(batches[0].A.sizes(), (at::IntArrayRef{3, 3, 8, 8}));
  EXPECT_EQ(batches[0].B.sizes(), (at::IntArrayRef{3, 3, 8, 8}));
  EXPECT_EQ(batches[2].A.sizes(), (at::IntArrayRef{1, 3, 8, 8}));
  EXPECT_EQ(all_stems(batches), (std::vector<std::string>{"0", "1", "2", "3", "4", "5", "6"}));
  // Sample k of the epoch is get(order[k], sample_seed(seed, epoch, k)).
  Sample s = ds.get(4, sample_seed(1, 0, 4));
  EXPECT_TRUE(at::equal(batches[1].A[1], s.A));
  Batch b;
  EXPECT_FALSE(loader.next(b));  // stays at the end
}

TEST(DataLoader, ShuffleIsAPermutationPerEpoch) {
  PairedDataset ds(make_dataset(scratch_dir("loader_shuffle"), 12), crop_config(), true);
  DataLoader loader(ds, 1, true, 2);
  std::vector<std::string> e0 = all_stems(epoch_batches(loader, 5, 0));
  std::vector<std::string> e1 = all_stems(epoch_batches(loader, 5, 1));
  EXPECT_NE(e0, e1);
  EXPECT_EQ(e0, all_stems(epoch_batches(loader, 5, 0)));
  std::vector<std::string> sorted = e0;
  std::sort(sorted.begin(), sorted.end());
  std::vector<std::string> expect;
  for (auto& r : find_pairs(DataConfig{}, ds.record(0).a_path.substr(0, ds.record(0).a_path.rfind('/'))))
    expect.push_back(r.stem);
  EXPECT_EQ(sorted, expect);
}

TEST(DataLoader, ThreadCountDoesNotChangeTheData) {
  PairedDataset ds(make_dataset(scratch_dir("loader_threads"), 9), crop_config(), true);
  DataLoader l0(ds, 2, true, 0);
  DataLoader l1(ds, 2, true, 1);
  DataLoader l3(ds, 2, true, 3, {}, 2);
  std::vector<Batch> ref = epoch_batches(l0, 11, 4);
  ASSERT_EQ(ref.size(), 5u);
  expect_same(ref, epoch_batches(l1, 11, 4));
  expect_same(ref, epoch_batches(l3, 11, 4));
}

TEST(DataLoader, SkipBatchesEqualsDroppingThem) {
  PairedDataset ds(make_dataset(scratch_dir("loader_skip"), 7), crop_config(), true);
  DataLoader loader(ds, 2, true, 2);
  std::vector<Batch> full = epoch_batches(loader, 3, 2);
  std::vector<Batch> skipped = epoch_batches(loader, 3, 2, 2);
  expect_same(std::vector<Batch>(full.begin() + 2, full.end()), skipped);
  EXPECT_TRUE(epoch_batches(loader, 3, 2, 10).empty());
}

TEST(DataLoader, RestartAndDestroyMidEpoch) {
  PairedDataset ds(make_dataset(scratch_dir("loader_mid"), 10), crop_config(), true);
  std::vector<Batch> ref;
  {
    DataLoader loader(ds, 1, false, 3);
    ref = epoch_batches(loader, 0, 0);
  }
  {
    DataLoader loader(ds, 1, false, 3);
    loader.start_epoch(0, 7);
    Batch b;
    ASSERT_TRUE(loader.next(b));
    // Abandon epoch 7 half way; epoch 0 must come out whole and unchanged.
    expect_same(ref, epoch_batches(loader, 0, 0));
    loader.start_epoch(0, 1);
    ASSERT_TRUE(loader.next(b));
  }  // destroyed with batches in flight
  DataLoader never_started(ds, 1, false, 2);
  Batch b;
  EXPECT_FALSE(never_started.next(b));
}

TEST(DataLoader, CorruptFileErrorSurfacesFromNext) {
  const std::string dir = scratch_dir("loader_corrupt");
  std::vector<PairRecord> pairs = make_dataset(dir, 5);
  std::ofstream(dir + "/3.png", std::ios::trunc) << "garbage, not a png";
  PairedDataset ds(pairs, crop_config(), true);
  for (int threads : {0, 2}) {
    DataLoader loader(ds, 2, false, threads);
    loader.start_epoch(0, 0);
    Batch b;
    EXPECT_TRUE(loader.next(b));  // 0, 1
    try {
      loader.next(b);  // 2, 3
      FAIL() << "expected p2p::Error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(dir + "/3.png"), std::string::npos) << e.what();
    }
  }
}

TEST(DataLoader, MixedSizesInABatchSuggestBatchSizeOne) {
  const std::string dir = scratch_dir("loader_sizes");
  write_random_png(dir + "/a.png", 32, 12, 3, 1);
  write_random_png(dir + "/b.png", 40, 12, 3, 2);
  DataConfig cfg;
  cfg.preprocess = "none";
  PairedDataset ds(find_pairs(cfg, dir), cfg, true);
  DataLoader loader(ds, 2, false, 1);
  loader.start_epoch(0, 0);
  Batch b;
  try {
    loader.next(b);
    FAIL() << "expected p2p::Error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("b.png"), std::string::npos) << m;
    EXPECT_NE(m.find("--batch_size 1"), std::string::npos) << m;
  }
  DataLoader single(ds, 1, false, 1);
  EXPECT_EQ(epoch_batches(single, 0, 0).size(), 2u);
  EXPECT_THROW(DataLoader(ds, 0, false, 1), Error);
}

// Two ranks with batch 2 each see, step for step, the samples a single process with batch 4 sees (the
// same items with the same augmentation), split between them.
TEST(DataLoader, RankShardsSplitTheSingleProcessBatches) {
  PairedDataset ds(make_dataset(scratch_dir("loader_shard"), 8), crop_config(), true);
  DataLoader whole(ds, 4, true, 0);
  DataLoader rank0(ds, 2, true, 2, {0, 2});
  DataLoader rank1(ds, 2, true, 0, {1, 2});
  EXPECT_EQ(rank0.batches_per_epoch(), 2);
  const std::vector<Batch> ref = epoch_batches(whole, 9, 3);
  const std::vector<Batch> r0 = epoch_batches(rank0, 9, 3), r1 = epoch_batches(rank1, 9, 3);
  ASSERT_EQ(ref.size(), 2u);
  ASSERT_EQ(r0.size(), 2u);
  ASSERT_EQ(r1.size(), 2u);
  for (size_t b = 0; b < 2; ++b) {
    for (int64_t k = 0; k < 4; ++k) {
      const Batch& part = k % 2 == 0 ? r0[b] : r1[b];
      EXPECT_EQ(part.stems[static_cast<size_t>(k / 2)], ref[b].stems[static_cast<size_t>(k)]);
      EXPECT_TRUE(at::equal(part.A[k / 2], ref[b].A[k])) << "batch " << b << " sample " << k;
      EXPECT_TRUE(at::equal(part.B[k / 2], ref[b].B[k])) << "batch " << b << " sample " << k;
    }
  }
  EXPECT_THROW(DataLoader(ds, 2, true, 0, {2, 2}), Error);
}
