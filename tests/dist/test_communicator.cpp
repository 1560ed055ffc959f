// Tests for dist/communicator: two ranks as separate processes over Gloo on loopback (as a launcher
// starts them): broadcast from rank 0 and a mean all-reduce reach both; a rank that joins and then
// never takes part makes the other fail with the timeout message instead of hanging.
#include "p2p/dist/communicator.h"
#include "testutil/testutil.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>

namespace p2p {
namespace {

std::string two_ranks(const std::string& mode, int port) {
  const std::string common = "WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(port) + " '" +
                             P2P_DIST_WORKER + "' " + mode;
  return "(RANK=1 " + common + " & RANK=0 " + common + "; s0=$?; wait $!; s1=$?; echo \"status $s0 $s1\")";
}

int free_port() { return 20000 + static_cast<int>(::getpid() % 20000); }

TEST(Communicator, BroadcastAndMeanAllReduceAcrossTwoProcesses) {
  if (!distributed_available()) GTEST_SKIP() << "built without Gloo";
  const auto r = test::run_command(two_ranks("collectives", free_port()));
  EXPECT_NE(r.output.find("status 0 0"), std::string::npos) << r.output;
  // arange(5) from rank 0 sums to 10 on both; mean of 1 and 2 is 1.5.
  EXPECT_NE(r.output.find("rank 0 broadcast 10 mean 1.5"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("rank 1 broadcast 10 mean 1.5"), std::string::npos) << r.output;
}

TEST(Communicator, GradientSyncAveragesEveryParameterOverRanks) {
  if (!distributed_available()) GTEST_SKIP() << "built without Gloo";
  const auto r = test::run_command(two_ranks("grads", free_port() + 2));
  EXPECT_NE(r.output.find("status 0 0"), std::string::npos) << r.output;
  // A 1 MiB first bucket (the three last parameters), then the rest; a missing gradient counts as zero.
  EXPECT_NE(r.output.find("rank 0 buckets 2 grads 1.5 3 4.5 0"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("rank 1 buckets 2 grads 1.5 3 4.5 0"), std::string::npos) << r.output;
}

TEST(Communicator, SilentPeerTimesOutWithAMessage) {
  if (!distributed_available()) GTEST_SKIP() << "built without Gloo";
  const auto t0 = std::chrono::steady_clock::now();
  const auto r = test::run_command(two_ranks("hang", free_port() + 1));
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_NE(r.output.find("status 1 0"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("all-reduce failed on rank 0"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("finished an all-reduce alone"), std::string::npos) << r.output;
  EXPECT_LT(waited, 30.0);
}

}  // namespace
}  // namespace p2p
