// Exported generators: a trained G's weights (reference key names) in a safetensors file whose header
// also carries what it needs to be used elsewhere: its architecture options ("pix2pix.net", the net
// section of config.json) and the run's input mapping ("pix2pix.data": SAR dB, --normalize dataset
// statistics, channel counts), as JSON strings. Python reads it with a few lines (README).
#pragma once

#include "p2p/core/config.h"
#include "p2p/io/state_dict.h"
#include "p2p/models/networks.h"

#include <nlohmann/json.hpp>

#include <string>

namespace p2p {

// Writes G (its parameters and buffers) with `config` ({"net": ..., "data": ...}, as in config.json;
// "data" may be absent) to `path`, atomically. `source` (the checkpoint it came from) is recorded.
void export_generator_safetensors(const std::string& path, const Network& G, const nlohmann::json& config,
                                  const std::string& source);

// The weights of any file --weights takes: a pix2pix.cpp checkpoint, a reference *.pth, or an exported
// .safetensors (recognised by its header, whatever its name). For a safetensors export, `config` gets
// {"net": ..., "data": ...} from its header; for the others it is left alone. Throws p2p::Error naming
// the file.
StateDict read_generator_weights(const std::string& path, nlohmann::json& config);

}  // namespace p2p
