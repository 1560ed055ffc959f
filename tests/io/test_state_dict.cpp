// Tests for src/p2p/io/state_dict.cpp: files written by Python's torch.save(net.state_dict()) read back
// with the names, shapes, dtypes and values Python reports; our files read by Python's torch.load;
// malformed files refused with the file named; load_into / state_dict_of on small modules.
// Fixtures come from tests/fixtures/make_reference_fixtures.py run with the PyTorch interpreter, once
// per version of the script (cached under the test working directory).
#include "p2p/io/state_dict.h"

#include "p2p/core/error.h"
#include "p2p/io/state_dict_pickle.h"
#include "testutil/testutil.h"

#include <ATen/ATen.h>
#include <caffe2/serialize/inline_container.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <random>
#include <sstream>
#include <stdexcept>

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string quote(const std::string& s) { return "'" + s + "'"; }


std::string fixture(const std::string& name) { return p2p::test::reference_fixtures() + "/" + name; }

const json& manifest() {
  static const json m = json::parse(p2p::test::read_file(fixture("manifest.json")));
  return m;
}

std::string dtype_name(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return "float32";
    case at::kDouble: return "float64";
    case at::kHalf: return "float16";
    case at::kBFloat16: return "bfloat16";
    case at::kLong: return "int64";
    case at::kInt: return "int32";
    case at::kShort: return "int16";
    case at::kChar: return "int8";
    case at::kByte: return "uint8";
    case at::kBool: return "bool";
    default: return "other";
  }
}

// Compares `dict` with a description written by the script's describe(): names in order, dtype, shape,
// exact values for small tensors, sums (in float64) for large ones.
void expect_matches(const p2p::StateDict& dict, const json& described, const std::string& what) {
  const json& tensors = described.at("tensors");
  ASSERT_EQ(dict.size(), tensors.size()) << what;
  for (size_t i = 0; i < dict.size(); ++i) {
    const auto& [name, t] = dict[i];
    const json& e = tensors[i];
    SCOPED_TRACE(what + ": " + name);
    EXPECT_EQ(name, e.at("name").get<std::string>());
    EXPECT_EQ(dtype_name(t.scalar_type()), e.at("dtype").get<std::string>());
    EXPECT_EQ(t.sizes().vec(), e.at("shape").get<std::vector<int64_t>>());
    EXPECT_TRUE(t.is_contiguous());
    at::Tensor d = t.to(at::kDouble);
    double sum = d.sum().item<double>(), abs_sum = d.abs().sum().item<double>();
    double ref_sum = e.at("sum").get<double>(), ref_abs = e.at("abs_sum").get<double>();
    EXPECT_NEAR(sum, ref_sum, 1e-9 * std::max(1.0, ref_abs));
    EXPECT_NEAR(abs_sum, ref_abs, 1e-9 * std::max(1.0, ref_abs));
    if (e.contains("values")) {
      auto ref = e.at("values").get<std::vector<double>>();
      at::Tensor flat = d.reshape({-1});
      ASSERT_EQ(flat.numel(), static_cast<int64_t>(ref.size()));
      for (size_t k = 0; k < ref.size(); ++k) EXPECT_EQ(flat[k].item<double>(), ref[k]) << "element " << k;
    }
  }
}

// The p2p::Error message thrown by read_state_dict(path), or "" when it does not throw.
std::string read_error(const std::string& path) {
  try {
    p2p::read_state_dict(path);
  } catch (const p2p::Error& e) {
    return e.what();
  }
  return "";
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

}  // namespace

TEST(StateDictRead, NetworkFilesMatchWhatPythonWrote) {
  for (const char* name : {"unet_256.pth", "unet_128.pth", "resnet_6blocks.pth", "resnet_9blocks.pth", "basic_D.pth"}) {
    p2p::StateDict dict = p2p::read_state_dict(fixture(name));
    expect_matches(dict, manifest().at("files").at(name), name);
  }
  // A known key from the reference layout, to catch a manifest and reader that agree on nonsense.
  p2p::StateDict unet = p2p::read_state_dict(fixture("unet_256.pth"));
  EXPECT_EQ(unet.front().first, "model.model.0.weight");
  EXPECT_EQ(unet.front().second.sizes().vec(), (std::vector<int64_t>{8, 3, 4, 4}));
}

TEST(StateDictRead, EveryStorageTypeViewAndScalar) {
  p2p::StateDict dict = p2p::read_state_dict(fixture("dtypes.pth"));
  expect_matches(dict, manifest().at("files").at("dtypes.pth"), "dtypes.pth");
  std::map<std::string, at::Tensor> by_name(dict.begin(), dict.end());
  // "strided" is arange(40)[3:30:3] in the file: offset 3, stride 3 over a 40-element storage.
  EXPECT_TRUE(at::equal(by_name.at("strided"), at::arange(3, 30, 3, at::kFloat)));
  EXPECT_EQ(by_name.at("big_i64")[0].item<int64_t>(), int64_t{1} << 40);
  EXPECT_EQ(by_name.at("scalar").dim(), 0);
  EXPECT_EQ(by_name.at("empty").sizes().vec(), (std::vector<int64_t>{0, 3}));
  // Two views of one storage come back as independent tensors.
  EXPECT_FALSE(by_name.at("shared_a").is_alias_of(by_name.at("shared_b")));
}

TEST(StateDictRead, PlainDictAndProtocol4) {
  expect_matches(p2p::read_state_dict(fixture("plain_dict.pth")), manifest().at("files").at("plain_dict.pth"),
                 "plain_dict.pth");
  expect_matches(p2p::read_state_dict(fixture("protocol4.pth")), manifest().at("files").at("protocol4.pth"),
                 "protocol4.pth");
}

TEST(StateDictRead, LegacyFormatMatchesWhatPythonWrote) {
  // Pre-1.6 torch.save streams (the reference's published models): every dtype, views, shared storages.
  for (const char* name : {"legacy_dtypes.pth", "legacy_plain_dict.pth"}) {
    expect_matches(p2p::read_state_dict(fixture(name)), manifest().at("files").at(name), name);
  }
  // Each network saved in both formats holds exactly the same tensors.
  int networks = 0;
  for (const json& e : manifest().at("parity")) {
    if (!e.contains("legacy_state_dict")) continue;
    const p2p::StateDict zip = p2p::read_state_dict(fixture(e.at("state_dict").get<std::string>()));
    const p2p::StateDict legacy = p2p::read_state_dict(fixture(e.at("legacy_state_dict").get<std::string>()));
    ASSERT_EQ(zip.size(), legacy.size());
    for (size_t i = 0; i < zip.size(); ++i) {
      EXPECT_EQ(zip[i].first, legacy[i].first);
      EXPECT_TRUE(at::equal(zip[i].second, legacy[i].second)) << zip[i].first;
    }
    ++networks;
  }
  EXPECT_EQ(networks, 4);  // unet_256, unet_128, resnet_9blocks, basic D
}

TEST(StateDictRead, RefusesDamagedLegacyStreamsNamingThem) {
  const std::string dir = p2p::test::scratch_dir("sd_legacy_bad");
  const std::string whole = p2p::test::read_file(fixture("legacy_plain_dict.pth"));
  auto error_for = [&](const std::string& name, const std::string& bytes) {
    const std::string path = dir + "/" + name;
    write_bytes(path, bytes);
    const std::string msg = read_error(path);
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    return msg;
  };
  std::string msg = error_for("cut.pth", whole.substr(0, whole.size() - 5));
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
  msg = error_for("cut_in_pickle.pth", whole.substr(0, 200));
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
  msg = error_for("trailing.pth", whole + "xyz");
  EXPECT_NE(msg.find("3 bytes follow the last storage"), std::string::npos) << msg;

  // Storage "a" is ones(2, 2): its element count 4, then four float 1.0s.
  const std::string count_and_data = std::string("\x04\0\0\0\0\0\0\0\0\0\x80\x3f", 12);
  const size_t at = whole.find(count_and_data);
  ASSERT_NE(at, std::string::npos);
  std::string bytes = whole;
  bytes[at] = 5;
  msg = error_for("count.pth", bytes);
  EXPECT_NE(msg.find("holds 5 elements but the pickle declares 4"), std::string::npos) << msg;

  bytes = whole;
  ASSERT_EQ(bytes.substr(0x11, 3), std::string("M\xe9\x03"));  // protocol version 1001
  bytes[0x12] = static_cast<char>(0xea);
  msg = error_for("version.pth", bytes);
  EXPECT_NE(msg.find("protocol version an int (1002) instead of 1001"), std::string::npos) << msg;

  bytes = whole;
  const size_t little = bytes.find("little_endian");
  ASSERT_NE(little, std::string::npos);
  ASSERT_EQ(bytes[little + 15], static_cast<char>(0x88));  // after "little_endian", BINPUT 2: True
  bytes[little + 15] = static_cast<char>(0x89);
  msg = error_for("big_endian.pth", bytes);
  EXPECT_NE(msg.find("big-endian"), std::string::npos) << msg;
}

TEST(StateDictWrite, PythonReadsWhatWeWrite) {
  // Every dtype and view case plus a real network, in one file so Python starts once.
  p2p::StateDict dict = p2p::read_state_dict(fixture("dtypes.pth"));
  p2p::StateDict d = p2p::read_state_dict(fixture("basic_D.pth"));
  dict.insert(dict.end(), d.begin(), d.end());
  json expected = manifest().at("files").at("dtypes.pth");
  for (const json& e : manifest().at("files").at("basic_D.pth").at("tensors")) expected["tensors"].push_back(e);

  const std::string out = p2p::test::scratch_dir("sd_write") + "/ours.pth";
  p2p::write_state_dict(out, dict);
  EXPECT_FALSE(fs::exists(out + ".tmp"));
  auto r = p2p::test::run_command(quote(P2P_TEST_PYTHON) + " " +
                                  quote(std::string(P2P_TEST_SOURCE_DIR) + "/tests/fixtures/make_reference_fixtures.py") +
                                  " --dump " + quote(out));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  json dumped = json::parse(r.output);
  EXPECT_EQ(dumped.at("type").get<std::string>(), "OrderedDict");
  expect_matches(dict, dumped, "python's view of our file");
  expect_matches(dict, expected, "the fixture manifest");
  // And back through our reader, bit for bit.
  p2p::StateDict again = p2p::read_state_dict(out);
  ASSERT_EQ(again.size(), dict.size());
  for (size_t i = 0; i < dict.size(); ++i) {
    EXPECT_EQ(again[i].first, dict[i].first);
    EXPECT_EQ(again[i].second.scalar_type(), dict[i].second.scalar_type());
    EXPECT_TRUE(at::equal(again[i].second, dict[i].second)) << dict[i].first;
  }
}

TEST(StateDictWrite, OverwritesAndFailsCleanly) {
  const std::string dir = p2p::test::scratch_dir("sd_overwrite");
  const std::string out = dir + "/w.pth";
  p2p::write_state_dict(out, {{"a", at::ones({2})}});
  p2p::write_state_dict(out, {{"b", at::zeros({3}, at::kLong)}});
  p2p::StateDict back = p2p::read_state_dict(out);
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].first, "b");
  EXPECT_TRUE(at::equal(back[0].second, at::zeros({3}, at::kLong)));
  // Non-contiguous input is written as its contiguous values.
  at::Tensor t = at::arange(6, at::kFloat).reshape({2, 3}).t();
  p2p::write_state_dict(out, {{"t", t}});
  EXPECT_TRUE(at::equal(p2p::read_state_dict(out)[0].second, t));

  // A target that cannot be created (its folder is a file) throws and leaves nothing behind.
  const std::string blocker = dir + "/blocker";
  write_bytes(blocker, "x");
  EXPECT_THROW(p2p::write_state_dict(blocker + "/x.pth", {{"a", at::ones({2})}}), p2p::Error);
  size_t files = 0;
  for (const auto& entry : fs::directory_iterator(dir)) files += entry.is_regular_file();
  EXPECT_EQ(files, 2u);  // w.pth and blocker
}

TEST(StateDictRead, RefusesBadFilesNamingThem) {
  const std::string dir = p2p::test::scratch_dir("sd_bad");
  const std::string expected = "torch.save(net.state_dict())";

  const std::string empty = dir + "/empty.pth";
  write_bytes(empty, "");
  std::string msg = read_error(empty);
  EXPECT_NE(msg.find(empty), std::string::npos) << msg;
  EXPECT_NE(msg.find("empty"), std::string::npos) << msg;
  EXPECT_NE(msg.find(expected), std::string::npos) << msg;

  const std::string whole = p2p::test::read_file(fixture("unet_128.pth"));
  const std::string truncated = dir + "/truncated.pth";
  write_bytes(truncated, whole.substr(0, whole.size() / 2));
  msg = read_error(truncated);
  EXPECT_NE(msg.find(truncated), std::string::npos) << msg;
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;

  const std::string random = dir + "/random.pth";
  std::mt19937 gen(7);
  std::string noise(4096, '\0');
  for (char& c : noise) c = static_cast<char>(gen() & 0xff);
  noise[0] = 'x';
  write_bytes(random, noise);
  msg = read_error(random);
  EXPECT_NE(msg.find(random), std::string::npos) << msg;
  EXPECT_NE(msg.find("not a zip archive"), std::string::npos) << msg;

  msg = read_error(fixture("non_tensor.pth"));
  EXPECT_NE(msg.find(fixture("non_tensor.pth")), std::string::npos) << msg;
  EXPECT_NE(msg.find("entry 'epoch' is an int (3), not a tensor"), std::string::npos) << msg;

  msg = read_error(fixture("float_value.pth"));
  EXPECT_NE(msg.find(fixture("float_value.pth")), std::string::npos) << msg;
  EXPECT_NE(msg.find("unsupported pickle opcode BINFLOAT"), std::string::npos) << msg;

  msg = read_error(fixture("nested.pth"));
  EXPECT_NE(msg.find("entry 'state_dict' is a dict, not a tensor"), std::string::npos) << msg;

  msg = read_error(dir + "/does_not_exist.pth");
  EXPECT_NE(msg.find(dir + "/does_not_exist.pth: no such file"), std::string::npos) << msg;
}

TEST(StateDictRead, RefusesBrokenStorageRecords) {
  // Archives made by hand: a correct pickle for one 3-float tensor, with a short or missing storage.
  const std::string dir = p2p::test::scratch_dir("sd_storage");
  const std::string pickle = p2p::detail::pickle_state_dict({{"w", at::ones({3})}});
  auto make = [&](const std::string& path, bool with_storage) {
    std::ofstream out(path, std::ios::binary);
    caffe2::serialize::PyTorchStreamWriter writer([&out](const void* buf, size_t n) -> size_t {
      out.write(static_cast<const char*>(buf), static_cast<std::streamsize>(n));
      return n;
    });
    writer.writeRecord("data.pkl", pickle.data(), pickle.size());
    const float two[2] = {1.f, 2.f};
    if (with_storage) writer.writeRecord("data/0", two, sizeof two);
    writer.writeEndOfFile();
  };
  make(dir + "/short.pth", true);
  std::string msg = read_error(dir + "/short.pth");
  EXPECT_NE(msg.find("storage record data/0 holds 8 bytes but 3 elements of 4 bytes were expected"), std::string::npos) << msg;
  make(dir + "/nostorage.pth", false);
  msg = read_error(dir + "/nostorage.pth");
  EXPECT_NE(msg.find(dir + "/nostorage.pth"), std::string::npos) << msg;
  EXPECT_NE(msg.find("storage record data/0 is missing"), std::string::npos) << msg;
}

TEST(StateDictRead, WrongFormatsAreNamed) {
  const std::string dir = p2p::test::scratch_dir("sd_formats");
  // A TorchScript archive (what torch.jit.save adds: code/ and constants.pkl) is pointed to torch.jit.load.
  const std::string ts = dir + "/model.ts.pt";
  {
    std::ofstream out(ts, std::ios::binary);
    caffe2::serialize::PyTorchStreamWriter writer([&out](const void* buf, size_t n) -> size_t {
      out.write(static_cast<const char*>(buf), static_cast<std::streamsize>(n));
      return n;
    });
    const std::string code = "class Generator(Module):\n";
    writer.writeRecord("data.pkl", "\x80\x02N.", 4);
    writer.writeRecord("code/__torch__/g.py", code.data(), code.size());
    writer.writeRecord("constants.pkl", "\x80\x02).", 4);
    writer.writeEndOfFile();
  }
  std::string msg = read_error(ts);
  EXPECT_NE(msg.find(ts + ": a TorchScript module"), std::string::npos) << msg;
  EXPECT_NE(msg.find("torch.jit.load"), std::string::npos) << msg;

  // A file named .safetensors that is not one: that format is named, with what is wrong, not "zip".
  const std::string st = dir + "/bad.safetensors";
  write_bytes(st, std::string("\x10\0\0\0\0\0\0\0[\"not an object\"]", 25));
  msg = read_error(st);
  EXPECT_NE(msg.find(st + ": not a valid safetensors file: its header does not start with '{'"), std::string::npos)
      << msg;
  EXPECT_EQ(msg.find("zip"), std::string::npos) << msg;

  // Which files carry no checksum of their data.
  EXPECT_TRUE(p2p::is_legacy_torch_save(fixture("legacy_plain_dict.pth")));
  EXPECT_FALSE(p2p::is_legacy_torch_save(fixture("plain_dict.pth")));
}

namespace {

// A module whose own parameter is registered after its child: PyTorch still lists own entries first.
struct Outer : torch::nn::Module {
  Outer() {
    body = register_module("body", torch::nn::Sequential(torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 4, 3)),
                                                         torch::nn::BatchNorm2d(4)));
    scale = register_parameter("scale", at::ones({1}));
  }
  torch::nn::Sequential body{nullptr};
  at::Tensor scale;
};

std::vector<std::string> names_of(const p2p::StateDict& dict) {
  std::vector<std::string> names;
  for (const auto& e : dict) names.push_back(e.first);
  return names;
}

std::string load_error(torch::nn::Module& net, const p2p::StateDict& dict) {
  try {
    p2p::load_into(net, dict, "ckpt.pth");
  } catch (const p2p::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(StateDictOf, PyTorchOrder) {
  Outer net;
  // As Python's state_dict() lists the same layout (checked against torch 1.13).
  std::vector<std::string> expected = {"scale",       "body.0.weight",       "body.0.bias",
                                       "body.1.weight", "body.1.bias",       "body.1.running_mean",
                                       "body.1.running_var", "body.1.num_batches_tracked"};
  EXPECT_EQ(names_of(p2p::state_dict_of(net)), expected);
  // Biasless convolutions have no bias entry.
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(3, 4, 3).bias(false));
  EXPECT_EQ(names_of(p2p::state_dict_of(*conv)), std::vector<std::string>{"weight"});
}

TEST(LoadInto, CopiesByNameConvertingDtype) {
  Outer net;
  p2p::StateDict dict;
  for (const auto& [name, t] : p2p::state_dict_of(net)) {
    if (name == "body.1.num_batches_tracked") continue;  // old reference files lack it
    at::Tensor v = at::arange(t.numel(), at::kDouble).reshape(t.sizes()) + 0.5;
    dict.emplace_back(name, v);
  }
  net.body[1]->as<torch::nn::BatchNorm2d>()->num_batches_tracked.fill_(5);
  p2p::load_into(net, dict, "ckpt.pth");
  for (const auto& [name, t] : p2p::state_dict_of(net)) {
    if (name == "body.1.num_batches_tracked") {
      EXPECT_EQ(t.item<int64_t>(), 5);  // kept
      continue;
    }
    EXPECT_EQ(t.scalar_type(), at::kFloat) << name;
    EXPECT_TRUE(at::allclose(t, (at::arange(t.numel(), at::kDouble).reshape(t.sizes()) + 0.5).to(at::kFloat)))
        << name;
  }
  EXPECT_TRUE(net.scale.requires_grad());  // still a trainable parameter after loading
}

TEST(LoadInto, ReportsEveryProblemAndLoadsNothing) {
  Outer net;
  at::Tensor before = net.body[0]->as<torch::nn::Conv2d>()->weight.clone();
  p2p::StateDict dict = p2p::state_dict_of(Outer());
  for (auto& e : dict) e.second = e.second.clone().fill_(9);
  dict[1].second = at::zeros({4, 1, 3, 3});                 // body.0.weight: wrong input channels
  dict.erase(dict.begin() + 3);                             // body.1.weight missing
  dict.emplace_back("body.2.weight", at::zeros({4}));       // unexpected
  std::string msg = load_error(net, dict);
  EXPECT_NE(msg.find("checkpoint ckpt.pth"), std::string::npos) << msg;
  EXPECT_NE(msg.find("tensor body.0.weight has shape [4, 1, 3, 3] but the network expects [4, 3, 3, 3]"),
            std::string::npos) << msg;
  EXPECT_NE(msg.find("missing from the file: body.1.weight"), std::string::npos) << msg;
  EXPECT_NE(msg.find("not in the network: body.2.weight"), std::string::npos) << msg;
  EXPECT_TRUE(at::equal(net.body[0]->as<torch::nn::Conv2d>()->weight, before));  // nothing copied
  EXPECT_TRUE(at::equal(net.scale, at::ones({1})));
}

TEST(LoadInto, RefusesNonFiniteWeightsNamingThemAndLoadsNothing) {
  Outer net;
  const at::Tensor before = net.body[0]->as<torch::nn::Conv2d>()->weight.clone();
  p2p::StateDict dict = p2p::state_dict_of(Outer());
  for (auto& e : dict) e.second = e.second.clone();
  dict[1].second.view(-1)[5] = std::numeric_limits<float>::quiet_NaN();   // body.0.weight
  dict[4].second.view(-1)[0] = -std::numeric_limits<float>::infinity();  // body.1.bias
  const std::string msg = load_error(net, dict);
  EXPECT_NE(msg.find("ckpt.pth: 2 of "), std::string::npos) << msg;
  EXPECT_NE(msg.find("body.0.weight (1 NaN of 108 values)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("body.1.bias (1 Inf of 4 values)"), std::string::npos) << msg;
  EXPECT_TRUE(at::equal(net.body[0]->as<torch::nn::Conv2d>()->weight, before));  // nothing copied
}
