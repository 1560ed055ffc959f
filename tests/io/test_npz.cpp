// Tests for io/npz: numpy reads what we write (every dtype, 0-d and empty arrays; checked by
// tests/fixtures/fid_npz_check.py with numpy.load), we read what numpy writes (numpy.savez, stored, and
// numpy.savez_compressed, deflated, with ZIP64 local headers; Fortran order, big-endian, float16 ...),
// values exactly equal; damaged, truncated and foreign files give errors naming the file.
#include "p2p/io/npz.h"

#include "p2p/core/error.h"
#include "testutil/testutil.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <string>
#include <vector>

namespace p2p {
namespace {

class Npz : public ::testing::Test {
 protected:
  void SetUp() override {
    static const ::testing::AssertionResult can_import = test::python_can_import("numpy", "python3-numpy");
    ASSERT_TRUE(can_import);
  }
};

const std::string& numpy_files() {
  static const std::string dir = test::cached_python_fixture("fid_npz", "fixtures/fid_npz_check.py", "", "done",
                                                             "needs python3-numpy");
  return dir;
}

// What fid_npz_check.py's arrays() holds, built here (values and dtypes), C order.
NpzArrays expected_arrays() {
  NpzArrays a;
  a.emplace_back("f8", (at::arange(6, at::kDouble).reshape({2, 3}) * 0.5 - 1));
  a.emplace_back("f4", at::tensor({1.5f, -2.25f, 3.0f, 1e-7f}).reshape({2, 2}));
  a.emplace_back("f2", at::tensor({0.5, -1.0, 65504.0}).to(at::kHalf));
  a.emplace_back("i1", at::tensor({-128, 0, 127}).to(at::kChar));
  a.emplace_back("i2", at::tensor({-32768, 7, 32767}).to(at::kShort));
  a.emplace_back("i4",
                 at::tensor(std::vector<int64_t>{-2147483648LL, 5, 2147483647LL, -9}).to(at::kInt).reshape({2, 2}));
  a.emplace_back("i8", at::tensor({-(int64_t{1} << 40), int64_t{3}, (int64_t{1} << 40) + 1}, at::kLong));
  a.emplace_back("u1", at::tensor({0, 200, 255}).to(at::kByte));
  a.emplace_back("b1", at::tensor({1, 0, 1}).to(at::kBool));
  a.emplace_back("fortran", at::arange(12, at::kDouble).reshape({3, 4}));
  a.emplace_back("big", at::arange(5, at::kDouble) * 1.25);
  a.emplace_back("big_i4", at::tensor({1, -2, 70000}).to(at::kInt));
  a.emplace_back("scalar", at::scalar_tensor(3.25, at::kDouble));
  a.emplace_back("empty", at::zeros({0, 3}, at::kFloat));
  return a;
}

void expect_same_arrays(const NpzArrays& got, const NpzArrays& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE(want[i].first);
    EXPECT_EQ(got[i].first, want[i].first);
    EXPECT_EQ(got[i].second.scalar_type(), want[i].second.scalar_type());
    EXPECT_EQ(got[i].second.sizes(), want[i].second.sizes());
    EXPECT_TRUE(got[i].second.is_contiguous());
    EXPECT_TRUE(at::equal(got[i].second, want[i].second)) << got[i].second << "\n" << want[i].second;
  }
}

TEST_F(Npz, ReadsNumpySavezStoredAndCompressed) {
  const NpzArrays want = expected_arrays();
  expect_same_arrays(read_npz(numpy_files() + "/plain.npz"), want);
  expect_same_arrays(read_npz(numpy_files() + "/compressed.npz"), want);
  EXPECT_TRUE(at::equal(read_npy(numpy_files() + "/one.npy"), want[0].second));
}

TEST_F(Npz, NumpyReadsOurs) {
  const std::string path = test::scratch_dir("npz_ours") + "/ours.npz";
  NpzArrays arrays;
  for (auto& [name, t] : expected_arrays()) {
    if (name == "f4") {
      arrays.emplace_back(name, t.t());  // not contiguous: written in C order of its shape
    } else {
      arrays.emplace_back(name, t);
    }
  }
  write_npz(path, arrays);
  const test::CommandResult r = test::run_python_script("fixtures/fid_npz_check.py", "--read '" + path + "'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const nlohmann::json j = nlohmann::json::parse(r.output);
  ASSERT_EQ(j.size(), arrays.size());
  for (const auto& [name, t] : arrays) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(j.contains(name));
    const nlohmann::json& e = j[name];
    EXPECT_EQ(e["shape"].get<std::vector<int64_t>>(), t.sizes().vec());
    const at::Tensor flat = t.contiguous().reshape({-1}).to(at::kDouble);
    const std::vector<double> values = e["values"].get<std::vector<double>>();
    ASSERT_EQ(static_cast<int64_t>(values.size()), flat.numel());
    for (size_t k = 0; k < values.size(); ++k) EXPECT_EQ(values[k], flat[static_cast<int64_t>(k)].item<double>());
  }
  EXPECT_EQ(j["f8"]["dtype"], "<f8");
  EXPECT_EQ(j["f2"]["dtype"], "<f2");
  EXPECT_EQ(j["i1"]["dtype"], "|i1");
  EXPECT_EQ(j["b1"]["dtype"], "|b1");
  EXPECT_EQ(j["u1"]["dtype"], "|u1");
  // And we read our own file back.
  const NpzArrays back = read_npz(path);
  for (size_t i = 0; i < arrays.size(); ++i) EXPECT_TRUE(at::equal(back[i].second, arrays[i].second.contiguous()));
}

TEST_F(Npz, SingleNpyRoundTrip) {
  const std::string path = test::scratch_dir("npy_one") + "/x.npy";
  const at::Tensor x = at::randn({3, 4, 5}, at::kDouble);
  write_npy(path, x);
  EXPECT_TRUE(at::equal(read_npy(path), x));
  const test::CommandResult r = test::run_python_script("fixtures/fid_npz_check.py", "--read '" + path + "'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(nlohmann::json::parse(r.output)[""]["shape"].get<std::vector<int64_t>>(), (std::vector<int64_t>{3, 4, 5}));
}

std::string slurp(const std::string& path) { return test::read_file(path); }

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

TEST_F(Npz, BadFilesNameTheFile) {
  const std::string dir = test::scratch_dir("npz_bad");
  const std::string good = slurp(numpy_files() + "/plain.npz");
  auto expect_error = [](const std::string& path, const std::string& needle) {
    const std::string msg = test::error_of([&] { read_npz(path); });
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_NE(msg.find(needle), std::string::npos) << msg;
  };
  expect_error(dir + "/missing.npz", "cannot open");
  write_bytes(dir + "/text.npz", "mu,sigma\n1,2\n");
  expect_error(dir + "/text.npz", "not a readable .npz");
  write_bytes(dir + "/truncated.npz", good.substr(0, good.size() / 2));
  expect_error(dir + "/truncated.npz", "not a readable .npz");
  std::string flipped = good;
  flipped[200] = static_cast<char>(flipped[200] ^ 0x40);  // inside the first array's data
  write_bytes(dir + "/flipped.npz", flipped);
  expect_error(dir + "/flipped.npz", "CRC-32");
  std::string compressed = slurp(numpy_files() + "/compressed.npz");
  compressed[100] = static_cast<char>(compressed[100] ^ 0xFF);
  write_bytes(dir + "/deflate.npz", compressed);
  EXPECT_NE(test::error_of([&] { read_npz(dir + "/deflate.npz"); }).find(dir + "/deflate.npz"), std::string::npos);
  // A .npy whose header promises more data than it holds.
  const std::string npy = slurp(numpy_files() + "/one.npy");
  write_bytes(dir + "/short.npy", npy.substr(0, npy.size() - 8));
  const std::string msg = test::error_of([&] { read_npy(dir + "/short.npy"); });
  EXPECT_NE(msg.find(dir + "/short.npy"), std::string::npos) << msg;
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
}

TEST(NpzFormat, HeaderIsNumpysAndAligned) {
  const std::string bytes = format_npy(at::zeros({2048}, at::kDouble));
  EXPECT_EQ(bytes.compare(0, 6, "\x93NUMPY"), 0);
  const size_t header_len = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
  EXPECT_EQ((10 + header_len) % 64, 0u);
  const std::string header = bytes.substr(10, header_len);
  EXPECT_EQ(header.rfind("{'descr': '<f8', 'fortran_order': False, 'shape': (2048,), }", 0), 0u) << header;
  EXPECT_EQ(header.back(), '\n');
  EXPECT_EQ(bytes.size(), 10 + header_len + 2048 * 8);
  EXPECT_NE(format_npy(at::zeros({2, 3})).find("'shape': (2, 3), }"), std::string::npos);
  EXPECT_NE(format_npy(at::scalar_tensor(1.0)).find("'shape': (), }"), std::string::npos);
  // Object arrays (pickles) are refused: no code runs on load.
  std::string object = format_npy(at::zeros({1}, at::kDouble));
  object.replace(object.find("<f8"), 3, "|O ");
  const std::string msg = test::error_of([&] { parse_npy(object, "obj.npy"); });
  EXPECT_NE(msg.find("obj.npy"), std::string::npos) << msg;
  EXPECT_NE(msg.find("unsupported dtype"), std::string::npos) << msg;
}

TEST(NpzFormat, NamesMustBeUniqueAndPresent) {
  const std::string path = test::scratch_dir("npz_names") + "/x.npz";
  EXPECT_NE(test::error_of([&] { write_npz(path, {{"a", at::zeros({1})}, {"a", at::zeros({1})}}); }).find("unique"),
            std::string::npos);
  write_npz(path, {{"mu", at::zeros({2}, at::kDouble)}});
  const NpzArrays a = read_npz(path);
  const std::string msg = test::error_of([&] { npz_get(a, "sigma", path); });
  EXPECT_NE(msg.find("'sigma'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("mu"), std::string::npos) << msg;
}

}  // namespace
}  // namespace p2p
