// Generator export and import (see export.h).
#include "p2p/eval/export.h"

#include "p2p/core/build_info.h"
#include "p2p/core/error.h"
#include "p2p/io/safetensors.h"

#include <filesystem>

namespace fs = std::filesystem;

namespace p2p {

namespace {
constexpr const char* kFormat = "pix2pix.cpp generator";
}

void export_generator_safetensors(const std::string& path, const Network& G, const nlohmann::json& config,
                                  const std::string& source) {
  if (!config.is_object() || !config.contains("net")) fail("export: the generator's architecture options are unknown");
  Safetensors file;
  file.tensors = state_dict_of(G);
  file.metadata["format"] = kFormat;
  file.metadata["pix2pix.version"] = program_version();
  file.metadata["pix2pix.net"] = config["net"].dump();
  if (config.contains("data") && config["data"].is_object()) {
    nlohmann::json data = config["data"];
    data.erase("dataroot");  // where the training data lived is no business of a shipped model
    file.metadata["pix2pix.data"] = data.dump();
  }
  if (!source.empty()) file.metadata["pix2pix.source"] = fs::path(source).filename().string();
  write_safetensors(path, file);
}

StateDict read_generator_weights(const std::string& path, nlohmann::json& config) {
  if (!is_safetensors_file(path)) return read_state_dict(path);
  Safetensors file = read_safetensors(path);
  auto json_of = [&](const char* key) {
    try {
      return nlohmann::json::parse(file.metadata.at(key));
    } catch (const std::exception&) {
      fail(path + ": the safetensors header's " + key + " is missing or not JSON (was it written by p2p export?)");
    }
  };
  if (file.metadata.count("format") == 0 || file.metadata["format"] != kFormat) {
    fail(path + ": a safetensors file, but not a pix2pix.cpp generator export (its __metadata__ has no format \"" +
         std::string(kFormat) + "\"), so its architecture is unknown");
  }
  config = nlohmann::json::object();
  config["net"] = json_of("pix2pix.net");
  if (file.metadata.count("pix2pix.data")) config["data"] = json_of("pix2pix.data");
  return std::move(file.tensors);
}

}  // namespace p2p
