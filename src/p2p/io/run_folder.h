// A run folder <checkpoints_dir>/<name>/ and what lives in it: config.json (every option, absolute
// paths, and the history of options changed on resume), history.jsonl, latest.pt, best.pt,
// epoch_<N>.pt, samples/ and .lock. Reference run folders hold <epoch>_net_G.pth instead; inference
// finds those too.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace p2p {

// Path of the checkpoint `which` (latest | best | <N>) in run_dir. Throws naming --epoch otherwise.
std::string checkpoint_path(const std::string& run_dir, const std::string& which);

// The checkpoints run_dir holds, for messages: "latest.pt, best.pt, epoch_5.pt, latest_net_G.pth";
// "no checkpoints" when there are none.
std::string describe_checkpoints(const std::string& run_dir);

// The file of checkpoint `which`: <which>.pt, or with `reference` also the reference's
// <which>_net_G.pth. Throws p2p::Error naming --epoch and listing what exists when neither is there.
std::string existing_checkpoint(const std::string& run_dir, const std::string& which, bool reference);

// The run's config.json, or the config stored in its latest.pt; a null JSON when it has neither.
nlohmann::json read_run_config(const std::string& run_dir);

// A --name must be one folder name: not empty, no '/' or '..', not '.'. Throws naming --name.
void check_run_name(const std::string& name);

}  // namespace p2p
