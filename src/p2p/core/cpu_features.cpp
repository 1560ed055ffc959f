// CPUID and XCR0 reading (cpu_features.h), done once per process; the P2P_CPU_ISA cap is read on every
// call so that tests can set it.
#include "p2p/core/cpu_features.h"

#include "p2p/core/error.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace p2p {
namespace {

struct Detected {
  CpuIsa isa = CpuIsa::kBaseline;
  CpuBf16 bf16;
};

#if defined(__x86_64__) || defined(__i386__)
// XCR0: which register state the OS saves. AVX needs SSE and YMM state (bits 1-2); AVX-512 adds opmask,
// ZMM_Hi256 and Hi16_ZMM (5-7); AMX needs XTILECFG and XTILEDATA (17-18).
uint64_t xgetbv0() {
  uint32_t eax = 0, edx = 0;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<uint64_t>(edx) << 32) | eax;
}

Detected detect() {
  Detected d;
  unsigned a = 0, b = 0, c = 0, dx = 0;
  if (!__get_cpuid(1, &a, &b, &c, &dx) || !(c & (1u << 27))) return d;  // OSXSAVE
  const bool fma = c & (1u << 12), avx = c & (1u << 28);
  const uint64_t xcr0 = xgetbv0();
  const bool avx_state = (xcr0 & 0x6) == 0x6;
  const bool avx512_state = (xcr0 & 0xE6) == 0xE6;
  const bool amx_state = (xcr0 & (3ull << 17)) == (3ull << 17);
  unsigned a0 = 0, b0 = 0, c0 = 0, d0 = 0;
  if (!__get_cpuid_count(7, 0, &a0, &b0, &c0, &d0)) return d;
  const bool avx2 = avx && avx_state && fma && (b0 & (1u << 5));
  const bool avx512f = avx2 && avx512_state && (b0 & (1u << 16));
  d.isa = avx512f ? CpuIsa::kAvx512 : avx2 ? CpuIsa::kAvx2 : CpuIsa::kBaseline;
  d.bf16.amx_bf16 = amx_state && (d0 & (1u << 22));
  unsigned a1 = 0, b1 = 0, c1 = 0, d1 = 0;
  if (a0 >= 1 && __get_cpuid_count(7, 1, &a1, &b1, &c1, &d1)) d.bf16.avx512_bf16 = avx512f && (a1 & (1u << 5));
  return d;
}
#else
Detected detect() { return {}; }
#endif

const Detected& detected() {
  static const Detected d = detect();
  return d;
}

}  // namespace

const char* cpu_isa_name(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::kAvx512: return "avx512";
    case CpuIsa::kAvx2: return "avx2";
    default: return "baseline";
  }
}

CpuIsa cpu_isa() {
  const CpuIsa found = detected().isa;
  const char* e = std::getenv("P2P_CPU_ISA");
  if (!e || !*e) return found;
  CpuIsa cap;
  if (std::strcmp(e, "avx512") == 0) cap = CpuIsa::kAvx512;
  else if (std::strcmp(e, "avx2") == 0) cap = CpuIsa::kAvx2;
  else if (std::strcmp(e, "baseline") == 0) cap = CpuIsa::kBaseline;
  else fail(std::string("P2P_CPU_ISA=") + e + ": expected avx512, avx2 or baseline");
  return cap < found ? cap : found;
}

CpuIsa cpu_isa_uncapped() { return detected().isa; }

CpuBf16 cpu_bf16_support() { return detected().bf16; }

}  // namespace p2p
