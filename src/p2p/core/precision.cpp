// Precision selection and the autocast scope (precision.h).
#include "p2p/core/precision.h"

#include "p2p/core/cpu_features.h"
#include "p2p/core/error.h"

#include <ATen/ATen.h>
#include "p2p/core/parallel.h"
#include <ATen/autocast_mode.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace p2p {

const char* precision_name(Precision p) { return p == Precision::kBf16 ? "bf16" : "fp32"; }

std::string cpu_bf16_instructions() {
  if (const char* e = std::getenv("P2P_CPU_BF16"); e && std::strcmp(e, "0") == 0) return "";
  if (cpu_isa() < CpuIsa::kAvx512) return "";  // capped (P2P_CPU_ISA): a CPU without AVX-512 has neither
  const CpuBf16 found = cpu_bf16_support();
  if (found.avx512_bf16 && found.amx_bf16) return "avx512_bf16+amx_bf16";
  if (found.avx512_bf16) return "avx512_bf16";
  if (found.amx_bf16) return "amx_bf16";
  return "";
}

Precision parse_fixed_precision(const std::string& value, const c10::Device& device, const std::string& flag) {
  if (value == "fp32") return Precision::kFp32;
  if (value != "bf16") fail(flag + " " + value + ": expected fp32, bf16 or auto");
  if (!device.is_cpu()) fail(flag + " bf16: only on the CPU in this build (device " + device.str() + "); use fp32");
  if (cpu_bf16_instructions().empty()) {
    fail(flag + " bf16: this CPU has no native bf16 instructions (avx512_bf16 or AMX), where bf16 would be emulated "
         "and slower than fp32; use fp32 (or auto, which chooses for you)");
  }
  return Precision::kBf16;
}

PrecisionScope::PrecisionScope(Precision p) {
  if (p != Precision::kBf16) return;
  active_ = true;
  was_enabled_ = at::autocast::is_cpu_enabled();
  previous_dtype_ = static_cast<int>(at::autocast::get_autocast_cpu_dtype());
  at::autocast::set_cpu_enabled(true);
  at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
  at::autocast::increment_nesting();
}

PrecisionScope::~PrecisionScope() {
  if (!active_) return;
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  at::autocast::set_autocast_cpu_dtype(static_cast<at::ScalarType>(previous_dtype_));
  at::autocast::set_cpu_enabled(was_enabled_);
}

namespace {

// Contiguous CPU conversions, in parallel chunks; the loops are plain integer arithmetic that the
// compiler vectorises.
at::Tensor fp32_to_bf16(const at::Tensor& x) {
  const at::Tensor in = x.contiguous();
  at::Tensor out = at::empty(in.sizes(), in.options().dtype(at::kBFloat16));
  const uint32_t* src = reinterpret_cast<const uint32_t*>(in.data_ptr<float>());
  uint16_t* dst = reinterpret_cast<uint16_t*>(out.data_ptr<at::BFloat16>());
  at::parallel_for(0, in.numel(), 1 << 16, [=](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const uint32_t u = src[i];
      const bool nan = (u & 0x7fffffffu) > 0x7f800000u;
      const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;  // to nearest, ties to even
      dst[i] = static_cast<uint16_t>(nan ? ((u >> 16) | 0x40u) : rounded);
    }
  });
  return out;
}

at::Tensor bf16_to_fp32(const at::Tensor& x) {
  const at::Tensor in = x.contiguous();
  at::Tensor out = at::empty(in.sizes(), in.options().dtype(at::kFloat));
  const uint16_t* src = reinterpret_cast<const uint16_t*>(in.data_ptr<at::BFloat16>());
  uint32_t* dst = reinterpret_cast<uint32_t*>(out.data_ptr<float>());
  at::parallel_for(0, in.numel(), 1 << 16, [=](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) dst[i] = static_cast<uint32_t>(src[i]) << 16;
  });
  return out;
}

struct Bf16Cast : public torch::autograd::Function<Bf16Cast> {
  static at::Tensor forward(torch::autograd::AutogradContext*, const at::Tensor& x) { return fp32_to_bf16(x); }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext*, torch::autograd::variable_list g) {
    return {g[0].scalar_type() == at::kBFloat16 && g[0].device().is_cpu() ? bf16_to_fp32(g[0]) : g[0].to(at::kFloat)};
  }
};

}  // namespace

at::Tensor cast_to_bf16(const at::Tensor& x) {
  if (x.scalar_type() != at::kFloat || !x.device().is_cpu() || x.is_sparse() || x.is_mkldnn()) return x.to(at::kBFloat16);
  return x.requires_grad() && at::GradMode::is_enabled() ? Bf16Cast::apply(x) : fp32_to_bf16(x);
}

bool bf16_autocast_active() {
  return at::autocast::is_cpu_enabled() && at::autocast::get_autocast_cpu_dtype() == at::kBFloat16;
}

}  // namespace p2p
