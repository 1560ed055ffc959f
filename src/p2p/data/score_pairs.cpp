// Pairing a folder of outputs with a folder of references by file stem (see pairing.h,
// pair_outputs_by_stem). Shared by every folder score so they all pair, and refuse, the same way.
#include "p2p/core/error.h"
#include "p2p/data/pairing.h"
#include "p2p/io/fs.h"

#include <ATen/Tensor.h>

#include <map>

namespace p2p {

namespace {

// stem -> path for the images of `dir`; two files with one stem (a.png, a.jpg) would be ambiguous.
std::map<std::string, std::string> images_by_stem(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const std::string& path : list_images(dir)) {
    auto [it, inserted] = out.emplace(file_stem(path), path);
    if (!inserted) fail("two images with the name '" + it->first + "' in " + dir + ": " + it->second + " and " + path);
  }
  return out;
}

}  // namespace

std::vector<PairRecord> pair_outputs_by_stem(const std::string& pred_dir, const std::string& target_dir) {
  const auto preds = images_by_stem(pred_dir);
  const auto targets = images_by_stem(target_dir);
  if (preds.empty()) fail("no images in " + pred_dir);
  // Report every unmatched name on either side before any work is done.
  for (const auto& [stem, path] : preds) {
    if (!targets.count(stem)) fail(path + " has no target named '" + stem + ".*' in " + target_dir);
  }
  for (const auto& [stem, path] : targets) {
    if (!preds.count(stem)) fail(path + " has no prediction named '" + stem + ".*' in " + pred_dir);
  }
  std::vector<PairRecord> pairs;
  for (const auto& [stem, pred_path] : preds) pairs.push_back(PairRecord{pred_path, targets.at(stem), stem, false});
  return pairs;
}

void check_pair_sizes(const PairRecord& pair, const at::Tensor& pred, const at::Tensor& target) {
  if (pred.sizes() == target.sizes()) return;
  fail("image sizes differ: " + pair.a_path + " is " + std::to_string(pred.size(2)) + "x" + std::to_string(pred.size(1)) +
       ", " + pair.b_path + " is " + std::to_string(target.size(2)) + "x" + std::to_string(target.size(1)));
}

}  // namespace p2p
