// Fault suite: work that must fit. `p2p metrics` on large pairs runs in bands of rows and streams PNG
// rows, so its memory does not grow with the image (a dense double-precision SSIM of one 2048² pair once
// peaked at 8 GB and took 24 s).
#include "faults/faults.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>
#include <utility>

namespace p2p {
namespace {

// Peak resident memory (MiB) and exit code of a command run through sh.
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

// A noisy side² RGB pair (the target a perturbed copy) written by PIL.
void write_pair(const std::string& dir, int side) {
  const std::string script = "import numpy as np, sys\nfrom PIL import Image\nrng = np.random.default_rng(0)\nn = " +
                             std::to_string(side) +
                             "\na = (rng.random((n, n, 3)) * 255).astype(np.uint8)\n"
                             "b = np.clip(a.astype(np.int16) + rng.integers(-20, 20, a.shape, dtype=np.int16), 0, 255)"
                             ".astype(np.uint8)\n"
                             "Image.fromarray(a).save(sys.argv[1] + '/p/x.png', compress_level=1)\n"
                             "Image.fromarray(b).save(sys.argv[1] + '/t/x.png', compress_level=1)\n";
  std::ofstream(dir + "/make.py") << script;
  ASSERT_EQ(test::run_command("mkdir -p " + dir + "/p " + dir + "/t && " + P2P_TEST_PYTHON + " " + dir + "/make.py " + dir)
                .exit_code,
            0);
}

TEST(FaultsMetrics, LargePairScoresInBoundedMemory) {
  ASSERT_TRUE(test::python_can_import("PIL, numpy", "python3-pil python3-numpy"));
  const std::string dir = test::scratch_dir("faults_metrics");
  write_pair(dir, 2048);
  const auto start = std::chrono::steady_clock::now();
  const auto [mib, rc] = peak_rss_mib(std::string(P2P_TEST_BIN) + " metrics --pred " + dir + "/p --target " + dir +
                                      "/t --json " + dir + "/m.json");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_EQ(rc, 0);
  std::cerr << "metrics of a 2048x2048 pair: " << seconds << " s, peak RSS " << mib << " MiB\n";
  EXPECT_LT(mib, 300.0);
  EXPECT_LT(seconds, 20.0);  // about 1 s alone on 2 cores (BENCHMARKS.md); a loaded CI machine is slower
  const nlohmann::json j = nlohmann::json::parse(test::read_file(dir + "/m.json"));
  const double ssim = j["mean"]["ssim"].get<double>();
  EXPECT_GT(ssim, 0.0);
  EXPECT_LT(ssim, 1.0);
}

// 8192² (64x the pixels): PNG rows are streamed, so the peak stays under the same bound (measured 293 MB).
TEST(FaultsMetrics, HugePairScoresInTheSameMemorySlow) {
  P2P_SLOW_CASE();
  ASSERT_TRUE(test::python_can_import("PIL, numpy", "python3-pil python3-numpy"));
  const std::string dir = test::scratch_dir("faults_metrics_huge");
  write_pair(dir, 8192);
  const auto [mib, rc] = peak_rss_mib(std::string(P2P_TEST_BIN) + " metrics --pred " + dir + "/p --target " + dir +
                                      "/t --json " + dir + "/m.json");
  ASSERT_EQ(rc, 0);
  std::cerr << "metrics of an 8192x8192 pair: peak RSS " << mib << " MiB\n";
  EXPECT_LT(mib, 300.0);
}

}  // namespace
}  // namespace p2p
