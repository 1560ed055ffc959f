// `p2p test` for CycleGAN runs and single generators (the reference's CycleGANModel and TestModel test
// paths); run_test (inference.h) is the paired pix2pix test.
#pragma once

#include "p2p/core/config.h"
#include "p2p/eval/inference.h"
#include "p2p/eval/metrics.h"
#include "p2p/models/networks.h"

#include <c10/core/Device.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace p2p {

class RealismScorer;

// One direction of a CycleGAN test: the folder translated and, where <dataroot>/truth/ holds the true
// partners (`p2p data unpair` writes them), the outputs scored against them.
struct CycleDirectionReport {
  std::string input_dir;   // <dataroot>/<phase>A (A -> B) or <phase>B (B -> A)
  std::string truth_dir;   // <dataroot>/truth/<phase>B (A -> B) or truth/<phase>A; "" when absent
  int64_t available = 0;   // images in input_dir
  int64_t translated = 0;
  int64_t scored = 0;      // translated images with a true partner
  ImageMetrics mean;       // over the scored ones
};

struct CycleTestReport {
  CycleDirectionReport AtoB, BtoA;
  std::vector<std::pair<std::string, std::string>> failed;  // (file, reason)
  nlohmann::json scores;       // realism scores of fake_B (RealismScorer::results), or null
  std::string scores_summary;
};

// Where the true partners of <phase><side> images are: <dataroot>/truth/<phase><other side>.
std::string truth_dir(const DataConfig& data, const std::string& phase, char side);

// The CycleGAN test: the first num_test images of <dataroot>/<phase>A through G_A and of <phase>B through
// G_B (--direction BtoA swaps the folders, as training did), with the reconstructions rec_A =
// G_B(G_A(A)) and rec_B = G_A(G_B(B)). Writes <out_dir>/images/<stem>_{real_A,fake_B,rec_A}.* and
// <stem>_{real_B,fake_A,rec_B}.* (the reference's names), fake_B/<stem>.* and fake_A/<stem>.* (for
// scoring by folder), index.html and metrics.json. An output whose true partner exists (truth_dir) is
// scored per pixel (L1, MAE, PSNR, SSIM). `data` is G_A's DataConfig (input_nc: A's channels);
// `realism` (may be null) scores fake_B against its true partners when every A image has one, else
// against the real B images (distribution scores: FID, KID). One unreadable image is reported on `log`
// and skipped.
CycleTestReport run_cycle_test(Network& G_A, Network& G_B, const DataConfig& data, const TestConfig& test,
                               const c10::Device& device, const std::string& out_dir, const nlohmann::json& provenance,
                               std::ostream& log, RealismScorer* realism = nullptr);

// The reference's TestModel (--model test --dataset_mode single): the first num_test images of the
// folder <dataroot> itself through G, written as <out_dir>/images/<stem>_real.* and <stem>_fake.*, with
// index.html and metrics.json (counts, provenance and any realism scores; there are no targets, so
// `realism` must not need them). report.scored counts the translated images.
TestReport run_single_test(Network& G, const DataConfig& data, const TestConfig& test, const c10::Device& device,
                           const std::string& out_dir, const nlohmann::json& provenance, std::ostream& log,
                           RealismScorer* realism = nullptr);

}  // namespace p2p
