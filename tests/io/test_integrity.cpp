// Tests for io/integrity: CRC-32C against its published check value and an independent Python
// implementation, the CPU-instruction path against the table path, and the finiteness check on every
// floating dtype (NaN, +-Inf, the largest finite values, subnormals, non-contiguous views).
#include "p2p/io/integrity.h"
#include "testutil/testutil.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <fstream>
#include <limits>
#include <random>

namespace p2p {
namespace {

TEST(Crc32c, KnownAnswers) {
  EXPECT_EQ(crc32c(0, "123456789", 9), 0xE3069283u);  // the CRC catalogue's check value
  EXPECT_EQ(detail::crc32c_portable(0, "123456789", 9), 0xE3069283u);
  EXPECT_EQ(crc32c(0, "", 0), 0u);
  const std::string zeros(32, '\0');
  EXPECT_EQ(crc32c(0, zeros.data(), zeros.size()), 0x8A9136AAu);  // RFC 3720 B.4: 32 bytes of zeros
  EXPECT_EQ(checksum_hex(0xE3069283u), "e3069283");
  EXPECT_EQ(checksum_hex(0x1u), "00000001");
}

TEST(Crc32c, InstructionAndTablePathsAgreeAtAnyLengthAndAlignment) {
  std::mt19937 rng(5);
  std::string bytes(4096 + 16, '\0');
  for (char& c : bytes) c = static_cast<char>(rng());
  for (size_t offset = 0; offset < 9; ++offset) {
    for (size_t n : {0, 1, 7, 8, 9, 15, 63, 64, 65, 1000, 4096}) {
      const char* p = bytes.data() + offset;
      EXPECT_EQ(crc32c(0, p, n), detail::crc32c_portable(0, p, n)) << "offset " << offset << " length " << n;
      // Continuing from a partial result equals hashing the whole.
      const size_t half = n / 3;
      EXPECT_EQ(crc32c(crc32c(0, p, half), p + half, n - half), crc32c(0, p, n));
    }
  }
}

TEST(Crc32c, MatchesAnIndependentPythonImplementation) {
  const std::string dir = test::scratch_dir("crc32c_python");
  std::mt19937 rng(9);
  std::string bytes(20000, '\0');
  for (char& c : bytes) c = static_cast<char>(rng());
  std::ofstream(dir + "/data.bin", std::ios::binary) << bytes;
  const std::string script =
      "import sys\n"
      "t=[]\n"
      "for i in range(256):\n"
      "    c=i\n"
      "    for _ in range(8): c=(c>>1)^0x82F63B78 if c&1 else c>>1\n"
      "    t.append(c)\n"
      "c=0xFFFFFFFF\n"
      "for b in open(sys.argv[1],'rb').read(): c=t[(c^b)&0xFF]^(c>>8)\n"
      "print('%08x'%(c^0xFFFFFFFF))\n";
  std::ofstream(dir + "/crc.py") << script;
  const test::CommandResult r =
      test::run_command(std::string("'") + P2P_TEST_PYTHON + "' '" + dir + "/crc.py' '" + dir + "/data.bin'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.substr(0, 8), checksum_hex(crc32c(0, bytes.data(), bytes.size())));
}

TEST(TensorCrc, HashesTheContiguousBytes) {
  const at::Tensor b = at::arange(6, at::kLong).reshape({2, 3});
  const at::Tensor bt = b.t().contiguous();
  EXPECT_EQ(tensor_crc32c(b.t()), crc32c(0, bt.data_ptr(), bt.nbytes()));  // a view is hashed as its values
  EXPECT_NE(tensor_crc32c(b.t()), tensor_crc32c(b));
  EXPECT_EQ(tensor_crc32c(at::Tensor()), 0u);
}

TEST(Finiteness, EveryFloatingDtypeAndView) {
  for (at::ScalarType type : {at::kFloat, at::kDouble, at::kHalf, at::kBFloat16}) {
    SCOPED_TRACE(c10::toString(type));
    at::Tensor t = at::randn({3, 70000}).to(type);  // longer than one block of the scan
    EXPECT_TRUE(all_finite(t));
    // The largest finite values and subnormals are finite.
    at::Tensor edge = at::empty({4}, type);
    const double max = type == at::kFloat ? std::numeric_limits<float>::max()
                       : type == at::kDouble ? std::numeric_limits<double>::max()
                       : type == at::kHalf   ? 65504.0
                                             : 3.3895313892515355e38;
    edge[0] = max;
    edge[1] = -max;
    edge[2] = type == at::kDouble ? 4.9e-324 : type == at::kFloat ? 1.4e-45 : 6e-8;
    edge[3] = -0.0;
    EXPECT_TRUE(all_finite(edge)) << edge;
    for (double bad : {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity(),
                       -std::numeric_limits<double>::infinity()}) {
      at::Tensor u = t.clone();
      u[2][69999] = bad;  // in the last block
      EXPECT_FALSE(all_finite(u)) << bad;
      EXPECT_FALSE(all_finite(u.t())) << "non-contiguous view, " << bad;
    }
  }
  EXPECT_TRUE(all_finite(at::full({5}, 7, at::kLong)));  // integers are always finite
  EXPECT_TRUE(all_finite(at::Tensor()));
}

TEST(Finiteness, ReportNamesTensorsAndCounts) {
  at::Tensor w = at::zeros({10});
  w[1] = std::numeric_limits<float>::quiet_NaN();
  w[2] = std::numeric_limits<float>::quiet_NaN();
  w[3] = -std::numeric_limits<float>::infinity();
  const StateDict dict = {{"ok", at::ones({2})}, {"w", w}, {"steps", at::ones({1}, at::kLong)}};
  const std::string report = non_finite_report(dict);
  EXPECT_EQ(report, "1 of 2 floating tensors hold non-finite values: w (2 NaN, 1 Inf of 10 values)");
  EXPECT_EQ(non_finite_report({{"ok", at::ones({2})}}), "");
  const std::string msg = test::error_of([&] { check_finite(dict, "x.pth", "why"); });
  EXPECT_EQ(msg, "x.pth: " + report + " — why");
}

}  // namespace
}  // namespace p2p
