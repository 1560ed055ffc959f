// Tests for scores/fid against numpy / scipy on the same features (tests/fixtures/fid_stats_reference.py,
// pytorch-fid's calculate_frechet_distance and torch-fidelity's KID written out):
//   statistics: mu and sigma equal numpy's mean and np.cov(rowvar=False) to 1e-12 relative
//   FID: full-rank 64-d covariances to 1e-9 relative; rank-deficient 2048-d covariances (50 and 60
//        samples) to 1e-6 relative — scipy's sqrtm of a singular product is itself only accurate to
//        about 1e-5 in the trace there, our eigenvalue route is exact to rounding
//   KID: the subsets numpy's RandomState(2020) draws, index for index; per-subset MMD^2, mean and std
//        to 1e-9 relative; the clamped subset size with its note
//   files: pytorch-fid's savez_compressed statistics load; ours load back and numpy reads them
//   folders: statistics of a folder of images equal those of the same images run one at a time.
#include "p2p/scores/fid.h"

#include "p2p/core/error.h"
#include "p2p/io/image.h"
#include "p2p/io/npz.h"
#include "testutil/testutil.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <string>

namespace p2p {
namespace {

class Fid : public ::testing::Test {
 protected:
  void SetUp() override {
    static const ::testing::AssertionResult can_import =
        test::python_can_import("numpy, scipy", "python3-numpy python3-scipy");
    ASSERT_TRUE(can_import);
    static const std::string dir = test::cached_python_fixture("fid_stats", "fixtures/fid_stats_reference.py", "",
                                                               "done", "needs python3-numpy and python3-scipy");
    dir_ = dir;
    static const NpzArrays features = read_npz(dir + "/features.npz");  // savez_compressed: deflated entries
    static const NpzArrays reference = read_npz(dir + "/reference.npz");
    feats_ = &features;
    ref_ = &reference;
  }
  at::Tensor feat(const std::string& name) const { return npz_get(*feats_, name, "features.npz"); }
  at::Tensor ref(const std::string& name) const {
    if (name == "mu_c" || name == "sigma_c" || name == "mu_d" || name == "sigma_d" || name == "fid_cd") {
      static const NpzArrays singular = read_npz(dir_ + "/singular.npz");  // 70 MB: read only when needed
      return npz_get(singular, name, "singular.npz");
    }
    return npz_get(*ref_, name, "reference.npz");
  }
  double ref_scalar(const std::string& name) const { return ref(name).item<double>(); }

  std::string dir_;
  const NpzArrays* feats_ = nullptr;
  const NpzArrays* ref_ = nullptr;
};

double relative(const at::Tensor& got, const at::Tensor& want) {
  return (got - want).abs().max().item<double>() / want.abs().max().item<double>();
}

double relative(double got, double want) { return std::abs(got - want) / std::abs(want); }

TEST_F(Fid, AccumulatorMatchesNumpyMeanAndCov) {
  for (const char* name : {"a", "c"}) {
    SCOPED_TRACE(name);
    const at::Tensor x = feat(name);
    const int64_t n = x.size(0);
    FeatureAccumulator acc(x.size(1));
    acc.add(x[0]);                     // one row, [dim]
    acc.add(x.narrow(0, 1, 7));        // a block
    acc.add(x.narrow(0, 8, n - 8).to(at::kDouble));
    const FidStatistics s = acc.statistics();
    EXPECT_EQ(s.count, n);
    EXPECT_EQ(s.mu.scalar_type(), at::kDouble);
    EXPECT_LT(relative(s.mu, ref(std::string("mu_") + name)), 1e-12);
    EXPECT_LT(relative(s.sigma, ref(std::string("sigma_") + name)), 1e-12);
    EXPECT_TRUE(at::equal(s.features, x));  // kept for KID, in order
  }
}

TEST_F(Fid, AccumulatorIsFreeOfCancellationAndFlushesInBlocks) {
  // A mean far larger than the spread: sum(xx^T) - n mu mu^T alone would lose ~8 digits here.
  const at::Tensor x = feat("a").to(at::kDouble) + 1e4;
  FeatureAccumulator acc(64, /*keep_features=*/false);
  for (int64_t i = 0; i < x.size(0); ++i) acc.add(x[i]);  // row by row: several 256-row flushes
  const FidStatistics s = acc.statistics();
  EXPECT_FALSE(s.features.defined());
  EXPECT_LT(relative(s.sigma, ref("sigma_a")), 1e-9);
  EXPECT_LT(relative(s.mu, ref("mu_a") + 1e4), 1e-12);
  FeatureAccumulator one(64);
  one.add(x[0]);
  EXPECT_NE(test::error_of([&] { one.statistics(); }).find("at least 2"), std::string::npos);
  EXPECT_NE(test::error_of([&] { one.add(at::zeros({2, 63})); }).find("[n, 64]"), std::string::npos);
}

TEST_F(Fid, MatchesScipyFullRank) {
  const double got = fid(ref("mu_a"), ref("sigma_a"), ref("mu_b"), ref("sigma_b"));
  EXPECT_LT(relative(got, ref_scalar("fid_ab")), 1e-9) << got << " vs " << ref_scalar("fid_ab");
  EXPECT_GT(got, 1.0);
  // Symmetric, and zero for identical statistics (up to rounding, against the traces' size).
  EXPECT_LT(relative(fid(ref("mu_b"), ref("sigma_b"), ref("mu_a"), ref("sigma_a")), got), 1e-9);
  EXPECT_LT(std::abs(fid(ref("mu_a"), ref("sigma_a"), ref("mu_a"), ref("sigma_a"))),
            1e-9 * ref("sigma_a").trace().item<double>());
  // From float32 statistics (as a float32 .npz would hold them): only the rounding of the inputs differs.
  const double from_float = fid(ref("mu_a").to(at::kFloat), ref("sigma_a").to(at::kFloat), ref("mu_b").to(at::kFloat),
                                ref("sigma_b").to(at::kFloat));
  EXPECT_LT(relative(from_float, got), 1e-5);
}

TEST_F(Fid, MatchesScipyNearSingular) {
  // 50 and 60 samples of 2048 dims: covariances of rank 49 and 59.
  const double got = fid(ref("mu_c"), ref("sigma_c"), ref("mu_d"), ref("sigma_d"));
  EXPECT_LT(relative(got, ref_scalar("fid_cd")), 1e-6) << got << " vs " << ref_scalar("fid_cd");
}

TEST_F(Fid, RejectsMismatchedOrNonFiniteStatistics) {
  std::string msg = test::error_of([&] { fid(ref("mu_a"), ref("sigma_a"), ref("mu_c"), ref("sigma_c")); });
  EXPECT_NE(msg.find("[64]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[2048, 2048]"), std::string::npos) << msg;
  at::Tensor bad = ref("sigma_a").clone();
  bad[3][5] = NAN;
  msg = test::error_of([&] { fid(ref("mu_a"), bad, ref("mu_b"), ref("sigma_b")); });
  EXPECT_NE(msg.find("NaN"), std::string::npos) << msg;
}

TEST_F(Fid, KidSubsetsAreNumpyRandomStateDraws) {
  const KidSubsets s = kid_subsets(120, 90, 10, 50, 2020);
  const at::Tensor i1 = ref("kid_idx1"), i2 = ref("kid_idx2");
  ASSERT_EQ(s.size(), 10u);
  for (int64_t k = 0; k < 10; ++k) {
    EXPECT_EQ(s[k].first, std::vector<int64_t>(i1[k].data_ptr<int64_t>(), i1[k].data_ptr<int64_t>() + 50)) << k;
    EXPECT_EQ(s[k].second, std::vector<int64_t>(i2[k].data_ptr<int64_t>(), i2[k].data_ptr<int64_t>() + 50)) << k;
  }
  EXPECT_NE(test::error_of([] { kid_subsets(10, 10, 1, 5, uint64_t{1} << 32); }).find("2^32"), std::string::npos);
}

TEST_F(Fid, KidMatchesNumpyOnTheSameSubsets) {
  const at::Tensor e = feat("e"), f = feat("f");
  // Per subset, on the reference's own index lists.
  const at::Tensor i1 = ref("kid_idx1"), i2 = ref("kid_idx2"), mmd = ref("kid_mmd");
  for (int64_t k = 0; k < 10; ++k) {
    const double got = mmd2_unbiased(e.index_select(0, i1[k]), f.index_select(0, i2[k]));
    EXPECT_LT(relative(got, mmd[k].item<double>()), 1e-9) << k;
  }
  // The whole estimate, drawing its own subsets.
  const KidResult r = kid(e, f, 10, 50, 2020);
  EXPECT_EQ(r.subsets, 10);
  EXPECT_EQ(r.subset_size, 50);
  EXPECT_TRUE(r.note.empty());
  EXPECT_LT(relative(r.mean, ref_scalar("kid_mean")), 1e-9) << r.mean;
  EXPECT_LT(relative(r.std, ref_scalar("kid_std")), 1e-9) << r.std;
  EXPECT_GT(r.mean, 1e-3);  // the sets differ: not trivially zero
}

TEST_F(Fid, KidClampsTheSubsetSizeWithANote) {
  const KidResult r = kid(feat("e"), feat("f"), 3, 1000, 2020);
  EXPECT_EQ(r.subset_size, 90);
  EXPECT_NE(r.note.find("90"), std::string::npos) << r.note;
  EXPECT_LT(relative(r.mean, ref_scalar("kid90_mean")), 1e-9);
  EXPECT_LT(relative(r.std, ref_scalar("kid90_std")), 1e-9);
  EXPECT_NE(test::error_of([&] { kid(feat("e"), feat("f").narrow(0, 0, 1)); }).find("at least 2"), std::string::npos);
}

TEST_F(Fid, StatisticsFiles) {
  // pytorch-fid's own format (numpy.savez_compressed, mu and sigma only).
  const FidStatistics theirs = load_fid_statistics(dir_ + "/stats_a.npz");
  EXPECT_TRUE(at::equal(theirs.mu, ref("mu_a")));
  EXPECT_TRUE(at::equal(theirs.sigma, ref("sigma_a")));
  EXPECT_FALSE(theirs.features.defined());
  EXPECT_EQ(theirs.count, 0);
  // Ours: read back exactly, and numpy sees mu / sigma as float64 arrays.
  FeatureAccumulator acc(64);
  acc.add(feat("b"));
  const FidStatistics s = acc.statistics();
  const std::string path = test::scratch_dir("fid_stats") + "/b.npz";
  save_fid_statistics(path, s);
  const FidStatistics back = load_fid_statistics(path);
  EXPECT_TRUE(at::equal(back.mu, s.mu));
  EXPECT_TRUE(at::equal(back.sigma, s.sigma));
  EXPECT_TRUE(at::equal(back.features, s.features));
  EXPECT_EQ(back.count, 250);
  const test::CommandResult r = test::run_python_script("fixtures/fid_npz_check.py", "--read '" + path + "'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const nlohmann::json j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j["mu"]["dtype"], "<f8");
  EXPECT_EQ(j["sigma"]["shape"].get<std::vector<int64_t>>(), (std::vector<int64_t>{64, 64}));
  EXPECT_EQ(j["features"]["dtype"], "<f4");
  EXPECT_EQ(j["mu"]["values"][5].get<double>(), s.mu[5].item<double>());
  // A file without sigma, or with the wrong shapes, is refused naming the file.
  write_npz(path, {{"mu", s.mu}});
  std::string msg = test::error_of([&] { load_fid_statistics(path); });
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("'sigma'"), std::string::npos) << msg;
  write_npz(path, {{"mu", s.mu}, {"sigma", s.sigma.narrow(0, 0, 10)}});
  msg = test::error_of([&] { load_fid_statistics(path); });
  EXPECT_NE(msg.find("[10, 64]"), std::string::npos) << msg;
}

// Statistics through the network: the random-weight Inception of tests/fixtures/fid_inception_reference.py.
TEST(FidImages, FolderStatisticsEqualPerImageFeatures) {
  const std::string weights = test::cached_python_fixture("fid_inception", "fixtures/fid_inception_reference.py", "",
                                                          "done", "needs python3-torch and python3-torchvision") +
                              "/fid_inception.pth";
  const std::string dir = test::scratch_dir("fid_folder");
  test::write_random_png(dir + "/0.png", 48, 48, 3, 1);
  test::write_random_png(dir + "/1.png", 56, 40, 3, 2);  // another size: resized on its own
  test::write_random_png(dir + "/2.png", 48, 48, 1, 3);  // gray: replicated to RGB, as PIL's convert('RGB')
  FidInception net = load_fid_inception(weights);
  const FidStatistics s = fid_statistics_of_folder(dir, net, /*batch_size=*/2);
  EXPECT_EQ(s.count, 3);
  ASSERT_EQ(s.features.sizes(), (std::vector<int64_t>{3, kFidFeatureDim}));
  // The same images through the network one at a time: the odd-sized one alone, the two others by the
  // tensor route (same size, batches of 1).
  at::NoGradGuard no_grad;
  const at::Tensor odd = net->forward(load_image(dir + "/1.png", 3).unsqueeze(0))[0];
  const at::Tensor two = at::stack({load_image(dir + "/0.png", 3), load_image(dir + "/2.png", 3)});
  const FidStatistics t = fid_statistics_of_images(two, net, /*batch_size=*/1);
  const at::Tensor one_by_one = at::stack({t.features[0], odd, t.features[1]});
  EXPECT_LT(relative(s.features, one_by_one), 1e-5);
  FeatureAccumulator acc;
  acc.add(one_by_one);
  EXPECT_LT(relative(s.mu, acc.statistics().mu), 1e-5);
  EXPECT_LT(relative(s.sigma, acc.statistics().sigma), 1e-4);
  EXPECT_GT((s.features[0] - s.features[2]).abs().max().item<double>(), 1e-3);  // different images, different features
  // One image is not enough for a covariance.
  const std::string lone = test::scratch_dir("fid_lone");
  test::write_random_png(lone + "/0.png", 32, 32, 3, 4);
  const std::string msg = test::error_of([&] { fid_statistics_of_folder(lone, net); });
  EXPECT_NE(msg.find(lone), std::string::npos) << msg;
}

}  // namespace
}  // namespace p2p
