// Paired datasets (see dataset.h): finding pairs on disk, the train/val split, and loading one pair.
// Pairs are matched by name, never by position in two sorted listings, so a missing file is an error
// instead of a silent shift of every later pair.
#include "p2p/data/dataset.h"

#include "p2p/core/error.h"
#include "p2p/data/normalization.h"
#include "p2p/data/pairing.h"
#include "p2p/data/palette.h"
#include "p2p/data/sampling.h"
#include "p2p/data/transforms.h"
#include "p2p/io/fs.h"
#include "p2p/io/image.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <sstream>

namespace fs = std::filesystem;

namespace p2p {

namespace {

constexpr const char* kLayouts =
    "expected either AB images (A and B side by side, split at half the width) or A/ and B/ subfolders "
    "of images paired by name";

std::string join_some(const std::vector<std::string>& names, size_t most = 5) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < most; ++i) out += (i ? ", " : "") + names[i];
  if (names.size() > most) out += ", ... (" + std::to_string(names.size() - most) + " more)";
  return out;
}

bool is_dir(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}

// Names of regular files in `dir` that are not decodable images (for an "empty folder" hint).
std::vector<std::string> other_files(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code type_ec;
    if (it->is_regular_file(type_ec) && !is_image_file(it->path().string())) {
      out.push_back(it->path().filename().string());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

[[noreturn]] void fail_no_images(const std::string& dir) {
  std::string msg = "no image files in " + dir + ": " + kLayouts;
  std::vector<std::string> others = other_files(dir);
  if (!others.empty()) {
    msg += ". It holds other files (" + join_some(others, 3) +
           "); supported formats: PNG, JPEG, BMP, TGA, PGM/PPM, TIFF";
  }
  fail(msg);
}

void sort_by_stem(std::vector<PairRecord>& pairs) {
  std::sort(pairs.begin(), pairs.end(), [](const PairRecord& a, const PairRecord& b) { return a.stem < b.stem; });
}

void check_unique_stems(const std::vector<PairRecord>& pairs, const std::string& dir) {
  std::vector<std::string> dups;
  for (size_t i = 1; i < pairs.size(); ++i) {
    if (pairs[i].stem == pairs[i - 1].stem) dups.push_back(pairs[i].stem);
  }
  if (!dups.empty()) {
    fail("several files in " + dir + " share a name apart from the extension (" + join_some(dups) +
         "); names must be unique because outputs are named after them");
  }
}

void check_config(const DataConfig& cfg) {
  check_choice("--direction", cfg.direction, "AtoB|BtoA");
  check_choice("--preprocess", cfg.preprocess, "resize_and_crop|crop|scale_width|scale_width_and_crop|none");
  // Any band count: colour files give 1, 3 or 4 channels, TIFF files any (checked per file on load).
  if (cfg.input_nc < 1) fail("--input_nc must be at least 1 (got " + std::to_string(cfg.input_nc) + ")");
  if (cfg.output_nc < 1) fail("--output_nc must be at least 1 (got " + std::to_string(cfg.output_nc) + ")");
  check_input_statistics(cfg);
  if (cfg.load_size < 1) fail("--load_size must be at least 1 (got " + std::to_string(cfg.load_size) + ")");
  if (cfg.crop_size < 1) fail("--crop_size must be at least 1 (got " + std::to_string(cfg.crop_size) + ")");
  if (cfg.size_multiple < 1) fail("size multiple must be at least 1 (got " + std::to_string(cfg.size_multiple) + ")");
}

}  // namespace

void parse_pair_replace(const std::string& spec, std::string& from, std::string& to) {
  from.clear();
  to.clear();
  if (spec.empty()) return;
  const size_t colon = spec.find(':');
  if (colon == std::string::npos || colon == 0) {
    fail("--pair_replace '" + spec + "': expected FROM:TO (e.g. _s1_:_s2_), which maps an A file name to its B file name");
  }
  from = spec.substr(0, colon);
  to = spec.substr(colon + 1);
}

std::vector<PairRecord> pair_by_name(const std::string& a_dir, const std::string& b_dir,
                                     const std::string& pair_replace) {
  std::string from, to;
  parse_pair_replace(pair_replace, from, to);
  const std::vector<std::string> a_files = list_images(a_dir);
  const std::vector<std::string> b_files = list_images(b_dir);
  std::map<std::string, size_t> b_by_name;
  std::map<std::string, std::vector<size_t>> b_by_stem;
  for (size_t i = 0; i < b_files.size(); ++i) {
    b_by_name[fs::path(b_files[i]).filename().string()] = i;
    b_by_stem[file_stem(b_files[i])].push_back(i);
  }
  std::vector<PairRecord> pairs;
  std::vector<std::string> lonely_a;
  std::vector<bool> b_used(b_files.size(), false);
  for (const std::string& a : a_files) {
    std::string name = fs::path(a).filename().string();
    if (!from.empty()) {
      const size_t at = name.find(from);
      if (at != std::string::npos) name.replace(at, from.size(), to);
    }
    long match = -1;
    auto exact = b_by_name.find(name);
    if (exact != b_by_name.end()) {
      match = static_cast<long>(exact->second);
    } else {
      auto by_stem = b_by_stem.find(file_stem(name));
      if (by_stem != b_by_stem.end() && by_stem->second.size() == 1) match = static_cast<long>(by_stem->second[0]);
    }
    if (match < 0) {
      lonely_a.push_back(fs::path(a).filename().string() + (name != fs::path(a).filename().string() ? " (looked for " + name + ")" : ""));
      continue;
    }
    b_used[match] = true;
    pairs.push_back(PairRecord{a, b_files[match], file_stem(a), false});
  }
  std::vector<std::string> lonely_b;
  for (size_t i = 0; i < b_files.size(); ++i) {
    if (!b_used[i]) lonely_b.push_back(fs::path(b_files[i]).filename().string());
  }
  const std::string hint = from.empty() ? " (if B names differ from A names by a fixed part, pass --pair_replace FROM:TO)"
                                        : " (A names map to B names by replacing '" + from + "' with '" + to + "')";
  if (!lonely_a.empty()) {
    fail(std::to_string(lonely_a.size()) + " image(s) in " + a_dir + " have no partner in " + b_dir + ": " +
         join_some(lonely_a) + hint);
  }
  if (!lonely_b.empty()) {
    fail(std::to_string(lonely_b.size()) + " image(s) in " + b_dir + " have no partner in " + a_dir + ": " +
         join_some(lonely_b) + hint);
  }
  sort_by_stem(pairs);
  check_unique_stems(pairs, a_dir);
  return pairs;
}

std::vector<PairRecord> find_pairs(const DataConfig& cfg, const std::string& dir) {
  check_choice("--dataset_mode", cfg.dataset_mode, "auto|aligned|folders");
  if (cfg.max_dataset_size < 1) {
    fail("--max_dataset_size must be at least 1 (got " + std::to_string(cfg.max_dataset_size) + ")");
  }
  if (!is_dir(dir)) {
    std::error_code ec;
    fail((fs::exists(dir, ec) ? "dataset path " + dir + " is not a folder: " : "dataset folder " + dir + " does not exist: ") +
         kLayouts);
  }
  const size_t colon = cfg.folder_names.find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == cfg.folder_names.size() ||
      cfg.folder_names.find_first_of("/:", colon + 1) != std::string::npos ||
      cfg.folder_names.substr(0, colon).find('/') != std::string::npos) {
    fail("--folder_names: '" + cfg.folder_names + "' is not of the form A_NAME:B_NAME (e.g. A:B or s1:s2)");
  }
  const std::string a_name = cfg.folder_names.substr(0, colon), b_name = cfg.folder_names.substr(colon + 1);
  const fs::path a_dir = fs::path(dir) / a_name;
  const fs::path b_dir = fs::path(dir) / b_name;
  const bool folders = cfg.dataset_mode == "folders" || (cfg.dataset_mode == "auto" && is_dir(a_dir) && is_dir(b_dir));
  std::vector<PairRecord> pairs;
  if (folders) {
    if (!is_dir(a_dir) || !is_dir(b_dir)) {
      fail("--dataset_mode folders: " + dir + " needs subfolders " + a_name + "/ and " + b_name + "/ (" +
           (is_dir(a_dir) ? b_name : a_name) + "/ is missing; see --folder_names)");
    }
    pairs = pair_by_name(a_dir.string(), b_dir.string(), cfg.pair_replace);
    if (pairs.empty()) fail("no image pairs in " + a_dir.string() + " and " + b_dir.string() + ": " + kLayouts);
  } else {
    for (const std::string& path : list_images(dir)) pairs.push_back(PairRecord{path, path, file_stem(path), true});
    if (pairs.empty()) fail_no_images(dir);
    sort_by_stem(pairs);
    check_unique_stems(pairs, dir);
  }
  if (static_cast<int64_t>(pairs.size()) > cfg.max_dataset_size) pairs.resize(static_cast<size_t>(cfg.max_dataset_size));
  return pairs;
}

Splits train_val_split(const DataConfig& cfg) {
  if (cfg.dataroot.empty()) fail("--dataroot is required: the folder holding " + cfg.phase + "/ (and optionally val/)");
  Splits s;
  const fs::path root(cfg.dataroot);
  std::vector<PairRecord> pairs = find_pairs(cfg, (root / cfg.phase).string());
  if (cfg.phase != "val" && is_dir(root / "val")) {
    s.train = std::move(pairs);
    s.val = find_pairs(cfg, (root / "val").string());
    s.val_source = "from " + (root / "val").string();
    return s;
  }
  const std::vector<bool> mask = val_mask(pairs.size(), cfg.val_fraction);
  for (size_t i = 0; i < pairs.size(); ++i) (mask[i] ? s.val : s.train).push_back(std::move(pairs[i]));
  std::ostringstream source;
  if (s.val.empty()) {
    source << "none: no " << (root / "val").string() << " and --val_fraction " << cfg.val_fraction;
  } else {
    source << "held out from " << cfg.phase << "/ by --val_fraction " << cfg.val_fraction
           << "; the reference trains on all pairs";
  }
  s.val_source = source.str();
  return s;
}

PairedDataset::PairedDataset(std::vector<PairRecord> records, DataConfig cfg, bool augment)
    : records_(std::move(records)), cfg_(std::move(cfg)), augment_(augment) {
  check_config(cfg_);
  if (!cfg_.palette.empty()) {
    if (cfg_.output_nc != 3) fail("internal: label maps (--palette) are read as RGB, but B is set to " + std::to_string(cfg_.output_nc) + " channels");
    palette_ = std::make_shared<const Palette>(load_palette(cfg_.palette));
  }
}

std::string PairedDataset::describe(size_t index) const {
  const PairRecord& r = records_.at(index);
  return r.aligned ? r.a_path : r.a_path + " / " + r.b_path;
}

Sample PairedDataset::get(size_t index, uint64_t seed) const {
  const PairRecord& r = records_.at(index);
  // Loading, --direction and SAR dB live in normalization.cpp, shared with the statistics pass and inference.
  const LoadedPair loaded = load_pair(r, cfg_);
  const at::Tensor& a = loaded.A;
  const at::Tensor& b = loaded.B;
  const int a_bits = loaded.a_bits;
  const int b_bits = loaded.b_bits;
  const AugmentParams p = draw_augment(cfg_, static_cast<int>(a.size(2)), static_cast<int>(a.size(1)), seed, augment_,
                                       r.a_path);
  Sample s;
  s.A = input_to_network(apply_augment(a, p, cfg_.crop_size, a_bits, p.color_A), cfg_);
  if (palette_) {
    // Decoded at the file's own resolution, then given the pair's geometry by nearest sampling.
    const at::Tensor ids = decode_labels(b, *palette_, cfg_.palette_distance).ids;
    s.B = apply_augment_labels(ids.unsqueeze(0).to(at::kFloat), p, cfg_.crop_size);
  } else {
    s.B = to_network_range(apply_augment(b, p, cfg_.crop_size, b_bits, p.color_B));
  }
  s.stem = r.stem;
  return s;
}

}  // namespace p2p
