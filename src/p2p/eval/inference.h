// Inference with a trained generator: any-size translation, `p2p test` and `p2p translate`.
#pragma once

#include "p2p/core/config.h"
#include "p2p/eval/metrics.h"
#include "p2p/eval/tiling.h"
#include "p2p/io/state_dict.h"
#include "p2p/models/networks.h"

#include <c10/core/Device.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace p2p {

// Runs G on one image [C,H,W] in [-1,1] of any size: reflect-pads H and W up to the next multiple of
// G->size_multiple(), runs G (batch of 1), crops back. Returns [output_nc,H,W] in [-1,1] on the CPU.
at::Tensor translate_tensor(Network& G, const at::Tensor& a, const c10::Device& device);
// The same for a batch [N,C,H,W] of equally sized images (tiles): [N,output_nc,H,W].
at::Tensor translate_batch(Network& G, const at::Tensor& x, const c10::Device& device);

// Loads generator weights from `path`: a pix2pix.cpp checkpoint (.pt, its G part) or a reference
// state_dict (*_net_G.pth). Wrong architecture / truncated files throw p2p::Error naming the tensor/file.
void load_generator_weights(Network& G, const std::string& path);
// The same for a file already read with read_state_dict (`source` names it in errors).
void load_generator_weights(Network& G, const StateDict& file, const std::string& source);

// What `p2p test` did: pairs available in the split, scored, and the ones that failed (file, reason).
struct TestReport {
  int64_t available = 0;
  int64_t scored = 0;
  std::vector<std::pair<std::string, std::string>> failed;
  ImageMetrics mean;
};

// `p2p test`: translates the first num_test pairs of <dataroot>/<phase> with G and writes
// <out_dir>/images/<stem>_{real_A,fake_B,real_B}.png, <out_dir>/index.html and <out_dir>/metrics.json
// (+ metrics.csv); `provenance` (run, checkpoint, epoch) goes into metrics.json. A pair that cannot be
// read or translated is reported on `log` and skipped; the others are still scored.
// `data` is the run's DataConfig: A gets the training mapping (--sar_db, --normalize dataset with the
// stored mean_A/std_A; missing or mismatched statistics throw before anything is written). Images with
// a channel count other than 1 or 3 are written as float32 .tif (unit range, unclamped) instead of PNG,
// and their metrics use those float values; real_A is A mapped back to unit range.
TestReport run_test(Network& G, const DataConfig& data, const TestConfig& test, const c10::Device& device,
                    const std::string& out_dir, const nlohmann::json& provenance, std::ostream& log);

// What `p2p translate` did: images written, inputs skipped because their output existed (resume), and
// the inputs that failed (file, reason).
struct TranslateReport {
  int64_t written = 0;
  int64_t skipped = 0;
  std::vector<std::pair<std::string, std::string>> failed;
};

struct TranslateOptions {
  TileOptions tiles;
  bool resume = false;    // inputs whose output already exists are skipped (outputs are written atomically)
  bool progress = false;  // redraw one progress line on `log` (a terminal) instead of a line per file
};

// The inputs `input` names: an image file; a folder (its image files, sorted); or a list file (.txt,
// .lst, .list: one path per line, relative to the list's folder, blank lines and # comments skipped —
// listed files are not checked here, so a missing one fails alone). Throws naming `input` otherwise.
std::vector<std::string> collect_inputs(const std::string& input);

// Where and how run_translate writes the output of `file`: TIFF inputs give <stem>.tif of the input's
// sample type (uint8, uint16, int16, float32) with its georeferencing; other inputs give <stem>.png, or a
// float32 <stem>.tif when output_nc is not 1 or 3.
std::string output_path(const std::string& file, const std::string& output_dir, int output_nc);

// Translates one file into `output` (.png, or .tif: a TIFF input's sample type and georeferencing are
// kept, other inputs give float32), tiled per `tiles`, with the run's input mapping (`data`).
void translate_file(Network& G, const std::string& input, const std::string& output, const DataConfig& data,
                    const TileOptions& tiles, const c10::Device& device, std::ostream& log,
                    const std::function<void(int64_t, int64_t)>& on_tile = {});

// `p2p translate`: every input (collect_inputs) -> output_path with the input's size, tiled per
// `options.tiles` (tiling.h). Command mistakes (no inputs, name clashes, an output that would replace its
// input, bad tile options, missing statistics) throw before anything is written; an unreadable or
// untranslatable file is reported on `log` and skipped, and the rest are translated. `data` is the
// run's DataConfig: input_nc channels are loaded (TIFF band count must match), --sar_db and --normalize
// dataset (stored mean_A/std_A) map them as in training.
TranslateReport run_translate(Network& G, const std::string& input, const std::string& output_dir,
                              const DataConfig& data, const c10::Device& device, std::ostream& log,
                              const TranslateOptions& options = {});
// Plain images only: `input_nc` 1 (gray) or 3, outputs PNG, no SAR dB or dataset normalisation.
TranslateReport run_translate(Network& G, const std::string& input, const std::string& output_dir, int input_nc,
                              const c10::Device& device, std::ostream& log);

}  // namespace p2p
