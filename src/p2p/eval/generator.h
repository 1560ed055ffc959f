// A trained generator ready to use, from wherever it was saved: a run folder (config.json and its
// checkpoints, or a reference folder of <epoch>_net_G.pth), a pix2pix.cpp checkpoint, a reference
// *.pth or an exported .safetensors. The architecture comes from the run's config, the checkpoint's
// stored config or the export's header — in that order — and `net_overrides` wins over all of them
// (reference *.pth files carry none: their architecture must be given that way).
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
};

// Loads the generator. Missing runs, checkpoints or files, weights that do not fit the architecture or
// hold NaN/Inf, data that fails its checksum, and architecture options out of their flags' bounds
// throw p2p::Error naming the file (and --name / --weights / --epoch where those chose it).
LoadedGenerator load_generator(const GeneratorSource& source, const nlohmann::json& net_overrides = nullptr);

// The input mapping the run trained with (SAR dB, dataset statistics; defaults for reference files),
// with the generator's channel counts: inference maps inputs exactly as training did.
DataConfig generator_data_config(const LoadedGenerator& g);

// What inference may rewrite for speed; `p2p bench` switches each off to measure what it saves.
struct InferenceRewrites {
  bool fold = true;  // with eval: batch norm folded into the convolutions (fold_batch_norm)
  bool pack = true;  // on the CPU: convolutions on oneDNN with weights prepared once (pack_for_cpu_inference)
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
void prepare_for_inference(LoadedGenerator& g, const c10::Device& device, bool eval);

}  // namespace p2p
