// What the network input A is made of, from the file to the network range, in one place so training
// (PairedDataset::get), the statistics pass and inference (test, translate) cannot drift apart:
//   file -> load_pair (channels checked, --direction applied)
//        -> SAR dB on A (--sar_db: linear intensity to dB, clipped to --db_range, scaled to [0,1])
//        -> augmentation (transforms.h, unit range)
//        -> input_to_network: unit*2-1, or (unit - mean)/std per channel with --normalize dataset.
// B always takes unit*2-1: G ends in tanh, so its target must stay in [-1,1].
// Nodata: pixels a TIFF declares nodata arrive as NaN (raster.h). They are left out of the input
// statistics and filled before the network with the value that maps to the network's 0 (the middle of
// its range, or the dataset mean under --normalize dataset), in A and in B alike; `p2p translate` marks
// them nodata again in its TIFF outputs.
#pragma once

#include "p2p/core/config.h"
#include "p2p/data/dataset.h"

#include <ATen/Tensor.h>

#include <string>
#include <vector>

namespace p2p {

// One pair as stored, before augmentation: A (the network input, after --direction and SAR dB) with
// cfg.input_nc channels and B with cfg.output_nc, in unit range. `*_bits` is what resampling needs
// (8 = PIL-exact 8-bit path; SAR dB values are continuous, so A then reports 32).
struct LoadedPair {
  at::Tensor A;
  at::Tensor B;
  int a_bits = 8;
  int b_bits = 8;
};

// Loads pair `r`. Aligned AB files are split at w/2 (an odd width throws); folder pairs must have the
// same size. Wrong band counts throw naming the file and --input_nc / --output_nc. Nodata pixels are
// filled (fill_nodata), so A and B hold finite values only.
LoadedPair load_pair(const PairRecord& r, const DataConfig& cfg);

// Replaces the NaN (nodata) samples of a unit-range A ([C,H,W]) by the value input_to_network maps to
// 0: cfg.mean_A under --normalize dataset (when known), 0.5 otherwise. In place; returns `unit`.
at::Tensor& fill_input_nodata(at::Tensor& unit, const DataConfig& cfg);

// "MIN:MAX" in dB, MIN < MAX, e.g. "-25:0". Throws p2p::Error naming --db_range otherwise.
void parse_db_range(const std::string& spec, double& min_db, double& max_db);

// Linear SAR intensity -> 10*log10(max(v, 1e-10)) clipped to [min_db, max_db] -> linear map to [0,1].
at::Tensor sar_db_to_unit(const at::Tensor& intensity, double min_db, double max_db);

// The unit-range A as the network takes it: (unit - mean_A)/std_A per channel when cfg.normalize is
// "dataset", unit*2-1 otherwise. input_from_network inverts it (for saving real_A as an image).
at::Tensor input_to_network(const at::Tensor& unit, const DataConfig& cfg);
at::Tensor input_from_network(const at::Tensor& net, const DataConfig& cfg);

// Checks --normalize, and for "dataset" that mean_A/std_A hold cfg.input_nc finite values (std > 0):
// a run trained with dataset statistics cannot be tested without them.
void check_input_statistics(const DataConfig& cfg);

// Per-channel mean and population std of A over every training pair's full loaded image (after SAR dB,
// before augmentation, unit range; nodata pixels left out), into cfg.mean_A / cfg.std_A; std is floored
// at 1e-6 so a constant band does not divide by zero. Throws when `train` is empty, a file cannot be
// loaded, or a channel has no pixel that is not nodata.
void compute_input_statistics(DataConfig& cfg, const std::vector<PairRecord>& train);

}  // namespace p2p
