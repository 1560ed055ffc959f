// Tests for core/cpu_features: the instruction set found agrees with the kernel's reading of CPUID
// (/proc/cpuinfo flags), P2P_CPU_ISA caps it (and never raises it), and a bad value is refused by name.
#include "p2p/core/cpu_features.h"

#include "p2p/core/error.h"
#include "testutil/testutil.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

namespace p2p {
namespace {

using test::CappedIsa;

bool has_flag(const std::string& flags, const char* name) { return flags.find(std::string(" ") + name + " ") != std::string::npos; }

TEST(CpuFeatures, FindsTheInstructionSetTheKernelReports) {
  const std::string flags = test::cpuinfo_flags();
  if (flags.empty()) GTEST_SKIP() << "no /proc/cpuinfo flags";
  if (const char* e = std::getenv("P2P_CPU_ISA"); e && *e) GTEST_SKIP() << "P2P_CPU_ISA=" << e << " caps what is found";
  const CpuIsa want = has_flag(flags, "avx512f") ? CpuIsa::kAvx512
                      : has_flag(flags, "avx2") && has_flag(flags, "fma") ? CpuIsa::kAvx2
                                                                           : CpuIsa::kBaseline;
  EXPECT_EQ(cpu_isa_name(cpu_isa()), std::string(cpu_isa_name(want))) << flags;
  EXPECT_EQ(cpu_isa_uncapped(), want);
  EXPECT_EQ(cpu_bf16_support().avx512_bf16, has_flag(flags, "avx512_bf16"));
  EXPECT_EQ(cpu_bf16_support().amx_bf16, has_flag(flags, "amx_bf16"));
}

TEST(CpuFeatures, TheEnvironmentCapsButNeverRaisesTheInstructionSet) {
  const CpuIsa before = cpu_isa(), found = cpu_isa_uncapped();
  for (const CpuIsa cap : {CpuIsa::kBaseline, CpuIsa::kAvx2, CpuIsa::kAvx512}) {
    const CappedIsa capped(cpu_isa_name(cap));
    EXPECT_EQ(cpu_isa(), cap < found ? cap : found) << cpu_isa_name(cap);
    EXPECT_EQ(cpu_isa_uncapped(), found);
  }
  EXPECT_EQ(cpu_isa(), before);  // the environment as it was
  {
    const CappedIsa empty("");
    EXPECT_EQ(cpu_isa(), found);  // empty: no cap
  }
}

TEST(CpuFeatures, AnUnknownCapIsRefusedNamingTheVariable) {
  const CappedIsa bad("sse4");
  const std::string m = test::error_of([] { cpu_isa(); });
  EXPECT_NE(m.find("P2P_CPU_ISA=sse4"), std::string::npos) << m;
  EXPECT_NE(m.find("avx512, avx2 or baseline"), std::string::npos) << m;
}

}  // namespace
}  // namespace p2p
