// End-to-end tests of FID statistics through `p2p metrics`: a set's statistics saved once
// (--save_fid_stats, no --target needed) and reused (--fid_reference) give the FID and KID of the two
// folders scored directly; the FID equals scipy's (pytorch-fid's calculate_frechet_distance) on the saved
// statistics; pytorch-fid's own .npz (mu and sigma only) gives the FID and a note that KID needs features.
// Weights: the random-weight Inception of tests/fixtures/fid_inception_reference.py.
#include "testutil/testutil.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>

namespace p2p {
namespace {

using test::run_p2p;

nlohmann::json read_json(const std::string& path) { return nlohmann::json::parse(test::read_file(path)); }

TEST(CliFid, SavedStatisticsReusedEqualScoringBothFolders) {
  ASSERT_TRUE(test::python_can_import("numpy, scipy", "python3-numpy python3-scipy"));
  const std::string weights = test::cached_python_fixture("fid_inception", "fixtures/fid_inception_reference.py", "",
                                                          "done", "needs python3-torch and python3-torchvision") +
                              "/fid_inception.pth";
  const std::string home = test::scratch_dir("cli_fid");
  std::filesystem::create_directories(home + "/a");
  std::filesystem::create_directories(home + "/b");
  for (int i = 0; i < 3; ++i) {
    test::write_random_png(home + "/a/" + std::to_string(i) + ".png", 40, 40, 3, 10 + i);
    test::write_random_png(home + "/b/" + std::to_string(i) + ".png", 40, 40, 3, 20 + i);
  }
  const std::string w = " --inception_weights " + weights + " --torch_threads 1 --blas_threads 1";

  // Both folders at once, saving the outputs' statistics on the way.
  test::CommandResult r = run_p2p("metrics --pred " + home + "/a --target " + home + "/b" + w + " --kid_subsets 7 --json " +
                                  home + "/direct.json --save_fid_stats " + home + "/a.npz");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const nlohmann::json direct = read_json(home + "/direct.json");
  ASSERT_TRUE(direct.contains("fid") && direct.contains("kid")) << direct.dump();

  // The reference folder's statistics alone (no --target), then the outputs against them.
  r = run_p2p("metrics --pred " + home + "/b" + w + " --save_fid_stats " + home + "/b.npz");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("FID statistics of 3 images saved to " + home + "/b.npz"), std::string::npos) << r.output;
  r = run_p2p("metrics --pred " + home + "/a --fid_reference " + home + "/b.npz" + w + " --kid_subsets 7 --json " + home +
              "/reused.json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const nlohmann::json reused = read_json(home + "/reused.json");
  ASSERT_TRUE(reused.contains("fid") && reused.contains("kid")) << reused.dump();
  EXPECT_NEAR(reused["fid"].get<double>(), direct["fid"].get<double>(), 1e-9 * std::abs(direct["fid"].get<double>()));
  EXPECT_NEAR(reused["kid"].get<double>(), direct["kid"].get<double>(), 1e-12 + 1e-9 * std::abs(direct["kid"].get<double>()));
  EXPECT_EQ(reused["kid_subsets"], 7);

  // scipy on the saved statistics (pytorch-fid's formula), and pytorch-fid's own file format.
  const std::string script =
      "import numpy as np, scipy.linalg, sys\n"
      "a = np.load(sys.argv[1]); b = np.load(sys.argv[2])\n"
      "d = a['mu'] - b['mu']\n"
      "c, _ = scipy.linalg.sqrtm(a['sigma'].dot(b['sigma']), disp=False)\n"
      "print(repr(float(d.dot(d) + np.trace(a['sigma']) + np.trace(b['sigma']) - 2 * np.trace(c.real))))\n"
      "np.savez_compressed(sys.argv[3], mu=b['mu'], sigma=b['sigma'])\n";
  std::ofstream(home + "/fid.py") << script;
  r = test::run_command(std::string(P2P_TEST_PYTHON) + " " + home + "/fid.py " + home + "/a.npz " + home + "/b.npz " +
                        home + "/theirs.npz");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // Three images of 2048-d features: both covariances have rank 2, where scipy's sqrtm itself is only good
  // to about 1e-6 relative (tests/scores checks fid() against it to 1e-6 on full-rank statistics).
  const double scipy_fid = std::stod(r.output);
  EXPECT_NEAR(direct["fid"].get<double>(), scipy_fid, 1e-5 * std::abs(scipy_fid)) << r.output;

  r = run_p2p("metrics --pred " + home + "/a --fid_reference " + home + "/theirs.npz" + w + " --json " + home + "/theirs.json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const nlohmann::json theirs = read_json(home + "/theirs.json");
  EXPECT_NEAR(theirs["fid"].get<double>(), direct["fid"].get<double>(), 1e-9 * std::abs(direct["fid"].get<double>()));
  EXPECT_FALSE(theirs.contains("kid")) << theirs.dump();
  EXPECT_NE(theirs["notes"].dump().find("KID not computed"), std::string::npos) << theirs.dump();
  EXPECT_NE(r.output.find("KID not computed"), std::string::npos) << r.output;

  // Refusals name the flag and what is missing.
  r = run_p2p("metrics --pred " + home + "/a --save_fid_stats " + home + "/x.npz");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--save_fid_stats: FID statistics need --inception_weights"), std::string::npos) << r.output;
  EXPECT_FALSE(test::file_exists(home + "/x.npz"));
  r = run_p2p("metrics --pred " + home + "/a" + w);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--target: required"), std::string::npos) << r.output;
  std::ofstream(home + "/small.py") << "import numpy as np, sys\nnp.savez(sys.argv[1], mu=np.zeros(4), sigma=np.eye(4))\n";
  ASSERT_EQ(test::run_command(std::string(P2P_TEST_PYTHON) + " " + home + "/small.py " + home + "/small.npz").exit_code, 0);
  r = run_p2p("metrics --pred " + home + "/a --fid_reference " + home + "/small.npz" + w);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--fid_reference: " + home + "/small.npz holds statistics of 4-d features"), std::string::npos)
      << r.output;
}

}  // namespace
}  // namespace p2p
