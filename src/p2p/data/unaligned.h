// Unaligned data (CycleGAN): images of domain A in <dataroot>/<phase>A/ and of domain B in
// <dataroot>/<phase>B/, any number of each, no pairing. As the reference's unaligned dataset: sample i
// is A[i mod |A|] with B[i mod |B|] under --serial_batches, else a B drawn at random (here from the
// sample's seed, so a resumed run draws the same); an epoch has max(|A|, |B|) samples; A and B are
// augmented independently (each its own crop and flip). --direction BtoA makes the B folder the input.
#pragma once

#include "p2p/core/config.h"
#include "p2p/data/dataset.h"

#include <ATen/Tensor.h>

#include <map>
#include <string>
#include <vector>

namespace p2p {

struct UnalignedFiles {
  std::vector<std::string> A, B;  // sorted by name, at most --max_dataset_size each
  std::string a_dir, b_dir;
};

// The images of <root>/<phase>A and <root>/<phase>B. A missing or empty folder throws p2p::Error naming it
// (and saying what an unaligned dataset looks like).
UnalignedFiles find_unaligned(const DataConfig& cfg, const std::string& root, const std::string& phase);
// Whether <root>/<phase>A and <root>/<phase>B both exist.
bool has_unaligned(const std::string& root, const std::string& phase);

class UnalignedDataset : public Dataset {
 public:
  // augment = false: centre crop, no flip, and B = B[i mod |B|] (validation and tests see fixed pairs).
  UnalignedDataset(UnalignedFiles files, DataConfig cfg, bool augment);
  size_t size() const override;
  // A [input_nc,H,W] and B [output_nc,H',W'] in [-1,1] (after --direction); stem: A's file stem.
  Sample get(size_t index, uint64_t seed) const override;
  std::string describe(size_t index) const override;  // its A file
  // The file sample `index` takes its B from (with `seed`).
  const std::string& b_file(size_t index, uint64_t seed) const;
  const UnalignedFiles& files() const { return files_; }
  // The true partners `p2p data unpair` records for the inputs (<root>/truth/<split><other side>/<input
  // stem>.*), by input stem; empty when the dataset has none.
  const std::map<std::string, std::string>& partners() const { return partners_; }
  // A partner as the network's target would be: the inputs' deterministic preprocessing (both were
  // halves of one AB image), [output_nc,H,W] in [-1,1].
  at::Tensor load_partner(const std::string& path) const;

 private:
  size_t b_index(size_t index, uint64_t seed) const;
  UnalignedFiles files_;
  DataConfig cfg_;
  bool augment_;
  std::map<std::string, std::string> partners_;
};

}  // namespace p2p
