// Fault cases of raster input and translate outputs (issue 24): non-finite samples are refused with
// their location, declared nodata is handled, impossible headers are refused before allocating,
// `translate --resume` redoes outputs that do not decode and removes killed runs' temp files, tile
// options that would run for minutes are refused, output folders are checked with the system's reason,
// and translate_file (what the C++ API and its example call) refuses to destroy its input, to write a
// format other than the extension names, and names a folder given as input.
// Fixtures come from tests/faults/make_fault_rasters.py (GDAL and hand-made bytes, not our writers).
#include "faults/faults.h"

#include "p2p/core/config_json.h"
#include "p2p/data/normalization.h"
#include "p2p/eval/export.h"
#include "p2p/eval/translate.h"
#include "p2p/io/image.h"
#include "p2p/io/raster.h"
#include "p2p/io/tiff.h"
#include "p2p/models/networks.h"

#include <torch/torch.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include <unistd.h>

namespace fs = std::filesystem;

namespace p2p {
namespace {

std::string q(const std::string& s) { return "'" + s + "'"; }

// A random unet_32 (width 8), exported with its options: `p2p translate --weights` loads it.
std::string tiny_generator(const std::string& dir) {
  torch::manual_seed(31);
  NetConfig cfg;
  cfg.ngf = 8;
  cfg.netG = "unet_32";
  NetworkPtr g = make_generator(cfg);
  init_weights(*g, "normal", 0.02);
  export_generator_safetensors(dir + "/g.safetensors", *g, {{"net", to_json(cfg)}}, "test");
  return dir + "/g.safetensors";
}

std::string fixtures(const std::string& dir) {
  const auto r = test::run_python_script("faults/make_fault_rasters.py", "make " + q(dir));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return dir;
}

std::string translate(const std::string& weights, const std::string& args) {
  return "translate --weights " + q(weights) + " --torch_threads 1 --blas_threads 1 " + args;
}

bool has_temp_files(const std::string& dir) {
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().filename().string().find(".tmp.") != std::string::npos) return true;
  }
  return false;
}

TEST(FaultsRasters, NonFiniteGeoTiffSamplesAreRefusedWithTheirLocation) {
  const std::string dir = fixtures(test::scratch_dir("faults_nonfinite"));
  const std::string weights = tiny_generator(dir);
  for (const char* kind : {"nan", "inf", "big"}) {
    const std::string tif = dir + "/bad_" + kind + ".tif";
    const auto r = test::run_p2p(translate(weights, "--input " + q(tif) + " --output " + q(dir + "/out")));
    EXPECT_EQ(r.exit_code, 1) << r.output;
    // Band 2 at x 5, y 7 holds the value the fixture put there, and the line says so.
    EXPECT_NE(r.output.find(tif + ": band 2 at pixel x 5, y 7 holds "), std::string::npos) << kind << r.output;
    EXPECT_FALSE(test::file_exists(dir + "/out/bad_" + std::string(kind) + ".tif")) << kind;
    EXPECT_FALSE(has_temp_files(dir + "/out")) << kind;
    // The whole-file reader (libtiff: training, test, metrics) refuses it at the same place.
    int bits = 0;
    EXPECT_NE(test::error_of([&] { load_image(tif, 3, bits); }).find(tif + ": band 2 at pixel x 5, y 7 holds "),
              std::string::npos)
        << kind;
  }
  // A caller's buffer (the C++ API's Image) is read through the same check.
  at::Tensor buffer = at::rand({3, 16, 16});
  buffer[0][3][9] = std::numeric_limits<float>::infinity();
  TensorRasterReader in(buffer, SampleType::f32, 32, "the input image");
  EXPECT_NE(test::error_of([&] { in.read(0, 0, 16, 16); }).find("the input image: band 1 at pixel x 9, y 3 holds inf"),
            std::string::npos);
}

TEST(FaultsRasters, DeclaredNodataIsFilledAndMarkedNodataInAFiniteOutput) {
  const std::string dir = fixtures(test::scratch_dir("faults_nodata"));
  const std::string weights = tiny_generator(dir);
  const auto r = test::run_p2p(translate(weights, "--input " + q(dir + "/nodata.tif") + " --output " + q(dir + "/out")));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // Read back by GDAL: finite, nodata -9999 declared, held by the 8 nodata rows (32 x 8 pixels x 3 bands)
  // and by every band of the single pixel that was nodata in band 1; the rest is G's output in [0,1].
  const auto check = test::run_python_script("faults/make_fault_rasters.py", "check " + q(dir + "/out/nodata.tif"));
  ASSERT_EQ(check.exit_code, 0) << check.output;
  EXPECT_NE(check.output.find("finite=1 nodata=-9999.0 nodata_pixels=" + std::to_string(32 * 8 * 3 + 3) + " "),
            std::string::npos)
      << check.output;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(check.output, m, std::regex("lo=([-0-9.]+) hi=([-0-9.]+)"))) << check.output;
  EXPECT_GE(std::stod(m[1]), 0.0);
  EXPECT_LE(std::stod(m[2]), 1.0);

  // Statistics leave nodata out: they equal the mean and population std of the samples that are not
  // -9999, computed here from GDAL's values through libtiff's reader (NaN = nodata) with nanmean.
  DataConfig cfg;
  cfg.input_nc = 3;
  cfg.output_nc = 3;
  PairRecord pair;
  pair.a_path = pair.b_path = dir + "/nodata.tif";
  compute_input_statistics(cfg, {pair});
  int bits = 0;
  const at::Tensor a = load_image(dir + "/nodata.tif", 3, bits).to(at::kDouble);
  for (int64_t c = 0; c < 3; ++c) {
    const at::Tensor band = a[c];
    const at::Tensor valid = band.masked_select(band.isnan().logical_not());
    EXPECT_NEAR(cfg.mean_A[c], valid.mean().item<double>(), 1e-12) << c;
    EXPECT_NEAR(cfg.std_A[c], valid.std(/*unbiased=*/false).item<double>(), 1e-12) << c;
  }
  // Training sees the filled value (the network's 0), never NaN.
  const LoadedPair loaded = load_pair(pair, cfg);
  EXPECT_TRUE(loaded.A.isfinite().all().item<bool>());
  EXPECT_TRUE(loaded.B.isfinite().all().item<bool>());
  EXPECT_FLOAT_EQ(loaded.B[0][8][0].item<float>(), 0.5f);
}

TEST(FaultsRasters, HugeHeadersAreRefusedBeforeAllocating) {
  const std::string dir = fixtures(test::scratch_dir("faults_huge"));
  const std::string weights = tiny_generator(dir);
  for (const char* name : {"huge.tif", "huge.png"}) {
    const std::string file = dir + "/" + name;
    const auto start = std::chrono::steady_clock::now();
    // GNU time reports the peak resident memory of the whole command.
    const auto r = test::run_command("/usr/bin/time -v " + std::string(P2P_TEST_BIN) + " " +
                                     translate(weights, "--input " + q(file) + " --output " + q(dir + "/out")) + " 2>&1");
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_NE(r.output.find(file + ": its header declares 1000000 x 1000000 pixels, 3 bands"), std::string::npos)
        << r.output;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(r.output, m, std::regex("Maximum resident set size \\(kbytes\\): ([0-9]+)")))
        << r.output;
    const double mib = std::stod(m[1]) / 1024.0;
    std::cout << name << ": refused in " << secs << " s, peak RSS " << mib << " MiB\n";
    // The program with LibTorch loaded and a tiny generator: about 200-300 MiB. One band of tile rows of
    // this header would be 28 GiB, the whole image 2.8 TiB of samples.
    EXPECT_LT(mib, 1024.0) << r.output;
    EXPECT_LT(secs, 60.0);
  }
  // The whole-image readers refuse the same headers in-process.
  int bits = 0;
  for (const char* name : {"huge.tif", "huge.png"}) {
    EXPECT_NE(test::error_of([&] { load_image(dir + "/" + name, 3, bits); }).find("header declares 1000000 x 1000000"),
              std::string::npos)
        << name;
  }
}

// Three PNG inputs translated; returns the outputs' bytes.
std::vector<std::string> first_run(const std::string& dir, const std::string& weights) {
  fs::create_directories(dir + "/in");
  for (int i = 0; i < 3; ++i) test::write_random_png(dir + "/in/" + std::to_string(i) + ".png", 40, 30, 3, 10 + i);
  const auto r = test::run_p2p(translate(weights, "--input " + q(dir + "/in") + " --output " + q(dir + "/out")));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  std::vector<std::string> bytes;
  for (int i = 0; i < 3; ++i) bytes.push_back(test::read_file(dir + "/out/" + std::to_string(i) + ".png"));
  return bytes;
}

TEST(FaultsRasters, ResumeRedoesEmptyAndTruncatedOutputs) {
  const std::string dir = test::scratch_dir("faults_resume_outputs");
  const std::string weights = tiny_generator(dir);
  const std::vector<std::string> before = first_run(dir, weights);
  std::ofstream(dir + "/out/0.png", std::ios::trunc).close();  // 0 bytes
  std::ofstream(dir + "/out/1.png", std::ios::trunc | std::ios::binary) << before[1].substr(0, before[1].size() / 2);
  const auto r = test::run_p2p(translate(weights, "--resume --input " + q(dir + "/in") + " --output " + q(dir + "/out")));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("translated 2 of 3 images"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("1 skipped"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(dir + "/out/0.png exists but is not complete"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(dir + "/out/1.png exists but is not complete"), std::string::npos) << r.output;
  for (int i = 0; i < 3; ++i) EXPECT_EQ(test::read_file(dir + "/out/" + std::to_string(i) + ".png"), before[i]) << i;
}

TEST(FaultsRasters, AKilledWritersTempFileIsRemovedByTheNextRun) {
  const std::string dir = test::scratch_dir("faults_resume_tmp");
  const std::string weights = tiny_generator(dir);
  const std::vector<std::string> before = first_run(dir, weights);
  // As a tiled GeoTIFF write killed midway leaves it: <output>.tmp.<pid>.<n> of a process that is gone
  // (PIDs never reach 99999999).
  const std::string stale = dir + "/out/2.png.tmp.99999999.0";
  std::ofstream(stale) << "half a file";
  const auto r = test::run_p2p(translate(weights, "--resume --input " + q(dir + "/in") + " --output " + q(dir + "/out")));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_FALSE(test::file_exists(stale));
  EXPECT_NE(r.output.find("removed " + stale), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("3 skipped"), std::string::npos) << r.output;
}

TEST(FaultsRasters, AnOverlapLeavingATinyStepIsRefusedAndTiledJobsSayTheirTiles) {
  const std::string dir = test::scratch_dir("faults_tiles");
  const std::string weights = tiny_generator(dir);
  test::write_random_png(dir + "/in.png", 100, 70, 3, 1);
  const auto start = std::chrono::steady_clock::now();
  const auto r = test::run_p2p(
      translate(weights, "--tile 64 --overlap 63 --input " + q(dir + "/in.png") + " --output " + q(dir + "/out")));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("--overlap 63: leaves tiles of --tile 64 only 1 px apart"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("--overlap at most 48"), std::string::npos) << r.output;
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 30.0);
  EXPECT_FALSE(test::file_exists(dir + "/out/in.png"));
  // The largest overlap allowed runs, and says how many tiles before it starts: tiles of 64 px, step 16,
  // start at x 0, 16, 32, 36 (the last ends at the border) and y 0, 6 over 100 x 70 pixels.
  const auto ok = test::run_p2p(
      translate(weights, "--tile 64 --overlap 48 --input " + q(dir + "/in.png") + " --output " + q(dir + "/out")));
  ASSERT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_NE(ok.output.find(dir + "/in.png: 100 x 70 pixels in 8 tiles (4 x 2) of 64 px, overlap 48"), std::string::npos)
      << ok.output;
}

TEST(FaultsRasters, AnOutputFolderThatCannotBeWrittenSaysTheSystemsReason) {
  const std::string dir = test::scratch_dir("faults_readonly");
  const std::string weights = tiny_generator(dir);
  test::write_random_png(dir + "/in.png", 32, 32, 3, 1);
  // root writes into a folder of mode 555: there, /sys/kernel (sysfs) refuses new files instead.
  std::string out = dir + "/readonly";
  if (::geteuid() == 0) {
    out = "/sys/kernel";
  } else {
    fs::create_directories(out);
    fs::permissions(out, fs::perms::owner_read | fs::perms::owner_exec);
  }
  const auto r = test::run_p2p(translate(weights, "--input " + q(dir + "/in.png") + " --output " + q(out)));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("--output " + out + ": cannot write into this folder: Permission denied"), std::string::npos)
      << r.output;
  // `p2p test` checks its results folder the same way (here a file stands where the folder would be).
  std::ofstream(dir + "/results") << "a file";
  test::write_ab_dataset(dir + "/data", 1, 1);
  const auto t = test::run_p2p("test --weights " + q(weights) + " --dataroot " + q(dir + "/data") + " --results_dir " +
                               q(dir + "/results") + " --torch_threads 1 --blas_threads 1");
  EXPECT_NE(t.exit_code, 0) << t.output;
  EXPECT_NE(t.output.find("cannot create folder " + dir + "/results/g/test_latest: Not a directory"), std::string::npos)
      << t.output;
}

TEST(FaultsRasters, AnEmptyOutputIsRefusedNamingTheFlag) {
  const std::string dir = test::scratch_dir("faults_empty_output");
  const std::string weights = tiny_generator(dir);
  test::write_random_png(dir + "/in.png", 32, 32, 3, 1);
  const auto r = test::run_command("cd " + q(dir) + " && " + P2P_TEST_BIN + " " +
                                   translate(weights, "--input in.png --output ''") + " 2>&1");
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("--output is empty"), std::string::npos) << r.output;
  EXPECT_FALSE(test::file_exists(dir + "/in.png.tmp")) << r.output;
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 2);  // g.safetensors, in.png
  const auto t = test::run_p2p("test --weights " + q(weights) + " --dataroot " + q(dir) + " --results_dir ''");
  EXPECT_NE(t.exit_code, 0) << t.output;
  EXPECT_NE(t.output.find("--results_dir is empty"), std::string::npos) << t.output;
}

// translate_file is what pix2pix::Translator::translate_file (and so examples/embed) runs.
TEST(FaultsRasters, TranslateFileRefusesItsInputAsOutputAnUnknownFormatAndAFolder) {
  const std::string dir = test::scratch_dir("faults_api");
  torch::manual_seed(31);
  NetConfig net;
  net.ngf = 8;
  net.netG = "unet_32";
  NetworkPtr g = make_generator(net);
  DataConfig data;
  const std::string in = dir + "/in.png";
  test::write_random_png(in, 32, 32, 3, 1);
  const std::string original = test::read_file(in);
  std::ostringstream log;
  const auto run = [&](const std::string& input, const std::string& output) {
    return test::error_of([&] { translate_file(*g, input, output, data, TileOptions{}, at::kCPU, log); });
  };
  // The same file by another spelling: refused, the input kept byte for byte.
  EXPECT_NE(run(in, dir + "/./in.png").find("is the input file"), std::string::npos);
  EXPECT_EQ(test::read_file(in), original);
  // No PNG bytes in a file named .jpg.
  EXPECT_NE(run(in, dir + "/out.jpg").find("'.jpg' is not a format written here; name the output .png or .tif"),
            std::string::npos);
  EXPECT_FALSE(test::file_exists(dir + "/out.jpg"));
  // A folder as input is named as one.
  EXPECT_EQ(run(dir, dir + "/out.png"), dir + " is a folder, expected an image file");
  // And a good call still works.
  EXPECT_EQ(run(in, dir + "/out.png"), "");
  EXPECT_TRUE(test::file_exists(dir + "/out.png"));
}

}  // namespace
}  // namespace p2p
