// The generator the inference commands load (generator_flags.h).
#include "cli/generator_flags.h"

#include "p2p/core/config_json.h"
#include "p2p/core/error.h"

#include <filesystem>
#include <iostream>

namespace fs = std::filesystem;

namespace p2p::cli {

std::pair<std::string, std::string> chosen_generator(const CLI::App& cmd, const ModelRef& ref, bool direction) {
  std::pair<std::string, std::string> by_direction, by_name;
  if (direction && given(cmd, "--direction")) {
    by_direction = {generator_for_direction(ref.direction), "--direction " + ref.direction};
  }
  if (given(cmd, "--generator")) by_name = {ref.generator, "--generator " + ref.generator};
  if (given(cmd, "--model_suffix")) {
    by_name = {generator_for_suffix(ref.model_suffix), "--model_suffix '" + ref.model_suffix + "'"};
  }
  if (!by_direction.first.empty() && !by_name.first.empty() && by_direction.first != by_name.first) {
    fail(by_direction.second + " and " + by_name.second + " name different generators: give one of them");
  }
  return by_name.first.empty() ? by_direction : by_name;
}

LoadedGenerator load_from_flags(const CLI::App& cmd, const NetConfig& typed, const ModelRef& ref, const std::string& epoch,
                                const std::pair<std::string, std::string>& generator) {
  if (!ref.name.empty() && !ref.weights.empty()) {
    fail("--name " + ref.name + " and --weights " + ref.weights + " both name a generator: give one of them");
  }
  GeneratorSource source;
  source.weights = ref.weights;
  if (source.weights.empty() && !ref.name.empty()) source.run_dir = (fs::path(ref.checkpoints_dir) / ref.name).string();
  source.epoch = epoch;
  source.generator = generator.first;
  source.generator_flag = generator.second;
  const nlohmann::json values = to_json(typed);
  nlohmann::json overrides = nlohmann::json::object();
  for (const char* flag :
       {"--input_nc", "--output_nc", "--ngf", "--netG", "--norm", "--no_dropout", "--dropout_placement"}) {
    if (given(cmd, flag)) overrides[flag + 2] = values.at(flag + 2);
  }
  LoadedGenerator m = load_generator(source, overrides);
  if (!m.integrity_note.empty()) std::cerr << "note: " << m.integrity_note << "\n";
  return m;
}

}  // namespace p2p::cli
