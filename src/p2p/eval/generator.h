// A trained generator ready to use, from wherever it was saved: a run folder (config.json and its
// checkpoints, or a reference folder of <epoch>_net_G.pth), a pix2pix.cpp checkpoint, a reference
// *.pth or an exported .safetensors. The architecture comes from the run's config, the checkpoint's
// stored config or the export's header — in that order — and `net_overrides` wins over all of them
// (reference *.pth files carry none: their architecture must be given that way).
// A CycleGAN run holds two generators, G_A (A -> B, the run's NetConfig) and G_B (B -> A, input and
// output channels swapped); GeneratorSource::generator picks one. Reference run folders are searched for
// <epoch>_net_G.pth, <epoch>_net_G_A.pth or <epoch>_net_G_B.pth by the same name (the reference's
// --model_suffix '' / _A / _B).
#pragma once

#include "p2p/core/config.h"
#include "p2p/models/networks.h"

#include <nlohmann/json.hpp>

#include <string>

namespace p2p {

struct GeneratorSource {
  std::string run_dir;        // a run folder, or empty when `weights` names a file
  std::string weights;        // a weights file; wins over run_dir
  std::string epoch = "latest";  // which checkpoint of run_dir: latest | best | <N>
  // Which generator: "" = the only one (pix2pix's G) or a CycleGAN run's first (G_A); "G", "G_A" or
  // "G_B". A name the source does not hold throws, naming `generator_flag`.
  std::string generator;
  std::string generator_flag;  // how the user chose it, for messages ("--generator G_B"); "": "generator <name>"
};

struct LoadedGenerator {
  NetworkPtr G;                 // on the CPU, in train mode (the caller picks the mode and device)
  NetConfig net;
  nlohmann::json config;        // the run's options ({"net":..., "data":...}); null for reference files
  std::string weights;          // the file the weights came from
  std::string run_dir;
  nlohmann::json checkpoint_epoch;  // the epoch a pix2pix.cpp checkpoint records (null otherwise)
  // One line when the file's format let nothing verify its data (a legacy .pth, a safetensors file not
  // written here): damage to its bytes goes unnoticed. Empty when checked (zip CRC-32s, our checksums).
  std::string integrity_note;
  std::string generator = "G";  // the generator loaded: G, G_A or G_B
  // The source holds a CycleGAN pair: a run whose config says train.model cycle_gan (its checkpoint has
  // G_A. and G_B. sections), or a reference folder with <epoch>_net_G_A.pth and <epoch>_net_G_B.pth.
  bool cycle_gan = false;
};

// The generator the reference's --model_suffix names ('' -> G, _A -> G_A, _B -> G_B); throws naming
// --model_suffix for anything else.
std::string generator_for_suffix(const std::string& suffix);
// AtoB -> G_A, BtoA -> G_B; throws naming `flag` otherwise.
std::string generator_for_direction(const std::string& direction, const std::string& flag = "--direction");

// Loads the generator. Missing runs, checkpoints or files, weights that do not fit the architecture or
// hold NaN/Inf, data that fails its checksum, and architecture options out of their flags' bounds
// throw p2p::Error naming the file (and --name / --weights / --epoch where those chose it).
LoadedGenerator load_generator(const GeneratorSource& source, const nlohmann::json& net_overrides = nullptr);

// The input mapping the run trained with (SAR dB, dataset statistics; defaults for reference files),
// with the generator's channel counts: inference maps inputs exactly as training did. G_B of a CycleGAN
// run takes B-domain images, so the A-side mapping (--sar_db) is off for it.
DataConfig generator_data_config(const LoadedGenerator& g);
// {"net": ..., "data": ...} describing the loaded generator alone (G_B: its swapped channels), as an
// export's header carries it.
nlohmann::json generator_config(const LoadedGenerator& g);

// What inference may rewrite for speed; `p2p bench` switches each off to measure what it saves.
struct InferenceRewrites {
  bool fold = true;  // with eval: batch norm folded into the convolutions (fold_batch_norm)
  bool pack = true;  // on the CPU: convolutions on oneDNN with weights prepared once (pack_for_cpu_inference)
  // bf16 (CPU only, core/precision.h): G computes in bf16 (packed bf16 weights, autocast for the rest)
  // and Network::infer returns fp32.
  Precision precision = Precision::kFp32;
};
struct InferencePrepared {
  int folded = 0;
  int packed = 0;
};

// Puts G on `device` in the chosen test mode: `eval` uses running statistics and no dropout, with batch
// norm folded into the convolutions; otherwise the paper's test mode (batch statistics, dropout on).
// On the CPU the convolutions then run packed. The one rule for every inference path (test, translate,
// the API, bench); G must not train afterwards.
InferencePrepared prepare_network_for_inference(Network& G, const c10::Device& device, bool eval,
                                                InferenceRewrites rewrites = {});
void prepare_for_inference(LoadedGenerator& g, const c10::Device& device, bool eval,
                           Precision precision = Precision::kFp32);

}  // namespace p2p
