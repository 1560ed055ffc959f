// Tests for report/history: reading history.jsonl back, picking the best and last epochs (ties, NaN,
// one-epoch runs, the baseline never best), and the exact text of history.csv and results.csv.
#include "p2p/report/history.h"
#include "testutil/testutil.h"

#include <gtest/gtest.h>

#include <fstream>

namespace p2p {
namespace {

std::string write_history(const std::string& tag, const std::string& text) {
  const std::string dir = test::scratch_dir(tag);
  std::ofstream(dir + "/history.jsonl") << text;
  return dir;
}

const char* const kThreeEpochs =
    R"({"baseline":true,"epoch":0,"iters":0,"val":{"l1":0.30,"mae":0.15,"psnr":11.0,"ssim":0.05}})"
    "\n"
    R"({"epoch":1,"iters":10,"lr_G":0.0002,"lr_D":0.0001,"seconds":2.5,"it_per_s":4,"images_per_s":16,)"
    R"("train":{"G_GAN":0.9,"G_L1":0.5,"G_total":50.9,"D_real":0.6,"D_fake":0.7},"val":{"l1":0.40,"mae":0.20,"psnr":13.0,"ssim":0.20}})"
    "\n\n"
    R"({"epoch":2,"iters":20,"lr_G":0.0002,"lr_D":0.0001,"seconds":2.0,"it_per_s":5,)"
    R"("train":{"G_GAN":1.1,"G_L1":0.4,"G_total":41.1,"D_real":0.5,"D_fake":0.4,"G_ssim":0.25},"val":{"l1":0.35,"mae":0.175,"psnr":14.5,"ssim":0.30}})"
    "\n"
    R"({"epoch":3,"iters":30,"lr_G":0.0001,"lr_D":0.00005,"seconds":2.0,"it_per_s":5,)"
    R"("train":{"G_GAN":1.2,"G_L1":0.38,"G_total":39.2,"D_real":0.5,"D_fake":0.4},"val":{"l1":0.35,"mae":0.175,"psnr":14.0,"ssim":0.31}})"
    "\n";

TEST(History, ReadsRecordsInOrderWithBaselineAndBlankLinesSkipped) {
  const std::string dir = write_history("history_read", kThreeEpochs);
  const auto h = read_history(dir + "/history.jsonl");
  ASSERT_EQ(h.size(), 4u);
  EXPECT_TRUE(h[0].baseline);
  EXPECT_TRUE(h[0].has_val);
  EXPECT_TRUE(h[0].train.empty());
  EXPECT_EQ(h[1].epoch, 1);
  EXPECT_EQ(h[1].iters, 10);
  EXPECT_DOUBLE_EQ(h[1].lr_D, 0.0001);
  EXPECT_DOUBLE_EQ(h[1].images_per_s, 16);
  EXPECT_TRUE(std::isnan(h[2].images_per_s));  // older records without it
  ASSERT_EQ(h[1].train.size(), 5u);
  EXPECT_EQ(h[1].train[0].first, "D_fake");  // JSON objects are read back sorted by name
  EXPECT_DOUBLE_EQ(h[2].val.psnr, 14.5);
  EXPECT_EQ(loss_names(h), (std::vector<std::string>{"G_total", "G_GAN", "G_L1", "G_ssim", "D_real", "D_fake"}));
}

TEST(History, BestByMetricDirectionTiesToEarliestAndLast) {
  const auto h = read_history(write_history("history_best", kThreeEpochs) + "/history.jsonl");
  // The baseline's L1 (0.30) is lower than any trained epoch's, but the untrained G is never "best".
  RunResults l1 = pick_results(h, "val_l1");
  ASSERT_TRUE(l1.has_best);
  EXPECT_EQ(l1.best.epoch, 2);  // epochs 2 and 3 tie at 0.35: the earliest wins, as best.pt is kept
  ASSERT_TRUE(l1.has_last);
  EXPECT_EQ(l1.last.epoch, 3);
  EXPECT_EQ(pick_results(h, "val_psnr").best.epoch, 2);
  EXPECT_EQ(pick_results(h, "val_ssim").best.epoch, 3);
  EXPECT_EQ(pick_results(h, "val_mae").best.epoch, 2);
  EXPECT_NE(test::error_of([&] { pick_results(h, "val_fid"); }).find("--best_metric"), std::string::npos);
}

TEST(History, OneEpochAndNonFiniteValues) {
  const auto one = read_history(write_history("history_one",
                                              R"({"epoch":1,"iters":5,"train":{"G_L1":0.5},"val":{"l1":0.4,"mae":0.2,"psnr":12,"ssim":0.1}})"
                                              "\n") +
                                "/history.jsonl");
  const RunResults r = pick_results(one, "val_l1");
  ASSERT_TRUE(r.has_best && r.has_last);
  EXPECT_EQ(r.best.epoch, 1);
  EXPECT_EQ(r.last.epoch, 1);
  // NaN is written as null by JSON: such an epoch cannot be best; one without validation neither.
  const auto nan = read_history(write_history("history_nan",
                                              R"({"epoch":1,"train":{"G_L1":0.5},"val":{"l1":null,"psnr":null}})"
                                              "\n"
                                              R"({"epoch":2,"train":{"G_L1":0.4}})"
                                              "\n") +
                                "/history.jsonl");
  const RunResults n = pick_results(nan, "val_l1");
  EXPECT_FALSE(n.has_best);
  ASSERT_TRUE(n.has_last);
  EXPECT_EQ(n.last.epoch, 2);
  EXPECT_NE(results_markdown(n, present_val_columns(nan)).find("| last | 2 |"), std::string::npos);
  const RunResults none = pick_results({}, "val_l1");
  EXPECT_FALSE(none.has_best || none.has_last);
}

TEST(History, CsvTextIsExact) {
  const auto h = read_history(write_history("history_csv", kThreeEpochs) + "/history.jsonl");
  const std::string csv = history_csv(h);
  const std::string expected =
      "epoch,iters,lr,lr_D,G_total,G_GAN,G_L1,G_ssim,D_real,D_fake,val_l1,val_mae,val_psnr,val_ssim,seconds,images_per_s\n"
      "0,0,,,,,,,,,0.3,0.15,11,0.05,,\n"
      "1,10,0.0002,0.0001,50.9,0.9,0.5,,0.6,0.7,0.4,0.2,13,0.2,2.5,16\n"
      "2,20,0.0002,0.0001,41.1,1.1,0.4,0.25,0.5,0.4,0.35,0.175,14.5,0.3,2,\n"
      "3,30,0.0001,5e-05,39.2,1.2,0.38,,0.5,0.4,0.35,0.175,14,0.31,2,\n";
  EXPECT_EQ(csv, expected);
  EXPECT_EQ(results_csv(pick_results(h, "val_psnr"), present_val_columns(h)),
            "row,epoch,val_l1,val_mae,val_psnr,val_ssim\nbest,2,0.35,0.175,14.5,0.3\nlast,3,0.35,0.175,14,0.31\n");
  EXPECT_NE(results_markdown(pick_results(h, "val_psnr"), present_val_columns(h)).find("| best (val_psnr) | 2 | 0.3500 | 0.1750 | 14.50 | 0.3000 |"),
            std::string::npos);
}

TEST(History, WritesTablesBesideTheHistory) {
  const std::string dir = write_history("history_tables", kThreeEpochs);
  write_run_tables(dir, "val_ssim");
  EXPECT_EQ(test::read_file(dir + "/history.csv"), history_csv(read_history(dir + "/history.jsonl")));
  EXPECT_NE(test::read_file(dir + "/results.csv").find("best,3,"), std::string::npos);
  EXPECT_NE(test::read_file(dir + "/results.md").find("best (val_ssim)"), std::string::npos);
}

TEST(History, BadFilesNameFileAndLine) {
  const std::string dir = write_history("history_bad", "{\"epoch\":1}\n{\"epoch\":2,\n");
  EXPECT_NE(test::error_of([&] { read_history(dir + "/history.jsonl"); }).find("history.jsonl:2"), std::string::npos);
  const std::string no_epoch = write_history("history_noepoch", "{\"val\":{}}\n");
  EXPECT_NE(test::error_of([&] { read_history(no_epoch + "/history.jsonl"); }).find("\"epoch\""), std::string::npos);
  EXPECT_NE(test::error_of([&] { read_history(dir + "/missing.jsonl"); }).find("missing.jsonl"), std::string::npos);
}

// A segmentation run's history has segmentation scores only; a translator with --val_segmenter both groups.
TEST(History, SegmentationScoresGetTheirColumnsAndPickTheBest) {
  const auto seg = read_history(write_history("history_seg",
                                              R"({"epoch":0,"baseline":true,"val":{"miou":0.1,"miou_present":0.2,"pixel_acc":0.3,"class_acc":0.15}})"
                                              "\n"
                                              R"({"epoch":1,"train":{"G_CE":1.5},"val":{"miou":0.4,"miou_present":0.5,"pixel_acc":0.7,"class_acc":0.45}})"
                                              "\n"
                                              R"({"epoch":2,"train":{"G_CE":1.2},"val":{"miou":0.35,"miou_present":0.45,"pixel_acc":0.75,"class_acc":0.4}})"
                                              "\n") +
                                "/history.jsonl");
  const auto cols = present_val_columns(seg);
  ASSERT_EQ(cols.size(), 4u);
  EXPECT_STREQ(cols[0].metric, "val_miou");
  const RunResults by_miou = pick_results(seg, "val_miou"), by_acc = pick_results(seg, "val_pixel_acc");
  EXPECT_EQ(by_miou.best.epoch, 1);
  EXPECT_EQ(by_acc.best.epoch, 2);
  EXPECT_TRUE(metric_higher_is_better("val_miou"));
  EXPECT_EQ(results_csv(by_miou, cols),
            "row,epoch,val_miou,val_miou_present,val_pixel_acc,val_class_acc\nbest,1,0.4,0.5,0.7,0.45\nlast,2,0.35,0.45,0.75,0.4\n");
  EXPECT_NE(results_markdown(by_miou, cols).find("| best (val_miou) | 1 | 0.4000 | 0.5000 | 0.7000 | 0.4500 |"), std::string::npos);
  EXPECT_EQ(history_csv(seg).substr(0, history_csv(seg).find('\n')),
            "epoch,iters,lr,lr_D,G_CE,val_miou,val_miou_present,val_pixel_acc,val_class_acc,seconds,images_per_s");

  const auto both = read_history(write_history("history_both",
                                               R"({"epoch":1,"val":{"l1":0.3,"mae":0.15,"psnr":14,"ssim":0.3,"miou":0.2,"miou_present":0.25,"pixel_acc":0.5,"class_acc":0.3}})"
                                               "\n") +
                                 "/history.jsonl");
  EXPECT_EQ(present_val_columns(both).size(), 8u);
  EXPECT_NE(test::error_of([] { metric_higher_is_better("val_fid"); }).find("--best_metric"), std::string::npos);
}

}  // namespace
}  // namespace p2p
