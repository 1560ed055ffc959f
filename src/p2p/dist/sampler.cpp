// Per-rank dataset shards (see sampler.h).
#include "p2p/dist/sampler.h"

#include "p2p/core/error.h"

#include <utility>

namespace p2p {

namespace {

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Uniform in [0, bound) without modulo bias (Lemire's multiply-shift with rejection).
uint64_t below(uint64_t& state, uint64_t bound) {
  while (true) {
    const unsigned __int128 m = static_cast<unsigned __int128>(splitmix64(state)) * bound;
    const uint64_t low = static_cast<uint64_t>(m);
    if (low >= bound || low >= (-bound) % bound) return static_cast<uint64_t>(m >> 64);
  }
}

}  // namespace

std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, int64_t epoch, bool shuffle) {
  std::vector<int64_t> p(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) p[i] = i;
  if (!shuffle) return p;
  uint64_t state = seed * 0x9E3779B97F4A7C15ull ^ static_cast<uint64_t>(epoch);
  for (int64_t i = n - 1; i > 0; --i) std::swap(p[i], p[below(state, static_cast<uint64_t>(i) + 1)]);
  return p;
}

std::vector<int64_t> shard_indices(int64_t n, int rank, int world_size, uint64_t seed, int64_t epoch, bool shuffle,
                                   bool drop_last) {
  if (world_size < 1 || rank < 0 || rank >= world_size) {
    fail("rank " + std::to_string(rank) + " is outside 0.." + std::to_string(world_size - 1));
  }
  std::vector<int64_t> p = epoch_permutation(n, seed, epoch, shuffle);
  if (drop_last) {
    p.resize(static_cast<size_t>(n - n % world_size));
  } else if (n > 0) {
    for (int64_t i = 0; p.size() % world_size != 0; ++i) p.push_back(p[static_cast<size_t>(i % n)]);
  }
  std::vector<int64_t> mine;
  for (size_t i = static_cast<size_t>(rank); i < p.size(); i += world_size) mine.push_back(p[i]);
  return mine;
}

}  // namespace p2p
