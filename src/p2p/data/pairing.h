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

// Splits "FROM:TO"; throws p2p::Error naming --pair_replace when the ':' or FROM is missing.
void parse_pair_replace(const std::string& spec, std::string& from, std::string& to);

}  // namespace p2p
