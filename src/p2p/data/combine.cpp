// `p2p data` helpers (see combine.h): AB images from A/ and B/ folders, and a train/val split of a
// folder. Pairing and the val selection are the ones training uses (pair_by_name, val_mask), so a
// combined or split folder trains exactly like the separate folders it came from.
#include "p2p/data/combine.h"

#include "p2p/core/error.h"
#include "p2p/data/pairing.h"
#include "p2p/data/sampling.h"
#include "p2p/io/fs.h"
#include "p2p/io/image.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <filesystem>

namespace fs = std::filesystem;

namespace p2p {

int64_t combine_ab(const std::string& a_dir, const std::string& b_dir, const std::string& out_dir,
                   const std::string& pair_replace) {
  const std::vector<PairRecord> pairs = pair_by_name(a_dir, b_dir, pair_replace);
  if (pairs.empty()) fail("no images to combine in " + a_dir + " and " + b_dir);
  make_dirs(out_dir);
  int64_t written = 0;
  for (const PairRecord& p : pairs) {
    // RGB output: an AB file holds both halves at one channel count, and gray loads back exactly.
    const at::Tensor a = load_image(p.a_path, 3);
    const at::Tensor b = load_image(p.b_path, 3);
    if (a.sizes() != b.sizes()) {
      fail("cannot combine " + p.a_path + " (" + std::to_string(a.size(2)) + "x" + std::to_string(a.size(1)) + ") with " +
           p.b_path + " (" + std::to_string(b.size(2)) + "x" + std::to_string(b.size(1)) +
           "): A and B must be the same size");
    }
    save_png((fs::path(out_dir) / (p.stem + ".png")).string(), at::cat({a, b}, 2));
    ++written;
  }
  return written;
}

SplitCounts split_train_val(const std::string& dir, const std::string& out_root, double val_fraction) {
  std::vector<std::string> files = list_images(dir);
  if (files.empty()) fail("no image files in " + dir + " to split");
  // Same order as find_pairs (by stem), so the held-out files are the ones train_val_split would pick.
  std::stable_sort(files.begin(), files.end(),
                   [](const std::string& a, const std::string& b) { return file_stem(a) < file_stem(b); });
  const std::vector<bool> mask = val_mask(files.size(), val_fraction);
  const fs::path train_dir = fs::path(out_root) / "train";
  const fs::path val_dir = fs::path(out_root) / "val";
  make_dirs(train_dir.string());
  make_dirs(val_dir.string());
  SplitCounts counts;
  for (size_t i = 0; i < files.size(); ++i) {
    ++(mask[i] ? counts.val : counts.train);
    const fs::path src(files[i]);
    const fs::path dst = (mask[i] ? val_dir : train_dir) / src.filename();
    std::error_code ec;
    if (fs::equivalent(src, dst, ec)) continue;
    fs::copy_file(src, dst, fs::copy_options::overwrite_existing, ec);
    if (ec) fail("cannot copy " + src.string() + " to " + dst.string() + ": " + ec.message());
  }
  return counts;
}

}  // namespace p2p
