// Config structs <-> JSON, for config.json in run folders and the config stored in checkpoints (so
// `p2p test --name N` rebuilds the trained architecture without repeating every flag).
#pragma once

#include "p2p/core/config.h"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace p2p {

nlohmann::json to_json(const NetConfig& c);
nlohmann::json to_json(const DataConfig& c);
nlohmann::json to_json(const TrainConfig& c);
nlohmann::json to_json(const TestConfig& c);

// Fields present in `j` overwrite those of `c`; absent ones keep their value. Wrong types throw
// p2p::Error naming `source` and the field.
void update_from_json(NetConfig& c, const nlohmann::json& j, const std::string& source);
void update_from_json(DataConfig& c, const nlohmann::json& j, const std::string& source);
void update_from_json(TrainConfig& c, const nlohmann::json& j, const std::string& source);

// Resuming a run (`train --continue_train`): the run's saved options are the defaults, and what the
// command line types is judged by the field's ResumeRule (config.h's field lists).
ResumeRule resume_rule(const std::string& section, const std::string& field);

struct ResumeMerge {
  nlohmann::json config;           // {"net":{}, "data":{}, "train":{}}: saved, then typed overrides and per-run options
  std::vector<std::string> notes;  // one line per option changed from the saved run
  nlohmann::json changes;          // {"<field>": [saved, typed], ...} for the run's override history
};

// `saved`: the run's config ({"net","data","train"} sections, as written to config.json). `typed`: the
// options the command line gave, in the same layout. `defaults`: every option's default, same layout
// (per-run options not typed take these). Throws p2p::Error naming the run and every refused option
// with both values.
ResumeMerge merge_for_resume(const nlohmann::json& saved, const nlohmann::json& typed, const nlohmann::json& defaults,
                             const std::string& run);

}  // namespace p2p
