// Tests for unpair_dataset (`p2p data unpair`): the A and B halves are the AB images' pixels exactly
// (checked with PIL and with load_image), partners.csv and truth/ agree, the B names and order give no
// pair away, the assignment is a function of the seed, and a refused or failed run leaves nothing.
#include "p2p/core/error.h"
#include "p2p/data/unaligned.h"
#include "p2p/data/unpair.h"
#include "p2p/io/fs.h"
#include "p2p/io/image.h"
#include "testutil/testutil.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

namespace fs = std::filesystem;
using namespace p2p;
using namespace p2p::test;

namespace {

struct Row {
  std::string split, a, b;  // a, b relative to the output folder
};

std::vector<Row> read_partners(const std::string& out) {
  std::istringstream in(read_file(out + "/partners.csv"));
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "split,A,B");
  std::vector<Row> rows;
  while (std::getline(in, line)) {
    const size_t c1 = line.find(','), c2 = line.find(',', c1 + 1);
    rows.push_back({line.substr(0, c1), line.substr(c1 + 1, c2 - c1 - 1), line.substr(c2 + 1)});
  }
  return rows;
}

// train: 5 RGB + 1 gray AB image, test: 3 RGB, val: 2 RGB of another size.
std::string write_source(const std::string& dir) {
  const std::string root = write_ab_dataset(dir + "/ab", 5, 3);
  write_random_png(root + "/train/gray.png", 40, 20, 1, 77);
  fs::create_directories(root + "/val");
  write_random_png(root + "/val/v1.png", 24, 12, 3, 91);
  write_random_png(root + "/val/v2.png", 24, 12, 3, 92);
  return root;
}

std::vector<std::string> names_in(const std::string& dir) {
  std::vector<std::string> names;
  for (const std::string& p : list_images(dir)) names.push_back(fs::path(p).filename().string());
  return names;
}

}  // namespace

TEST(Unpair, HalvesAreTheAbPixelsAndTruthMatchesPartners) {
  const std::string dir = scratch_dir("unpair");
  const std::string root = write_source(dir), out = dir + "/cyc";
  const std::vector<UnpairCounts> counts = unpair_dataset(root, out, 0);
  ASSERT_EQ(counts.size(), 3u);
  EXPECT_EQ(counts[0].split, "train");
  EXPECT_EQ(counts[0].a, 6);
  EXPECT_EQ(counts[0].b, 6);
  EXPECT_EQ(counts[1].split, "val");
  EXPECT_EQ(counts[2].split, "test");
  EXPECT_EQ(counts[2].a, 3);

  // Independent reference: PIL splits every AB image and compares all four files of each csv row.
  ASSERT_TRUE(python_can_import("PIL, numpy", "python3-pil python3-numpy"));
  const CommandResult ref = run_python_script("data/unpair_reference.py", "'" + root + "' '" + out + "'");
  EXPECT_EQ(ref.exit_code, 0) << ref.output;
  EXPECT_NE(ref.output.find("\"pairs\": 11"), std::string::npos) << ref.output;

  // And through load_image: each row's A and B are the halves of the AB file of the A stem.
  const std::vector<Row> rows = read_partners(out);
  ASSERT_EQ(rows.size(), 11u);
  for (const Row& r : rows) {
    const std::string stem = file_stem(r.a);
    const at::Tensor ab = load_image(root + "/" + r.split + "/" + stem + ".png", 3);
    const int64_t half = ab.size(2) / 2;
    EXPECT_EQ(r.a, r.split + "A/" + stem + ".png");
    EXPECT_EQ(fs::path(r.b).parent_path().string(), r.split + "B");
    EXPECT_TRUE(at::equal(load_image(out + "/" + r.a, 3), ab.narrow(2, 0, half))) << r.a;
    EXPECT_TRUE(at::equal(load_image(out + "/" + r.b, 3), ab.narrow(2, half, half))) << r.b;
    EXPECT_EQ(read_file(out + "/truth/" + r.split + "B/" + stem + ".png"), read_file(out + "/" + r.b)) << r.b;
    EXPECT_EQ(read_file(out + "/truth/" + r.split + "A/" + fs::path(r.b).filename().string()), read_file(out + "/" + r.a));
    // The B name says nothing of its partner: b_<number>, never the A stem.
    EXPECT_NE(file_stem(r.b), stem);
    EXPECT_TRUE(std::regex_match(file_stem(r.b), std::regex("b_[0-9]{4}"))) << r.b;
  }
  // The numbers are 1..n in each split.
  EXPECT_EQ(names_in(out + "/testB"), (std::vector<std::string>{"b_0001.png", "b_0002.png", "b_0003.png"}));
  // 8-bit gray stays 8-bit gray, RGB stays RGB.
  EXPECT_EQ(decode_image(out + "/trainA/gray.png", 3).samples.size(2), 1);
  EXPECT_EQ(decode_image(out + "/trainA/gray.png", 3).bit_depth, 8);
  EXPECT_EQ(decode_image(out + "/testA/0.png", 3).samples.size(2), 3);
  // Nothing but the dataset; no temp folder left beside it.
  std::set<std::string> top;
  for (const auto& e : fs::directory_iterator(out)) top.insert(e.path().filename().string());
  EXPECT_EQ(top, (std::set<std::string>{"partners.csv", "testA", "testB", "trainA", "trainB", "truth", "valA", "valB"}));
  for (const auto& e : fs::directory_iterator(dir)) EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos);
  // The unaligned (CycleGAN) loader reads it.
  const UnalignedFiles files = find_unaligned(DataConfig{}, out, "train");
  EXPECT_EQ(files.A.size(), 6u);
  EXPECT_EQ(files.B.size(), 6u);
}

TEST(Unpair, SortedListingsShareNoTruePair) {
  const std::string dir = scratch_dir("unpair_order");
  const std::string root = write_source(dir), out = dir + "/cyc";
  unpair_dataset(root, out, 0);
  std::map<std::string, std::string> partner;  // A rel -> B rel
  for (const Row& r : read_partners(out)) partner[r.a] = r.b;
  for (const std::string split : {"train", "val", "test"}) {
    const std::vector<std::string> a = names_in(out + "/" + split + "A"), b = names_in(out + "/" + split + "B");
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_NE(partner.at(split + "A/" + a[i]), split + "B/" + b[i]) << split << " position " << i;
    }
  }
  // unpair_order: a permutation that moves every index, for small and larger n and several seeds.
  for (int64_t n : {2, 3, 5, 17, 100}) {
    for (uint64_t seed : {0ull, 1ull, 12345ull}) {
      std::vector<int64_t> order = unpair_order(n, seed, 0);
      for (int64_t k = 0; k < n; ++k) EXPECT_NE(order[static_cast<size_t>(k)], k) << n << " " << seed;
      std::sort(order.begin(), order.end());
      for (int64_t k = 0; k < n; ++k) EXPECT_EQ(order[static_cast<size_t>(k)], k);
    }
  }
  EXPECT_EQ(unpair_order(1, 0, 0), std::vector<int64_t>{0});
}

TEST(Unpair, SeedDeterminesTheAssignment) {
  const std::string dir = scratch_dir("unpair_seed");
  const std::string root = write_source(dir);
  unpair_dataset(root, dir + "/s0", 0);
  unpair_dataset(root, dir + "/s0_again", 0);
  unpair_dataset(root, dir + "/s7", 7);
  EXPECT_EQ(read_file(dir + "/s0/partners.csv"), read_file(dir + "/s0_again/partners.csv"));
  for (const std::string& name : names_in(dir + "/s0/trainB")) {
    EXPECT_EQ(read_file(dir + "/s0/trainB/" + name), read_file(dir + "/s0_again/trainB/" + name)) << name;
  }
  EXPECT_NE(read_file(dir + "/s0/partners.csv"), read_file(dir + "/s7/partners.csv"));
  // Known answer: the draw is epoch_order's (mt19937_64 with our own modulo), the same on every machine.
  EXPECT_EQ(unpair_order(6, 0, 0), (std::vector<int64_t>{2, 4, 5, 0, 3, 1}));
  EXPECT_NE(unpair_order(6, 0, 0), unpair_order(6, 0, 2));  // each split draws its own
}

TEST(Unpair, RefusalsNameTheFlagOrFileAndLeaveNothing) {
  const std::string dir = scratch_dir("unpair_bad");
  const std::string root = write_ab_dataset(dir + "/ab", 2, 1);
  EXPECT_NE(error_of([&] { unpair_dataset(dir + "/missing", dir + "/o1", 0); }).find("--dir " + dir + "/missing: no such folder"),
            std::string::npos);
  fs::create_directories(dir + "/nosplits/other");
  write_random_png(dir + "/nosplits/other/1.png", 8, 4, 3, 1);
  EXPECT_NE(error_of([&] { unpair_dataset(dir + "/nosplits", dir + "/o2", 0); }).find("no train/, val/ or test/ folder"),
            std::string::npos);
  EXPECT_NE(error_of([&] { unpair_dataset(root, root, 0); }).find("--out " + root + ": is the --dir folder"), std::string::npos);
  fs::create_directories(dir + "/full");
  std::ofstream(dir + "/full/x.txt") << "x";
  EXPECT_NE(error_of([&] { unpair_dataset(root, dir + "/full", 0); }).find("--out " + dir + "/full: exists and is not empty"),
            std::string::npos);
  EXPECT_EQ(read_file(dir + "/full/x.txt"), "x");
  write_random_png(root + "/test/odd.png", 63, 32, 3, 5);
  EXPECT_NE(error_of([&] { unpair_dataset(root, dir + "/o3", 0); }).find(root + "/test/odd.png: an AB image of odd width 63"),
            std::string::npos);
  fs::remove(root + "/test/odd.png");
  write_random_png(root + "/test/0.jpg", 64, 32, 3, 5);
  EXPECT_NE(error_of([&] { unpair_dataset(root, dir + "/o4", 0); }).find("two AB images with the stem '0'"), std::string::npos);
  fs::remove(root + "/test/0.jpg");
  // A file that fails only when decoded (valid header, truncated data), after train is written: no
  // dataset and no temp folder remain.
  const std::string good = read_file(root + "/test/0.png");
  std::ofstream(root + "/test/1.png", std::ios::binary) << good.substr(0, good.size() / 2);
  EXPECT_NE(error_of([&] { unpair_dataset(root, dir + "/o5", 0); }).find(root + "/test/1.png"), std::string::npos);
  std::set<std::string> left;
  for (const auto& e : fs::directory_iterator(dir)) left.insert(e.path().filename().string());
  EXPECT_EQ(left, (std::set<std::string>{"ab", "full", "nosplits"}));
  // An existing empty folder is fine.
  fs::remove(root + "/test/1.png");
  fs::create_directories(dir + "/empty");
  EXPECT_EQ(unpair_dataset(root, dir + "/empty/", 0).size(), 2u);
  EXPECT_TRUE(file_exists(dir + "/empty/partners.csv"));
}
