// Tests for dist/env: the launcher variables read as torchrun sets them, and bad values named.
#include "p2p/dist/env.h"
#include "testutil/testutil.h"

#include <gtest/gtest.h>

#include <map>

namespace p2p {
namespace {

DistEnv from(const std::map<std::string, std::string>& vars) {
  return dist_env([&](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  });
}

TEST(DistEnv, AloneWithoutWorldSize) {
  const DistEnv e = from({});
  EXPECT_FALSE(e.distributed());
  EXPECT_EQ(e.rank, 0);
  EXPECT_FALSE(from({{"WORLD_SIZE", "1"}, {"RANK", "0"}}).distributed());
}

TEST(DistEnv, TorchrunVariables) {
  const DistEnv e = from({{"WORLD_SIZE", "4"}, {"RANK", "3"}, {"LOCAL_RANK", "1"}, {"MASTER_ADDR", "10.0.0.2"},
                          {"MASTER_PORT", "29511"}});
  EXPECT_TRUE(e.distributed());
  EXPECT_EQ(e.rank, 3);
  EXPECT_EQ(e.local_rank, 1);
  EXPECT_EQ(e.master_addr, "10.0.0.2");
  EXPECT_EQ(e.master_port, 29511);
  EXPECT_EQ(e.local_world_size, 4);
  EXPECT_EQ(from({{"WORLD_SIZE", "2"}, {"RANK", "1"}}).local_rank, 1);  // one machine: local = global
  EXPECT_EQ(from({{"WORLD_SIZE", "4"}, {"RANK", "1"}, {"LOCAL_WORLD_SIZE", "2"}}).local_world_size, 2);
  EXPECT_NE(test::error_of([] { from({{"WORLD_SIZE", "2"}, {"RANK", "0"}, {"LOCAL_WORLD_SIZE", "3"}}); })
                .find("LOCAL_WORLD_SIZE=3"),
            std::string::npos);
}

TEST(DistEnv, BadValuesNamed) {
  EXPECT_NE(test::error_of([] { from({{"WORLD_SIZE", "2"}}); }).find("RANK is not set"), std::string::npos);
  EXPECT_NE(test::error_of([] { from({{"WORLD_SIZE", "2"}, {"RANK", "2"}}); }).find("RANK=2: expected an integer in 0..1"),
            std::string::npos);
  EXPECT_NE(test::error_of([] { from({{"WORLD_SIZE", "two"}}); }).find("WORLD_SIZE=two"), std::string::npos);
  EXPECT_NE(test::error_of([] { from({{"WORLD_SIZE", "2"}, {"RANK", "0"}, {"MASTER_PORT", "70000"}}); })
                .find("MASTER_PORT=70000"),
            std::string::npos);
}

}  // namespace
}  // namespace p2p
