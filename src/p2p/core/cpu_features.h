// What the CPU computes natively, from CPUID and the register state the OS saves (XCR0), for the
// project's own kernels (models/thin_gemm.h) and the bf16 choice (precision.h).
//
// P2P_CPU_ISA=avx512|avx2|baseline in the environment caps what they use, so the code paths of a CPU
// without AVX-512 (an AVX2-only AMD EPYC) or without AVX2 run, and are tested, on one that has them.
// LibTorch, oneDNN and OpenBLAS have caps of their own (ATEN_CPU_CAPABILITY, ONEDNN_MAX_CPU_ISA,
// OPENBLAS_CORETYPE); bench/avx2_machine.sh sets all four.
#pragma once

namespace p2p {

// Ordered: each level includes the ones below it.
enum class CpuIsa { kBaseline, kAvx2, kAvx512 };  // x86-64 | AVX2 with FMA | AVX-512F (with AVX2)

const char* cpu_isa_name(CpuIsa isa);  // "baseline" | "avx2" | "avx512"

// The highest level this CPU and OS support, capped by P2P_CPU_ISA. Throws p2p::Error naming the
// variable when it holds anything but the three names. Other architectures: kBaseline.
CpuIsa cpu_isa();
// The highest level this CPU and OS support, whatever the cap.
CpuIsa cpu_isa_uncapped();

// Native bf16 instructions the CPU has: avx512_bf16 (with the OS's AVX-512 state) and AMX-BF16 (with its
// tile state). Not capped; precision.h applies the cap.
struct CpuBf16 {
  bool avx512_bf16 = false;
  bool amx_bf16 = false;
};
CpuBf16 cpu_bf16_support();

}  // namespace p2p
