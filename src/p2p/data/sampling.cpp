// Deterministic sampling helpers (see sampling.h).
#include "p2p/data/sampling.h"

#include "p2p/core/error.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <string>

namespace p2p {

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

uint64_t mix_seed(uint64_t a, uint64_t b) { return splitmix64(splitmix64(a) ^ (b * 0xD6E8FEB86659FD93ull + 1)); }

uint64_t sample_seed(uint64_t seed, int64_t epoch, int64_t k) {
  return mix_seed(mix_seed(seed, static_cast<uint64_t>(epoch)), static_cast<uint64_t>(k));
}

std::vector<int64_t> epoch_order(int64_t n, bool shuffle, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> order(static_cast<size_t>(std::max<int64_t>(n, 0)));
  std::iota(order.begin(), order.end(), 0);
  if (!shuffle) return order;
  std::mt19937_64 rng(mix_seed(seed, static_cast<uint64_t>(epoch)));
  for (int64_t i = n - 1; i > 0; --i) {
    const int64_t j = static_cast<int64_t>(rng() % static_cast<uint64_t>(i + 1));
    std::swap(order[i], order[j]);
  }
  return order;
}

std::vector<int64_t> shard_positions(int64_t n, int rank, int world_size) {
  if (world_size < 1 || rank < 0 || rank >= world_size) {
    fail("rank " + std::to_string(rank) + " is outside 0.." + std::to_string(world_size - 1));
  }
  const int64_t per_rank = (std::max<int64_t>(n, 0) + world_size - 1) / world_size;
  std::vector<int64_t> mine(static_cast<size_t>(per_rank));
  for (int64_t k = 0; k < per_rank; ++k) mine[static_cast<size_t>(k)] = k * world_size + rank;
  return mine;
}

std::vector<bool> val_mask(size_t n, double val_fraction) {
  if (!(val_fraction >= 0.0 && val_fraction <= 0.5)) {
    fail("--val_fraction: " + std::to_string(val_fraction) +
         " is outside [0, 0.5] (the share of training pairs held out for validation)");
  }
  std::vector<bool> mask(n, false);
  if (val_fraction == 0.0 || n < 2) return mask;
  const size_t k = std::max<size_t>(2, static_cast<size_t>(std::llround(1.0 / val_fraction)));
  size_t picked = 0;
  for (size_t i = k - 1; i < n; i += k) {
    mask[i] = true;
    ++picked;
  }
  if (picked == 0) mask[n - 1] = true;
  return mask;
}

}  // namespace p2p
