// Arithmetic precision of training and inference on the CPU: fp32, or bf16 where the CPU computes it
// natively (avx512_bf16 or AMX). bf16 is autocast-style: convolutions and matrix products take bfloat16
// operands (oneDNN's bf16 kernels, about twice the fp32 throughput on such CPUs), while weights,
// gradients and optimizer state stay fp32 (master weights; checkpoints are unchanged), and losses,
// reductions and normalisation statistics are computed in fp32. Without native instructions oneDNN
// emulates bf16 at a fraction of fp32 speed, so it is refused there rather than run slowly.
#pragma once

#include <ATen/Tensor.h>
#include <c10/core/Device.h>

#include <string>

namespace p2p {

enum class Precision { kFp32, kBf16 };

const char* precision_name(Precision p);  // "fp32" | "bf16"

// The CPU's native bf16 instructions, from CPUID with the OS's AVX-512 state: "avx512_bf16",
// "amx_bf16", "avx512_bf16+amx_bf16", or "" for none. P2P_CPU_BF16=0 in the environment hides them, and
// so does P2P_CPU_ISA below avx512 (cpu_features.h): the refusal and the fallback can be exercised on a
// machine that has them.
std::string cpu_bf16_instructions();

// "fp32" -> fp32. "bf16" -> bf16 on a CPU with native bf16 instructions; otherwise (or on another
// device) throws p2p::Error naming `flag`. "auto" and anything else are the caller's (cli: measured).
Precision parse_fixed_precision(const std::string& value, const c10::Device& device,
                                const std::string& flag = "--precision");

// While it lives, CPU ops run autocast to bfloat16 (for kBf16; nothing for kFp32): convolutions and
// matrix products in bf16 with fp32 weights cast on the fly, losses in fp32 (LibTorch's CPU autocast
// lists). Nests; the cast-weight cache is cleared when the outermost scope ends.
class PrecisionScope {
 public:
  explicit PrecisionScope(Precision p);
  ~PrecisionScope();
  PrecisionScope(const PrecisionScope&) = delete;
  PrecisionScope& operator=(const PrecisionScope&) = delete;

 private:
  bool active_ = false;
  bool was_enabled_ = false;
  int previous_dtype_ = 0;
};

// True while a PrecisionScope(kBf16) is open on this thread.
bool bf16_autocast_active();

// fp32 -> bf16 (round to nearest even, NaN kept) of a CPU tensor, bit for bit what Tensor::to gives, in
// one vectorised pass on all compute threads. LibTorch 1.13's own conversion ran at 3-7 ns per element
// here (55 ms for one 8M-weight gradient), about half of a bf16 unet_128 step. Differentiable: the
// gradient comes back to fp32 the same way. Other dtypes and devices: Tensor::to.
at::Tensor cast_to_bf16(const at::Tensor& x);

}  // namespace p2p
