// End-to-end test of `p2p data palette`: from a folder of JPEG label maps (written by PIL, quality 75)
// it writes a palette file that load_palette reads, with one class per colour the maps use, each within
// a few units of that colour; and it refuses a folder without images.
#include "p2p/data/palette.h"

#include "testutil/testutil.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;

namespace p2p {
namespace {

TEST(CliPalette, ProposesTheColoursOfJpegLabelMaps) {
  ASSERT_TRUE(test::python_can_import("PIL, numpy", "python3-pil python3-numpy"));
  const std::string dir = test::scratch_dir("cli_palette");
  const std::string labels = dir + "/labels";
  fs::create_directories(labels);
  // Five well separated colours; the maps are grids of 11x13 cells, so class edges cross JPEG blocks.
  std::ofstream(dir + "/truth.json") << R"({"classes": [
      {"name": "a", "color": [20, 40, 200]}, {"name": "b", "color": [230, 60, 20]},
      {"name": "c", "color": [40, 200, 60]}, {"name": "d", "color": [240, 230, 50]},
      {"name": "e", "color": [120, 20, 140]}]})";
  const auto made = test::run_python_script("fixtures/palette_reference.py", "make '" + dir + "/truth.json' '" + labels + "' 6 3");
  ASSERT_EQ(made.exit_code, 0) << made.output;
  const nlohmann::json used = nlohmann::json::parse(made.output);
  ASSERT_EQ(used.size(), 5u);

  const auto r = test::run_p2p("data palette --dir '" + labels + "' --out '" + dir + "/palette.json'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("proposed 5 classes from 6 label images"), std::string::npos) << r.output;
  const Palette p = load_palette(dir + "/palette.json");
  ASSERT_EQ(p.num_classes(), 5) << test::read_file(dir + "/palette.json");
  for (const auto& want : used) {
    double best = 1e9;
    for (const PaletteEntry& got : p.entries) {
      double d2 = 0;
      for (int k = 0; k < 3; ++k) d2 += std::pow(want[k].get<double>() - got.rgb[k], 2);
      best = std::min(best, std::sqrt(d2));
    }
    EXPECT_LE(best, 5.0) << want.dump() << " in " << test::read_file(dir + "/palette.json");
  }
  // Shares are written, and the classes cover nearly every pixel (the rest are JPEG edge blends).
  const nlohmann::json j = nlohmann::json::parse(test::read_file(dir + "/palette.json"));
  EXPECT_GT(j["classes"][0]["share"].get<double>(), 0.1);
  EXPECT_LT(j["source"]["unclassified_share"].get<double>(), 0.3);

  fs::create_directories(dir + "/empty");
  const auto bad = test::run_p2p("data palette --dir '" + dir + "/empty' --out '" + dir + "/x.json'");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.output.find("--dir " + dir + "/empty: no label images"), std::string::npos) << bad.output;
  EXPECT_FALSE(fs::exists(dir + "/x.json"));
}

}  // namespace
}  // namespace p2p
