// Requests as files: the body is written to a private temp folder and translated by translate_file, so a
// reply is byte for byte what `p2p translate` writes for the same image and options (service.h).
#include "p2p/serve/service.h"

#include "p2p/core/runtime.h"
#include "p2p/data/palette.h"
#include "p2p/eval/translate.h"
#include "p2p/io/fs.h"

#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/dropout.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <ostream>
#include <sstream>

namespace fs = std::filesystem;

namespace p2p::serve {

namespace {

bool starts_with(const std::string& s, const char* prefix, size_t n) {
  return s.size() >= n && std::equal(prefix, prefix + n, s.begin());
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

const char* extension_of(ImageKind kind) {
  switch (kind) {
    case ImageKind::png: return ".png";
    case ImageKind::jpeg: return ".jpg";
    case ImageKind::tiff: return ".tif";
    default: return "";
  }
}

// Replaces every occurrence of `from` in `s`.
std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  if (from.empty()) return s;
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
  return s;
}

// Removes the request's files whatever happens.
struct TempFiles {
  std::vector<std::string> paths;
  ~TempFiles() {
    for (const auto& p : paths) {
      std::error_code ec;
      fs::remove(p, ec);
    }
  }
};

// Training inputs whose proposed palette leaves more of their flat pixels unclassified are taken as photos.
constexpr double kLabelMapUnclassified = 0.02;

}  // namespace

ImageKind sniff_image(const std::string& b) {
  if (starts_with(b, "\x89PNG\r\n\x1a\n", 8)) return ImageKind::png;
  if (starts_with(b, "\xff\xd8\xff", 3)) return ImageKind::jpeg;
  if (starts_with(b, "II*\0", 4) || starts_with(b, "MM\0*", 4) || starts_with(b, "II+\0", 4) || starts_with(b, "MM\0+", 4)) {
    return ImageKind::tiff;
  }
  return ImageKind::unknown;
}

const char* image_kind_name(ImageKind kind) {
  switch (kind) {
    case ImageKind::png: return "PNG";
    case ImageKind::jpeg: return "JPEG";
    case ImageKind::tiff: return "TIFF";
    default: return "unknown";
  }
}

ImageKind kind_of_content_type(const std::string& content_type) {
  std::string t = lower(content_type.substr(0, content_type.find(';')));
  t.erase(std::remove_if(t.begin(), t.end(), [](unsigned char c) { return std::isspace(c); }), t.end());
  if (t == "image/png") return ImageKind::png;
  if (t == "image/jpeg" || t == "image/jpg") return ImageKind::jpeg;
  if (t == "image/tiff" || t == "image/tif") return ImageKind::tiff;
  return ImageKind::unknown;
}

bool batch_independent(torch::nn::Module& G) {
  for (const auto& m : G.modules(/*include_self=*/true)) {
    if (!m->is_training()) continue;
    const std::string type = m->name();
    if (type.find("BatchNorm") != std::string::npos || type.find("Dropout") != std::string::npos) return false;
  }
  return true;
}

std::unique_ptr<ServedModel> make_served_model(const std::string& name, LoadedGenerator g, const c10::Device& device,
                                               bool eval, const TileOptions& tiles, uint64_t seed,
                                               Precision precision) {
  auto m = std::make_unique<ServedModel>();
  m->name = name;
  m->g = std::move(g);
  m->data = generator_data_config(m->g);
  m->tiles = tiles;
  check_tile_options(m->tiles, std::max<int64_t>(1, m->g.G->size_multiple()));
  m->eval = eval;
  m->seed = seed;
  m->precision = precision;
  prepare_for_inference(m->g, device, eval, precision);
  m->shareable = batch_independent(*m->g.G);
  Network* G = m->g.G.get();
  m->runner = [G, device](const at::Tensor& x) { return G->infer(x.to(device)).to(at::kCPU); };
  return m;
}

ModelService::ModelService(std::vector<std::unique_ptr<ServedModel>> models, BatchPolicy policy, ServeMetrics& metrics)
    : models_(std::move(models)), metrics_(metrics),
      batcher_(policy, [this](int64_t images) { metrics_.observe_batch(images); }) {
  if (models_.empty()) fail("serve: no model to serve");
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = (fs::path(tmp && *tmp ? tmp : "/tmp") / "p2p-serve.XXXXXX").string();
  if (!::mkdtemp(pattern.data())) fail("serve: cannot make a temp folder under " + fs::path(pattern).parent_path().string());
  temp_dir_ = pattern;
  make_dirs((fs::path(temp_dir_) / "out").string());
}

ModelService::~ModelService() {
  std::error_code ec;
  fs::remove_all(temp_dir_, ec);
}

const ServedModel* ModelService::find(const std::string& name) const {
  if (name.empty()) return models_.front().get();
  for (const auto& m : models_) {
    if (m->name == name) return m.get();
  }
  return nullptr;
}

std::vector<std::string> ModelService::names() const {
  std::vector<std::string> out;
  for (const auto& m : models_) out.push_back(m->name);
  return out;
}

nlohmann::json ModelService::info(const ServedModel& m) const {
  const NetConfig& n = m.g.net;
  nlohmann::json mapping = {{"input_range", "[0,1] image values -> [-1,1]"}, {"sar_db", m.data.sar_db},
                            {"normalize", m.data.normalize}};
  if (m.data.sar_db) mapping["db_range"] = m.data.db_range;
  if (m.data.normalize == "dataset") mapping["mean_A"] = m.data.mean_A, mapping["std_A"] = m.data.std_A;
  nlohmann::json j = {{"name", m.name},
                      {"models", names()},
                      {"generator", m.g.generator},
                      {"netG", n.netG},
                      {"ngf", n.ngf},
                      {"norm", n.norm},
                      {"input_nc", n.input_nc},
                      {"output_nc", n.output_nc},
                      {"size_multiple", std::max<int64_t>(1, m.g.G->size_multiple())},
                      {"crop_size", m.data.crop_size},
                      {"eval", m.eval},
                      {"precision", precision_name(m.precision)},
                      {"batched", m.shareable},
                      {"epoch", m.g.checkpoint_epoch},
                      {"weights", fs::absolute(m.g.weights).lexically_normal().string()},
                      {"input_mapping", mapping},
                      {"tile", {{"tile", m.tiles.tile}, {"overlap", m.tiles.overlap}, {"tile_batch", m.tiles.tile_batch},
                                {"auto_tile_above_pixels", kAutoTileArea}}},
                      {"label_map", !m.palette.is_null()},
                      {"palette", m.palette},
                      {"outputs", n.output_nc == 1 || n.output_nc == 3 ? "PNG (TIFF for a TIFF input)" : "float32 TIFF"}};
  if (!m.palette.is_null()) j["palette_source"] = m.palette_source;
  return j;
}

TranslateResult ModelService::translate(const ServedModel& m, const std::string& bytes, ImageKind kind,
                                        const std::string& name, Clock::time_point deadline) {
  if (kind == ImageKind::unknown) fail(name + ": not a PNG, JPEG or TIFF image");
  const uint64_t id = next_id_++;
  const std::string in = (fs::path(temp_dir_) / ("req-" + std::to_string(id) + extension_of(kind))).string();
  const std::string out = output_path(in, (fs::path(temp_dir_) / "out").string(), m.data.output_nc);
  TempFiles files{{in, out}};
  {
    std::ofstream f(in, std::ios::binary);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!f.flush()) fail("serve: cannot write the request to " + temp_dir_ + " (disk full?)");
  }
  const int model = static_cast<int>(
      std::find_if(models_.begin(), models_.end(), [&](const auto& p) { return p.get() == &m; }) - models_.begin());
  const BatchForward forward = [&](const at::Tensor& x) { return batcher_.run(model, m.runner, x, m.shareable, deadline); };
  std::ostringstream log;  // notes (auto tiling) are not the client's business
  try {
    if (m.shareable) {
      translate_file(*m.g.G, in, out, m.data, m.tiles, c10::Device(at::kCPU), log, {}, forward);
    } else {
      // The global generator draws dropout masks: one such request at a time, seeded as translate seeds a
      // file, once no forward of an earlier (timed-out) request still draws from it.
      std::unique_lock<std::timed_mutex> lock(exclusive_, deadline);
      if (!lock.owns_lock() || !batcher_.wait_idle(deadline)) throw Timeout("not answered within the request timeout");
      seed_item(m.seed, name);
      translate_file(*m.g.G, in, out, m.data, m.tiles, c10::Device(at::kCPU), log, {}, forward);
    }
  } catch (const Timeout&) {
    throw;
  } catch (const Error& e) {
    fail(replace_all(replace_all(e.what(), in, name), temp_dir_, "<server temp>"));
  } catch (const std::exception& e) {  // not the request's fault; never a temp path in the message
    throw std::runtime_error(replace_all(replace_all(e.what(), in, name), temp_dir_, "<server temp>"));
  }
  // Decoding, tiling and encoding run outside the batcher's deadline checks.
  if (Clock::now() > deadline) throw Timeout("not answered within the request timeout");
  std::ifstream f(out, std::ios::binary);
  if (!f) fail("serve: the output of " + name + " was not written");
  TranslateResult r;
  r.body.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  r.content_type = lower_extension(out) == ".png" ? "image/png" : "image/tiff";
  return r;
}

nlohmann::json page_palette(const std::string& flag_value, const LoadedGenerator& g, std::string& source,
                            std::ostream& log) {
  if (flag_value == "none") return nullptr;
  if (!flag_value.empty()) {
    source = "--palette " + flag_value;
    return palette_to_json(load_palette(flag_value));
  }
  if (!g.run_dir.empty()) {
    const fs::path stored = fs::path(g.run_dir) / "palette.json";
    if (fs::exists(stored) && generator_data_config(g).palette.empty()) {  // a segmentation run's palette is its outputs'
      source = stored.string();
      return palette_to_json(load_palette(stored.string()));
    }
  }
  // A label-map model: the colours of its training inputs. Label maps put nearly every flat pixel in a
  // class (facades, JPEG: 0.8% left out); photos leave more out (facades photos: 3.9%, in 22 "classes"), and
  // then the page offers a free colour instead. A heuristic: --palette decides where it errs.
  const DataConfig d = generator_data_config(g);
  if (g.net.input_nc != 3 || d.dataroot.empty() || !fs::is_directory(fs::path(d.dataroot) / "train")) return nullptr;
  try {
    nlohmann::json proposed = propose_input_palette(d);
    const double unclassified = proposed["source"]["unclassified_share"].get<double>();
    if (proposed["classes"].size() < 2 || unclassified > kLabelMapUnclassified) return nullptr;
    source = "proposed from " + std::to_string(proposed["source"]["images"].get<int64_t>()) + " training inputs in " +
             (fs::path(d.dataroot) / "train").string();
    return proposed;
  } catch (const Error& e) {
    log << "note: no palette for the page (" << e.what() << "); give --palette\n";
    return nullptr;
  }
}


}  // namespace p2p::serve
