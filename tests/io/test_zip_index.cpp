// Tests for src/p2p/io/zip_index.cpp and the integrity checks of read_state_dict: the CRC-32 of a
// known string, the index of an archive we write, and a fault campaign of single-byte flips — every
// flip is either refused naming the file or provably harmless (the same tensors load), and every flip
// inside tensor data is refused naming the damaged entry.
#include "p2p/io/zip_index.h"

#include "p2p/core/error.h"
#include "p2p/io/state_dict.h"
#include "testutil/testutil.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <fstream>
#include <random>

namespace p2p {
namespace {

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

bool same_dict(const StateDict& a, const StateDict& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].first != b[i].first || a[i].second.scalar_type() != b[i].second.scalar_type() ||
        !at::equal(a[i].second, b[i].second)) {
      return false;
    }
  }
  return true;
}

TEST(ZipIndex, Crc32KnownAnswer) {
  EXPECT_EQ(crc32_of("123456789", 9), 0xCBF43926u);  // the check value of CRC-32/ISO-HDLC
  EXPECT_EQ(crc32_of("", 0), 0u);
}

TEST(ZipIndex, ListsTheRecordsOfACheckpointFile) {
  const std::string path = test::scratch_dir("zip_index") + "/w.pth";
  write_state_dict(path, {{"a", at::arange(5, at::kFloat)}, {"b", at::ones({2, 3}, at::kLong)}});
  std::map<std::string, ZipEntry> index = read_zip_index(path);
  ASSERT_TRUE(index.count("data.pkl"));
  ASSERT_TRUE(index.count("data/0"));
  ASSERT_TRUE(index.count("data/1"));
  EXPECT_EQ(index.at("data/0").size, 5u * 4);
  EXPECT_EQ(index.at("data/1").size, 6u * 8);
  const at::Tensor a = at::arange(5, at::kFloat);
  EXPECT_EQ(index.at("data/0").crc32, crc32_of(a.data_ptr(), 20));
  EXPECT_EQ(index.at("data/0").full_name.substr(index.at("data/0").full_name.size() - 7), "/data/0");
}

TEST(ZipIndex, EveryFlippedByteIsRefusedOrHarmless) {
  const std::string dir = test::scratch_dir("zip_flips");
  const std::string path = dir + "/ckpt.pt";
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  StateDict dict = {{"G.w", at::randn({64, 16}, gen)}, {"G.bn.running_var", at::rand({64}, gen) + 0.5},
                    {"step", at::scalar_tensor(int64_t{12}, at::kLong)}, {"meta", at::randint(0, 255, {40}, gen).to(at::kByte)}};
  write_state_dict(path, dict);
  const std::string whole = test::read_file(path);
  const StateDict original = read_state_dict(path);
  ASSERT_TRUE(same_dict(original, dict));

  // Where the weight matrix's bytes sit in the file: a flip there must name its entry.
  const at::Tensor w = dict[0].second.contiguous();
  const size_t data_at = whole.find(std::string(static_cast<const char*>(w.data_ptr()), w.nbytes()));
  ASSERT_NE(data_at, std::string::npos);

  std::mt19937 rng(11);
  const std::string damaged = dir + "/damaged.pt";
  int refused = 0, harmless = 0;
  for (int trial = 0; trial < 80; ++trial) {
    // Half the flips land in the weight data, half anywhere in the file.
    const size_t pos = trial % 2 == 0 ? data_at + rng() % w.nbytes() : rng() % whole.size();
    std::string bytes = whole;
    bytes[pos] = static_cast<char>(bytes[pos] ^ (1 << (rng() % 8)));
    write_bytes(damaged, bytes);
    const bool in_data = pos >= data_at && pos < data_at + static_cast<size_t>(w.nbytes());
    try {
      const StateDict got = read_state_dict(damaged);
      EXPECT_FALSE(in_data) << "a flip in tensor data at byte " << pos << " loaded silently";
      EXPECT_TRUE(same_dict(got, original)) << "a flip at byte " << pos << " changed what loads";
      ++harmless;
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(damaged), std::string::npos) << msg;
      if (in_data) {
        EXPECT_NE(msg.find("data/0 is damaged (CRC-32"), std::string::npos) << msg;
      }
      ++refused;
    }
  }
  EXPECT_GE(refused, 60) << "refused " << refused << ", harmless " << harmless;
}

TEST(ZipIndex, DamagedPythonWrittenRecordNamesTheEntry) {
  // A file written by torch.save: its CRCs come from PyTorch's writer, so this checks the index too.
  const std::string source = test::reference_fixtures() + "/basic_D.pth";
  std::string bytes = test::read_file(source);
  const StateDict dict = read_state_dict(source);
  const at::Tensor first = dict.front().second.contiguous();  // model.0.weight
  const size_t at = bytes.find(std::string(static_cast<const char*>(first.data_ptr()), first.nbytes()));
  ASSERT_NE(at, std::string::npos);
  bytes[at + 17] = static_cast<char>(bytes[at + 17] ^ 0x40);
  const std::string path = test::scratch_dir("zip_py") + "/basic_D.pth";
  write_bytes(path, bytes);
  const std::string msg = test::error_of([&] { read_state_dict(path); });
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("is damaged (CRC-32"), std::string::npos) << msg;
}

}  // namespace
}  // namespace p2p
