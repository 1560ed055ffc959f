// `p2p data unpair` (see unpair.h): AB dataset -> <split>A / <split>B with hidden pairing + true partners.
#include "p2p/data/unpair.h"

#include "p2p/core/error.h"
#include "p2p/data/sampling.h"
#include "p2p/io/fs.h"
#include "p2p/io/image.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <unistd.h>

namespace fs = std::filesystem;

namespace p2p {

namespace {

const char* const kSplits[] = {"train", "val", "test"};  // index = split_index of unpair_order

struct AbFile {
  std::string path, stem;
};

// A folder path without a trailing separator, so "<out>.tmp-<pid>" is its sibling.
fs::path clean_path(const std::string& p) {
  fs::path n = fs::path(p).lexically_normal();
  if (n.filename().empty() && n.has_parent_path()) n = n.parent_path();
  return n;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

void copy_exact(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::copy_file(from, to, fs::copy_options::none, ec);
  if (ec) fail("cannot copy " + from.string() + " to " + to.string() + ": " + ec.message());
}

// Writes the [A | B] halves of one AB file: A to `a_png`, B to `b_png`, samples untouched.
void write_halves(const std::string& ab_path, const std::string& a_png, const std::string& b_png) {
  const DecodedImage img = decode_image(ab_path, 3);
  if (img.bit_depth != 8) {
    fail(ab_path + ": a 16-bit AB image; unpair writes 8-bit PNG halves and would change its values");
  }
  const int64_t h = img.samples.size(0), w = img.samples.size(1), n = img.samples.size(2);
  if (n != 1 && n != 3) {
    fail(ab_path + ": an AB image with an alpha channel; unpair writes gray or RGB PNG halves and would drop it");
  }
  const int64_t half = w / 2;
  for (const auto& [x, dst] : {std::pair<int64_t, std::string>{0, a_png}, {half, b_png}}) {
    const at::Tensor rows = img.samples.narrow(1, x, half).contiguous();
    PngRowWriter png(dst, half, h, static_cast<int>(n));
    png.write_rows(rows.data_ptr<uint8_t>(), h);
    png.finish();
  }
}

std::string b_name(int64_t k, int64_t n) {
  std::string digits = std::to_string(k + 1);
  const size_t width = std::max<size_t>(4, std::to_string(n).size());
  return "b_" + std::string(width - std::min(width, digits.size()), '0') + digits + ".png";
}

}  // namespace

std::vector<int64_t> unpair_order(int64_t n, uint64_t seed, int split_index) {
  const uint64_t split_seed = mix_seed(seed, static_cast<uint64_t>(split_index));
  for (int64_t attempt = 0;; ++attempt) {
    std::vector<int64_t> order = epoch_order(n, /*shuffle=*/true, split_seed, attempt);
    if (n < 2) return order;
    bool fixed_point = false;
    for (int64_t k = 0; k < n; ++k) fixed_point = fixed_point || order[static_cast<size_t>(k)] == k;
    if (!fixed_point) return order;  // about 1 draw in e has none, so this ends after a few draws
  }
}

std::vector<UnpairCounts> unpair_dataset(const std::string& ab_root, const std::string& out, uint64_t seed) {
  std::error_code ec;
  if (!fs::is_directory(ab_root, ec)) {
    fail("--dir " + ab_root + ": no such folder (expected an AB dataset root holding train/, val/ or test/)");
  }
  const fs::path out_path = clean_path(out);
  if (fs::exists(out_path, ec) && fs::equivalent(ab_root, out_path, ec)) {
    fail("--out " + out + ": is the --dir folder; unpair writes a new dataset and never changes its source");
  }
  if (fs::exists(out_path, ec) && (!fs::is_directory(out_path, ec) || !fs::is_empty(out_path, ec))) {
    fail("--out " + out + ": exists and is not empty; unpair never overwrites a dataset (name a new folder)");
  }

  // Everything that can be refused from names and headers is refused before anything is written.
  std::vector<std::pair<int, std::vector<AbFile>>> splits;
  for (int s = 0; s < 3; ++s) {
    const fs::path dir = fs::path(ab_root) / kSplits[s];
    if (!fs::is_directory(dir, ec)) continue;
    std::vector<AbFile> files;
    for (const std::string& p : list_images(dir.string())) files.push_back({p, file_stem(p)});
    if (files.empty()) continue;
    // Sorted as the A folder will list: by A file name.
    std::stable_sort(files.begin(), files.end(),
                     [](const AbFile& a, const AbFile& b) { return a.stem + ".png" < b.stem + ".png"; });
    std::map<std::string, std::string> seen;
    for (const AbFile& f : files) {
      const std::string ext = lower_extension(f.path);
      if (ext == ".tif" || ext == ".tiff") fail(f.path + ": TIFF AB images are not supported (unpair writes 8-bit PNG halves)");
      if (auto [it, fresh] = seen.emplace(f.stem, f.path); !fresh) {
        fail(it->second + " and " + f.path + ": two AB images with the stem '" + f.stem + "' (A files are named by stem)");
      }
      int w = 0, h = 0;
      image_size(f.path, w, h);
      if (w % 2 != 0) {
        fail(f.path + ": an AB image of odd width " + std::to_string(w) + " (expected A | B halves of equal width)");
      }
    }
    splits.emplace_back(s, std::move(files));
  }
  if (splits.empty()) {
    fail("--dir " + ab_root + ": no train/, val/ or test/ folder holding AB images (A | B side by side)");
  }

  if (out_path.has_parent_path()) make_dirs(out_path.parent_path().string());
  const fs::path tmp = out_path.string() + ".tmp-" + std::to_string(::getpid());
  fs::remove_all(tmp, ec);  // only a process with this pid names a folder so: a dead one's leftovers
  std::vector<UnpairCounts> counts;
  try {
    std::string csv = "split,A,B\n";
    for (const auto& [s, files] : splits) {
      const std::string split = kSplits[s], a_dir = split + "A", b_dir = split + "B";
      const int64_t n = static_cast<int64_t>(files.size());
      for (const std::string& d : {a_dir, b_dir, "truth/" + a_dir, "truth/" + b_dir}) make_dirs((tmp / d).string());
      // A halves in A-name order; B halves first as truth/<split>B/<stem>.png, then copied out under
      // their numbers in B-name order, so write times follow each folder's own names.
      for (const AbFile& f : files) {
        write_halves(f.path, (tmp / a_dir / (f.stem + ".png")).string(), (tmp / "truth" / b_dir / (f.stem + ".png")).string());
      }
      const std::vector<int64_t> order = unpair_order(n, seed, s);
      std::vector<std::string> partner(files.size());
      for (int64_t k = 0; k < n; ++k) {
        const AbFile& f = files[static_cast<size_t>(order[static_cast<size_t>(k)])];
        const std::string name = b_name(k, n);
        copy_exact(tmp / "truth" / b_dir / (f.stem + ".png"), tmp / b_dir / name);
        copy_exact(tmp / a_dir / (f.stem + ".png"), tmp / "truth" / a_dir / name);
        partner[static_cast<size_t>(order[static_cast<size_t>(k)])] = name;
      }
      for (size_t i = 0; i < files.size(); ++i) {
        csv += split + "," + csv_field(a_dir + "/" + files[i].stem + ".png") + "," + csv_field(b_dir + "/" + partner[i]) + "\n";
      }
      counts.push_back({split, n, n});
    }
    write_text_atomically((tmp / "partners.csv").string(), csv);
    fs::rename(tmp, out_path, ec);  // replaces an empty <out> folder
    if (ec) fail("--out " + out + ": cannot move the finished dataset " + tmp.string() + " there: " + ec.message());
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
  return counts;
}

}  // namespace p2p
