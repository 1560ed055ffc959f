// Tests for core/precision: the CPU's bf16 instructions (against the kernel's own reading of CPUID in
// /proc/cpuinfo), --precision's refusals, and the autocast scope.
#include "p2p/core/error.h"
#include "testutil/testutil.h"
#include "p2p/core/precision.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace p2p {
namespace {

using p2p::test::cpuinfo_flags;
using p2p::test::HiddenBf16;

TEST(Precision, FindsTheBf16InstructionsTheKernelReports) {
  const std::string flags = cpuinfo_flags();
  if (flags.empty()) GTEST_SKIP() << "no /proc/cpuinfo flags";
  const std::string found = cpu_bf16_instructions();
  EXPECT_EQ(found.find("avx512_bf16") != std::string::npos, flags.find(" avx512_bf16 ") != std::string::npos) << found;
  EXPECT_EQ(found.find("amx_bf16") != std::string::npos, flags.find(" amx_bf16 ") != std::string::npos) << found;
  {
    const HiddenBf16 hidden;
    EXPECT_EQ(cpu_bf16_instructions(), "");
  }
  {
    const p2p::test::CappedIsa avx2("avx2");  // a CPU without AVX-512 has no avx512_bf16
    EXPECT_EQ(cpu_bf16_instructions(), "");
  }
}

TEST(Precision, Bf16IsRefusedWithoutNativeInstructionsAndOffTheCpu) {
  const c10::Device cpu(c10::kCPU);
  EXPECT_EQ(parse_fixed_precision("fp32", cpu), Precision::kFp32);
  try {
    parse_fixed_precision("fp16", cpu);
    FAIL() << "fp16 accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--precision fp16"), std::string::npos) << e.what();
  }
  {
    const HiddenBf16 hidden;
    try {
      parse_fixed_precision("bf16", cpu);
      FAIL() << "bf16 accepted on a CPU without bf16 instructions";
    } catch (const Error& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find("--precision bf16"), std::string::npos) << m;
      EXPECT_NE(m.find("avx512_bf16"), std::string::npos) << m;
    }
    EXPECT_EQ(parse_fixed_precision("fp32", cpu), Precision::kFp32);  // the fallback stays available
  }
  EXPECT_THROW(parse_fixed_precision("bf16", c10::Device(c10::kCUDA, 0), "Options::precision"), Error);
  if (!cpu_bf16_instructions().empty()) {
    EXPECT_EQ(parse_fixed_precision("bf16", cpu), Precision::kBf16);
  }
}

TEST(Precision, TheScopeAutocastsConvolutionsToBf16AndRestoresOnExit) {
  const at::Tensor x = at::randn({1, 2, 5, 5}), w = at::randn({3, 2, 3, 3});
  {
    const PrecisionScope fp32(Precision::kFp32);
    EXPECT_FALSE(bf16_autocast_active());
    EXPECT_EQ(at::conv2d(x, w).scalar_type(), at::kFloat);
  }
  {
    const PrecisionScope outer(Precision::kBf16);
    EXPECT_TRUE(bf16_autocast_active());
    EXPECT_EQ(at::conv2d(x, w).scalar_type(), at::kBFloat16);
    EXPECT_EQ(at::l1_loss(at::conv2d(x, w), at::zeros({1, 3, 3, 3})).scalar_type(), at::kFloat);  // losses in fp32
    {
      const PrecisionScope inner(Precision::kBf16);
      EXPECT_TRUE(bf16_autocast_active());
    }
    EXPECT_TRUE(bf16_autocast_active());  // an inner scope's end leaves the outer one on
  }
  EXPECT_FALSE(bf16_autocast_active());
  EXPECT_EQ(at::conv2d(x, w).scalar_type(), at::kFloat);
}

// The fast cast rounds exactly as LibTorch's Tensor::to (round to nearest even): bit for bit over a
// million random floats of every magnitude and the special values (zeros, denormals, the largest float,
// which rounds to infinity, infinities, NaN); its gradient comes back as fp32, unchanged in value.
TEST(Precision, FastBf16CastIsBitForBitLibTorchsRounding) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  const at::Tensor bits = at::randint(0, 1ll << 32, {1 << 20}, gen, at::kLong);
  at::Tensor values = bits.to(at::kInt).view(at::kFloat).clone();  // every bit pattern, NaNs included
  const float special[] = {0.0f, -0.0f, 1e-45f, -1e-40f, 3.4028235e38f, -3.4028235e38f, 1.0f, 1.00390625f,
                           1.01171875f, INFINITY, -INFINITY, NAN};
  values = at::cat({values, at::tensor(at::ArrayRef<float>(special, 12))});
  const at::Tensor ours = cast_to_bf16(values), theirs = values.to(at::kBFloat16);
  ASSERT_EQ(ours.scalar_type(), at::kBFloat16);
  const at::Tensor a = ours.view(at::kShort), b = theirs.view(at::kShort);
  const at::Tensor nan = values.isnan();
  EXPECT_TRUE(at::equal(a.masked_select(~nan), b.masked_select(~nan)));
  EXPECT_TRUE(ours.isnan().equal(nan));  // NaN stays NaN (its payload may differ)
  const at::Tensor x = at::randn({3, 5}).requires_grad_(true);
  const at::Tensor y = cast_to_bf16(x);
  (y.to(at::kFloat) * at::arange(15, at::kFloat).view({3, 5})).sum().backward();
  EXPECT_EQ(x.grad().scalar_type(), at::kFloat);
  EXPECT_TRUE(at::equal(x.grad(), at::arange(15, at::kFloat).view({3, 5})));
}

}  // namespace
}  // namespace p2p
