// Which dataset items each rank takes in an epoch. Every rank computes the same permutation of
// 0..n-1 (Fisher-Yates driven by a SplitMix64 stream from seed and epoch, so it does not depend on the
// C++ library) and takes every world_size-th item starting at its rank. So an epoch covers the dataset
// exactly once across ranks when world_size divides n. Otherwise, as torch's DistributedSampler:
// drop_last = false repeats the first items of the permutation until it divides evenly (each rank gets
// ceil(n / world) items), drop_last = true drops the tail (each rank gets floor(n / world)).
#pragma once

#include <cstdint>
#include <vector>

namespace p2p {

std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, int64_t epoch, bool shuffle);

std::vector<int64_t> shard_indices(int64_t n, int rank, int world_size, uint64_t seed, int64_t epoch, bool shuffle,
                                   bool drop_last);

}  // namespace p2p
