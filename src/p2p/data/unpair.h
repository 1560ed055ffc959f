// `p2p data unpair`: an aligned AB dataset (<root>/<split>/ of [A | B] images) made into an unaligned
// one (unaligned.h) for --model cycle_gan, with the pairing hidden, plus a record of the true partners.
// Why: CycleGAN must learn without pairs, and a paired dataset is the only way to score it against true
// targets. So the training folders must not give the pairs away, by name or by order (--serial_batches
// pairs A[i] with B[i]), while a separate record keeps them for scoring.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace p2p {

struct UnpairCounts {
  std::string split;  // train, val or test
  int64_t a = 0, b = 0;
};

// For each of train, val, test that <ab_root> holds AB images of (directly in <ab_root>/<split>/):
//   <out>/<split>A/<stem>.png      the A halves, named by their AB file's stem;
//   <out>/<split>B/b_0001.png ...  the B halves, numbered in an order drawn from `seed` (unpair_order);
//   <out>/partners.csv             split,A,B: the true partners, paths relative to <out>;
//   <out>/truth/<split>B/<stem>.png   the true B of <split>A/<stem>.png (a --target for p2p metrics);
//   <out>/truth/<split>A/b_0001.png   the true A of <split>B/b_0001.png.
// Pixels are kept exactly: 8-bit gray or RGB AB files (any format load_image decodes except TIFF) give
// 8-bit PNG halves of the same channels; 16-bit or alpha files are refused rather than changed. Files are
// written in the order of their own names, so neither names, listing order nor write times pair them.
// The dataset is built in <out>.tmp-<pid> and renamed to <out> at the end: a failure removes it, a
// killed process leaves only that temp folder, never a partial <out>. Throws p2p::Error naming the flag
// or file when: <ab_root> is missing or holds no split folder with images, an AB image has odd width,
// two AB files of a split share a stem, <out> exists and is not an empty folder, or <out> is <ab_root>.
std::vector<UnpairCounts> unpair_dataset(const std::string& ab_root, const std::string& out, uint64_t seed);

// Which AB file (index into the split's files sorted by their A name) gives the B half numbered k+1:
// a permutation of 0..n-1 drawn by epoch_order (the same on every machine) from (seed, split_index),
// redrawn until no index stays in place, so the sorted A and B listings share no true pair at any
// position (n >= 2).
std::vector<int64_t> unpair_order(int64_t n, uint64_t seed, int split_index);

}  // namespace p2p
