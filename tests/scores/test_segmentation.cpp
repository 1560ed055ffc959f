// Segmentation scores: a hand-worked confusion matrix, agreement with a numpy implementation of the
// pix2pix FCN-score formulas (tests/fixtures/segmentation_reference.py) to 1e-12 relative on random label
// maps with ignored pixels, undecodable predictions and absent classes, the JSON keys, and folder scoring
// (palette decoding, nearest resizing of predictions, pairing errors).
#include "p2p/scores/segmentation.h"

#include "p2p/core/error.h"
#include "p2p/data/palette.h"
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

// |got - want| <= rel * |want|: exact for want == 0.
::testing::AssertionResult near_relative(double got, double want, double rel) {
  if (std::abs(got - want) <= rel * std::abs(want)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "got " << got << ", want " << want << " (relative error "
                                       << std::abs(got - want) / std::abs(want) << " > " << rel << ")";
}

TEST(Segmentation, HandWorkedScores) {
  // K = 4, class 3 absent everywhere. Target 255 is skipped; prediction 200 is wrong, in no column.
  //   target [[0,0,1],[1,2,255]]  pred [[0,1,1],[1,200,0]]
  // rows (gt): 0 -> {0:1, 1:1}, 1 -> {1:2}, 2 -> {none:1}; columns: 0:1, 1:3.
  ConfusionMatrix cm(4);
  cm.add(at::tensor({0, 1, 1, 1, 200, 0}, at::kLong).view({2, 3}), at::tensor({0, 0, 1, 1, 2, 255}, at::kLong).view({2, 3}));
  const SegmentationScores s = cm.scores({"a", "b", "c", "d"});
  EXPECT_EQ(s.pixels, 5);
  EXPECT_EQ(s.pred_unmatched, 1);
  EXPECT_NEAR(s.pixel_acc, 3.0 / 5, 1e-12);
  ASSERT_EQ(s.per_class.size(), 4u);
  EXPECT_EQ(s.per_class[1].name, "b");
  EXPECT_NEAR(s.per_class[0].iou, 1.0 / 2, 1e-12);  // 1 / (2 + 1 - 1)
  EXPECT_NEAR(s.per_class[1].iou, 2.0 / 3, 1e-12);  // 2 / (2 + 3 - 2)
  EXPECT_EQ(s.per_class[2].iou, 0.0);
  EXPECT_EQ(s.per_class[3].iou, 0.0);
  EXPECT_EQ(s.per_class[1].gt_pixels, 2);
  EXPECT_EQ(s.per_class[1].pred_pixels, 3);
  EXPECT_EQ(s.per_class[2].gt_pixels, 1);
  EXPECT_EQ(s.per_class[2].pred_pixels, 0);
  EXPECT_NEAR(s.class_acc, (0.5 + 1.0 + 0 + 0) / 4, 1e-12);
  EXPECT_NEAR(s.mean_iou, (0.5 + 2.0 / 3) / 4, 1e-12);          // absent class 3 counts 0
  EXPECT_NEAR(s.mean_iou_present, (0.5 + 2.0 / 3) / 3, 1e-12);  // classes 0, 1, 2
  // Adding in two parts, or merging two matrices, gives the same counts; any integer dtype works.
  ConfusionMatrix a(4), b(4);
  a.add(at::tensor({0, 1, 1}, at::kInt), at::tensor({0, 0, 1}, at::kByte));
  b.add(at::tensor({1, 200, 0}, at::kLong), at::tensor({1, 2, 255}, at::kLong));
  a.merge(b);
  EXPECT_TRUE(at::equal(a.counts(), cm.counts()));
  a.add(at::zeros({2, 2}, at::kLong), at::full({2, 2}, 255, at::kLong));  // all ignored: nothing added
  EXPECT_TRUE(at::equal(a.counts(), cm.counts()));
  EXPECT_NE(test::error_of([&] { cm.add(at::zeros({2, 3}, at::kLong), at::zeros({3, 2}, at::kLong)); }).find("shape"),
            std::string::npos);
  EXPECT_NE(test::error_of([&] { cm.add(at::zeros({2}), at::zeros({2})); }).find("integer"), std::string::npos);
  EXPECT_NE(test::error_of([&] { a.merge(ConfusionMatrix(3)); }).find("3-class"), std::string::npos);
  // Nothing scored: all zero, no division by zero.
  const SegmentationScores empty = ConfusionMatrix(2).scores();
  EXPECT_EQ(empty.pixel_acc, 0.0);
  EXPECT_EQ(empty.mean_iou_present, 0.0);
  EXPECT_EQ(empty.per_class[0].name, "0");
}

const std::string& reference_dir() {
  static const std::string dir = test::cached_python_fixture(
      "segmentation", "fixtures/segmentation_reference.py", "", "done",
      std::string("needs ") + P2P_TEST_PYTHON + " with numpy and PIL: sudo apt-get install python3-numpy python3-pil");
  return dir;
}

at::Tensor ids_from_png(const std::string& path) { return load_image(path, 1).squeeze(0).mul(255).round().to(at::kLong); }

TEST(Segmentation, MatchesNumpyReferenceScript) {
  ASSERT_TRUE(test::python_can_import("PIL, numpy", "python3-pil python3-numpy"));
  const std::string dir = reference_dir();
  std::ifstream in(dir + "/scores.json");
  const nlohmann::json ref = nlohmann::json::parse(in);
  const int k = ref["num_classes"].get<int>();
  ConfusionMatrix cm(k);
  int64_t all_pixels = 0;
  for (int i = 0; i < ref["frames"].get<int>(); ++i) {
    const std::string stem = dir + "/frame_" + std::to_string(i);
    const at::Tensor target = ids_from_png(stem + "_target.png");
    cm.add(ids_from_png(stem + "_pred.png"), target);
    all_pixels += target.numel();
  }
  const SegmentationScores s = cm.scores();
  EXPECT_TRUE(near_relative(s.pixel_acc, ref["pixel_acc"].get<double>(), 1e-12));
  EXPECT_TRUE(near_relative(s.class_acc, ref["class_acc"].get<double>(), 1e-12));
  EXPECT_TRUE(near_relative(s.mean_iou, ref["mean_iou"].get<double>(), 1e-12));
  EXPECT_TRUE(near_relative(s.mean_iou_present, ref["mean_iou_present"].get<double>(), 1e-12));
  EXPECT_EQ(s.pixels, ref["pixels"].get<int64_t>());
  EXPECT_EQ(s.pred_unmatched, ref["pred_unmatched"].get<int64_t>());
  for (int c = 0; c < k; ++c) {
    SCOPED_TRACE("class " + std::to_string(c));
    EXPECT_TRUE(near_relative(s.per_class[c].iou, ref["iou"][c].get<double>(), 1e-12));
    EXPECT_TRUE(near_relative(s.per_class[c].acc, ref["acc"][c].get<double>(), 1e-12));
    EXPECT_EQ(s.per_class[c].gt_pixels, ref["gt_pixels"][c].get<int64_t>());
    EXPECT_EQ(s.per_class[c].pred_pixels, ref["pred_pixels"][c].get<int64_t>());
  }
  // The cases the fixture is built to hold: ignored targets, undecodable predictions, a class in neither
  // (5) and one only predicted (6), so the two IoU means differ.
  EXPECT_LT(s.pixels, all_pixels);
  EXPECT_GT(s.pred_unmatched, 0);
  EXPECT_EQ(s.per_class[5].gt_pixels + s.per_class[5].pred_pixels, 0);
  EXPECT_EQ(s.per_class[6].gt_pixels, 0);
  EXPECT_GT(s.per_class[6].pred_pixels, 0);
  EXPECT_GT(s.mean_iou_present, s.mean_iou * 1.1);
}

TEST(Segmentation, JsonHasTheScoresAndPerClassRows) {
  ConfusionMatrix cm(2);
  cm.add(at::tensor({0, 1, 1}, at::kLong), at::tensor({0, 1, 0}, at::kLong));
  const nlohmann::json j = to_json(cm.scores({"road", "car"}));
  for (const char* key : {"pixel_acc", "class_acc", "mean_iou", "mean_iou_present", "pixels", "pred_unmatched"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_NEAR(j["pixel_acc"].get<double>(), 2.0 / 3, 1e-12);
  ASSERT_EQ(j["per_class"].size(), 2u);
  EXPECT_EQ(j["per_class"][1]["name"], "car");
  EXPECT_NEAR(j["per_class"][1]["iou"].get<double>(), 0.5, 1e-12);
  EXPECT_NEAR(j["per_class"][1]["acc"].get<double>(), 1.0, 1e-11);  // 1 / (1 + 1e-12)
  EXPECT_EQ(j["per_class"][1]["gt_pixels"], 1);
  EXPECT_EQ(j["per_class"][1]["pred_pixels"], 2);
}

TEST(Segmentation, ScoresLabelFoldersWithNearestResizedPredictions) {
  const std::string root = test::scratch_dir("seg_folders");
  const std::string pred_dir = root + "/pred", target_dir = root + "/target";
  fs::create_directories(pred_dir);
  fs::create_directories(target_dir);
  const Palette palette = load_palette("cityscapes");
  auto gen = at::make_generator<at::CPUGeneratorImpl>(11);
  ConfusionMatrix expected(palette.num_classes());
  int64_t ignored = 0, total = 0;
  for (const std::string stem : {"aachen_1", "bonn_2"}) {
    at::Tensor target = at::randint(0, 19, {16, 24}, gen, at::kLong);
    target.index_put_({at::rand({16, 24}, gen) < 0.2}, kIgnoreClass);
    // A half-size prediction: nearest upscaling repeats each pixel 2x2.
    const at::Tensor pred_small = at::randint(0, 19, {8, 12}, gen, at::kLong);
    save_png(target_dir + "/" + stem + ".png", encode_labels(target, palette));
    save_png(pred_dir + "/" + stem + ".png", encode_labels(pred_small, palette));
    expected.add(pred_small.repeat_interleave(2, 0).repeat_interleave(2, 1), target);
    ignored += target.eq(kIgnoreClass).sum().item<int64_t>();
    total += target.numel();
  }
  double ignored_fraction = -1;
  const SegmentationScores s = score_label_folders(pred_dir, target_dir, palette, kDefaultPaletteDistance, &ignored_fraction);
  const SegmentationScores want = expected.scores(palette.class_names());
  EXPECT_EQ(s.pixels, want.pixels);
  EXPECT_DOUBLE_EQ(s.pixel_acc, want.pixel_acc);
  EXPECT_DOUBLE_EQ(s.mean_iou, want.mean_iou);
  EXPECT_DOUBLE_EQ(s.class_acc, want.class_acc);
  EXPECT_EQ(s.per_class[13].name, "car");
  EXPECT_DOUBLE_EQ(ignored_fraction, double(ignored) / double(total));
  // The same maps as targets and predictions score perfectly.
  const SegmentationScores self = score_label_folders(target_dir, target_dir, palette);
  EXPECT_NEAR(self.pixel_acc, 1.0, 1e-12);
  // A file without a partner is named.
  save_png(pred_dir + "/extra.png", encode_labels(at::zeros({4, 4}, at::kLong), palette));
  const std::string msg = test::error_of([&] { score_label_folders(pred_dir, target_dir, palette); });
  EXPECT_NE(msg.find("extra.png"), std::string::npos) << msg;
}

}  // namespace
}  // namespace p2p
