// Remote-sensing input: SAR dB known answers, --db_range parsing, per-channel dataset statistics against
// numpy, PairedDataset::get with the dataset normalisation, and N-band TIFF datasets (4-band A, 2-band B
// folders; AB TIFFs split at w/2) with the right shapes and values.
#include "p2p/core/error.h"
#include "p2p/data/dataset.h"
#include "p2p/data/normalization.h"
#include "p2p/data/transforms.h"
#include "p2p/io/image.h"
#include "p2p/io/tiff.h"
#include "testutil/testutil.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

using namespace p2p;
using namespace p2p::test;

namespace {

#define EXPECT_CONTAINS(text, part) EXPECT_NE(std::string(text).find(part), std::string::npos) << (text)

// <root>/train/A/<i>.tif: 4-band float32 (band 3 constant), B/<i>.tif: 2-band float32, three pairs of
// different sizes; <root>/stats.txt: numpy's per-channel mean and population std of all A pixels, plain
// and after SAR dB (-25:0).
const char* kMakeDataset = R"PY(
import sys, numpy as np, tifffile
root = sys.argv[1]
rng = np.random.default_rng(11)
sizes = [(32, 32), (24, 40), (36, 28)]
As = []
for i, (h, w) in enumerate(sizes):
    a = rng.random((4, h, w), dtype=np.float32) * np.array([1, 0.5, 0.02, 0], np.float32)[:, None, None]
    a[3] = 0.5
    a[0, 0, 0] = 0  # zero intensity: -100 dB, clipped
    b = rng.random((2, h, w), dtype=np.float32)
    tifffile.imwrite(f'{root}/train/A/{i}.tif', a, photometric='minisblack', planarconfig='separate')
    tifffile.imwrite(f'{root}/train/B/{i}.tif', np.moveaxis(b, 0, -1), photometric='minisblack', planarconfig='contig')
    As.append(a.reshape(4, -1).astype(np.float64))
allA = np.concatenate(As, axis=1)
db = np.clip(10 * np.log10(np.maximum(allA, 1e-10)), -25, 0)
unit_db = ((db + 25) / 25).astype(np.float32).astype(np.float64)
with open(f'{root}/stats.txt', 'w') as f:
    for x in (allA, unit_db):
        f.write(' '.join(repr(v) for v in x.mean(1)) + '\n')
        f.write(' '.join(repr(v) for v in x.std(1)) + '\n')
)PY";

std::vector<std::vector<double>> read_rows(const std::string& path, int cols) {
  std::ifstream in(path);
  std::vector<std::vector<double>> rows;
  for (;;) {
    std::vector<double> row(static_cast<size_t>(cols));
    for (double& v : row) in >> v;
    if (!in) break;
    rows.push_back(row);
  }
  return rows;
}

const std::string& tiff_dataset() {
  static const std::string root = [] {
    const std::string r = scratch_dir("norm_dataset");
    std::filesystem::create_directories(r + "/train/A");
    std::filesystem::create_directories(r + "/train/B");
    std::ofstream(r + "/make.py") << kMakeDataset;
    const CommandResult res = run_command(std::string(P2P_TEST_PYTHON) + " " + r + "/make.py " + r);
    EXPECT_EQ(res.exit_code, 0) << res.output;
    return r;
  }();
  return root;
}

DataConfig tiff_config(const std::string& root) {
  DataConfig cfg;
  cfg.dataroot = root;
  cfg.input_nc = 4;
  cfg.output_nc = 2;
  cfg.preprocess = "none";
  cfg.no_flip = true;
  return cfg;
}

}  // namespace

TEST(SarDb, KnownAnswers) {
  // Intensities 1, 0.1, 0.01, 0.001, 0, 10 -> dB 0, -10, -20, -30, -100, 10 -> clipped to [-25, 0]
  // -> unit (dB + 25) / 25 = 1, 0.6, 0.2, 0, 0, 1 -> network unit*2-1 = 1, 0.2, -0.6, -1, -1, 1.
  const at::Tensor v = at::tensor({1.0f, 0.1f, 0.01f, 0.001f, 0.0f, 10.0f}).view({1, 1, 6});
  DataConfig cfg;
  double lo = 0, hi = 0;
  parse_db_range(cfg.db_range, lo, hi);
  EXPECT_EQ(lo, -25.0);
  EXPECT_EQ(hi, 0.0);
  const at::Tensor net = input_to_network(sar_db_to_unit(v, lo, hi), cfg);
  const std::vector<float> expect = {1.0f, 0.2f, -0.6f, -1.0f, -1.0f, 1.0f};
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(net[0][0][i].item<float>(), expect[i], 1e-6) << i;
  // Another range: -30:10 maps 10 dB to 1 and -10 dB to 0.5.
  parse_db_range("-30:10", lo, hi);
  const at::Tensor u = sar_db_to_unit(at::tensor({10.0f, 0.1f}).view({1, 1, 2}), lo, hi);
  EXPECT_NEAR(u[0][0][0].item<float>(), 1.0f, 1e-6);
  EXPECT_NEAR(u[0][0][1].item<float>(), 0.5f, 1e-6);
}

TEST(SarDb, RangeErrorsNameTheFlag) {
  double lo = 0, hi = 0;
  for (const char* bad : {"", "-25", "abc:0", "-25:0x", "0:-25", "5:5", "-25:inf"}) {
    SCOPED_TRACE(bad);
    EXPECT_CONTAINS(error_of([&] { parse_db_range(bad, lo, hi); }), "--db_range");
  }
  DataConfig cfg;
  cfg.sar_db = true;
  cfg.db_range = "0:-1";
  EXPECT_CONTAINS(error_of([&] { PairedDataset({}, cfg, false); }), "--db_range");
}

TEST(InputStatistics, EqualNumpyPerChannel) {
  ASSERT_TRUE(python_can_import("numpy, tifffile", "python3-numpy python3-tifffile"));
  const std::string root = tiff_dataset();
  const auto rows = read_rows(root + "/stats.txt", 4);
  ASSERT_EQ(rows.size(), 4u);
  DataConfig cfg = tiff_config(root);
  const std::vector<PairRecord> train = find_pairs(cfg, root + "/train");
  ASSERT_EQ(train.size(), 3u);
  compute_input_statistics(cfg, train);
  ASSERT_EQ(cfg.mean_A.size(), 4u);
  ASSERT_EQ(cfg.std_A.size(), 4u);
  for (int k = 0; k < 4; ++k) {
    EXPECT_NEAR(cfg.mean_A[k], rows[0][k], 1e-12) << k;
    EXPECT_NEAR(cfg.std_A[k], std::max(rows[1][k], 1e-6), 1e-12) << k;
  }
  EXPECT_EQ(cfg.std_A[3], 1e-6);  // constant band: the floor
  // After SAR dB: statistics of the dB-scaled unit values.
  cfg.sar_db = true;
  compute_input_statistics(cfg, train);
  for (int k = 0; k < 4; ++k) {
    EXPECT_NEAR(cfg.mean_A[k], rows[2][k], 1e-9) << k;
    EXPECT_NEAR(cfg.std_A[k], std::max(rows[3][k], 1e-6), 1e-9) << k;
  }
  EXPECT_CONTAINS(error_of([&] { compute_input_statistics(cfg, {}); }), "no training pairs");
}

TEST(InputStatistics, GetReturnsTheNormalisedInput) {
  ASSERT_TRUE(python_can_import("numpy, tifffile", "python3-numpy python3-tifffile"));
  const std::string root = tiff_dataset();
  DataConfig cfg = tiff_config(root);
  cfg.normalize = "dataset";
  const std::vector<PairRecord> train = find_pairs(cfg, root + "/train");
  EXPECT_CONTAINS(error_of([&] { PairedDataset(train, cfg, false); }), "--normalize dataset");  // not computed yet
  compute_input_statistics(cfg, train);
  PairedDataset ds(train, cfg, /*augment=*/false);
  const Sample s = ds.get(1, 0);
  ASSERT_EQ(s.A.sizes(), (at::IntArrayRef{4, 24, 40}));
  ASSERT_EQ(s.B.sizes(), (at::IntArrayRef{2, 24, 40}));
  const at::Tensor a = load_image(root + "/train/A/1.tif", 4);
  const at::Tensor b = load_image(root + "/train/B/1.tif", 2);
  for (int k = 0; k < 4; ++k) {
    const at::Tensor expect = (a[k].to(at::kDouble) - cfg.mean_A[k]) / cfg.std_A[k];
    EXPECT_LT((s.A[k].to(at::kDouble) - expect).abs().max().item<double>(), 1e-4 * (1 + expect.abs().max().item<double>()))
        << k;
  }
  EXPECT_LT((s.B - (b * 2 - 1)).abs().max().item<float>(), 1e-6);  // B keeps the [-1,1] mapping
  // Round trip back to unit range (what run_test saves as real_A).
  EXPECT_LT((input_from_network(s.A, cfg) - a).abs().max().item<float>(), 1e-5);
  // Statistics for another channel count are refused.
  cfg.mean_A.pop_back();
  cfg.std_A.pop_back();
  EXPECT_CONTAINS(error_of([&] { PairedDataset(train, cfg, false); }), "4 channels");
  // Without normalisation, A is unit*2-1 as before.
  DataConfig plain = tiff_config(root);
  EXPECT_TRUE(at::allclose(PairedDataset(train, plain, false).get(1, 0).A, a * 2 - 1));
}

TEST(TiffDataset, FourBandAAndTwoBandBResizePerChannel) {
  ASSERT_TRUE(python_can_import("numpy, tifffile", "python3-numpy python3-tifffile"));
  const std::string root = tiff_dataset();
  DataConfig cfg = tiff_config(root);
  cfg.preprocess = "resize_and_crop";
  cfg.load_size = 20;
  cfg.crop_size = 16;
  const std::vector<PairRecord> train = find_pairs(cfg, root + "/train");
  PairedDataset ds(train, cfg, /*augment=*/false);
  const Sample s = ds.get(0, 0);
  ASSERT_EQ(s.A.sizes(), (at::IntArrayRef{4, 16, 16}));
  ASSERT_EQ(s.B.sizes(), (at::IntArrayRef{2, 16, 16}));
  // Each band is resampled on its own: equal to resizing that band alone (centre crop at 2,2).
  const at::Tensor a = load_image(root + "/train/A/0.tif", 4);
  for (int k = 0; k < 4; ++k) {
    const at::Tensor one = resize_bicubic(a.narrow(0, k, 1), 20, 20, 32).narrow(1, 2, 16).narrow(2, 2, 16);
    EXPECT_LT((s.A[k] - (one[0] * 2 - 1)).abs().max().item<float>(), 1e-6) << k;
  }
  EXPECT_NEAR(s.A[3].mean().item<float>(), 0.0f, 1e-6);  // the constant 0.5 band stays 0.5 -> 0
  // A 3-channel request against the 4-band files names the file and the flag.
  DataConfig wrong = cfg;
  wrong.input_nc = 3;
  const std::string m = error_of([&] { PairedDataset(train, wrong, false).get(0, 0); });
  EXPECT_CONTAINS(m, "0.tif");
  EXPECT_CONTAINS(m, "--input_nc");
  // BtoA: the B files become the 2-band input.
  DataConfig btoa = tiff_config(root);
  btoa.direction = "BtoA";
  btoa.input_nc = 2;
  btoa.output_nc = 4;
  const Sample r = PairedDataset(train, btoa, false).get(0, 0);
  EXPECT_EQ(r.A.size(0), 2);
  EXPECT_EQ(r.B.size(0), 4);
}

TEST(TiffDataset, AlignedAbTiffSplitsAtHalfWidth) {
  const std::string root = scratch_dir("norm_ab_tiff");
  std::filesystem::create_directories(root + "/train");
  at::manual_seed(3);
  const at::Tensor left = at::rand({3, 12, 10}), right = at::rand({3, 12, 10});
  save_tiff(root + "/train/p.tif", at::cat({left, right}, 2));
  DataConfig cfg;
  cfg.dataroot = root;
  cfg.preprocess = "none";
  const std::vector<PairRecord> pairs = find_pairs(cfg, root + "/train");
  ASSERT_EQ(pairs.size(), 1u);
  EXPECT_TRUE(pairs[0].aligned);
  const Sample s = PairedDataset(pairs, cfg, false).get(0, 0);
  EXPECT_TRUE(at::allclose(s.A, left * 2 - 1, 0, 1e-6));
  EXPECT_TRUE(at::allclose(s.B, right * 2 - 1, 0, 1e-6));
  // SAR dB touches A only.
  cfg.sar_db = true;
  const Sample d = PairedDataset(pairs, cfg, false).get(0, 0);
  EXPECT_TRUE(at::allclose(d.A, input_to_network(sar_db_to_unit(left, -25, 0), cfg), 0, 1e-6));
  EXPECT_TRUE(at::allclose(d.B, right * 2 - 1, 0, 1e-6));
  // One band count for both halves: different --input_nc / --output_nc are refused for AB TIFFs.
  cfg.output_nc = 1;
  EXPECT_CONTAINS(error_of([&] { PairedDataset(pairs, cfg, false).get(0, 0); }), "A/ and B/ folders");
}
