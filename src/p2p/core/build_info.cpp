// Program, build and machine description (see build_info.h).
#include "p2p/core/build_info.h"

#include "p2p_build_info.h"  // generated at build time: P2P_VERSION, P2P_GIT_REVISION

#include <nlohmann/json.hpp>
#include <torch/version.h>

#include <fstream>

namespace p2p {

const char* program_version() { return P2P_VERSION; }

const char* git_revision() { return P2P_GIT_REVISION; }

std::string libtorch_version() {
  const std::string package = P2P_LIBTORCH_PACKAGE_VERSION;  // set by CMake from Debian's package, or ""
  return package.empty() ? TORCH_VERSION : package;
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) != 0) continue;
    const size_t colon = line.find(':');
    if (colon == std::string::npos) break;
    const size_t start = line.find_first_not_of(" \t", colon + 1);
    return start == std::string::npos ? "" : line.substr(start);
  }
  return "";
}

nlohmann::json build_record(const c10::Device& device) {
  return {{"version", program_version()},
          {"git", git_revision()},
          {"libtorch", libtorch_version()},
          {"device", device.str()},
          {"cpu", cpu_model()}};
}

}  // namespace p2p
