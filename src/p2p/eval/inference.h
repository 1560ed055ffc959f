// Inference with a trained generator: any-size translation and `p2p test` (`p2p translate`: translate.h).
#pragma once

#include "p2p/core/config.h"
#include "p2p/eval/metrics.h"
#include "p2p/eval/batch_forward.h"
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
at::Tensor translate_tensor(Network& G, const at::Tensor& a, const c10::Device& device,
                            const BatchForward& forward = {});
// The same for a batch [N,C,H,W] of equally sized images (tiles): [N,output_nc,H,W].
at::Tensor translate_batch(Network& G, const at::Tensor& x, const c10::Device& device,
                           const BatchForward& forward = {});

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
  nlohmann::json scores;        // the realism / segmentation scores (RealismScorer::results), or null
  std::string scores_summary;   // their one-line summary
};

class RealismScorer;

// `p2p test`: translates the first num_test pairs of <dataroot>/<phase> with G and writes
// <out_dir>/images/<stem>_{real_A,fake_B,real_B}.png, <out_dir>/index.html and <out_dir>/metrics.json
// (+ metrics.csv); `provenance` (run, checkpoint, epoch) goes into metrics.json. A pair that cannot be
// read or translated is reported on `log` and skipped; the others are still scored.
// `data` is the run's DataConfig: A gets the training mapping (--sar_db, --normalize dataset with the
// stored mean_A/std_A; missing or mismatched statistics throw before anything is written). Images with
// a channel count other than 1 or 3 are written as float32 .tif (unit range, unclamped) instead of PNG,
// and their metrics use those float values; real_A is A mapped back to unit range.
// `realism` (may be null) scores every translated pair (fake_B against real_B; real_A as the label map for an
// FCN-score); its results go into metrics.json at the top level and into the page's summary. A segmentation
// run (data.palette set: G outputs logits, B holds class ids) writes fake_B and real_B as colour label maps,
// and `realism` must then score label maps with that palette.
TestReport run_test(Network& G, const DataConfig& data, const TestConfig& test, const c10::Device& device,
                    const std::string& out_dir, const nlohmann::json& provenance, std::ostream& log,
                    RealismScorer* realism = nullptr);

}  // namespace p2p
