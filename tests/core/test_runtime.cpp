// Tests for core/runtime and core/config_json: option checks, device parsing, seeding, JSON round trip.
#include "p2p/core/config_json.h"
#include "p2p/core/error.h"
#include "p2p/core/runtime.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

namespace p2p {
namespace {

TEST(CheckChoice, AcceptsListedValuesAndNamesTheOptionOtherwise) {
  EXPECT_NO_THROW(check_choice("--norm", "batch", "batch|instance|none"));
  EXPECT_NO_THROW(check_choice("--norm", "none", "batch|instance|none"));
  try {
    check_choice("--norm", "bach", "batch|instance|none");
    FAIL() << "expected p2p::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--norm"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("bach"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("batch|instance|none"), std::string::npos);
  }
  // A prefix of an allowed value is not allowed.
  EXPECT_THROW(check_choice("--norm", "batc", "batch|instance|none"), Error);
  EXPECT_THROW(check_choice("--norm", "", "batch|instance|none"), Error);
}

TEST(ParseDevice, CpuSpellings) {
  EXPECT_TRUE(parse_device("cpu").is_cpu());
  EXPECT_TRUE(parse_device("-1").is_cpu());
  EXPECT_TRUE(parse_device("").is_cpu());
}

TEST(ParseDevice, GarbageIsAnErrorNamingTheFlag) {
  try {
    parse_device("gpu0", "--gpu_ids");
    FAIL() << "expected p2p::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--gpu_ids"), std::string::npos);
  }
}

TEST(ParseDevice, CudaWithoutGpuIsAnError) {
  if (at::hasCUDA()) GTEST_SKIP() << "machine has CUDA";
  EXPECT_THROW(parse_device("0"), Error);
  EXPECT_THROW(parse_device("cuda:0"), Error);
}

TEST(SeedEverything, SameSeedSameNumbers) {
  seed_everything(123, false);
  at::Tensor a = at::rand({5});
  seed_everything(123, false);
  at::Tensor b = at::rand({5});
  seed_everything(124, false);
  at::Tensor c = at::rand({5});
  EXPECT_TRUE(at::equal(a, b));
  EXPECT_FALSE(at::equal(a, c));
}

TEST(StopRequest, SetAndClear) {
  clear_stop_request();
  EXPECT_FALSE(stop_requested());
  request_stop();
  EXPECT_TRUE(stop_requested());
  clear_stop_request();
  EXPECT_FALSE(stop_requested());
}

TEST(ConfigJson, RoundTripKeepsEveryField) {
  NetConfig n;
  n.netG = "resnet_6blocks";
  n.ngf = 8;
  n.norm = "instance";
  n.no_dropout = true;
  n.input_nc = 1;
  NetConfig back;
  update_from_json(back, to_json(n), "test");
  EXPECT_EQ(back.netG, "resnet_6blocks");
  EXPECT_EQ(back.ngf, 8);
  EXPECT_EQ(back.norm, "instance");
  EXPECT_TRUE(back.no_dropout);
  EXPECT_EQ(back.input_nc, 1);

  DataConfig d;
  d.direction = "BtoA";
  d.crop_size = 64;
  d.pair_replace = "_s1_:_s2_";
  DataConfig dback;
  update_from_json(dback, to_json(d), "test");
  EXPECT_EQ(dback.direction, "BtoA");
  EXPECT_EQ(dback.crop_size, 64);
  EXPECT_EQ(dback.pair_replace, "_s1_:_s2_");
}

TEST(ConfigJson, WrongTypeNamesSourceAndField) {
  NetConfig n;
  try {
    update_from_json(n, nlohmann::json{{"ngf", "wide"}}, "run/config.json");
    FAIL() << "expected p2p::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("run/config.json"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("ngf"), std::string::npos);
  }
}

}  // namespace
}  // namespace p2p
