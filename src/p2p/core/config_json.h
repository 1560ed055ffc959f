// Config structs <-> JSON, for config.json in run folders and the config stored in checkpoints (so
// `p2p test --name N` rebuilds the trained architecture without repeating every flag).
#pragma once

#include "p2p/core/config.h"

#include <nlohmann/json.hpp>

namespace p2p {

nlohmann::json to_json(const NetConfig& c);
nlohmann::json to_json(const DataConfig& c);
nlohmann::json to_json(const TrainConfig& c);
nlohmann::json to_json(const TestConfig& c);

// Fields present in `j` overwrite those of `c`; absent ones keep their value. Wrong types throw
// p2p::Error naming `source` and the field.
void update_from_json(NetConfig& c, const nlohmann::json& j, const std::string& source);
void update_from_json(DataConfig& c, const nlohmann::json& j, const std::string& source);

}  // namespace p2p
