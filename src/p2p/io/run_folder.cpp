// Run folders (see run_folder.h): below training and deployment, which both find checkpoints here.
#include "p2p/io/run_folder.h"

#include "p2p/core/error.h"
#include "p2p/io/checkpoint.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <vector>

namespace fs = std::filesystem;

namespace p2p {

std::string checkpoint_path(const std::string& run_dir, const std::string& which) {
  if (which == "latest" || which == "best") return (fs::path(run_dir) / (which + ".pt")).string();
  try {
    size_t used = 0;
    const int n = std::stoi(which, &used);
    if (used == which.size() && n >= 0) return (fs::path(run_dir) / ("epoch_" + std::to_string(n) + ".pt")).string();
  } catch (...) {
  }
  fail("--epoch: '" + which + "' is not latest, best or an epoch number");
}

namespace {

// Sort key: latest, best, then numbered checkpoints by number, then anything else by name.
std::pair<long, std::string> order_key(const std::string& name) {
  if (name == "latest.pt") return {-2, name};
  if (name == "best.pt") return {-1, name};
  const std::string digits = name.rfind("epoch_", 0) == 0 ? name.substr(6) : name;
  char* end = nullptr;
  const long n = std::strtol(digits.c_str(), &end, 10);
  return {end != digits.c_str() ? n : 1L << 40, name};
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

}  // namespace

std::string describe_checkpoints(const std::string& run_dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(run_dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (ends_with(name, ".pt") || ends_with(name, "_net_G.pth")) names.push_back(name);
  }
  if (names.empty()) return "no checkpoints";
  std::sort(names.begin(), names.end(), [](const std::string& a, const std::string& b) { return order_key(a) < order_key(b); });
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

std::string existing_checkpoint(const std::string& run_dir, const std::string& which, bool reference) {
  const std::string ours = checkpoint_path(run_dir, which);
  std::error_code ec;
  if (fs::is_regular_file(ours, ec)) return ours;
  if (fs::exists(ours, ec)) {  // present, so "has no latest.pt" would contradict the listing
    fail("--epoch " + which + ": " + ours + " is " + (fs::is_directory(ours, ec) ? "a directory" : "not a regular file") +
         ", not a checkpoint file");
  }
  const std::string theirs = (fs::path(run_dir) / (which + "_net_G.pth")).string();
  if (reference && fs::is_regular_file(theirs, ec)) return theirs;
  if (!fs::is_directory(run_dir, ec)) {
    fail("run folder " + run_dir + " does not exist (check --name and --checkpoints_dir)");
  }
  fail("--epoch " + which + ": " + run_dir + " has no " + fs::path(ours).filename().string() +
       (reference ? " (nor a reference " + fs::path(theirs).filename().string() + ")" : std::string()) +
       "; it holds " + describe_checkpoints(run_dir));
}

nlohmann::json read_run_config(const std::string& run_dir) {
  const fs::path config = fs::path(run_dir) / "config.json";
  std::error_code ec;
  if (fs::is_regular_file(config, ec)) {
    std::ifstream in(config);
    try {
      return nlohmann::json::parse(in);
    } catch (const std::exception& e) {
      fail(config.string() + " is not valid JSON (" + e.what() + "); it is rewritten by the next training run");
    }
  }
  const std::string latest = checkpoint_path(run_dir, "latest");
  if (!fs::is_regular_file(latest, ec)) return nlohmann::json();
  const CheckpointMeta meta = read_checkpoint_meta(latest);
  return meta.config_json.empty() ? nlohmann::json() : nlohmann::json::parse(meta.config_json);
}

void check_run_name(const std::string& name) {
  if (name.empty() || name == "." || name.find("..") != std::string::npos || name.find('/') != std::string::npos ||
      name.find('\\') != std::string::npos || name.find('\0') != std::string::npos) {
    fail("--name '" + name + "': expected one folder name (no '/' or '..', not '.'); runs live in "
         "<checkpoints_dir>/<name>, and --checkpoints_dir chooses where");
  }
}

}  // namespace p2p
