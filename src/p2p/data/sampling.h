// Deterministic sampling helpers shared by the loader, the train/val split and `p2p data split`:
// everything random in the data pipeline is a pure function of (seed, epoch, position).
#pragma once

#include <cstdint>
#include <vector>

namespace p2p {

// splitmix64 finaliser: a strong 64-bit mix, so nearby inputs give unrelated outputs.
uint64_t splitmix64(uint64_t x);
// Order-sensitive combination of two values (mix_seed(a, b) != mix_seed(b, a)).
uint64_t mix_seed(uint64_t a, uint64_t b);
// Augmentation seed of the sample at position k of an epoch: hash(seed, epoch, k).
uint64_t sample_seed(uint64_t seed, int64_t epoch, int64_t k);

// Dataset indices in the order an epoch visits them: identity, or a permutation drawn from
// std::mt19937_64(mix_seed(seed, epoch)) (Fisher-Yates with our own modulo draw, so every standard
// library gives the same order).
std::vector<int64_t> epoch_order(int64_t n, bool shuffle, uint64_t seed, int64_t epoch);

// Which positions of an epoch's order a rank of a data-parallel job takes: rank, rank + world,
// rank + 2 world, ... (torch's DistributedSampler). Every rank computes the same epoch order, so an epoch
// covers the dataset exactly once across ranks when world_size divides n. Otherwise the order is padded
// by repeating its first positions (positions n, n+1, ... stand for 0, 1, ...) until it divides evenly:
// each rank gets ceil(n / world_size) positions and a few items are seen twice. A position, not the
// item, seeds a sample's augmentation, so rank r's k-th sample is the one a single process would draw
// at position k * world_size + r. Throws p2p::Error for a rank outside 0..world_size-1.
std::vector<int64_t> shard_positions(int64_t n, int rank, int world_size);

// Which of n sorted items go to validation: every k-th (k = round(1 / val_fraction), positions k-1,
// 2k-1, ...), at least one when val_fraction > 0 and n >= 2, never all. Seed-independent, so a split
// stays fixed between runs. Throws p2p::Error naming --val_fraction outside [0, 0.5].
std::vector<bool> val_mask(size_t n, double val_fraction);

}  // namespace p2p
