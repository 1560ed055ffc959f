// `p2p translate`: image files of any size through a trained generator — one file, a folder or a list
// file; tiled per tiling.h; outputs of the input's size, type and georeferencing; one bad file never
// stops the rest.
#pragma once

#include "p2p/core/config.h"
#include "p2p/eval/tiling.h"
#include "p2p/models/networks.h"

#include <c10/core/Device.h>

#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace p2p {

// What `p2p translate` did: images written, inputs skipped because their output existed (resume), and
// the inputs that failed (file, reason).
struct TranslateReport {
  int64_t written = 0;
  int64_t skipped = 0;
  std::vector<std::pair<std::string, std::string>> failed;
};

struct TranslateOptions {
  TileOptions tiles;
  bool resume = false;    // inputs whose output exists and decodes whole at the input's size are skipped
  bool progress = false;  // redraw one progress line on `log` (a terminal) instead of a line per file
  uint64_t seed = 0;      // each file's dropout draws (the paper's test mode) come from (seed, file name)
};

// The inputs `input` names: an image file; a folder (its image files, sorted); or a list file (.txt,
// .lst, .list: one path per line, relative to the list's folder, blank lines and # comments skipped —
// listed files are not checked here, so a missing one fails alone). Throws naming `input` otherwise.
std::vector<std::string> collect_inputs(const std::string& input);

// A window of an input raster (unit range, as read) mapped to G's input as training maps A: SAR dB
// when the run used it, then unit*2-1 or the run's dataset statistics. Per pixel, so applying it tile
// by tile is exact.
at::Tensor input_window_to_network(const at::Tensor& window, const DataConfig& data);

// Makes folder `dir` and checks that a file can be created in it; throws p2p::Error naming `flag` and
// the system's reason (a read-only folder), or saying `flag` is empty.
void check_output_folder(const std::string& dir, const std::string& flag);

// Where and how run_translate writes the output of `file`: TIFF inputs give <stem>.tif of the input's
// sample type (uint8, uint16, int16, float32) with its georeferencing; other inputs give <stem>.png, or a
// float32 <stem>.tif when output_nc is not 1 or 3.
std::string output_path(const std::string& file, const std::string& output_dir, int output_nc);

// Translates one file into `output` (.png, or .tif: a TIFF input's sample type and georeferencing are
// kept, other inputs give float32), tiled per `tiles`, with the run's input mapping (`data`). Refused
// before any work: an output of another extension, an output that is the input file itself (same file
// by any path), an input that is a folder. A TIFF input's declared nodata is declared in a TIFF output,
// and its nodata pixels hold it.
void translate_file(Network& G, const std::string& input, const std::string& output, const DataConfig& data,
                    const TileOptions& tiles, const c10::Device& device, std::ostream& log,
                    const std::function<void(int64_t, int64_t)>& on_tile = {}, const BatchForward& forward = {});

// `p2p translate`: every input (collect_inputs) -> output_path with the input's size, tiled per
// `options.tiles` (tiling.h). Command mistakes (no inputs, name clashes, an output that would replace its
// input, bad tile options, missing statistics, an output folder that is empty or cannot be written)
// throw before anything is written; temp files of killed earlier runs in the output folder are
// removed; an unreadable or untranslatable file is reported on `log` and skipped, and the rest are
// translated. `data` is the
// run's DataConfig: input_nc channels are loaded (TIFF band count must match), --sar_db and --normalize
// dataset (stored mean_A/std_A) map them as in training.
TranslateReport run_translate(Network& G, const std::string& input, const std::string& output_dir,
                              const DataConfig& data, const c10::Device& device, std::ostream& log,
                              const TranslateOptions& options = {});
// Plain images only: `input_nc` 1 (gray) or 3, outputs PNG, no SAR dB or dataset normalisation.
TranslateReport run_translate(Network& G, const std::string& input, const std::string& output_dir, int input_nc,
                              const c10::Device& device, std::ostream& log);

}  // namespace p2p
