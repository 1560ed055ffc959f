// End-to-end tests of the segmentation model and the FCN-score: a segmenter trained on a synthetic
// dataset whose classes are visible shapes learns them (and one trained on labels unrelated to the photos
// does not), `p2p test` writes its colour label maps and segmentation scores, `p2p metrics --segmenter`
// scores photos against label maps exactly as the run's validation does, and a pix2pix run with
// --val_segmenter records the FCN-score of its validation outputs each epoch.
#include "p2p/io/image.h"
#include "testutil/testutil.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

namespace fs = std::filesystem;

namespace p2p {
namespace {

using test::run_p2p;

// Three classes with their label colours: background, square, disk.
const int kColours[3][3] = {{40, 40, 200}, {220, 30, 30}, {30, 200, 30}};

std::string write_palette(const std::string& path) {
  std::ofstream(path) << R"({"name": "shapes", "classes": [
    {"name": "background", "color": [40, 40, 200]},
    {"name": "square", "color": [220, 30, 30]},
    {"name": "disk", "color": [30, 200, 30]}]})";
  return path;
}

// Class ids [32,32] of one layout: a square and a disk at random places.
at::Tensor layout(std::mt19937& rng) {
  at::Tensor ids = at::zeros({32, 32}, at::kLong);
  std::uniform_int_distribution<int> pos(2, 20), size(6, 10);
  const int sx = pos(rng), sy = pos(rng), ss = size(rng);
  ids.narrow(0, sy, ss).narrow(1, sx, ss).fill_(1);
  const int cx = pos(rng) + 4, cy = pos(rng) + 4, r = size(rng) / 2 + 1;
  for (int y = 0; y < 32; ++y) {
    for (int x = 0; x < 32; ++x) {
      if ((x - cx) * (x - cx) + (y - cy) * (y - cy) <= r * r) ids[y][x] = 2;
    }
  }
  return ids;
}

// A gray photo of a layout: background mid-gray, square bright, disk dark, all with noise.
at::Tensor photo_of(const at::Tensor& ids, std::mt19937& rng) {
  const at::Tensor level = at::tensor({0.5, 0.9, 0.1}, at::kDouble).index_select(0, ids.flatten()).view({32, 32});
  std::normal_distribution<double> noise(0.0, 0.08);
  at::Tensor n = at::empty({32, 32}, at::kDouble);
  for (int64_t i = 0; i < n.numel(); ++i) n.data_ptr<double>()[i] = noise(rng);
  return (level + n).clamp(0, 1).to(at::kFloat).unsqueeze(0).expand({3, 32, 32}).contiguous();
}

at::Tensor colour_of(const at::Tensor& ids) {
  at::Tensor table = at::empty({3, 3}, at::kFloat);
  for (int k = 0; k < 3; ++k) {
    for (int c = 0; c < 3; ++c) table[k][c] = kColours[k][c] / 255.0f;
  }
  return table.index_select(0, ids.flatten()).t().reshape({3, 32, 32}).contiguous();
}

// <root>/{train,val}: AB images [photo | labels]; <root>/val_photos and <root>/val_labels: the val pairs as
// separate files. `related` false: the labels show another layout than the photo (nothing to learn).
std::string write_shapes(const std::string& root, int n_train, int n_val, bool related, unsigned seed) {
  std::mt19937 rng(seed);
  for (const char* sub : {"train", "val", "val_photos", "val_labels"}) fs::create_directories(fs::path(root) / sub);
  for (int i = 0; i < n_train + n_val; ++i) {
    const at::Tensor ids = layout(rng);
    const at::Tensor photo = photo_of(ids, rng);
    const at::Tensor labels = colour_of(related ? ids : layout(rng));
    const bool val = i >= n_train;
    const std::string name = std::to_string(i) + ".png";
    save_png((fs::path(root) / (val ? "val" : "train") / name).string(), at::cat({photo, labels}, 2));
    if (val) {
      save_png((fs::path(root) / "val_photos" / name).string(), photo);
      save_png((fs::path(root) / "val_labels" / name).string(), labels);
    }
  }
  return root;
}

const std::string kSeg =
    " --model segmentation --netG unet_32 --ngf 8 --load_size 32 --crop_size 32 --num_threads 1 --lr 0.002 "
    "--n_epochs 8 --n_epochs_decay 0 --no_flip --print_freq 100 --num_samples 1 ";

std::vector<nlohmann::json> history(const std::string& run) {
  std::vector<nlohmann::json> out;
  std::ifstream in(run + "/history.jsonl");
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

double best_val_miou(const std::string& run) {
  double best = -1;
  for (const auto& r : history(run)) {
    if (r.contains("val") && r["val"].contains("miou")) best = std::max(best, r["val"]["miou"].get<double>());
  }
  return best;
}

TEST(CliSegmentation, LearnsVisibleShapesAndNotNoise) {
  const std::string home = test::scratch_dir("seg_shapes");
  const std::string palette = write_palette(home + "/shapes.json");
  write_shapes(home + "/data", 40, 8, /*related=*/true, 1);
  write_shapes(home + "/noise", 40, 8, /*related=*/false, 2);
  auto r = run_p2p("train --dataroot " + home + "/data --checkpoints_dir " + home + "/ck --name seg --palette " + palette + kSeg);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("no D"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("1 * CE"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("mIoU"), std::string::npos) << r.output;
  r = run_p2p("train --dataroot " + home + "/noise --checkpoints_dir " + home + "/ck --name noise --palette " + palette + kSeg);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // 320 steps of a width-8 U-Net: the shapes are learnt almost perfectly (seen: 0.9 and above); labels
  // unrelated to the photos leave at best the background class right (seen: about 0.3).
  const double shapes = best_val_miou(home + "/ck/seg"), noise = best_val_miou(home + "/ck/noise");
  EXPECT_GT(shapes, 0.8);
  EXPECT_LT(noise, 0.5);
  const auto config = nlohmann::json::parse(test::read_file(home + "/ck/seg/config.json"));
  EXPECT_EQ(config["net"]["output_nc"], 3);
  EXPECT_EQ(config["net"]["output_activation"], "none");
  EXPECT_EQ(config["train"]["loss"], "ce");
  EXPECT_EQ(config["train"]["best_metric"], "val_miou");
  ASSERT_TRUE(fs::exists(home + "/ck/seg/palette.json"));
  ASSERT_TRUE(fs::exists(home + "/ck/seg/best.pt"));
  EXPECT_NE(test::read_file(home + "/ck/seg/results.md").find("val mIoU"), std::string::npos);
  EXPECT_NE(test::read_file(home + "/ck/seg/report.html").find("val mIoU"), std::string::npos);

  // The FCN-score of the real val photos against their label maps: the same images, network, mode and palette
  // as the run's validation at its best epoch, so the same confusion matrix.
  const std::string json = home + "/fcn.json";
  r = run_p2p("metrics --pred " + home + "/data/val_photos --segmenter " + home + "/ck/seg --labels " + home +
              "/data/val_labels --json " + json);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto scores = nlohmann::json::parse(test::read_file(json));
  EXPECT_NEAR(scores["mean_iou"].get<double>(), shapes, 1e-6) << scores.dump();
  EXPECT_EQ(scores["per_class"].size(), 3u);
  EXPECT_NE(r.output.find("mean IoU"), std::string::npos) << r.output;

  // p2p test: colour label maps out, segmentation scores in metrics.json.
  r = run_p2p("test --name seg --checkpoints_dir " + home + "/ck --phase val --results_dir " + home + "/results --epoch best");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto metrics = nlohmann::json::parse(test::read_file(home + "/results/seg/val_best/metrics.json"));
  EXPECT_NEAR(metrics["mean_iou"].get<double>(), shapes, 1e-6) << metrics.dump();
  ASSERT_TRUE(fs::exists(home + "/results/seg/val_best/images/40_fake_B.png"));
  const at::Tensor out = load_image(home + "/results/seg/val_best/images/40_fake_B.png", 3);
  // Every output pixel is one of the palette's colours.
  at::Tensor near_any = at::zeros({32, 32}, at::kBool);
  for (const auto& c : kColours) {
    const at::Tensor col = at::tensor({c[0], c[1], c[2]}, at::kFloat).view({3, 1, 1}) / 255.0;
    near_any = near_any | ((out - col).abs().amax(0) < 1e-3);
  }
  EXPECT_TRUE(near_any.all().item<bool>());
}

TEST(CliSegmentation, ValSegmenterScoresATranslatorEachEpoch) {
  const std::string home = test::scratch_dir("seg_val");
  const std::string palette = write_palette(home + "/shapes.json");
  write_shapes(home + "/data", 12, 4, true, 3);
  auto r = run_p2p("train --dataroot " + home + "/data --checkpoints_dir " + home + "/ck --name seg --palette " + palette +
                   " --model segmentation --netG unet_32 --ngf 8 --load_size 32 --crop_size 32 --num_threads 1 "
                   "--n_epochs 1 --n_epochs_decay 0");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // labels -> photo (BtoA), best checkpoint by the realism score.
  r = run_p2p("train --dataroot " + home + "/data --checkpoints_dir " + home + "/ck --name gan --direction BtoA" +
              test::kTinyRun + "--n_epochs 2 --n_epochs_decay 0 --val_segmenter " + home +
              "/ck/seg --best_metric val_miou");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("mIoU"), std::string::npos) << r.output;
  const auto h = history(home + "/ck/gan");
  ASSERT_EQ(h.size(), 3u);  // baseline and two epochs
  for (const auto& rec : h) {
    ASSERT_TRUE(rec["val"].contains("miou")) << rec.dump();
    EXPECT_TRUE(rec["val"].contains("l1")) << rec.dump();
    EXPECT_GE(rec["val"]["miou"].get<double>(), 0.0);
    EXPECT_LE(rec["val"]["miou"].get<double>(), 1.0);
  }
  EXPECT_NE(test::read_file(home + "/ck/gan/results.md").find("best (val_miou)"), std::string::npos);
  EXPECT_NE(test::read_file(home + "/ck/gan/history.csv").find(",val_miou,"), std::string::npos);

  // A test of the translator with the segmenter: the FCN-score in metrics.json, the run report and compare.
  r = run_p2p("test --name gan --checkpoints_dir " + home + "/ck --phase val --results_dir " + home +
              "/results --segmenter " + home + "/ck/seg");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("FCN-score: mean IoU"), std::string::npos) << r.output;
  const auto metrics = nlohmann::json::parse(test::read_file(home + "/results/gan/val_latest/metrics.json"));
  for (const char* key : {"pixel_acc", "class_acc", "mean_iou", "mean_iou_present", "per_class", "labels_ignored"}) {
    EXPECT_TRUE(metrics.contains(key)) << key << " missing from " << metrics.dump();
  }
  EXPECT_NE(test::read_file(home + "/ck/gan/report.html").find("<th>mean IoU</th>"), std::string::npos);
  r = run_p2p("compare " + home + "/ck/gan " + home + "/ck/seg --out " + home + "/cmp --num_samples 0");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string md = test::read_file(home + "/cmp/compare.md");
  EXPECT_NE(md.find("best val mIoU"), std::string::npos) << md;
  EXPECT_NE(md.find("test FCN mIoU"), std::string::npos) << md;
  EXPECT_NE(test::read_file(home + "/cmp/compare.csv").find("test_mean_iou"), std::string::npos);

  // Resume is exact for a segmenter too: one epoch + one resumed equals two in one go.
  const std::string seg_flags = " --palette " + palette + " --model segmentation --netG unet_32 --ngf 8 --load_size 32 "
                                "--crop_size 32 --num_threads 1 --n_epochs_decay 0 --seed 3 --num_samples 0";
  r = run_p2p("train --dataroot " + home + "/data --checkpoints_dir " + home + "/ck --name two" + seg_flags + " --n_epochs 2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_p2p("train --dataroot " + home + "/data --checkpoints_dir " + home + "/ck --name resumed" + seg_flags + " --n_epochs 1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_p2p("train --checkpoints_dir " + home + "/ck --name resumed --continue_train --n_epochs 2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto a = history(home + "/ck/two"), b = history(home + "/ck/resumed");
  ASSERT_EQ(a.size(), 3u);
  ASSERT_EQ(b.size(), 3u);
  EXPECT_DOUBLE_EQ(a[2]["val"]["miou"].get<double>(), b[2]["val"]["miou"].get<double>());
  EXPECT_DOUBLE_EQ(a[2]["train"]["G_CE"].get<double>(), b[2]["train"]["G_CE"].get<double>());

  // Missing weight files: the message names the flag's file, not a crash.
  r = run_p2p("metrics --pred " + home + "/data/val_photos --target " + home + "/data/val_photos --inception_weights " +
              home + "/missing.pth");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find(home + "/missing.pth"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("pt_inception-2015-12-05-6726825d.pth"), std::string::npos) << r.output;
  r = run_p2p("metrics --pred " + home + "/data/val_photos --target " + home + "/data/val_photos --alexnet_weights " +
              home + "/alex_missing.pth --lpips_weights " + home + "/lin_missing.pth");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("_missing.pth"), std::string::npos) << r.output;  // the first file it reads
  r = run_p2p("metrics --pred " + home + "/data/val_photos --target " + home + "/data/val_photos --lpips_weights x.pth");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--alexnet_weights"), std::string::npos) << r.output;

  // Refusals name the flag.
  r = run_p2p("train --dataroot " + home + "/data --checkpoints_dir " + home + "/ck --name x --model segmentation" + test::kTinyRun);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--palette"), std::string::npos) << r.output;
  r = run_p2p("train --dataroot " + home + "/data --checkpoints_dir " + home + "/ck --name y --best_metric val_miou" + test::kTinyRun);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--val_segmenter"), std::string::npos) << r.output;
  r = run_p2p("train --dataroot " + home + "/data --checkpoints_dir " + home + "/ck --name z --val_segmenter " + home +
              "/ck/gan" + test::kTinyRun);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("not a segmentation run"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace p2p
