// `p2p data` helpers: build AB images from A/ and B/ folders, and split a folder into train/val.
#pragma once

#include <cstdint>
#include <string>

namespace p2p {

// Writes <out_dir>/<stem>.png = [A | B] for every name-matched pair in a_dir and b_dir (pair_replace
// "X:Y" maps A names to B names). A and B sizes must match (else p2p::Error naming both
// files). Returns the number of images written. Unmatched names throw p2p::Error naming them.
int64_t combine_ab(const std::string& a_dir, const std::string& b_dir, const std::string& out_dir,
                   const std::string& pair_replace);

// Moves (copy) every k-th image file of `dir` into <out_root>/val and the rest into <out_root>/train so
// that val holds `val_fraction` of them; the same selection train_val_split uses.
struct SplitCounts {
  int64_t train = 0, val = 0;
};
SplitCounts split_train_val(const std::string& dir, const std::string& out_root, double val_fraction);

}  // namespace p2p
