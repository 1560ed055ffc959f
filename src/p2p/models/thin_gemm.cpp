// Thin float matrix products (thin_gemm.h). The long dimension k is walked 16 floats at a time in GCC
// vector types, which compile to one AVX-512 register, two AVX2 registers or four SSE registers in
// the kernel set cpu_isa() picks; the thin side's count is a template argument so the accumulators
// stay in registers. Each output element is one thread's fp32 sum.
#include "p2p/models/thin_gemm.h"

#include <ATen/ATen.h>
#include "p2p/core/parallel.h"
#include <ATen/record_function.h>

#include <algorithm>
#include <cstring>

namespace p2p::detail {
namespace {

typedef float v16 __attribute__((vector_size(64)));

#define P2P_INLINE inline __attribute__((always_inline))

P2P_INLINE v16 load(const float* p) {
  v16 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
P2P_INLINE void store(float* p, v16 v) { std::memcpy(p, &v, sizeof v); }
P2P_INLINE float hsum(v16 v) {
  float s = 0;
  for (int j = 0; j < 16; ++j) s += v[j];
  return s;
}

// Rows of the long operand are streamed whole (a row read in pieces defeats the hardware prefetcher);
// the thin operand (at most 16 x k floats) stays in L2.

// c[i + r, j] for r < R, j < NC = a[i + r, :] x bt[j, :]: R rows share each load of bt, NC columns each
// load of a (R x NC accumulators: at most 16 AVX-512 registers). c's rows are ldc apart.
template <int NC, int R>
P2P_INLINE void rows_mm_r(const float* a, const float* bt, float* c, int64_t k, int64_t ldc, int64_t i) {
  v16 acc[R][NC] = {};
  for (int64_t p = 0; p < k; p += 16) {
    v16 x[R];
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) x[r] = load(a + (i + r) * k + p);
#pragma GCC unroll 4
    for (int j = 0; j < NC; ++j) {
      const v16 b = load(bt + j * k + p);
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) acc[r][j] += x[r] * b;
    }
  }
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < NC; ++j) c[(i + r) * ldc + j] = hsum(acc[r][j]);
}

// c[i, :] = a[i, :] x bt^T for rows [i0, i1): a [m, k], bt [N, k], c [m, N]. Four rows at a time, in
// groups of four columns: the four rows (4 x 4k bytes) are read from memory once and from L2 after.
template <int R, int N>
P2P_INLINE void rows_mm_groups(const float* a, const float* bt, float* c, int64_t k, int64_t i) {
  for (int c0 = 0; c0 + 4 <= N; c0 += 4) rows_mm_r<4, R>(a, bt + c0 * k, c + c0, k, N, i);
  if constexpr (N % 4 != 0) rows_mm_r<N % 4, R>(a, bt + N / 4 * 4 * k, c + N / 4 * 4, k, N, i);
}

template <int N>
P2P_INLINE void rows_mm(const float* a, const float* bt, float* c, int64_t k, int64_t i0, int64_t i1) {
  int64_t i = i0;
  for (; i + 4 <= i1; i += 4) rows_mm_groups<4, N>(a, bt, c, k, i);
  for (; i < i1; ++i) rows_mm_groups<1, N>(a, bt, c, k, i);
}

// ct += (a^T g)^T over rows [i, i+8) of a [m, k] and g [m, N]; ct [N, k] is this thread's partial sum.
template <int N, int R>
P2P_INLINE void rows_at_r(const float* a, const float* g, float* ct, int64_t k, int64_t i) {
  for (int64_t p = 0; p < k; p += 16) {
    v16 x[R];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) x[r] = load(a + (i + r) * k + p);
#pragma GCC unroll 16
    for (int j = 0; j < N; ++j) {
      v16 s = load(ct + j * k + p);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) s += x[r] * g[(i + r) * N + j];
      store(ct + j * k + p, s);
    }
  }
}

template <int N>
P2P_INLINE void rows_at(const float* a, const float* g, float* ct, int64_t k, int64_t i0, int64_t i1) {
  int64_t i = i0;
  for (; i + 8 <= i1; i += 8) rows_at_r<N, 8>(a, g, ct, k, i);
  for (; i < i1; ++i) rows_at_r<N, 1>(a, g, ct, k, i);
}

// c[i, :] = g[i, :] x bt for rows [i, i+R): g [m, N], bt [N, k], c [m, k].
template <int N, int R>
P2P_INLINE void rows_bt_r(const float* g, const float* bt, float* c, int64_t k, int64_t i) {
  for (int64_t p = 0; p < k; p += 16) {
    v16 s[R] = {};
#pragma GCC unroll 16
    for (int j = 0; j < N; ++j) {
      const v16 b = load(bt + j * k + p);
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) s[r] += b * g[(i + r) * N + j];
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) store(c + (i + r) * k + p, s[r]);
  }
}

template <int N>
P2P_INLINE void rows_bt(const float* g, const float* bt, float* c, int64_t k, int64_t i0, int64_t i1) {
  int64_t i = i0;
  for (; i + 4 <= i1; i += 4) rows_bt_r<N, 4>(g, bt, c, k, i);
  for (; i < i1; ++i) rows_bt_r<N, 1>(g, bt, c, k, i);
}

// One switch over the thin side's width per kernel. The always-inline templates above take the
// instruction set of the function they are inlined into.
#define P2P_DISPATCH(n, call)                                \
  switch (n) {                                               \
    case 1: call(1); break;   case 2: call(2); break;        \
    case 3: call(3); break;   case 4: call(4); break;        \
    case 5: call(5); break;   case 6: call(6); break;        \
    case 7: call(7); break;   case 8: call(8); break;        \
    case 9: call(9); break;   case 10: call(10); break;      \
    case 11: call(11); break; case 12: call(12); break;      \
    case 13: call(13); break; case 14: call(14); break;      \
    case 15: call(15); break; default: call(16); break;      \
  }
#define P2P_CALL_MM(N) rows_mm<N>(a, b, c, k, i0, i1)
#define P2P_CALL_AT(N) rows_at<N>(a, b, c, k, i0, i1)
#define P2P_CALL_BT(N) rows_bt<N>(a, b, c, k, i0, i1)

using RowsFn = void (*)(int n, const float* a, const float* b, float* c, int64_t k, int64_t i0, int64_t i1);
struct Kernels {
  RowsFn mm, at, bt;
};

// The three kernels compiled for one instruction set (`target` empty: the compiler's own, baseline
// x86-64 in this build).
#define P2P_KERNELS(name, target)                                                                          \
  target void name##_mm(int n, const float* a, const float* b, float* c, int64_t k, int64_t i0, int64_t i1) { \
    P2P_DISPATCH(n, P2P_CALL_MM)                                                                           \
  }                                                                                                        \
  target void name##_at(int n, const float* a, const float* b, float* c, int64_t k, int64_t i0, int64_t i1) { \
    P2P_DISPATCH(n, P2P_CALL_AT)                                                                           \
  }                                                                                                        \
  target void name##_bt(int n, const float* a, const float* b, float* c, int64_t k, int64_t i0, int64_t i1) { \
    P2P_DISPATCH(n, P2P_CALL_BT)                                                                           \
  }                                                                                                        \
  constexpr Kernels name{name##_mm, name##_at, name##_bt};

P2P_KERNELS(baseline, )
#if defined(__x86_64__) && defined(__GNUC__)
P2P_KERNELS(avx2, __attribute__((target("avx2,fma"))))
P2P_KERNELS(avx512, __attribute__((target("avx512f"))))
#endif

const Kernels& kernels(CpuIsa isa) {
  TORCH_CHECK(isa <= cpu_isa(), "thin_gemm: ", cpu_isa_name(isa), " kernels asked for on a CPU (or cap) with ",
              cpu_isa_name(cpu_isa()));
#if defined(__x86_64__) && defined(__GNUC__)
  if (isa == CpuIsa::kAvx512) return avx512;
  if (isa == CpuIsa::kAvx2) return avx2;
#endif
  return baseline;
}

}  // namespace

bool thin_gemm_applies(const at::Tensor& a, int64_t columns, int64_t depth) {
  return a.device().is_cpu() && a.scalar_type() == at::kFloat && columns >= 1 && columns <= kThinMax &&
         depth % 16 == 0;
}

at::Tensor thin_mm(const at::Tensor& a, const at::Tensor& b, CpuIsa isa) {
  RECORD_USER_SCOPE("p2p::thin_gemm");  // a convolution pass, for bench --profile
  const at::Tensor ac = a.contiguous(), bt = b.t().contiguous();
  const int64_t m = a.size(0), k = a.size(1), n = b.size(1);
  TORCH_CHECK(thin_gemm_applies(a, n, k) && b.size(0) == k, "thin_mm: shapes ", a.sizes(), " x ", b.sizes());
  const RowsFn run = kernels(isa).mm;
  at::Tensor c = at::empty({m, n}, a.options());
  const float *pa = ac.data_ptr<float>(), *pb = bt.data_ptr<float>();
  float* pc = c.data_ptr<float>();
  at::parallel_for(0, m, 8, [&](int64_t i0, int64_t i1) { run(static_cast<int>(n), pa, pb, pc, k, i0, i1); });
  return c;
}

at::Tensor thin_mm_at(const at::Tensor& a, const at::Tensor& b, CpuIsa isa) {
  RECORD_USER_SCOPE("p2p::thin_gemm");  // a convolution pass, for bench --profile
  const at::Tensor ac = a.contiguous(), bc = b.contiguous();
  const int64_t m = a.size(0), k = a.size(1), n = b.size(1);
  TORCH_CHECK(thin_gemm_applies(a, n, k) && b.size(0) == m, "thin_mm_at: shapes ", a.sizes(), "^T x ", b.sizes());
  const RowsFn run = kernels(isa).at;
  // Each thread sums its rows of a into a partial [n, k] of its own; the partials are added at the end.
  const int64_t parts = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), m / 8));
  at::Tensor partial = at::zeros({parts, n, k}, a.options());
  const float *pa = ac.data_ptr<float>(), *pb = bc.data_ptr<float>();
  float* pp = partial.data_ptr<float>();
  at::parallel_for(0, parts, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      run(static_cast<int>(n), pa, pb, pp + t * n * k, k, m * t / parts, m * (t + 1) / parts);
    }
  });
  return partial.sum(0).t().contiguous();
}

at::Tensor thin_mm_bt(const at::Tensor& a, const at::Tensor& b, CpuIsa isa) {
  RECORD_USER_SCOPE("p2p::thin_gemm");  // a convolution pass, for bench --profile
  const at::Tensor ac = a.contiguous(), bt = b.t().contiguous();
  const int64_t m = a.size(0), n = a.size(1), k = b.size(0);
  TORCH_CHECK(thin_gemm_applies(a, n, k) && b.size(1) == n, "thin_mm_bt: shapes ", a.sizes(), " x ", b.sizes(), "^T");
  const RowsFn run = kernels(isa).bt;
  at::Tensor c = at::empty({m, k}, a.options());
  const float *pa = ac.data_ptr<float>(), *pb = bt.data_ptr<float>();
  float* pc = c.data_ptr<float>();
  at::parallel_for(0, m, 8, [&](int64_t i0, int64_t i1) { run(static_cast<int>(n), pa, pb, pc, k, i0, i1); });
  return c;
}

const void* thin_gemm_kernel(CpuIsa isa) { return reinterpret_cast<const void*>(kernels(isa).mm); }

}  // namespace p2p::detail
