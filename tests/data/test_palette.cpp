// Palettes: built-in tables, known-answer decoding (exact colours, ignore entries, far colours, ties),
// encode/decode round trips, agreement with a numpy nearest-colour decoder on JPEG label maps (ids
// exactly equal), JSON errors naming file and key, the real facades labels, and palette proposals.
#include "p2p/data/palette.h"

#include "p2p/core/error.h"
#include "p2p/io/image.h"
#include "testutil/testutil.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace p2p {
namespace {

// [3,H,W] float image of 8-bit colours given as {r,g,b} per pixel, row-major.
at::Tensor image_of(int64_t h, int64_t w, const std::vector<std::array<int, 3>>& pixels) {
  at::Tensor t = at::empty({3, h, w}, at::kFloat);
  auto a = t.accessor<float, 3>();
  for (int64_t i = 0; i < h * w; ++i) {
    for (int c = 0; c < 3; ++c) a[c][i / w][i % w] = pixels[i][c] / 255.0f;
  }
  return t;
}

// Class ids stored as the values of an 8-bit gray PNG.
at::Tensor ids_from_png(const std::string& path) {
  return load_image(path, 1).squeeze(0).mul(255).round().to(at::kLong);
}

std::string write_text(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
  return path;
}

Palette small_palette() {
  Palette p;
  p.name = "small";
  p.entries = {{"a", {10, 10, 10}}, {"void", {0, 0, 0}, true}, {"b", {200, 0, 0}}, {"c", {10, 10, 30}}};
  return p;
}

TEST(Palette, BuiltinsHaveTheirClasses) {
  const Palette city = load_palette("cityscapes");
  ASSERT_EQ(city.num_classes(), 19);
  EXPECT_EQ(city.class_names().front(), "road");
  EXPECT_EQ(city.class_names()[13], "car");
  EXPECT_EQ(city.class_names().back(), "bicycle");
  const Palette facades = load_palette("facades");
  ASSERT_EQ(facades.num_classes(), 12);
  EXPECT_EQ(facades.class_names(),
            (std::vector<std::string>{"background", "facade", "window", "door", "cornice", "sill", "balcony", "blind",
                                      "deco", "molding", "pillar", "shop"}));
  // trainId colours decode to their trainIds; the ignored ids' colours (black, trailer's pix2pix 0,0,110)
  // decode to 255.
  const at::Tensor img = image_of(1, 5, {{128, 64, 128}, {119, 11, 32}, {0, 0, 142}, {0, 0, 0}, {0, 0, 110}});
  const DecodedLabels d = decode_labels(img, city);
  EXPECT_TRUE(at::equal(d.ids, at::tensor({0, 18, 13, 255, 255}, at::kLong).view({1, 5})));
  EXPECT_DOUBLE_EQ(d.ignore_colour_fraction, 0.4);
  EXPECT_DOUBLE_EQ(d.far_fraction, 0.0);
}

TEST(Palette, DecodesNearestColourIgnoreEntriesAndFarColours) {
  const Palette p = small_palette();  // classes a=0, b=1, c=2; void ignored
  // exact a; exact b; void's colour; (10,10,20) ties a and c -> the earlier entry, a; (10,10,27) nearer c;
  // (100,100,100) is 145.6 from c, its nearest: kept at 200, far at 100.
  const at::Tensor img =
      image_of(2, 3, {{10, 10, 10}, {200, 0, 0}, {0, 0, 0}, {10, 10, 20}, {10, 10, 27}, {100, 100, 100}});
  const DecodedLabels wide = decode_labels(img, p, 200.0);
  EXPECT_TRUE(at::equal(wide.ids, at::tensor({0, 1, 255, 0, 2, 2}, at::kLong).view({2, 3})));
  EXPECT_DOUBLE_EQ(wide.ignored_fraction, 1.0 / 6);
  EXPECT_DOUBLE_EQ(wide.ignore_colour_fraction, 1.0 / 6);
  EXPECT_DOUBLE_EQ(wide.far_fraction, 0.0);
  const DecodedLabels tight = decode_labels(img, p, 100.0);
  EXPECT_TRUE(at::equal(tight.ids, at::tensor({0, 1, 255, 0, 2, 255}, at::kLong).view({2, 3})));
  EXPECT_DOUBLE_EQ(tight.far_fraction, 1.0 / 6);
  EXPECT_DOUBLE_EQ(tight.ignored_fraction, 2.0 / 6);
  // A colour exactly at the distance is kept: (10,10,10) + (0,0,3) at max distance 3.
  EXPECT_EQ(decode_labels(image_of(1, 1, {{10, 10, 13}}), p, 3.0).ids.item<int64_t>(), 0);
  // Values are rounded to 8 bits first: 10.4/255 reads as 10.
  EXPECT_EQ(decode_labels(at::full({3, 1, 1}, 10.4 / 255.0), p, 0.0).ids.item<int64_t>(), 0);
  EXPECT_NE(test::error_of([&] { decode_labels(at::zeros({1, 4, 4}), p); }).find("[3,H,W]"), std::string::npos);
  EXPECT_NE(test::error_of([&] { decode_labels(img, p, -1.0); }).find("distance"), std::string::npos);
}

TEST(Palette, EncodeThenDecodeGivesTheIds) {
  for (const std::string name : {"cityscapes", "facades"}) {
    SCOPED_TRACE(name);
    const Palette p = load_palette(name);
    auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
    at::Tensor ids = at::randint(0, p.num_classes(), {20, 30}, gen, at::kLong);
    ids.index_put_({at::randint(0, 2, {20, 30}, gen, at::kLong).to(at::kBool)}, kIgnoreClass);
    const at::Tensor colour = encode_labels(ids, p);
    ASSERT_EQ(colour.sizes(), (at::IntArrayRef{3, 20, 30}));
    EXPECT_TRUE(at::equal(decode_labels(colour, p, 0.0).ids, ids));
  }
  // No ignore entry: ids that are no class are black; with one, its colour (the first ignore entry).
  Palette plain;
  plain.entries = {{"x", {255, 255, 255}}};
  EXPECT_EQ(encode_labels(at::tensor({0, 7, -1}, at::kLong).view({1, 3}), plain).sum().item<double>(), 3.0);
  const at::Tensor ignored = encode_labels(at::full({1, 1}, kIgnoreClass, at::kLong), load_palette("cityscapes"));
  EXPECT_EQ(ignored.sum().item<double>(), 0.0);  // cityscapes' first ignore entry is black
  Palette pal = small_palette();
  pal.entries[1].rgb = {1, 2, 3};
  EXPECT_TRUE(at::allclose(encode_labels(at::full({1, 1}, 99, at::kLong), pal).flatten(),
                           at::tensor({1.0f, 2.0f, 3.0f}) / 255.0f));
}

// Both built-in palettes, written as load_palette files for the numpy side.
TEST(Palette, DecodingJpegLabelMapsMatchesNumpy) {
  ASSERT_TRUE(test::python_can_import("PIL, numpy", "python3-pil python3-numpy"));
  const std::string dir = test::scratch_dir("palette_numpy");
  int compared = 0;
  for (const std::string name : {"cityscapes", "facades"}) {
    const Palette p = load_palette(name);
    const std::string pal = write_text(dir + "/" + name + ".json", palette_to_json(p).dump());
    const std::string out = dir + "/" + name;
    fs::create_directories(out);
    auto made = test::run_python_script("fixtures/palette_reference.py", "make '" + pal + "' '" + out + "' 3 5");
    ASSERT_EQ(made.exit_code, 0) << made.output;
    for (double max_distance : {kDefaultPaletteDistance, 12.0}) {
      // The numpy side decodes the pixels stb decoded (JPEG decoders differ by a few levels), saved losslessly.
      std::vector<at::Tensor> images;
      std::string args = "decode '" + pal + "' " + std::to_string(max_distance);
      for (int i = 0; i < 3; ++i) {
        const std::string stem = out + "/labels_" + std::to_string(i);
        images.push_back(load_image(stem + ".jpg", 3));
        save_png(stem + "_rgb.png", images.back());
        args += " '" + stem + "_rgb.png' '" + stem + "_ids_" + std::to_string(int(max_distance)) + ".png'";
      }
      auto r = test::run_python_script("fixtures/palette_reference.py", args);
      ASSERT_EQ(r.exit_code, 0) << r.output;
      const nlohmann::json ref = nlohmann::json::parse(r.output);
      ASSERT_EQ(ref.size(), 3u);
      for (int i = 0; i < 3; ++i) {
        SCOPED_TRACE(name + " image " + std::to_string(i) + " max distance " + std::to_string(max_distance));
        const DecodedLabels d = decode_labels(images[i], p, max_distance);
        const at::Tensor expected =
            ids_from_png(out + "/labels_" + std::to_string(i) + "_ids_" + std::to_string(int(max_distance)) + ".png");
        ASSERT_EQ(d.ids.sizes(), expected.sizes());
        EXPECT_EQ(d.ids.ne(expected).sum().item<int64_t>(), 0);
        EXPECT_DOUBLE_EQ(d.ignored_fraction, ref[i]["ignored_fraction"].get<double>());
        EXPECT_DOUBLE_EQ(d.far_fraction, ref[i]["far_fraction"].get<double>());
        EXPECT_DOUBLE_EQ(d.ignore_colour_fraction, ref[i]["ignore_colour_fraction"].get<double>());
        // Not vacuous: JPEG noise makes far pixels at the tight distance, several classes are present, and
        // the cityscapes maps hold ignore colours.
        if (max_distance < 20) {
          EXPECT_GT(d.far_fraction, 0.01);
        }
        if (name == "cityscapes") {
          EXPECT_GT(d.ignore_colour_fraction, 0.05);
        }
        EXPECT_GE(std::get<0>(at::_unique(d.ids)).numel(), 8);
        ++compared;
      }
    }
  }
  EXPECT_EQ(compared, 12);
}

TEST(Palette, ReadsJsonFilesAndWritesThem) {
  const std::string dir = test::scratch_dir("palette_json");
  const std::string path = write_text(dir + "/p.json", R"({"name": "mine", "source": {"images": 3},
      "classes": [{"name": "road", "color": [128, 64, 128], "share": 0.5},
                  {"name": "void", "color": [0, 0, 0], "ignore": true},
                  {"name": "car", "color": [0, 0, 142], "ignore": false}]})");
  const Palette p = load_palette(path);
  EXPECT_EQ(p.name, "mine");
  ASSERT_EQ(p.entries.size(), 3u);
  EXPECT_EQ(p.class_names(), (std::vector<std::string>{"road", "car"}));
  EXPECT_TRUE(p.entries[1].ignore);
  EXPECT_EQ(p.entries[2].rgb, (std::array<uint8_t, 3>{0, 0, 142}));
  // palette_to_json writes what load_palette reads back, built-ins included.
  const Palette facades = load_palette("facades");
  const Palette back = load_palette(write_text(dir + "/facades.json", palette_to_json(facades).dump()));
  EXPECT_EQ(palette_to_json(back), palette_to_json(facades));
}

TEST(Palette, JsonErrorsNameFileAndKey) {
  const std::string dir = test::scratch_dir("palette_errors");
  struct Case {
    std::string json, needle;
  };
  const std::vector<Case> cases = {
      {"{\"classes\": [", "not valid JSON"},
      {"[1, 2]", "expected a JSON object"},
      {"{\"name\": \"x\"}", "\"classes\" is required"},
      {"{\"classes\": []}", "\"classes\" is empty"},
      {"{\"classes\": [{\"name\": \"a\", \"color\": [1, 2, 3], \"ignore\": true}]}", "at least one class"},
      {"{\"classes\": [{\"name\": \"a\", \"color\": [1, 2]}]}", "classes[0].color: expected 3 integers 0..255"},
      {"{\"classes\": [{\"name\": \"a\", \"color\": [1, 2, 3]}, {\"name\": \"b\", \"color\": [1, 2, 256]}]}",
       "classes[1].color: expected 3 integers 0..255 ([R,G,B]), got [1,2,256]"},
      {"{\"classes\": [{\"name\": \"a\", \"color\": [1, -2, 3]}]}", "classes[0].color"},
      {"{\"classes\": [{\"name\": \"a\", \"color\": [1, 2.5, 3]}]}", "classes[0].color"},
      {"{\"classes\": [{\"name\": \"a\", \"color\": \"#ff0000\"}]}", "classes[0].color"},
      {"{\"classes\": [{\"name\": \"a\"}]}", "classes[0].color: required"},
      {"{\"classes\": [{\"color\": [1, 2, 3]}]}", "classes[0].name"},
      {"{\"classes\": [{\"name\": \"a\", \"colour\": [1, 2, 3]}]}", "classes[0]: unknown key \"colour\""},
      {"{\"classes\": [{\"name\": \"a\", \"color\": [1, 2, 3], \"ignore\": 1}]}", "classes[0].ignore"},
      {"{\"classes\": [{\"name\": \"a\", \"color\": [1, 2, 3]}], \"palette\": 1}", "unknown key \"palette\""},
      {"{\"classes\": [{\"name\": \"a\", \"color\": [9, 9, 9]}, {\"name\": \"b\", \"color\": [9, 9, 9]}]}",
       "classes[1].color [9,9,9] repeats classes[0] ('a')"},
      {"{\"classes\": [{\"name\": \"a\", \"color\": [9, 9, 9]}, {\"name\": \"a\", \"color\": [8, 9, 9]}]}",
       "classes[1].name 'a' repeats classes[0]"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::string path = write_text(dir + "/case_" + std::to_string(i) + ".json", cases[i].json);
    const std::string msg = test::error_of([&] { load_palette(path); });
    SCOPED_TRACE(cases[i].json);
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_NE(msg.find(cases[i].needle), std::string::npos) << msg;
  }
  const std::string unknown = test::error_of([] { load_palette("citiscapes"); });
  EXPECT_NE(unknown.find("'citiscapes'"), std::string::npos) << unknown;
  EXPECT_NE(unknown.find("cityscapes, facades"), std::string::npos) << unknown;
}

// The label halves (x 256..511) of every 10th facades training image, as PNG files.
std::vector<std::string> facades_label_files(const std::string& facades, const std::string& dir) {
  std::vector<std::string> files;
  for (int i = 1; i <= 400; i += 10) {
    const at::Tensor ab = load_image(facades + "/train/" + std::to_string(i) + ".jpg", 3);
    files.push_back(dir + "/" + std::to_string(i) + ".png");
    save_png(files.back(), ab.narrow(2, ab.size(2) / 2, ab.size(2) / 2));
  }
  return files;
}

TEST(Palette, FacadesPaletteDecodesTheRealFacadesLabels) {
  const std::string facades = test::shared_dataset("facades");
  if (facades.empty()) GTEST_SKIP() << "facades dataset not present";
  const std::string dir = test::scratch_dir("palette_facades");
  const std::vector<std::string> files = facades_label_files(facades, dir);
  const Palette p = load_palette("facades");
  double ignored = 0;
  at::Tensor seen = at::zeros({12}, at::kLong);
  for (const std::string& f : files) {
    const DecodedLabels d = decode_labels(load_image(f, 3), p);
    // Measured over all 400 training labels at the default distance: 3.1% on average, at most 11.2%.
    EXPECT_LT(d.ignored_fraction, 0.15) << f;
    ignored += d.ignored_fraction;
    const at::Tensor ids = d.ids.flatten();
    seen += at::bincount(ids.masked_select(ids < 12), {}, 12);
  }
  EXPECT_LT(ignored / files.size(), 0.05);
  // Every class is used, facade most of all.
  EXPECT_GT(seen.min().item<int64_t>(), 0) << seen;
  EXPECT_EQ(seen.argmax().item<int64_t>(), 1) << seen;
}

TEST(Palette, ProposalFindsTheFacadesColours) {
  const std::string facades = test::shared_dataset("facades");
  if (facades.empty()) GTEST_SKIP() << "facades dataset not present";
  const std::string dir = test::scratch_dir("palette_propose_facades");
  // With the defaults: in these 40 images pillar, the smallest class, holds 0.7% of the flat pixels and
  // all colours of no class together 0.5%.
  const nlohmann::json proposal = propose_palette(facades_label_files(facades, dir), 32);
  const Palette p = load_palette(write_text(dir + "/proposal.json", proposal.dump()));
  EXPECT_EQ(p.entries.size(), 12u) << proposal.dump();
  // Each built-in colour (the measured peaks) is proposed within a few units, despite JPEG's edge blends.
  for (const PaletteEntry& want : load_palette("facades").entries) {
    double best = 1e9;
    for (const PaletteEntry& got : p.entries) {
      double d2 = 0;
      for (int k = 0; k < 3; ++k) d2 += std::pow(double(want.rgb[k]) - got.rgb[k], 2);
      best = std::min(best, std::sqrt(d2));
    }
    EXPECT_LE(best, 6.0) << want.name << " in " << proposal.dump();
  }
}

TEST(Palette, ProposalCountsFlatPixelsOfExactColours) {
  const std::string dir = test::scratch_dir("palette_propose_exact");
  // One colour per image, so every pixel is flat: 600, 300, 90 and 10 pixels.
  const std::vector<std::pair<std::array<int, 3>, std::array<int, 2>>> parts = {
      {{30, 60, 90}, {20, 30}}, {{250, 0, 0}, {10, 30}}, {{0, 250, 0}, {9, 10}}, {{0, 0, 250}, {1, 10}}};
  std::vector<std::string> files;
  for (size_t i = 0; i < parts.size(); ++i) {
    const auto& [rgb, hw] = parts[i];
    files.push_back(dir + "/" + std::to_string(i) + ".png");
    save_png(files.back(), image_of(hw[0], hw[1], std::vector<std::array<int, 3>>(hw[0] * hw[1], rgb)));
  }
  const nlohmann::json j = propose_palette(files, 8, kDefaultMergeDistance, 0.05);  // 5% drops the last
  ASSERT_EQ(j["classes"].size(), 3u) << j.dump();
  EXPECT_EQ(j["classes"][0]["name"], "class_0");
  EXPECT_EQ(j["classes"][0]["color"], nlohmann::json({30, 60, 90}));
  EXPECT_DOUBLE_EQ(j["classes"][0]["share"].get<double>(), 0.6);
  EXPECT_EQ(j["classes"][1]["color"], nlohmann::json({250, 0, 0}));
  EXPECT_DOUBLE_EQ(j["classes"][2]["share"].get<double>(), 0.09);
  EXPECT_DOUBLE_EQ(j["source"]["unclassified_share"].get<double>(), 0.01);
  EXPECT_EQ(j["source"]["images"], 4);
  EXPECT_EQ(j["source"]["flat_pixels"], 1000);
  // max_classes keeps the largest.
  EXPECT_EQ(propose_palette(files, 2)["classes"].size(), 2u);
  // A blend column between two regions is no class, even with no minimum share: it and its neighbours
  // are not flat. 10 x (10 blue | 1 purple | 10 red) leaves 9 + 9 flat columns.
  const std::array<int, 3> blue{0, 0, 200}, purple{100, 0, 100}, red{200, 0, 0};
  std::vector<std::array<int, 3>> px;
  for (int y = 0; y < 10; ++y) {
    for (int x = 0; x < 21; ++x) px.push_back(x < 10 ? blue : x == 10 ? purple : red);
  }
  save_png(dir + "/edge.png", image_of(10, 21, px));
  const nlohmann::json e = propose_palette({dir + "/edge.png"}, 8, kDefaultMergeDistance, 0.0);
  ASSERT_EQ(e["classes"].size(), 2u) << e.dump();
  EXPECT_EQ(e["source"]["flat_pixels"], 180);
  EXPECT_DOUBLE_EQ(e["classes"][0]["share"].get<double>(), 0.5);
  // Noise has no flat areas; no files at all.
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  save_png(dir + "/noise.png", at::rand({3, 64, 64}, gen));
  EXPECT_NE(test::error_of([&] { propose_palette({dir + "/noise.png"}, 8); }).find("no flat areas"), std::string::npos);
  EXPECT_NE(test::error_of([] { propose_palette({}, 8); }).find("no label images"), std::string::npos);
}

}  // namespace
}  // namespace p2p
