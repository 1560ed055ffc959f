// Tests for io/safetensors: a round trip keeps names, order, dtypes, shapes, values and metadata, the
// bytes follow the format (length, JSON header padded to 8 bytes, data offsets), and damaged files are
// refused with a message naming the file and what is wrong; the data checksum the writer adds is
// verified on read. (That Python reads our files:
// tests/deploy.)
#include "p2p/io/safetensors.h"
#include "p2p/io/integrity.h"
#include "testutil/testutil.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <map>

namespace p2p {
namespace {

// A file with the given header text and data bytes.
std::string raw_file(const std::string& dir, const std::string& header, const std::string& data) {
  const std::string path = dir + "/raw.safetensors";
  std::ofstream out(path, std::ios::binary);
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>((n >> (8 * i)) & 0xff));
  out << header << data;
  return path;
}

TEST(Safetensors, RoundTripKeepsEverything) {
  const std::string dir = test::scratch_dir("safetensors_roundtrip");
  Safetensors f;
  f.tensors = {{"b.weight", at::randn({3, 2, 4, 4})},
               {"a.bias", at::arange(5, at::kDouble)},
               {"steps", at::tensor({7, -3}, at::kLong)},
               {"half", at::randn({6}).to(at::kHalf)},
               {"flags", at::tensor({1, 0, 1}, at::kInt).to(at::kBool)},
               {"scalar", at::full({}, 2.5f)},
               {"strided", at::randn({4, 6}).t()}};  // written contiguous
  f.metadata = {{"format", "test"}, {"note", "é ünïcode"}};
  write_safetensors(dir + "/x.safetensors", f);
  EXPECT_TRUE(is_safetensors_file(dir + "/x.safetensors"));
  const Safetensors g = read_safetensors(dir + "/x.safetensors");
  ASSERT_EQ(g.tensors.size(), f.tensors.size());
  for (size_t i = 0; i < f.tensors.size(); ++i) {
    EXPECT_EQ(g.tensors[i].first, f.tensors[i].first);  // file order = written order
    EXPECT_EQ(g.tensors[i].second.scalar_type(), f.tensors[i].second.scalar_type()) << f.tensors[i].first;
    EXPECT_TRUE(at::equal(g.tensors[i].second, f.tensors[i].second)) << f.tensors[i].first;
  }
  std::map<std::string, std::string> expected = f.metadata;
  expected[kDataChecksumKey] = g.metadata.at(kDataChecksumKey);  // added by the writer
  EXPECT_EQ(g.metadata, expected);
  EXPECT_TRUE(g.verified);
  EXPECT_EQ(read_safetensors_metadata(dir + "/x.safetensors"), g.metadata);

  // The layout itself: header length, JSON padded to a multiple of 8, offsets that tile the data.
  const std::string raw = test::read_file(dir + "/x.safetensors");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(raw[i]);
  EXPECT_EQ((8 + n) % 8, 0u);
  const nlohmann::json header = nlohmann::json::parse(raw.substr(8, n));
  EXPECT_EQ(header["b.weight"]["dtype"], "F32");
  EXPECT_EQ(header["b.weight"]["shape"], nlohmann::json({3, 2, 4, 4}));
  EXPECT_EQ(header["b.weight"]["data_offsets"], nlohmann::json({0, 3 * 2 * 4 * 4 * 4}));
  EXPECT_EQ(header["a.bias"]["dtype"], "F64");
  EXPECT_EQ(header["half"]["dtype"], "F16");
  EXPECT_EQ(header["__metadata__"]["note"], "é ünïcode");
  EXPECT_EQ(raw.size() - 8 - n, header["strided"]["data_offsets"][1].get<uint64_t>());
}

TEST(Safetensors, DamagedFilesAreRefusedWithTheReason) {
  const std::string dir = test::scratch_dir("safetensors_bad");
  auto error = [&](const std::string& header, const std::string& data) {
    const std::string path = raw_file(dir, header, data);
    return test::error_of([&] { read_safetensors(path); });
  };
  const std::string eight(8, '\0');
  EXPECT_NE(error("{not json", "").find("not JSON"), std::string::npos);
  EXPECT_NE(error(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}})", eight).find("tensor 'w'"),
            std::string::npos);  // 12 bytes promised, 8 there
  EXPECT_NE(error(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", eight).find("do not hold its shape"),
            std::string::npos);
  EXPECT_NE(error(R"({"w":{"dtype":"C64","shape":[1],"data_offsets":[0,8]}})", eight).find("dtype C64"),
            std::string::npos);
  EXPECT_NE(error(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                  eight)
                .find("overlap"),
            std::string::npos);
  EXPECT_NE(error(R"({"w":{"dtype":"F32","shape":[1]}})", eight).find("needs dtype, shape and data_offsets"),
            std::string::npos);
  {
    std::ofstream out(dir + "/short.safetensors", std::ios::binary);
    out << "\x10\x00";
  }
  EXPECT_NE(test::error_of([&] { read_safetensors(dir + "/short.safetensors"); }).find("short.safetensors"),
            std::string::npos);
  EXPECT_FALSE(is_safetensors_file(dir + "/short.safetensors"));
  const std::string huge = raw_file(dir, "{}", "");
  {
    std::fstream f(huge, std::ios::binary | std::ios::in | std::ios::out);
    f.put('\xff');  // header length 255 > file
  }
  EXPECT_NE(test::error_of([&] { read_safetensors(huge); }).find("does not fit the file"), std::string::npos);
}

TEST(Safetensors, DataChecksumIsWrittenAndVerified) {
  const std::string dir = test::scratch_dir("safetensors_checksum");
  Safetensors f;
  f.tensors = {{"w", at::randn({4, 5})}, {"n", at::arange(3, at::kLong)}};
  f.metadata = {{kDataChecksumKey, "stale"}};  // replaced, never trusted from the caller
  const std::string path = dir + "/x.safetensors";
  write_safetensors(path, f);
  // The checksum is CRC-32C of every byte after the header, as an independent reader would compute it.
  const std::string raw = test::read_file(path);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(raw[i]);
  const std::string data = raw.substr(8 + n);
  const nlohmann::json header = nlohmann::json::parse(raw.substr(8, n));
  EXPECT_EQ(header["__metadata__"][kDataChecksumKey], checksum_hex(crc32c(0, data.data(), data.size())));
  EXPECT_TRUE(read_safetensors(path).verified);

  // One flipped bit of data (the lowest mantissa bit of the last float of w: still finite) is caught,
  // naming the file, the key and both values.
  std::string flipped = raw;
  flipped[8 + n + 4 * 20 - 4] ^= 1;
  const std::string bad = dir + "/flipped.safetensors";
  std::ofstream(bad, std::ios::binary) << flipped;
  const std::string msg = test::error_of([&] { read_safetensors(bad); });
  EXPECT_NE(msg.find(bad + ": its tensor data does not match the checksum"), std::string::npos) << msg;
  EXPECT_NE(msg.find(header["__metadata__"][kDataChecksumKey].get<std::string>()), std::string::npos) << msg;

  // A file written elsewhere (no checksum) reads, marked unverified.
  const std::string foreign = raw_file(dir, R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                                       std::string(8, '\0'));
  const Safetensors g = read_safetensors(foreign);
  EXPECT_FALSE(g.verified);
  EXPECT_EQ(g.tensors.size(), 1u);
}

TEST(Safetensors, HeaderProblemIsSaidInWords) {
  const std::string dir = test::scratch_dir("safetensors_header_problem");
  EXPECT_EQ(safetensors_header_problem(raw_file(dir, R"({"a":1})", "")), "");
  EXPECT_EQ(safetensors_header_problem(raw_file(dir, R"([1, 2])", "")), "its header does not start with '{' (byte 8 is 0x5b)");
  const std::string huge = raw_file(dir, "{}", "");
  {
    std::fstream f(huge, std::ios::binary | std::ios::in | std::ios::out);
    f.put('\xff');
  }
  EXPECT_NE(safetensors_header_problem(huge).find("header length 255 (the first 8 bytes, little-endian) does not fit"),
            std::string::npos);
  {
    std::ofstream out(dir + "/short.safetensors", std::ios::binary);
    out << "abc";
  }
  EXPECT_NE(safetensors_header_problem(dir + "/short.safetensors").find("3 bytes long"), std::string::npos);
}

}  // namespace
}  // namespace p2p
