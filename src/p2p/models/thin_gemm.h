// Float matrix products where one side is thin (at most kThinMax columns), on LibTorch's compute
// threads (internal to src/p2p/models; unet_passes.cpp).
//
// Why: the U-Net's innermost convolutions are such products (a 512 x 8192 weight against 1 to 16
// patches), bound by reading or writing the weight once. OpenBLAS runs them on one thread here (it
// gets one next to LibTorch's; blas_calibration.h) at a quarter of the memory bandwidth, and oneDNN
// copies the weight into its blocked layout on every call. These read the plain weight once, split
// across the threads oneDNN uses; the sums are in another order than BLAS's (float rounding).
// On x86-64 each is compiled for AVX-512, AVX2 (with FMA) and baseline x86-64, and runs the highest the
// CPU has (cpu_isa(): P2P_CPU_ISA caps it).
#pragma once

#include "p2p/core/cpu_features.h"

#include <ATen/Tensor.h>

#include <cstdint>

namespace p2p::detail {

constexpr int64_t kThinMax = 16;

// Whether thin_* take a product whose thin side has `columns` columns and whose long side is `depth`.
bool thin_gemm_applies(const at::Tensor& a, int64_t columns, int64_t depth);

// a [m, k] x b [k, n] -> [m, n], n <= kThinMax.
// `isa`: whose kernels run; above cpu_isa() throws (c10::Error).
at::Tensor thin_mm(const at::Tensor& a, const at::Tensor& b, CpuIsa isa = cpu_isa());
// a^T x b for a [m, k], b [m, n] -> [k, n], n <= kThinMax.
at::Tensor thin_mm_at(const at::Tensor& a, const at::Tensor& b, CpuIsa isa = cpu_isa());
// a x b^T for a [m, n], b [k, n] -> [m, k], n <= kThinMax.
at::Tensor thin_mm_bt(const at::Tensor& a, const at::Tensor& b, CpuIsa isa = cpu_isa());

// The code thin_mm runs for `isa` (one function per instruction set; x86-64 has three).
const void* thin_gemm_kernel(CpuIsa isa);

}  // namespace p2p::detail
