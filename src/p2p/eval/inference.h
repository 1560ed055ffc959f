// Inference with a trained generator: any-size translation, `p2p test` and `p2p translate`.
#pragma once

#include "p2p/core/config.h"
#include "p2p/eval/metrics.h"
#include "p2p/io/state_dict.h"
#include "p2p/models/networks.h"

#include <c10/core/Device.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace p2p {

// Runs G on one image [C,H,W] in [-1,1] of any size: reflect-pads H and W up to the next multiple of
// G->size_multiple(), runs G (batch of 1), crops back. Returns [output_nc,H,W] in [-1,1] on the CPU.
at::Tensor translate_tensor(Network& G, const at::Tensor& a, const c10::Device& device);

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

// What `p2p translate` did: images written, and the inputs that failed (file, reason).
struct TranslateReport {
  int64_t written = 0;
  std::vector<std::pair<std::string, std::string>> failed;
};

// `p2p translate`: every image file at input (a file or a folder) -> <output_dir>/<stem>.png with the
// input's size. One unreadable or untranslatable file is reported on `log` and skipped; the rest are
// translated. `data` is the run's DataConfig: input_nc channels are loaded (TIFF band count must match),
// --sar_db and --normalize dataset (stored mean_A/std_A, checked first) map them as in training.
// output_nc other than 1 or 3 writes <stem>.tif, float32 in unit range, instead of PNG.
TranslateReport run_translate(Network& G, const std::string& input, const std::string& output_dir,
                              const DataConfig& data, const c10::Device& device, std::ostream& log);
// Plain images only: `input_nc` 1 (gray) or 3, outputs PNG, no SAR dB or dataset normalisation.
TranslateReport run_translate(Network& G, const std::string& input, const std::string& output_dir, int input_nc,
                              const c10::Device& device, std::ostream& log);

}  // namespace p2p
