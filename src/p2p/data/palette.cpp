// Palettes (see palette.h): the built-in tables, the JSON file format, exact nearest-colour decoding
// through a lazily filled 24-bit lookup table, and palette proposals from the colour histogram of flat areas.
#include "p2p/data/palette.h"

#include "p2p/data/dataset.h"

#include "p2p/core/error.h"
#include "p2p/io/image.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <unordered_map>

namespace p2p {

namespace {

// Cityscapes (cityscapesScripts helpers/labels.py): the 19 train classes in trainId order, then the colours
// gtFine_color draws for ids whose trainId is 255. polegroup (153,153,153) is left out: it has pole's
// colour, so colour labels cannot tell them apart and the colour decodes to pole.
const std::vector<PaletteEntry>& cityscapes_entries() {
  static const std::vector<PaletteEntry> entries = {
      {"road", {128, 64, 128}},        {"sidewalk", {244, 35, 232}},      {"building", {70, 70, 70}},
      {"wall", {102, 102, 156}},       {"fence", {190, 153, 153}},        {"pole", {153, 153, 153}},
      {"traffic light", {250, 170, 30}}, {"traffic sign", {220, 220, 0}}, {"vegetation", {107, 142, 35}},
      {"terrain", {152, 251, 152}},    {"sky", {70, 130, 180}},           {"person", {220, 20, 60}},
      {"rider", {255, 0, 0}},          {"car", {0, 0, 142}},              {"truck", {0, 0, 70}},
      {"bus", {0, 60, 100}},           {"train", {0, 80, 100}},           {"motorcycle", {0, 0, 230}},
      {"bicycle", {119, 11, 32}},
      // ids 0-4 (unlabeled, ego vehicle, rectification border, out of roi, static) are all black.
      {"unlabeled", {0, 0, 0}, true},  {"dynamic", {111, 74, 0}, true},   {"ground", {81, 0, 81}, true},
      {"parking", {250, 170, 160}, true}, {"rail track", {230, 150, 140}, true},
      {"guard rail", {180, 165, 180}, true}, {"bridge", {150, 100, 100}, true}, {"tunnel", {150, 120, 90}, true},
      {"caravan", {0, 0, 90}, true},   {"trailer", {0, 0, 110}, true},
  };
  return entries;
}

// CMP facades as the pix2pix facades label images draw them. Measured on the label halves (x 256..511) of
// the 400 training images of ../shared/datasets/facades (JPEG): the colour histogram has 12 sharp peaks,
// the colours below (each the most frequent exact colour of its peak), spaced ~80 units apart along the
// jet colour map. CMP label k (1-based: background, facade, window, door, cornice, sill, balcony, blind,
// deco, molding, pillar, shop) is the k-th of them in jet order. The CMP set's own colours
// (REFERENCE_EVAL.md §4) order cornice, sill and deco differently; the layout decides for the label order:
// the 5th colour sits above windows (cornice), the 6th in thin strips below them (sill), the 4th and 12th
// low on the facade (door, shop), the 11th in tall thin strips (pillar), the 8th beside windows (blind).
// Share of the training label pixels each decodes to at kDefaultPaletteDistance: background 22.7%, facade
// 34.2%, window 12.5%, door 1.3%, cornice 2.8%, sill 3.2%, balcony 4.5%, blind 0.8%, deco 1.8%, molding
// 7.9%, pillar 0.8%, shop 4.2%; ignored 3.1% (at most 11.2% of one image; test split 3.3%, at most 15.0%),
// the JPEG blends at class edges of kDefaultPaletteDistance.
const std::vector<PaletteEntry>& facades_entries() {
  static const std::vector<PaletteEntry> entries = {
      {"background", {0, 0, 222}}, {"facade", {0, 48, 255}},    {"window", {0, 128, 255}},
      {"door", {1, 207, 255}},     {"cornice", {32, 255, 224}}, {"sill", {112, 254, 142}},
      {"balcony", {192, 255, 63}}, {"blind", {255, 240, 1}},    {"deco", {255, 159, 0}},
      {"molding", {255, 80, 0}},   {"pillar", {253, 1, 0}},     {"shop", {174, 0, 1}},
  };
  return entries;
}

std::string rgb_str(const std::array<uint8_t, 3>& c) {
  return "[" + std::to_string(c[0]) + "," + std::to_string(c[1]) + "," + std::to_string(c[2]) + "]";
}

uint32_t rgb_key(const std::array<uint8_t, 3>& c) { return (uint32_t(c[0]) << 16) | (uint32_t(c[1]) << 8) | c[2]; }

// Repeated colours or names, no class, too many colours: the same rules for built-in and file palettes.
void check_palette(const Palette& p, const std::string& where) {
  if (p.entries.empty()) fail(where + ": \"classes\" is empty: expected at least one {\"name\", \"color\"}");
  if (p.entries.size() > static_cast<size_t>(kMaxPaletteColours)) {
    fail(where + ": " + std::to_string(p.entries.size()) + " colours; at most " + std::to_string(kMaxPaletteColours) +
         " are supported");
  }
  if (p.num_classes() == 0) fail(where + ": every entry is \"ignore\"; expected at least one class");
  std::map<uint32_t, size_t> by_colour;
  std::map<std::string, size_t> by_name;
  for (size_t i = 0; i < p.entries.size(); ++i) {
    const PaletteEntry& e = p.entries[i];
    const std::string key = where + ": classes[" + std::to_string(i) + "]";
    auto c = by_colour.emplace(rgb_key(e.rgb), i);
    if (!c.second) {
      fail(key + ".color " + rgb_str(e.rgb) + " repeats classes[" + std::to_string(c.first->second) + "] ('" +
           p.entries[c.first->second].name + "'); every colour must name one class");
    }
    auto n = by_name.emplace(e.name, i);
    if (!n.second) fail(key + ".name '" + e.name + "' repeats classes[" + std::to_string(n.first->second) + "]");
  }
}

std::array<uint8_t, 3> parse_colour(const nlohmann::json& j, const std::string& key) {
  auto bad = [&] { fail(key + ": expected 3 integers 0..255 ([R,G,B]), got " + j.dump()); };
  if (!j.is_array() || j.size() != 3) bad();
  std::array<uint8_t, 3> rgb{};
  for (size_t k = 0; k < 3; ++k) {
    if (!j[k].is_number_integer()) bad();
    const int64_t v = j[k].get<int64_t>();
    if (v < 0 || v > 255) bad();
    rgb[k] = static_cast<uint8_t>(v);
  }
  return rgb;
}

Palette parse_palette_json(const nlohmann::json& j, const std::string& path) {
  if (!j.is_object()) fail(path + ": expected a JSON object {\"name\": ..., \"classes\": [...]}");
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() != "name" && it.key() != "classes" && it.key() != "source") {
      fail(path + ": unknown key \"" + it.key() + "\" (expected name, classes, source)");
    }
  }
  Palette p;
  p.name = std::filesystem::path(path).stem().string();
  if (j.contains("name")) {
    if (!j["name"].is_string()) fail(path + ": \"name\" must be a string, got " + j["name"].dump());
    p.name = j["name"].get<std::string>();
  }
  if (!j.contains("classes") || !j["classes"].is_array()) {
    fail(path + ": \"classes\" is required: an array of {\"name\": ..., \"color\": [R,G,B]}");
  }
  const nlohmann::json& classes = j["classes"];
  for (size_t i = 0; i < classes.size(); ++i) {
    const std::string key = path + ": classes[" + std::to_string(i) + "]";
    const nlohmann::json& c = classes[i];
    if (!c.is_object()) fail(key + ": expected an object {\"name\": ..., \"color\": [R,G,B]}, got " + c.dump());
    for (auto it = c.begin(); it != c.end(); ++it) {
      if (it.key() != "name" && it.key() != "color" && it.key() != "ignore" && it.key() != "share") {
        fail(key + ": unknown key \"" + it.key() + "\" (expected name, color, ignore, share)");
      }
    }
    PaletteEntry e;
    if (!c.contains("name") || !c["name"].is_string() || c["name"].get<std::string>().empty()) {
      fail(key + ".name: expected a non-empty string");
    }
    e.name = c["name"].get<std::string>();
    if (!c.contains("color")) fail(key + ".color: required (3 integers 0..255)");
    e.rgb = parse_colour(c["color"], key + ".color");
    if (c.contains("ignore")) {
      if (!c["ignore"].is_boolean()) fail(key + ".ignore: expected true or false, got " + c["ignore"].dump());
      e.ignore = c["ignore"].get<bool>();
    }
    p.entries.push_back(e);
  }
  return p;
}

// A 24-bit colour -> palette entry table, filled as colours are met: 0 = not looked up yet, 1..N = entry
// index + 1, kFar = no entry within the distance. calloc'd, so only the pages of colours an image uses
// are ever touched; a table is 16 MiB of address space and one call's worth of memory.
constexpr uint8_t kFar = 255;
static_assert(kMaxPaletteColours < kFar, "entry codes must not reach kFar");

struct FreeDeleter {
  void operator()(uint8_t* p) const { std::free(p); }
};

// 8-bit RGB of [3,H,W] values in [0,1]: the samples a label file holds.
at::Tensor to_rgb8(const at::Tensor& image) {
  return image.detach().to(at::kCPU, at::kFloat).clamp(0, 1).mul(255).round().to(at::kByte).contiguous();
}

}  // namespace

int Palette::num_classes() const {
  return static_cast<int>(std::count_if(entries.begin(), entries.end(), [](const PaletteEntry& e) { return !e.ignore; }));
}

std::vector<std::string> Palette::class_names() const {
  std::vector<std::string> names;
  for (const PaletteEntry& e : entries) {
    if (!e.ignore) names.push_back(e.name);
  }
  return names;
}

Palette load_palette(const std::string& name_or_file) {
  Palette p;
  if (name_or_file == "cityscapes" || name_or_file == "facades") {
    p.name = name_or_file;
    p.entries = name_or_file == "cityscapes" ? cityscapes_entries() : facades_entries();
    check_palette(p, "built-in palette " + name_or_file);
    return p;
  }
  std::error_code ec;
  if (!std::filesystem::is_regular_file(name_or_file, ec)) {
    fail("palette '" + name_or_file + "': no such file; expected a built-in palette (cityscapes, facades) or a JSON "
         "file {\"name\": ..., \"classes\": [{\"name\": ..., \"color\": [R,G,B]}, ...]}");
  }
  std::ifstream in(name_or_file);
  if (!in) fail("cannot read palette file " + name_or_file);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    fail(name_or_file + ": not valid JSON (" + e.what() + ")");
  }
  p = parse_palette_json(j, name_or_file);
  check_palette(p, name_or_file);
  return p;
}

nlohmann::json palette_to_json(const Palette& palette) {
  nlohmann::json classes = nlohmann::json::array();
  for (const PaletteEntry& e : palette.entries) {
    nlohmann::json c{{"name", e.name}, {"color", {e.rgb[0], e.rgb[1], e.rgb[2]}}};
    if (e.ignore) c["ignore"] = true;
    classes.push_back(c);
  }
  return nlohmann::json{{"name", palette.name}, {"classes", classes}};
}

DecodedLabels decode_labels(const at::Tensor& image, const Palette& palette, double max_distance) {
  if (image.dim() != 3 || image.size(0) != 3 || !image.is_floating_point()) {
    std::ostringstream s;
    s << image.sizes();
    fail("decode labels: expected a [3,H,W] float colour image in [0,1], got " + s.str());
  }
  if (!(max_distance >= 0) || !std::isfinite(max_distance)) {
    fail("decode labels: the colour distance must be a finite number >= 0, got " + std::to_string(max_distance));
  }
  check_palette(palette, "palette " + palette.name);
  const size_t n_entries = palette.entries.size();
  // Code -> id, and integer entry colours for the exact search.
  std::array<int64_t, 256> id_of_code{};
  std::array<bool, 256> ignore_code{};  // codes of ignore entries
  std::vector<std::array<int, 3>> colours(n_entries);
  int64_t next_class = 0;
  id_of_code[0] = kIgnoreClass;
  id_of_code[kFar] = kIgnoreClass;
  for (size_t e = 0; e < n_entries; ++e) {
    const PaletteEntry& entry = palette.entries[e];
    id_of_code[e + 1] = entry.ignore ? kIgnoreClass : next_class++;
    ignore_code[e + 1] = entry.ignore;
    colours[e] = {entry.rgb[0], entry.rgb[1], entry.rgb[2]};
  }
  const double max_d2 = max_distance * max_distance;

  std::unique_ptr<uint8_t, FreeDeleter> lut(static_cast<uint8_t*>(std::calloc(size_t(1) << 24, 1)));
  if (!lut) throw std::bad_alloc();
  uint8_t* table = lut.get();
  const at::Tensor rgb = to_rgb8(image);
  const int64_t h = image.size(1), w = image.size(2), n = h * w;
  const uint8_t* r = rgb.data_ptr<uint8_t>();
  const uint8_t* g = r + n;
  const uint8_t* b = g + n;
  at::Tensor ids = at::empty({h, w}, at::kLong);
  int64_t* out = ids.data_ptr<int64_t>();
  int64_t far = 0, ignore_colour = 0;
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t key = (uint32_t(r[i]) << 16) | (uint32_t(g[i]) << 8) | b[i];
    uint8_t code = table[key];
    if (code == 0) {
      int best = 0, best_d2 = 1 << 30;
      for (size_t e = 0; e < n_entries; ++e) {
        const int dr = int(r[i]) - colours[e][0], dg = int(g[i]) - colours[e][1], db = int(b[i]) - colours[e][2];
        const int d2 = dr * dr + dg * dg + db * db;
        if (d2 < best_d2) best_d2 = d2, best = static_cast<int>(e);  // strict: ties keep the earlier entry
      }
      code = best_d2 > max_d2 ? kFar : static_cast<uint8_t>(best + 1);
      table[key] = code;
    }
    out[i] = id_of_code[code];
    if (code == kFar) {
      ++far;
    } else if (ignore_code[code]) {
      ++ignore_colour;
    }
  }
  DecodedLabels d;
  d.ids = ids;
  if (n > 0) {
    d.far_fraction = static_cast<double>(far) / n;
    d.ignore_colour_fraction = static_cast<double>(ignore_colour) / n;
    d.ignored_fraction = static_cast<double>(far + ignore_colour) / n;
  }
  return d;
}

at::Tensor encode_labels(const at::Tensor& ids, const Palette& palette) {
  if (ids.dim() != 2 || ids.is_floating_point() || ids.is_complex()) {
    std::ostringstream s;
    s << ids.sizes() << " " << ids.scalar_type();
    fail("encode labels: expected [H,W] integer class ids, got " + s.str());
  }
  const int64_t k = palette.num_classes();
  // Row k holds the colour of every id that is no class.
  at::Tensor table = at::zeros({k + 1, 3}, at::kFloat);
  auto t = table.accessor<float, 2>();
  int64_t c = 0;
  bool have_ignore = false;
  for (const PaletteEntry& e : palette.entries) {
    float* row = nullptr;
    if (!e.ignore) {
      row = &t[c++][0];
    } else if (!have_ignore) {
      row = &t[k][0];
      have_ignore = true;
    }
    if (row) {
      for (int j = 0; j < 3; ++j) row[j] = e.rgb[j] / 255.0f;
    }
  }
  const at::Tensor id = ids.detach().to(at::kCPU, at::kLong);
  const at::Tensor index = at::where((id >= 0).logical_and(id < k), id, at::full_like(id, k));
  return table.index_select(0, index.flatten()).view({ids.size(0), ids.size(1), 3}).permute({2, 0, 1}).contiguous();
}

namespace {

// Only pixels in flat areas enter the histogram: a pixel whose 4-neighbours all lie within kFlatStep of it
// in every channel. JPEG's 4:2:0 chroma subsampling blends two classes' colours along every edge, and on
// the pix2pix facades labels such blends hold more pixels than the smallest classes do; across an edge
// the colour steps by far more than kFlatStep, while JPEG noise inside a region stays within it. (So a
// class drawn only in lines a pixel or two wide is not found.)
constexpr int kFlatStep = 12;
// A class colour is the count-weighted mean of its colours within kCentreRadius of the seed: wide enough
// to average JPEG noise, narrow enough to leave out the skewed tail toward neighbouring classes.
constexpr double kCentreRadius = 12.0;
// JPEG noise on saturated colours (clipped at 0 or 255) spreads a little past merge_distance, where it
// seeds small clusters of its own: a cluster within kSatelliteReach * merge_distance of one with
// kSatelliteRatio times its pixels is taken for such a tail and dropped. (The facades classes closest to a
// much larger one, pillar beside molding and shop, lie ~80 units away, 2x the default merge distance.)
constexpr double kSatelliteReach = 1.5;
constexpr double kSatelliteRatio = 10.0;
// Seeds beyond this many are rare colours of no class; they only cost time.
constexpr size_t kMaxSeeds = 4096;

struct Seed {
  std::array<int, 3> rgb;
  int64_t members = 0;  // flat pixels of colours within merge_distance, nearest to this seed
  int64_t centre = 0;   // ... of those, within kCentreRadius
  double centre_sum[3] = {0, 0, 0};
};

// Seeds bucketed in cubes of side >= merge_distance, so the seeds near a colour are in the 27 cubes
// around its own.
class SeedGrid {
 public:
  explicit SeedGrid(double merge_distance) : side_(std::max(merge_distance, 8.0)) {}
  void add(const std::array<int, 3>& c, int index) { cells_[cell(c[0], c[1], c[2])].push_back(index); }
  // Nearest seed within sqrt(max_d2) (ties: the lower index), or -1; d2_out its squared distance.
  int nearest(const std::array<int, 3>& c, const std::vector<Seed>& seeds, double max_d2, int& d2_out) const {
    const int cr = int(c[0] / side_), cg = int(c[1] / side_), cb = int(c[2] / side_);
    int best = -1, best_d2 = 0;
    for (int i = cr - 1; i <= cr + 1; ++i) {
      for (int j = cg - 1; j <= cg + 1; ++j) {
        for (int k = cb - 1; k <= cb + 1; ++k) {
          if (i < 0 || j < 0 || k < 0) continue;
          auto it = cells_.find(pack(i, j, k));
          if (it == cells_.end()) continue;
          for (int s : it->second) {
            const auto& q = seeds[s].rgb;
            const int d2 = (c[0] - q[0]) * (c[0] - q[0]) + (c[1] - q[1]) * (c[1] - q[1]) + (c[2] - q[2]) * (c[2] - q[2]);
            if (d2 <= max_d2 && (best < 0 || d2 < best_d2 || (d2 == best_d2 && s < best))) best = s, best_d2 = d2;
          }
        }
      }
    }
    d2_out = best_d2;
    return best;
  }

 private:
  static uint32_t pack(int i, int j, int k) { return (uint32_t(i) << 20) | (uint32_t(j) << 10) | uint32_t(k); }
  uint32_t cell(int r, int g, int b) const { return pack(int(r / side_), int(g / side_), int(b / side_)); }
  double side_;
  std::unordered_map<uint32_t, std::vector<int>> cells_;
};

// Appends the colour keys of the flat pixels of planar 8-bit RGB (see kFlatStep).
void append_flat_keys(const uint8_t* rgb, int64_t h, int64_t w, std::vector<uint32_t>& keys) {
  const int64_t n = h * w;
  auto close = [&](int64_t a, int64_t b) {
    for (int c = 0; c < 3; ++c) {
      if (std::abs(int(rgb[c * n + a]) - int(rgb[c * n + b])) > kFlatStep) return false;
    }
    return true;
  };
  for (int64_t y = 0; y < h; ++y) {
    for (int64_t x = 0; x < w; ++x) {
      const int64_t i = y * w + x;
      if ((x > 0 && !close(i, i - 1)) || (x + 1 < w && !close(i, i + 1)) || (y > 0 && !close(i, i - w)) ||
          (y + 1 < h && !close(i, i + w))) {
        continue;
      }
      keys.push_back((uint32_t(rgb[i]) << 16) | (uint32_t(rgb[n + i]) << 8) | rgb[2 * n + i]);
    }
  }
}

}  // namespace

nlohmann::json propose_palette(const std::vector<std::string>& files, int max_classes, double merge_distance,
                               double min_share) {
  if (files.empty()) fail("propose palette: no label images given");
  return propose_palette(files.size(), [&](size_t i) { return load_image(files[i], 3); }, max_classes, merge_distance,
                         min_share);
}

nlohmann::json propose_palette(size_t count, const std::function<at::Tensor(size_t)>& load, int max_classes,
                               double merge_distance, double min_share) {
  if (count == 0) fail("propose palette: no label images given");
  if (max_classes < 1 || max_classes > kMaxPaletteColours) {
    fail("propose palette: the number of classes must be 1.." + std::to_string(kMaxPaletteColours) + ", got " +
         std::to_string(max_classes));
  }
  if (!(merge_distance >= 0) || !std::isfinite(merge_distance)) {
    fail("propose palette: the merge distance must be a finite number >= 0, got " + std::to_string(merge_distance));
  }
  if (!(min_share >= 0 && min_share < 1)) {
    fail("propose palette: the minimum share must be in [0,1), got " + std::to_string(min_share));
  }
  // Exact colour histogram of the flat pixels; per image, sorted keys give runs, so the map sees each
  // colour once per image.
  std::unordered_map<uint32_t, int64_t> hist;
  int64_t pixels = 0, flat = 0;
  std::vector<uint32_t> keys;
  for (size_t i = 0; i < count; ++i) {
    const at::Tensor rgb = to_rgb8(load(i));
    keys.clear();
    append_flat_keys(rgb.data_ptr<uint8_t>(), rgb.size(1), rgb.size(2), keys);
    std::sort(keys.begin(), keys.end());
    for (size_t i = 0; i < keys.size();) {
      size_t j = i;
      while (j < keys.size() && keys[j] == keys[i]) ++j;
      hist[keys[i]] += static_cast<int64_t>(j - i);
      i = j;
    }
    pixels += rgb.size(1) * rgb.size(2);
    flat += static_cast<int64_t>(keys.size());
  }
  if (flat == 0) {
    fail("propose palette: the " + std::to_string(count) + " images have no flat areas (pixels whose " +
         "neighbours have nearly their colour); label maps paint each class in one colour");
  }
  std::vector<std::pair<int64_t, uint32_t>> by_count;
  by_count.reserve(hist.size());
  for (const auto& [key, count] : hist) by_count.emplace_back(count, key);
  // Most frequent first; equal counts by colour, so the result does not depend on hash order.
  std::sort(by_count.begin(), by_count.end(),
            [](const auto& a, const auto& b) { return a.first != b.first ? a.first > b.first : a.second < b.second; });
  auto colour_of = [](uint32_t key) { return std::array<int, 3>{int(key >> 16), int((key >> 8) & 255), int(key & 255)}; };

  const double merge_d2 = merge_distance * merge_distance, centre_d2 = kCentreRadius * kCentreRadius;
  std::vector<Seed> seeds;
  SeedGrid grid(merge_distance);
  int d2 = 0;
  for (const auto& [count, key] : by_count) {
    if (seeds.size() >= kMaxSeeds) break;
    const std::array<int, 3> c = colour_of(key);
    if (grid.nearest(c, seeds, merge_d2, d2) >= 0) continue;
    grid.add(c, static_cast<int>(seeds.size()));
    seeds.push_back(Seed{c});
  }
  for (const auto& [count, key] : by_count) {
    const std::array<int, 3> c = colour_of(key);
    const int s = grid.nearest(c, seeds, merge_d2, d2);
    if (s < 0) continue;
    seeds[s].members += count;
    if (d2 <= centre_d2) {
      seeds[s].centre += count;
      for (int k = 0; k < 3; ++k) seeds[s].centre_sum[k] += double(count) * c[k];
    }
  }
  std::vector<const Seed*> by_size;
  for (const Seed& s : seeds) by_size.push_back(&s);
  std::stable_sort(by_size.begin(), by_size.end(), [](const Seed* a, const Seed* b) { return a->members > b->members; });
  const double reach_d2 = std::pow(kSatelliteReach * merge_distance, 2);
  std::vector<const Seed*> kept;
  for (const Seed* s : by_size) {
    if (s->members == 0 || double(s->members) < min_share * double(flat)) break;
    const bool satellite = std::any_of(kept.begin(), kept.end(), [&](const Seed* big) {
      double d2 = 0;
      for (int k = 0; k < 3; ++k) d2 += std::pow(double(big->rgb[k] - s->rgb[k]), 2);
      return d2 <= reach_d2 && double(big->members) >= kSatelliteRatio * double(s->members);
    });
    if (!satellite) kept.push_back(s);
  }
  if (kept.empty()) {
    fail("propose palette: no colour holds " + std::to_string(min_share) + " of the flat pixels of the " +
         std::to_string(count) + " label images");
  }
  if (kept.size() > static_cast<size_t>(max_classes)) kept.resize(static_cast<size_t>(max_classes));

  auto rounded = [](double v) { return std::round(v * 1e6) / 1e6; };
  nlohmann::json classes = nlohmann::json::array();
  int64_t classified = 0;
  for (size_t i = 0; i < kept.size(); ++i) {
    const Seed& s = *kept[i];  // the seed itself is within kCentreRadius, so centre > 0
    nlohmann::json rgb = nlohmann::json::array();
    for (int k = 0; k < 3; ++k) rgb.push_back(static_cast<int>(std::lround(s.centre_sum[k] / double(s.centre))));
    classes.push_back({{"name", "class_" + std::to_string(i)}, {"color", rgb}, {"share", rounded(double(s.members) / double(flat))}});
    classified += s.members;
  }
  // Two class colours could round alike only for seeds closer than 2 * kCentreRadius, which merge_distance
  // keeps apart unless it is that small; load_palette then reports the repeat.
  nlohmann::json source{{"images", count},
                        {"pixels", pixels},
                        {"flat_pixels", flat},
                        {"merge_distance", merge_distance},
                        {"min_share", min_share},
                        {"unclassified_share", rounded(double(flat - classified) / double(flat))}};
  return nlohmann::json{{"name", "proposed"}, {"source", source}, {"classes", classes}};
}

nlohmann::json propose_input_palette(const DataConfig& data, int max_images) {
  const std::string dir = (std::filesystem::path(data.dataroot) / "train").string();
  DataConfig d = data;
  d.max_dataset_size = max_images;
  const std::vector<PairRecord> pairs = find_pairs(d, dir);
  const bool a_is_input = data.direction != "BtoA";
  return propose_palette(pairs.size(), [&](size_t i) {
    const PairRecord& p = pairs[i];
    if (!p.aligned) return load_image(a_is_input ? p.a_path : p.b_path, 3);
    const at::Tensor ab = load_image(p.a_path, 3);  // A | B side by side
    const int64_t half = ab.size(2) / 2;
    return a_is_input ? ab.narrow(2, 0, half) : ab.narrow(2, half, ab.size(2) - half);
  }, kMaxPaletteColours);
}

}  // namespace p2p
