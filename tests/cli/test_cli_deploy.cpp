// End-to-end tests of deployment: `p2p export` (a run exported to safetensors translates images exactly
// as the run itself, from a run folder or from a weights file with architecture flags); `p2p translate`
// on folders and list files (a corrupt file fails alone, the exit status and summary say so, --resume
// skips finished outputs), on a GeoTIFF (georeferencing and sample type kept, checked with GDAL's own
// gdalinfo) and on a 6000 x 4000 scene in bounded memory, GeoTIFF and PNG; and the embed example built
// against the installed CMake package, translating like `p2p translate`.
#include "p2p/core/config_json.h"
#include "p2p/eval/export.h"
#include "p2p/io/image.h"
#include "p2p/io/raster.h"
#include "p2p/io/safetensors.h"
#include "p2p/models/networks.h"
#include "testutil/testutil.h"

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <gtest/gtest.h>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <vector>

namespace p2p {
namespace {

TEST(CliDeploy, ExportedRunTranslatesLikeTheRun) {
  const std::string root = test::write_ab_dataset(test::scratch_dir("cli_export_data"), 4, 0);
  const std::string ck = test::scratch_dir("cli_export_ck");
  const auto train = test::run_p2p(test::tiny_train_command(root, ck, "run", "--normalize dataset"));
  ASSERT_EQ(train.exit_code, 0) << train.output;
  const std::string dir = test::scratch_dir("cli_export");
  const auto ex = test::run_p2p("export --name run --checkpoints_dir '" + ck + "' --out '" + dir + "/g.safetensors'");
  ASSERT_EQ(ex.exit_code, 0) << ex.output;
  EXPECT_NE(ex.output.find("exported G (unet_32"), std::string::npos) << ex.output;
  EXPECT_NE(read_safetensors(dir + "/g.safetensors").metadata.at("pix2pix.data").find("mean_A"), std::string::npos);
  std::filesystem::create_directories(dir + "/in");
  test::write_random_png(dir + "/in/a.png", 40, 24, 3, 5);
  const auto by_run = test::run_p2p("translate --name run --checkpoints_dir '" + ck + "' --eval --input '" + dir +
                                    "/in' --output '" + dir + "/out_run'");
  ASSERT_EQ(by_run.exit_code, 0) << by_run.output;
  // No architecture flags: the file says unet_32, ngf 8 and the run's input statistics.
  const auto by_file = test::run_p2p("translate --weights '" + dir + "/g.safetensors' --eval --input '" + dir +
                                     "/in' --output '" + dir + "/out_file'");
  ASSERT_EQ(by_file.exit_code, 0) << by_file.output;
  const std::string a = test::read_file(dir + "/out_run/a.png"), b = test::read_file(dir + "/out_file/a.png");
  EXPECT_FALSE(a.empty());
  EXPECT_EQ(a, b);

  // From a weights file: its architecture flags are given, and the export carries them on.
  const auto ex2 = test::run_p2p("export --weights '" + ck + "/run/latest.pt' --out '" + dir + "/g2.safetensors'");
  ASSERT_EQ(ex2.exit_code, 0) << ex2.output;
  const auto again = test::run_p2p("translate --weights '" + dir + "/g2.safetensors' --eval --input '" + dir +
                                   "/in' --output '" + dir + "/out_file2'");
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_EQ(test::read_file(dir + "/out_file2/a.png"), a);

  // TorchScript: the traced module runs in Python with the run's options (input statistics) beside it.
  const auto ts = test::run_p2p("export --name run --checkpoints_dir '" + ck + "' --format torchscript --eval --out '" +
                                dir + "/g_script.pt'");
  ASSERT_EQ(ts.exit_code, 0) << ts.output;
  EXPECT_NE(ts.output.find("(torchscript)"), std::string::npos) << ts.output;
  {
    // pix2pix.json (stored uncompressed in the archive) carries the data options, as the safetensors
    // export does, but not where the training data lived.
    const std::string archive = test::read_file(dir + "/g_script.pt");
    EXPECT_NE(archive.find("\"crop_size\""), std::string::npos);
    EXPECT_EQ(archive.find(root), std::string::npos) << "the dataset path " << root << " was shipped";
    EXPECT_EQ(archive.find("dataroot"), std::string::npos);
  }
  {
    std::ofstream x(dir + "/x.bin", std::ios::binary);
    const std::vector<float> zeros(3 * 32 * 64, 0.25f);
    x.write(reinterpret_cast<const char*>(zeros.data()), static_cast<std::streamsize>(zeros.size() * sizeof(float)));
  }
  const auto py = test::run_python_script("deploy/run_torchscript.py", "'" + dir + "/g_script.pt' '" + dir + "/x.bin' '" +
                                                                             dir + "/y.bin' 3 32 64");
  ASSERT_EQ(py.exit_code, 0) << py.output;
  EXPECT_NE(py.output.find("mean_A"), std::string::npos) << py.output;
  EXPECT_EQ(test::read_file(dir + "/y.bin").size(), 3u * 32 * 64 * sizeof(float));

  const auto bad = test::run_p2p("export --name run --checkpoints_dir '" + ck + "' --format onnx --out x");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.output.find("--format"), std::string::npos) << bad.output;
  std::ofstream(dir + "/junk.safetensors") << "not a model";
  const auto junk = test::run_p2p("translate --weights '" + dir + "/junk.safetensors' --input '" + dir +
                                  "/in' --output '" + dir + "/o'");
  EXPECT_NE(junk.exit_code, 0);
  EXPECT_NE(junk.output.find("junk.safetensors"), std::string::npos) << junk.output;
}

// A tiny exported U-Net (random weights): a --weights file that needs no architecture flags.
std::string tiny_weights(const std::string& dir) {
  torch::manual_seed(31);
  NetConfig cfg;
  cfg.ngf = 8;
  cfg.netG = "unet_32";
  NetworkPtr g = make_generator(cfg);
  init_weights(*g, "normal", 0.02);
  export_generator_safetensors(dir + "/g.safetensors", *g, {{"net", to_json(cfg)}}, "test");
  return dir + "/g.safetensors";
}

TEST(CliDeploy, FolderWithACorruptFileTranslatesTheRestAndFails) {
  const std::string dir = test::scratch_dir("cli_batch");
  const std::string weights = tiny_weights(dir);
  std::filesystem::create_directories(dir + "/in");
  test::write_random_png(dir + "/in/a.png", 40, 30, 3, 1);
  test::write_random_png(dir + "/in/b.png", 33, 20, 3, 2);
  std::ofstream(dir + "/in/broken.png") << "\x89PNG but not really";
  test::write_random_png(dir + "/in/c.png", 16, 16, 3, 3);
  const std::string cmd = "translate --weights '" + weights + "' --input '" + dir + "/in' --output '" + dir + "/out'";
  const auto r = test::run_p2p(cmd);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  for (const char* f : {"a", "b", "c"}) EXPECT_TRUE(test::file_exists(dir + "/out/" + f + ".png")) << f;
  EXPECT_FALSE(test::file_exists(dir + "/out/broken.png"));
  // Per-file lines, the failure named where it happened and again in the summary.
  EXPECT_NE(r.output.find("[1/4] " + dir + "/in/a.png -> " + dir + "/out/a.png"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("skipped " + dir + "/in/broken.png"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("translated 3 of 4 images -> " + dir + "/out, 1 failed:\n  " + dir + "/in/broken.png: "),
            std::string::npos)
      << r.output;

  // --resume: finished outputs are skipped (their files untouched), the rest translated.
  std::filesystem::remove(dir + "/out/b.png");
  const auto a_before = std::filesystem::last_write_time(dir + "/out/a.png");
  std::filesystem::remove(dir + "/in/broken.png");
  const auto resumed = test::run_p2p(cmd + " --resume");
  EXPECT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("translated 1 of 3 images -> " + dir + "/out, 2 skipped"), std::string::npos)
      << resumed.output;
  EXPECT_TRUE(test::file_exists(dir + "/out/b.png"));
  EXPECT_EQ(std::filesystem::last_write_time(dir + "/out/a.png"), a_before);

  // A list file: paths relative to it, comments skipped; a listed file that is missing fails alone.
  std::ofstream(dir + "/list.txt") << "# inputs\nin/a.png\n\n" << dir << "/in/c.png\nin/gone.png\n";
  const auto listed = test::run_p2p("translate --weights '" + weights + "' --input '" + dir + "/list.txt' --output '" +
                                    dir + "/out_list'");
  EXPECT_EQ(listed.exit_code, 1) << listed.output;
  EXPECT_NE(listed.output.find("translated 2 of 3 images"), std::string::npos) << listed.output;
  EXPECT_NE(listed.output.find("gone.png"), std::string::npos) << listed.output;
  EXPECT_EQ(test::read_file(dir + "/out_list/a.png"), test::read_file(dir + "/out/a.png"));
  const auto bad_tile = test::run_p2p(cmd + " --tile 48");
  EXPECT_NE(bad_tile.exit_code, 0);
  EXPECT_NE(bad_tile.output.find("--tile 48: must be a multiple of 32"), std::string::npos) << bad_tile.output;
}

// gdalinfo -json of `path`, parsed.
nlohmann::json gdalinfo(const std::string& path) {
  const auto r = test::run_command("gdalinfo -json '" + path + "' 2>&1");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return nlohmann::json::parse(r.output.substr(r.output.find('{')));
}

TEST(CliDeploy, GeoTiffKeepsGeoreferencingAndSampleType) {
  ASSERT_TRUE(test::python_can_import("osgeo.gdal, numpy", "python3-gdal python3-numpy"));
  ASSERT_EQ(test::run_command("gdalinfo --version").exit_code, 0) << "gdalinfo (gdal-bin) is needed";
  const std::string dir = test::scratch_dir("cli_geotiff");
  const std::string weights = tiny_weights(dir);
  const auto made = test::run_python_script("cli/make_geotiff.py", "'" + dir + "/scene.tif' 300 200 uint16 Point");
  ASSERT_EQ(made.exit_code, 0) << made.output;
  const auto r = test::run_p2p("translate --weights '" + weights + "' --input '" + dir + "/scene.tif' --output '" + dir +
                               "/out' --tile 64 --overlap 16 --tile_batch 3");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const nlohmann::json in = gdalinfo(dir + "/scene.tif"), out = gdalinfo(dir + "/out/scene.tif");
  EXPECT_EQ(out["size"], in["size"]);
  EXPECT_EQ(out["geoTransform"], in["geoTransform"]);
  EXPECT_EQ(in["geoTransform"][0].get<double>(), 500000.0);  // the script's origin, so the check is not vacuous
  EXPECT_EQ(out["coordinateSystem"]["wkt"], in["coordinateSystem"]["wkt"]);
  EXPECT_NE(out["coordinateSystem"]["wkt"].get<std::string>().find("32633"), std::string::npos);
  // Pixel-is-point, not GDAL's default pixel-is-area: half a pixel of georeferencing.
  EXPECT_EQ(in["metadata"][""]["AREA_OR_POINT"], "Point") << in.dump(1);
  EXPECT_EQ(out["metadata"][""]["AREA_OR_POINT"], "Point") << out.dump(1);
  ASSERT_EQ(out["bands"].size(), 3u);
  for (const auto& band : out["bands"]) EXPECT_EQ(band["type"], "UInt16");
  // The values are the translation, at 16 bits: not a copy of the input, and spread over the range.
  int bits = 0;
  const at::Tensor o = load_image(dir + "/out/scene.tif", 3, bits);
  EXPECT_EQ(bits, 16);
  EXPECT_GT(o.std().item<double>(), 1e-3);
  EXPECT_GT(((o * 65535).round() - (o * 255).round() * 257).abs().max().item<double>(), 1.0) << "only 8-bit values";
}

// Runs a command and returns its peak resident memory in MiB (wait4's ru_maxrss), and its exit code.
std::pair<double, int> peak_rss_mib(const std::string& command) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::execl("/bin/sh", "sh", "-c", (command + " > /dev/null 2>&1").c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int status = 0;
  rusage usage{};
  ::wait4(pid, &status, 0, &usage);
  return {static_cast<double>(usage.ru_maxrss) / 1024.0, WIFEXITED(status) ? WEXITSTATUS(status) : -1};
}

TEST(CliDeploy, LargeSceneTranslatesInBoundedMemory) {
  if (!windowed_tiff_supported()) GTEST_SKIP() << "built without GDAL: TIFF scenes are read whole";
  ASSERT_TRUE(test::python_can_import("osgeo.gdal, numpy", "python3-gdal python3-numpy"));
  const std::string dir = test::scratch_dir("cli_large");
  const std::string weights = tiny_weights(dir);
  ASSERT_EQ(test::run_python_script("cli/make_geotiff.py", "'" + dir + "/big.tif' 6000 4000 uint8").exit_code, 0);
  ASSERT_EQ(test::run_python_script("cli/make_geotiff.py", "'" + dir + "/strip.tif' 6000 1000 uint8").exit_code, 0);
  const std::string p2p = std::string(P2P_TEST_BIN) + " translate --weights '" + weights + "' --eval --tile 512 --overlap 32 ";
  const auto [strip_mib, strip_rc] = peak_rss_mib(p2p + "--input '" + dir + "/strip.tif' --output '" + dir + "/o1'");
  ASSERT_EQ(strip_rc, 0);
  const auto [big_mib, big_rc] = peak_rss_mib(p2p + "--input '" + dir + "/big.tif' --output '" + dir + "/o2'");
  ASSERT_EQ(big_rc, 0);
  std::cerr << "peak RSS: 6000x4000 " << big_mib << " MiB, 6000x1000 " << strip_mib << " MiB\n";
  // Memory follows the tile rows (512 x 6000), not the scene: 3000 more rows would be 206 MiB more as
  // float32 input and as much again as output, were the scene held whole. What may grow is GDAL's block
  // cache, capped at 32 MiB.
  EXPECT_LT(big_mib - strip_mib, 45.0);
  // And the whole run stays below one float32 copy of the scene's input and output (2 x 275 MiB).
  EXPECT_LT(big_mib, 550.0);
  const nlohmann::json out = gdalinfo(dir + "/o2/big.tif");
  EXPECT_EQ(out["size"], nlohmann::json::array({6000, 4000}));
  // Written completely: the last rows are the translation, not the zeros of an unwritten block.
  auto check = open_raster(dir + "/o2/big.tif", 3, "");
  EXPECT_GT(check->read(0, 3990, 6000, 10).std().item<double>(), 1e-3);
}

TEST(CliDeploy, LargePngTranslatesInBoundedMemory) {
  const std::string dir = test::scratch_dir("cli_large_png");
  const std::string weights = tiny_weights(dir);
  const int64_t w = 6000, h = 4000;
  {
    PngRowWriter png(dir + "/big.png", w, h, 3);
    std::vector<uint8_t> row(static_cast<size_t>(w * 3));
    for (int64_t y = 0; y < h; ++y) {
      for (int64_t i = 0; i < w * 3; ++i) {
        const int64_t x = i / 3, k = i % 3;
        row[static_cast<size_t>(i)] = static_cast<uint8_t>((x / (3 + k) + y / (5 - k)) & 255);
      }
      png.write_rows(row.data(), 1);
    }
    png.finish();
  }
  const auto [mib, rc] = peak_rss_mib(std::string(P2P_TEST_BIN) + " translate --weights '" + weights +
                                      "' --eval --tile 512 --overlap 32 --input '" + dir + "/big.png' --output '" +
                                      dir + "/o'");
  ASSERT_EQ(rc, 0);
  std::cerr << "peak RSS: 6000x4000 PNG " << mib << " MiB\n";
  // As floats, the decoded input and the output would take 275 MiB each, and the path that held them
  // whole held several copies of each (2.5 GB with unet_256). Held are the 8-bit samples (69 MiB), one
  // band of tile rows, and, while decoding, the decoder's buffers.
  EXPECT_LT(mib, 550.0);
  const DecodedImage out = decode_image(dir + "/o/big.png", 3);
  EXPECT_EQ(out.samples.sizes(), (at::IntArrayRef{h, w, 3}));
  // The last rows are the translation, not a constant (the tiny random network's output varies by
  // about one grey level).
  EXPECT_GT(out.samples.narrow(0, h - 10, 10).to(at::kFloat).std().item<double>(), 0.1);
}

TEST(CliDeploy, InstalledPackageBuildsTheEmbedExample) {
  const std::string dir = test::scratch_dir("cli_embed");
  const std::string prefix = dir + "/prefix", build = dir + "/build";
  const std::string cmake = P2P_TEST_CMAKE;
  const auto inst = test::run_command("'" + cmake + "' --install '" + P2P_TEST_BUILD_DIR + "' --prefix '" + prefix + "' 2>&1");
  ASSERT_EQ(inst.exit_code, 0) << inst.output;
  EXPECT_TRUE(test::file_exists(prefix + "/include/pix2pix/pix2pix.h"));
  const auto conf = test::run_command("'" + cmake + "' -S '" + P2P_TEST_SOURCE_DIR + "/examples/embed' -B '" + build +
                                      "' -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH='" + prefix + "' 2>&1");
  ASSERT_EQ(conf.exit_code, 0) << conf.output;
  const auto make = test::run_command("'" + cmake + "' --build '" + build + "' 2>&1");
  ASSERT_EQ(make.exit_code, 0) << make.output;

  const std::string weights = tiny_weights(dir);
  test::write_random_png(dir + "/in.png", 70, 45, 3, 8);
  const auto run = test::run_command("'" + build + "/embed' '" + weights + "' '" + dir + "/in.png' '" + dir + "/embed.png' 2>&1");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_NE(run.output.find("unet_32 translated"), std::string::npos) << run.output;
  // Same weights, same input, same test mode and seed: the same bytes as the p2p program writes.
  const auto cli = test::run_p2p("translate --weights '" + weights + "' --input '" + dir + "/in.png' --output '" + dir + "/cli'");
  ASSERT_EQ(cli.exit_code, 0) << cli.output;
  EXPECT_EQ(test::read_file(dir + "/embed.png"), test::read_file(dir + "/cli/in.png"));
  // A bad file is an error message and a non-zero exit, not a crash.
  const auto bad = test::run_command("'" + build + "/embed' '" + dir + "/in.png' '" + dir + "/in.png' '" + dir + "/x.png' 2>&1");
  EXPECT_EQ(bad.exit_code, 1) << bad.output;
  EXPECT_NE(bad.output.find("in.png"), std::string::npos) << bad.output;
}

}  // namespace
}  // namespace p2p
