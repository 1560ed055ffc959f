// Paired datasets: aligned AB files (A | B side by side, split at w/2) or separate A/ and B/ folders
// paired by file name. Augmentation parameters are drawn once per pair, from a per-sample seed, and
// applied to A and B alike, so pairs stay registered and a run is reproducible regardless of threads.
#pragma once

#include "p2p/core/config.h"

#include <ATen/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace p2p {

struct Palette;  // data/palette.h

// One pair on disk. Aligned: a_path == b_path, an AB image. `stem` names outputs ("12" for 12.jpg).
struct PairRecord {
  std::string a_path;
  std::string b_path;
  std::string stem;
  bool aligned = false;
};

// A loaded pair, already in the network range [-1,1]: A [input_nc,H,W], B [output_nc,H,W]
// (after --direction is applied, so A is always the network input). With --palette, B is instead the
// class ids [1,H,W] (as floats; kIgnoreClass where ignored) of the label map.
struct Sample {
  at::Tensor A;
  at::Tensor B;
  std::string stem;
};

struct Batch {
  at::Tensor A;  // [N,input_nc,H,W]
  at::Tensor B;  // [N,output_nc,H,W]
  std::vector<std::string> stems;
};

// Pairs under `dir`: A/ and B/ subfolders (folders mode) or image files (aligned mode); cfg.dataset_mode
// 'auto' picks folders when both A/ and B/ exist. Folders mode pairs by name (cfg.pair_replace "X:Y" maps
// an A name to its B name); an unmatched file on either side throws p2p::Error naming it. An empty or
// missing dir throws naming it. At most cfg.max_dataset_size pairs, sorted by stem.
std::vector<PairRecord> find_pairs(const DataConfig& cfg, const std::string& dir);

// Train and validation pairs: <dataroot>/<phase> and <dataroot>/val when it exists; otherwise a fixed,
// seed-independent selection of cfg.val_fraction of the train pairs (every k-th), removed from train.
struct Splits {
  std::vector<PairRecord> train;
  std::vector<PairRecord> val;
  std::string val_source;  // where val comes from, for the start line ("<dataroot>/val", "every 10th ...")
};
Splits train_val_split(const DataConfig& cfg);

// What the loader draws samples from: paired data (below) or unaligned data (unaligned.h).
class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual size_t size() const = 0;
  // Sample `index`; every random choice comes from `seed` alone.
  virtual Sample get(size_t index, uint64_t seed) const = 0;
  // The file(s) sample `index` is read from, for messages.
  virtual std::string describe(size_t index) const = 0;
};

class PairedDataset : public Dataset {
 public:
  // augment = false: deterministic preprocessing only (no random crop position: centre crop; no flip).
  PairedDataset(std::vector<PairRecord> records, DataConfig cfg, bool augment);
  size_t size() const override { return records_.size(); }
  const PairRecord& record(size_t i) const { return records_.at(i); }
  // Loads and preprocesses pair i; random choices come from `seed` only. Throws p2p::Error naming the
  // file when it is unreadable, an AB image has odd width, or it is smaller than crop_size.
  Sample get(size_t index, uint64_t seed) const override;
  std::string describe(size_t index) const override;

 private:
  std::vector<PairRecord> records_;
  DataConfig cfg_;
  bool augment_;
  std::shared_ptr<const Palette> palette_;  // --palette: B is a label map
};

// Which part of every epoch a loader delivers: rank `rank` of `world_size` data-parallel ranks.
struct DataShard {
  int rank = 0;
  int world_size = 1;
};

// Multi-threaded loader with prefetch. The order of an epoch is a function of (seed, epoch) only, and
// sample k of an epoch gets augmentation seed hash(seed, epoch, k): a resumed run sees the same data.
class DataLoader {
 public:
  // `shard`: this rank's share of every epoch in a data-parallel job (shard_positions in sampling.h);
  // the default is the whole epoch.
  using Shard = DataShard;
  DataLoader(const Dataset& dataset, int batch_size, bool shuffle, int num_threads, Shard shard = {},
             int prefetch = 4);
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  // Begins an epoch, skipping its first `skip_batches` batches (mid-epoch resume).
  void start_epoch(uint64_t seed, int64_t epoch, int64_t skip_batches = 0);
  // Next batch in order; false at the end of the epoch. Loading errors are rethrown here.
  bool next(Batch& out);
  // This rank's batches per epoch (the last may be smaller).
  int64_t batches_per_epoch() const;

 private:
  struct State;
  const Dataset& dataset_;
  int batch_size_;
  bool shuffle_;
  int num_threads_;
  Shard shard_;
  int prefetch_;
  State* state_ = nullptr;
};

}  // namespace p2p
