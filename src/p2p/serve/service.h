// The models a server holds and what it does with an image it is sent: the bytes are checked to be a
// PNG, JPEG or TIFF, translated exactly as `p2p translate` translates a file of them (the run's input
// mapping, tiling, output type), and the output file's bytes are the reply. Forward passes go through
// one Batcher, so concurrent requests share batches. Independent of HTTP (server.h speaks it).
#pragma once

#include "p2p/eval/generator.h"
#include "p2p/eval/tiling.h"
#include "p2p/serve/batcher.h"
#include "p2p/serve/metrics.h"

#include <c10/core/Device.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <ostream>
#include <string>
#include <vector>

namespace p2p::serve {

enum class ImageKind { unknown, png, jpeg, tiff };

// What the first bytes say the body is.
ImageKind sniff_image(const std::string& bytes);
const char* image_kind_name(ImageKind kind);  // "PNG", "JPEG", "TIFF", "unknown"
// The kind a Content-Type names (image/png, image/jpeg, image/tiff; parameters ignored, case-insensitive);
// unknown for application/octet-stream and anything else.
ImageKind kind_of_content_type(const std::string& content_type);

struct ServedModel {
  std::string name;
  LoadedGenerator g;
  DataConfig data;        // the run's input mapping and channels (generator_data_config)
  TileOptions tiles;
  bool eval = false;
  Precision precision = Precision::kFp32;  // of G's arithmetic (core/precision.h)
  uint64_t seed = 0;      // dropout draws of the paper's test mode: from (seed, the upload's file name)
  // One image's output depends on nothing else in its batch and on no random draw (no batch statistics,
  // no dropout): its forwards may share batches with other requests'.
  bool shareable = false;
  nlohmann::json palette;  // the drawing palette for the page (load_palette's JSON), or null
  std::string palette_source;
  Batcher::Runner runner;  // G's forward on the device
};

// Prepares g for inference (prepare_for_inference with `eval` and `precision`) and wraps it. Tile options are checked
// against G (check_tile_options).
std::unique_ptr<ServedModel> make_served_model(const std::string& name, LoadedGenerator g, const c10::Device& device,
                                               bool eval, const TileOptions& tiles, uint64_t seed,
                                               Precision precision = Precision::kFp32);

// The drawing page's palette (load_palette's JSON) for g, or null (the page offers a free colour):
// `flag_value` (--palette: a built-in name, a file, or "none"), else the run folder's palette.json (unless
// it is a segmentation run's, which describes outputs), else one proposed from the run's training inputs
// when they look like label maps. `source` says where it came from; a proposal that fails is a note on
// `log`, not an error.
nlohmann::json page_palette(const std::string& flag_value, const LoadedGenerator& g, std::string& source,
                            std::ostream& log);

// True when G, in its current modes, treats every image of a batch alone and deterministically.
bool batch_independent(torch::nn::Module& G);

struct TranslateResult {
  std::string body;
  std::string content_type;  // image/png or image/tiff
};

class ModelService {
 public:
  // Temp files of requests live in a private folder under $TMPDIR (or /tmp), removed with the service.
  ModelService(std::vector<std::unique_ptr<ServedModel>> models, BatchPolicy policy, ServeMetrics& metrics);
  ~ModelService();
  ModelService(const ModelService&) = delete;
  ModelService& operator=(const ModelService&) = delete;

  // By name; "" is the first model. nullptr when there is none of that name.
  const ServedModel* find(const std::string& name) const;
  std::vector<std::string> names() const;
  // GET /v1/model: architecture, channels, size multiple, input mapping, tiling, palette.
  nlohmann::json info(const ServedModel& m) const;

  // Translates `bytes` (an image of `kind`, which the caller has sniffed) with m. `name` is the upload's
  // file name (seeds the paper's test-mode dropout as `p2p translate` seeds a file of that name; named in
  // errors). Throws p2p::Error for bodies that are not a translatable image of m's channels (the message
  // names `name`, never a temp path), Timeout when `deadline` passes.
  TranslateResult translate(const ServedModel& m, const std::string& bytes, ImageKind kind, const std::string& name,
                            Clock::time_point deadline);

  int64_t forwards_waiting() const { return batcher_.waiting(); }

 private:
  std::vector<std::unique_ptr<ServedModel>> models_;
  ServeMetrics& metrics_;
  Batcher batcher_;
  std::string temp_dir_;
  std::atomic<uint64_t> next_id_{0};
  std::timed_mutex exclusive_;  // requests of models that draw random numbers run one at a time (global RNG)
};

}  // namespace p2p::serve
