// Augmentation preview (see preview.h). It goes through PairedDataset::get with the loader's seeds
// rather than re-implementing any step, so what it shows cannot drift from what training sees.
#include "p2p/data/preview.h"

#include "p2p/core/error.h"
#include "p2p/data/dataset.h"
#include "p2p/data/sampling.h"
#include "p2p/io/fs.h"
#include "p2p/io/image.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <filesystem>

namespace p2p {

namespace {

// 1 channel stays gray, 3 stay RGB, more keep their first three, 2 show their first as gray.
at::Tensor displayable(const at::Tensor& unit) {
  const int64_t c = unit.size(0);
  if (c == 1 || c == 3) return unit;
  if (c > 3) return unit.narrow(0, 0, 3);
  return unit.narrow(0, 0, 1);
}

}  // namespace

at::Tensor preview_image(const at::Tensor& a_unit, const at::Tensor& b_unit) {
  at::Tensor a = displayable(a_unit);
  at::Tensor b = displayable(b_unit);
  if (a.size(0) != b.size(0)) {
    if (a.size(0) == 1) a = a.expand({3, a.size(1), a.size(2)});
    if (b.size(0) == 1) b = b.expand({3, b.size(1), b.size(2)});
  }
  if (a.size(1) != b.size(1)) {
    fail("augmentation preview: A is " + std::to_string(a.size(1)) + " pixels high but B " +
         std::to_string(b.size(1)) + "; A and B of a pair must have the same size");
  }
  return at::cat({a, b}, 2);
}

std::vector<std::string> write_augment_preview(const DataConfig& cfg, int n, uint64_t seed, const std::string& out_dir) {
  if (n < 1) fail("--n must be at least 1 (got " + std::to_string(n) + ")");
  const Splits splits = train_val_split(cfg);
  if (splits.train.empty()) fail("no training pairs in " + cfg.dataroot + " to preview (all went to validation)");
  const PairedDataset dataset(splits.train, cfg, true);
  constexpr int64_t kEpoch = 1;
  const std::vector<int64_t> order =
      epoch_order(static_cast<int64_t>(dataset.size()), !cfg.serial_batches, seed, kEpoch);
  make_dirs(out_dir);
  std::vector<std::string> written;
  const int64_t count = std::min<int64_t>(n, static_cast<int64_t>(order.size()));
  for (int64_t k = 0; k < count; ++k) {
    const Sample s = dataset.get(static_cast<size_t>(order[static_cast<size_t>(k)]), sample_seed(seed, kEpoch, k));
    const std::string path =
        (std::filesystem::path(out_dir) / (std::to_string(k) + "_" + s.stem + ".png")).string();
    save_png(path, preview_image(to_unit_range(s.A), to_unit_range(s.B)));
    written.push_back(path);
  }
  return written;
}

}  // namespace p2p
