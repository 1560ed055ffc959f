// Pairing A and B files by name, shared by folder datasets and `p2p data combine`.
#pragma once

#include "p2p/data/dataset.h"

#include <string>
#include <vector>

namespace p2p {

// Pairs every image in a_dir with its partner in b_dir: the A file name with pair_replace "FROM:TO"
// applied (first occurrence; empty = same name) must name a B file, or else its stem must match
// exactly one B file's stem (so 12.jpg pairs with 12.png). Any file without a partner, on either side,
// throws p2p::Error listing up to 5 of them and the folder that lacks the partner. Sorted by stem.
std::vector<PairRecord> pair_by_name(const std::string& a_dir, const std::string& b_dir,
                                     const std::string& pair_replace);

// Pairs the outputs in pred_dir with the references in target_dir by file stem, as the scores read them
// (p2p evaluate, LPIPS, segmentation scores): a.png pairs with a.jpg; two files with one stem in a folder,
// an empty pred_dir, or a file without a partner on either side throws p2p::Error naming it. a_path is
// the prediction, b_path the target; sorted by stem. (data/score_pairs.cpp)
std::vector<PairRecord> pair_outputs_by_stem(const std::string& pred_dir, const std::string& target_dir);
// Throws p2p::Error naming both files and their sizes when the loaded images ([C,H,W]) of `pair`
// differ in size.
void check_pair_sizes(const PairRecord& pair, const at::Tensor& pred, const at::Tensor& target);

// Splits "FROM:TO"; throws p2p::Error naming --pair_replace when the ':' or FROM is missing.
void parse_pair_replace(const std::string& spec, std::string& from, std::string& to);

}  // namespace p2p
