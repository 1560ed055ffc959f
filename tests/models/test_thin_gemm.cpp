// Tests for the thin float matrix products (models/thin_gemm.h) the U-Net's small layers train on:
// each of the three equals LibTorch's float64 matrix product on the same operands, for every thin width
// 1..16 and row counts that leave a remainder after the kernels' row groups (4, 2 and 8 rows at once)
// and the split across threads. Float sums in another order: each element within 1e-5 of the sum of
// the magnitudes of its terms (a skipped, doubled or misplaced term is off by a whole term). Run for
// every instruction set the kernels are built for that this CPU has (AVX-512, AVX2, baseline x86-64).
#include "p2p/models/thin_gemm.h"

#include "testutil/testutil.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace p2p::detail {
namespace {

// Largest error of `got` against the float64 product, over the float64 sum of |terms|.
double worst_error(const at::Tensor& got, const at::Tensor& want64, const at::Tensor& magnitude64) {
  return ((got.to(at::kDouble) - want64).abs() / (magnitude64 + 1e-30)).max().item<double>();
}

// The instruction sets this CPU runs, highest first (x86-64 with AVX-512: all three).
std::vector<CpuIsa> runnable_isas() {
  std::vector<CpuIsa> isas;
  for (const CpuIsa isa : {CpuIsa::kAvx512, CpuIsa::kAvx2, CpuIsa::kBaseline})
    if (isa <= cpu_isa()) isas.push_back(isa);
  return isas;
}

class ThinGemmIsa : public ::testing::TestWithParam<CpuIsa> {};

TEST_P(ThinGemmIsa, EachProductEqualsLibTorchsInFloat64) {
  const CpuIsa isa = GetParam();
  if (isa > cpu_isa()) GTEST_SKIP() << "this CPU has no " << cpu_isa_name(isa);
  at::manual_seed(3);
  for (int64_t n = 1; n <= kThinMax; ++n)
    for (const int64_t m : {1, 3, 9, 37})
      for (const int64_t k : {16, 160}) {
        const at::Tensor a = at::randn({m, k}), b = at::randn({k, n}), g = at::randn({m, n}), c = at::randn({k, n});
        const at::Tensor a64 = a.to(at::kDouble), b64 = b.to(at::kDouble), g64 = g.to(at::kDouble),
                         c64 = c.to(at::kDouble);
        // a x b
        const at::Tensor ab = thin_mm(a, b, isa);
        ASSERT_EQ(ab.sizes(), (at::IntArrayRef{m, n}));
        EXPECT_LT(worst_error(ab, at::mm(a64, b64), at::mm(a64.abs(), b64.abs())), 1e-5) << m << "x" << k << "x" << n;
        // a^T x g
        const at::Tensor atg = thin_mm_at(a, g, isa);
        ASSERT_EQ(atg.sizes(), (at::IntArrayRef{k, n}));
        EXPECT_LT(worst_error(atg, at::mm(a64.t(), g64), at::mm(a64.t().abs(), g64.abs())), 1e-5)
            << m << "x" << k << "x" << n;
        // g x c^T
        const at::Tensor gct = thin_mm_bt(g, c, isa);
        ASSERT_EQ(gct.sizes(), (at::IntArrayRef{m, k}));
        EXPECT_LT(worst_error(gct, at::mm(g64, c64.t()), at::mm(g64.abs(), c64.t().abs())), 1e-5)
            << m << "x" << k << "x" << n;
      }
}

INSTANTIATE_TEST_SUITE_P(EachInstructionSet, ThinGemmIsa,
                         ::testing::Values(CpuIsa::kAvx512, CpuIsa::kAvx2, CpuIsa::kBaseline),
                         [](const ::testing::TestParamInfo<CpuIsa>& i) { return std::string(cpu_isa_name(i.param)); });

// Each instruction set has an entry point of its own (not one build under three names; which
// instructions each holds is BENCHMARKS.md's objdump note), the default follows P2P_CPU_ISA, and a set
// above the CPU's is refused.
TEST(ThinGemm, EachInstructionSetHasItsOwnKernelsAndTheCapIsObeyed) {
  const std::vector<CpuIsa> isas = runnable_isas();
  for (size_t i = 0; i < isas.size(); ++i)
    for (size_t j = i + 1; j < isas.size(); ++j)
      EXPECT_NE(thin_gemm_kernel(isas[i]), thin_gemm_kernel(isas[j])) << cpu_isa_name(isas[i]) << " " << cpu_isa_name(isas[j]);
  const at::Tensor a = at::randn({5, 32}), b = at::randn({32, 3});
  if (cpu_isa() > CpuIsa::kBaseline) {
    const test::CappedIsa capped("baseline");
    EXPECT_THROW(thin_mm(a, b, CpuIsa::kAvx2), c10::Error);
    EXPECT_TRUE(at::equal(thin_mm(a, b), thin_mm(a, b, CpuIsa::kBaseline)));  // the default follows the cap
  } else {
    EXPECT_THROW(thin_mm(a, b, CpuIsa::kAvx2), c10::Error);
  }
}

TEST(ThinGemm, OnlyThinFloatProductsWithWholeVectorsApply) {
  const at::Tensor f = at::zeros({4, 32});
  EXPECT_TRUE(thin_gemm_applies(f, 1, 32));
  EXPECT_TRUE(thin_gemm_applies(f, kThinMax, 32));
  EXPECT_FALSE(thin_gemm_applies(f, kThinMax + 1, 32));  // not thin: BLAS
  EXPECT_FALSE(thin_gemm_applies(f, 4, 40));             // the long side in whole 16-float vectors only
  EXPECT_FALSE(thin_gemm_applies(f.to(at::kDouble), 4, 32));
  EXPECT_FALSE(thin_gemm_applies(f.to(at::kBFloat16), 4, 32));  // bf16 goes to oneDNN's matmul
  EXPECT_THROW(thin_mm(at::zeros({4, 40}), at::zeros({40, 2})), c10::Error);
}

}  // namespace
}  // namespace p2p::detail
