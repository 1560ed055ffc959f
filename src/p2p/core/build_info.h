// What built this program and where it runs, for run records (config.json) and benchmark lines: the
// project version, the git revision of the checkout it was built from, the LibTorch version, and the
// device with the CPU model (benchmark numbers differ between AMD EPYC and Intel Xeon machines).
#pragma once

#include <c10/core/Device.h>
#include <nlohmann/json_fwd.hpp>

#include <string>

namespace p2p {

const char* program_version();  // "0.1.0"
const char* git_revision();     // "" when not built from a git checkout; "-dirty" when it had changes
std::string libtorch_version(); // "1.13.0"
std::string cpu_model();        // /proc/cpuinfo's "model name", "" when unknown

// {"version", "git", "libtorch", "device", "cpu"}.
nlohmann::json build_record(const c10::Device& device);

}  // namespace p2p
