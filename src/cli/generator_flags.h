// Which generator the inference commands (test, translate, export, serve) load: the run or file the flags
// name, the generator of a CycleGAN run they choose, and the architecture flags typed on the command line,
// which win over the run's stored options.
#pragma once

#include "cli/options.h"
#include "p2p/eval/generator.h"

#include <CLI/CLI.hpp>

#include <string>
#include <utility>

namespace p2p::cli {

// Which generator the flags choose (--generator, --direction, --model_suffix), and the flag that chose it
// (for messages): ("", "") when none was given. `direction`: the command's --direction is the generator
// choice (translate, export, serve), not the data's (test).
std::pair<std::string, std::string> chosen_generator(const CLI::App& cmd, const ModelRef& ref, bool direction);

// Loads the generator ref names (--name in --checkpoints_dir, or --weights) at `epoch`; architecture flags
// typed on `cmd` override the run's. Prints the file's integrity note, if any, to stderr.
LoadedGenerator load_from_flags(const CLI::App& cmd, const NetConfig& typed, const ModelRef& ref, const std::string& epoch,
                                const std::pair<std::string, std::string>& generator = {});

}  // namespace p2p::cli
