// Unaligned data (see unaligned.h).
#include "p2p/data/unaligned.h"

#include "p2p/core/error.h"
#include "p2p/data/normalization.h"
#include "p2p/data/sampling.h"
#include "p2p/data/transforms.h"
#include "p2p/io/fs.h"
#include "p2p/io/image.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <filesystem>
#include <utility>

namespace fs = std::filesystem;

namespace p2p {

namespace {

bool is_dir(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}

std::vector<std::string> images_of(const fs::path& dir, const DataConfig& cfg) {
  if (!is_dir(dir)) {
    fail("unaligned dataset folder " + dir.string() + " does not exist: an unaligned (CycleGAN) dataset holds " +
         "<phase>A/ and <phase>B/ folders of images, e.g. trainA/ and trainB/ (`p2p data unpair` makes one from AB images)");
  }
  std::vector<std::string> files = list_images(dir.string());
  if (files.empty()) fail("no image files in " + dir.string() + " (supported formats: PNG, JPEG, BMP, TGA, PGM/PPM, TIFF)");
  if (static_cast<int64_t>(files.size()) > cfg.max_dataset_size) files.resize(static_cast<size_t>(cfg.max_dataset_size));
  return files;
}

}  // namespace

bool has_unaligned(const std::string& root, const std::string& phase) {
  return is_dir(fs::path(root) / (phase + "A")) && is_dir(fs::path(root) / (phase + "B"));
}

UnalignedFiles find_unaligned(const DataConfig& cfg, const std::string& root, const std::string& phase) {
  if (cfg.max_dataset_size < 1) {
    fail("--max_dataset_size must be at least 1 (got " + std::to_string(cfg.max_dataset_size) + ")");
  }
  UnalignedFiles f;
  f.a_dir = (fs::path(root) / (phase + "A")).string();
  f.b_dir = (fs::path(root) / (phase + "B")).string();
  f.A = images_of(f.a_dir, cfg);
  f.B = images_of(f.b_dir, cfg);
  return f;
}

UnalignedDataset::UnalignedDataset(UnalignedFiles files, DataConfig cfg, bool augment)
    : files_(std::move(files)), cfg_(std::move(cfg)), augment_(augment) {
  check_choice("--direction", cfg_.direction, "AtoB|BtoA");
  check_augment_config(cfg_);
  if (!cfg_.palette.empty()) fail("--palette: unaligned data holds images of two domains, not label maps to decode");
  if (cfg_.normalize != "none") {
    fail("--normalize " + cfg_.normalize + ": with unaligned data both domains are generated (tanh, [-1,1]), so "
         "each keeps the [-1,1] mapping; use --normalize none");
  }
  if (cfg_.direction == "BtoA") {  // the network input comes from the B folder
    std::swap(files_.A, files_.B);
    std::swap(files_.a_dir, files_.b_dir);
  }
  if (files_.A.empty() || files_.B.empty()) fail("internal: an unaligned dataset needs images on both sides");
  const fs::path input(files_.a_dir);
  const std::string split = input.filename().string();  // e.g. testB under BtoA
  if (split.size() > 1 && (split.back() == 'A' || split.back() == 'B')) {
    const fs::path truth = input.parent_path() / "truth" / (split.substr(0, split.size() - 1) + (split.back() == 'A' ? "B" : "A"));
    if (is_dir(truth)) {
      for (const std::string& f : list_images(truth.string())) partners_[file_stem(f)] = f;
    }
  }
}

at::Tensor UnalignedDataset::load_partner(const std::string& path) const {
  int bits = 8;
  const at::Tensor unit = load_image(path, cfg_.output_nc, bits, "--output_nc");
  const AugmentParams p =
      draw_augment(cfg_, static_cast<int>(unit.size(2)), static_cast<int>(unit.size(1)), 0, /*augment=*/false, path);
  return to_network_range(apply_augment(unit, p, cfg_.crop_size, bits));
}

size_t UnalignedDataset::size() const { return std::max(files_.A.size(), files_.B.size()); }

size_t UnalignedDataset::b_index(size_t index, uint64_t seed) const {
  if (cfg_.serial_batches || !augment_) return index % files_.B.size();
  return static_cast<size_t>(splitmix64(mix_seed(seed, 0x42)) % files_.B.size());
}

std::string UnalignedDataset::describe(size_t index) const { return files_.A.at(index % files_.A.size()); }

const std::string& UnalignedDataset::b_file(size_t index, uint64_t seed) const {
  return files_.B.at(b_index(index, seed));
}

Sample UnalignedDataset::get(size_t index, uint64_t seed) const {
  const std::string& a_path = files_.A.at(index % files_.A.size());
  const std::string& b_path = b_file(index, seed);
  int a_bits = 8, b_bits = 8;
  at::Tensor a = load_image(a_path, cfg_.input_nc, a_bits, cfg_.direction == "BtoA" ? "--input_nc (the B folder)" : "--input_nc");
  at::Tensor b = load_image(b_path, cfg_.output_nc, b_bits, cfg_.direction == "BtoA" ? "--output_nc (the A folder)" : "--output_nc");
  if (cfg_.sar_db) {
    double lo = 0, hi = 0;
    parse_db_range(cfg_.db_range, lo, hi);
    a = sar_db_to_unit(a, lo, hi);
    a_bits = 32;
  }
  fill_input_nodata(a, cfg_);
  b.masked_fill_(b.isnan(), 0.5);
  // Independent draws per side (the reference transforms A and B separately).
  const AugmentParams pa = draw_augment(cfg_, static_cast<int>(a.size(2)), static_cast<int>(a.size(1)), seed, augment_, a_path);
  const AugmentParams pb = draw_augment(cfg_, static_cast<int>(b.size(2)), static_cast<int>(b.size(1)),
                                        mix_seed(seed, 0xB), augment_, b_path);
  Sample s;
  s.A = input_to_network(apply_augment(a, pa, cfg_.crop_size, a_bits, pa.color_A), cfg_);
  s.B = to_network_range(apply_augment(b, pb, cfg_.crop_size, b_bits, pb.color_B));
  s.stem = file_stem(a_path);
  return s;
}

}  // namespace p2p
