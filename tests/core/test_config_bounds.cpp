// Tests for core/config_json's bounds: a field read from a file (config.json, a checkpoint's stored
// options, an export's header) is held to what its flag accepts, and to what its C++ type can hold, so
// a damaged or hand-edited value fails naming the source and the field instead of wrapping (ngf 2^40
// read as 0) or reaching the allocator.
#include "p2p/core/config_json.h"
#include "p2p/core/error.h"

#include <gtest/gtest.h>

#include <string>

namespace p2p {
namespace {

std::string net_error(const nlohmann::json& j) {
  NetConfig n;
  try {
    update_from_json(n, j, "g.safetensors");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::string data_error(const nlohmann::json& j) {
  DataConfig d;
  try {
    update_from_json(d, j, "run/config.json");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(ConfigBounds, IntegersAreNeverWrappedNorTruncated) {
  EXPECT_EQ(net_error({{"ngf", int64_t{1} << 40}}),
            "g.safetensors: field 'ngf' 1099511627776 is not a whole number >= 1 (as --ngf takes)");
  EXPECT_EQ(net_error({{"ngf", 0}}), "g.safetensors: field 'ngf' 0 is not a whole number >= 1 (as --ngf takes)");
  EXPECT_EQ(net_error({{"ngf", -64}}), "g.safetensors: field 'ngf' -64 is not a whole number >= 1 (as --ngf takes)");
  EXPECT_EQ(net_error({{"ngf", 64.5}}), "g.safetensors: field 'ngf' 64.5 is not a whole number");
  EXPECT_EQ(net_error({{"ngf", 18446744073709551615ull}}),
            "g.safetensors: field 'ngf' 18446744073709551615 is not a whole number >= 1 (as --ngf takes)");
  EXPECT_EQ(net_error({{"num_D", 9}}), "g.safetensors: field 'num_D' 9 is not a whole number from 1 to 8 (as --num_D takes)");
  EXPECT_EQ(net_error({{"ngf", 2147483647}, {"n_layers_D", 8}}), "");  // the bounds themselves are accepted
  // A field without a flag bound still may not wrap its type.
  TrainConfig t;
  nlohmann::json big = {{"batch_size", int64_t{1} << 33}};
  const std::string msg = [&] {
    try {
      update_from_json(t, big, "run/config.json");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  }();
  EXPECT_EQ(msg, "run/config.json: field 'batch_size' 8589934592 does not fit the field (32-bit)");
}

TEST(ConfigBounds, ChoicesRealsAndListsAsTheirFlags) {
  EXPECT_EQ(net_error({{"norm", "layer"}}),
            "g.safetensors: field 'norm' \"layer\" is not one of batch, sync_batch, instance, none (as --norm takes)");
  EXPECT_EQ(net_error({{"norm_D", ""}}), "");  // empty: follows --norm
  EXPECT_EQ(net_error({{"attention", "down,sideways"}}),
            "g.safetensors: field 'attention' \"down,sideways\" is not a comma list of none, down, up, skip (as "
            "--attention takes)");
  EXPECT_EQ(net_error({{"init_gain", 0.0}}),
            "g.safetensors: field 'init_gain' 0.0 is not a positive finite number (as --init_gain takes)");
  EXPECT_EQ(net_error({{"no_dropout", 1}}), "g.safetensors: field 'no_dropout' 1 is not true or false");
  EXPECT_EQ(data_error({{"crop_size", 0}}),
            "run/config.json: field 'crop_size' 0 is not a whole number >= 1 (as --crop_size takes)");
  EXPECT_EQ(data_error({{"val_fraction", 0.9}}),
            "run/config.json: field 'val_fraction' 0.9 is not a number from 0 to 0.5 (as --val_fraction takes)");
  EXPECT_EQ(data_error({{"mean_A", {0.5, "x"}}}), "run/config.json: field 'mean_A' [0.5,\"x\"] is not a list of finite numbers");
  EXPECT_EQ(data_error({{"preprocess", "none"}, {"load_size", 286}, {"mean_A", {0.1, 0.2, 0.3}}}), "");
  // Every default is within its own bounds (what a run writes, it can read).
  EXPECT_EQ(net_error(to_json(NetConfig())), "");
  EXPECT_EQ(data_error(to_json(DataConfig())), "");
}

}  // namespace
}  // namespace p2p
