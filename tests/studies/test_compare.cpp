// Tests for studies/compare: which settings count as differing (known answers), and a comparison of two
// tiny trained runs — the table's best/last epochs equal each run's history, the differing flags are the
// columns, each run's tile in the side-by-side image equals that run's best checkpoint translating the
// pair, every file the page points at exists, and the page's table has compare.md's columns (MAE too).
#include "p2p/core/config_json.h"
#include "p2p/core/runtime.h"
#include "p2p/data/dataset.h"
#include "p2p/eval/inference.h"
#include "p2p/io/image.h"
#include "p2p/models/networks.h"
#include "p2p/report/history.h"
#include "p2p/studies/compare.h"
#include "p2p/io/run_folder.h"
#include "testutil/testutil.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/csrc/autograd/grad_mode.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <regex>
#include <sstream>

namespace fs = std::filesystem;

namespace p2p {
namespace {

TEST(Compare, DifferingSettingsKnownAnswers) {
  const auto a = nlohmann::json::parse(R"({"net":{"netG":"unet_32","ngf":8},"train":{"name":"a","lr":0.0002,"gan_mode":"vanilla"},"data":{"direction":"AtoB"}})");
  const auto b = nlohmann::json::parse(R"({"net":{"netG":"unet_32","ngf":16},"train":{"name":"b","lr":0.0002,"gan_mode":"lsgan"},"data":{"direction":"AtoB"}})");
  const auto c = nlohmann::json::parse(R"({"net":{"netG":"unet_32","ngf":8},"train":{"name":"c","lr":0.0002},"data":{"direction":"AtoB"}})");
  const auto d = differing_settings({a, b, c});
  ASSERT_EQ(d.size(), 2u);  // names never count; equal values never count
  EXPECT_EQ(d[0].first, "gan_mode");
  EXPECT_EQ(d[0].second, (std::vector<std::string>{"vanilla", "lsgan", "–"}));  // absent in an older config
  EXPECT_EQ(d[1].first, "ngf");
  EXPECT_EQ(d[1].second, (std::vector<std::string>{"8", "16", "8"}));
  EXPECT_TRUE(differing_settings({a}).empty());
}

TEST(Compare, TwoRunsTableSamplesAndPage) {
  const std::string root = test::scratch_dir("compare_runs");
  test::write_ab_dataset(root + "/data", 8, 2);
  const std::string common = "train --dataroot '" + root + "/data' --checkpoints_dir '" + root +
                             "/ck'" + test::kTinyRun + "--n_epochs 2 --n_epochs_decay 0 --val_fraction 0.25 --seed 3";
  auto r = test::run_p2p(common + " --name vanilla");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = test::run_p2p(common + " --name lsgan --gan_mode lsgan --lambda_L1 50");
  ASSERT_EQ(r.exit_code, 0) << r.output;

  CompareOptions opt;
  opt.runs = {root + "/ck/vanilla", root + "/ck/lsgan"};
  opt.out_dir = root + "/cmp";
  opt.num_samples = 2;
  opt.seed = 7;
  std::ostringstream log;
  compare_runs(opt, log);

  // Table: the differing flags are the columns; best and last from each history.
  const std::string csv = test::read_file(root + "/cmp/compare.csv");
  std::istringstream lines(csv);
  std::string header, row1, row2;
  std::getline(lines, header);
  std::getline(lines, row1);
  std::getline(lines, row2);
  EXPECT_EQ(header.rfind("run,dir,gan_mode,lambda_L1,best_metric,best_epoch,", 0), 0u) << header;
  for (const auto& [row, name] : {std::pair<std::string, std::string>{row1, "vanilla"}, {row2, "lsgan"}}) {
    const RunResults res = pick_results(read_history(root + "/ck/" + name + "/history.jsonl"), "val_l1");
    std::ostringstream expect;
    expect << ",val_l1," << res.best.epoch << ",";
    EXPECT_EQ(row.rfind(name + ",", 0), 0u) << row;
    EXPECT_NE(row.find(expect.str()), std::string::npos) << row << " expected best epoch " << res.best.epoch;
    EXPECT_NE(row.find(",2,"), std::string::npos) << "last epoch 2: " << row;
  }
  EXPECT_NE(row1.find(",vanilla,100.0,"), std::string::npos) << row1;
  EXPECT_NE(row2.find(",lsgan,50.0,"), std::string::npos) << row2;

  // Side by side: input | vanilla | lsgan | target, each run's tile its best checkpoint's translation.
  int bits = 0;
  const at::Tensor img = load_image(root + "/cmp/samples/sample_0.png", 3, bits);
  ASSERT_EQ(img.size(1), 32);
  ASSERT_EQ(img.size(2), 4 * 32);
  for (int k = 0; k < 2; ++k) {
    const std::string run = opt.runs[k];
    const auto config = read_run_config(run);
    NetConfig net;
    update_from_json(net, config["net"], "config");
    DataConfig data;
    update_from_json(data, config["data"], "config");
    NetworkPtr G = make_generator(net);
    load_generator_weights(*G, checkpoint_path(run, "best"));
    data.size_multiple = static_cast<int>(G->size_multiple());
    PairedDataset val(train_val_split(data).val, data, false);
    const Sample s = val.get(0, 0);
    at::NoGradGuard no_grad;
    G->train();
    seed_everything(7, false);
    const at::Tensor fake = to_unit_range(G->forward(s.A.unsqueeze(0)).squeeze(0)).clamp(0, 1);
    const at::Tensor tile = img.narrow(2, 32 * (k + 1), 32);
    EXPECT_LE((tile - fake).abs().max().item<double>(), 0.5 / 255 + 1e-6) << run;
    if (k == 0) {
      EXPECT_LE((img.narrow(2, 0, 32) - to_unit_range(s.A)).abs().max().item<double>(), 0.5 / 255 + 1e-6);
      EXPECT_LE((img.narrow(2, 96, 32) - to_unit_range(s.B)).abs().max().item<double>(), 0.5 / 255 + 1e-6);
    }
  }

  // The page: every image and link it names exists.
  const std::string page = test::read_file(root + "/cmp/index.html");
  const std::regex ref(R"re((?:src|href)="([^"]+)")re");
  int refs = 0;
  for (auto it = std::sregex_iterator(page.begin(), page.end(), ref); it != std::sregex_iterator(); ++it, ++refs) {
    EXPECT_TRUE(fs::exists(fs::path(root + "/cmp") / (*it)[1].str())) << (*it)[1].str();
  }
  EXPECT_GE(refs, 2 + 2 + 2 * 2);  // csv, md, 2 run reports, samples (link + img)
  EXPECT_NE(page.find("<th>gan_mode</th>"), std::string::npos);

  // The page's table has compare.md's columns, MAE included, holding each run's numbers.
  const std::regex row_re(R"re(<tr>(.*?)</tr>)re"), cell_re(R"re(<t[hd]>(?:<a [^>]*>)?([^<]*))re");
  std::vector<std::vector<std::string>> table;
  for (auto it = std::sregex_iterator(page.begin(), page.end(), row_re); it != std::sregex_iterator(); ++it) {
    const std::string row = (*it)[1].str();
    table.emplace_back();
    for (auto c = std::sregex_iterator(row.begin(), row.end(), cell_re); c != std::sregex_iterator(); ++c) {
      table.back().push_back((*c)[1].str());
    }
  }
  ASSERT_EQ(table.size(), 3u);
  const std::string md = test::read_file(root + "/cmp/compare.md");
  std::string md_header = "|";
  for (const auto& h : table[0]) md_header += " " + h + " |";
  EXPECT_EQ(md.rfind(md_header + "\n", 0), 0u) << md;
  for (const char* which : {"best", "last"}) {
    const auto col = std::find(table[0].begin(), table[0].end(), std::string(which) + " val MAE") - table[0].begin();
    ASSERT_LT(col, static_cast<long>(table[0].size())) << which << " val MAE missing from the page";
    for (size_t r = 1; r < 3; ++r) {
      const RunResults res = pick_results(read_history(opt.runs[r - 1] + "/history.jsonl"), "val_l1");
      const double mae = std::string(which) == "best" ? res.best.val.mae : res.last.val.mae;
      ASSERT_TRUE(std::isfinite(mae));
      EXPECT_EQ(table[r][col], table_number(mae, 4)) << which << " MAE of " << table[r][0];
      EXPECT_NE(md.find("| " + table[r][col] + " |"), std::string::npos);
    }
  }

  // A run folder that is not one: named.
  opt.runs.push_back(root + "/ck/nope");
  EXPECT_NE(test::error_of([&] { compare_runs(opt, log); }).find(root + "/ck/nope"), std::string::npos);
}

}  // namespace
}  // namespace p2p
