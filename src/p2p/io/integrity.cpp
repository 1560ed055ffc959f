// Content hashes and finiteness checks of tensor data (see integrity.h).
#include "p2p/io/integrity.h"

#include "p2p/core/error.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>
#define P2P_CRC32C_SSE42 1
#endif

namespace p2p {

namespace {

// Slicing-by-8 tables of the reflected Castagnoli polynomial.
using Tables = std::array<std::array<uint32_t, 256>, 8>;
const Tables& crc_tables() {
  static const Tables t = [] {
    Tables tab{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
      tab[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; ++i) {
      for (int s = 1; s < 8; ++s) tab[s][i] = (tab[s - 1][i] >> 8) ^ tab[0][tab[s - 1][i] & 0xff];
    }
    return tab;
  }();
  return t;
}

#ifdef P2P_CRC32C_SSE42
// Built for SSE 4.2 here only, chosen at run time: the rest of the program keeps the baseline ISA.
__attribute__((target("sse4.2"))) uint32_t crc32c_sse42(uint32_t crc, const unsigned char* p, size_t n) {
  uint64_t c = ~crc;
  for (; n > 0 && (reinterpret_cast<uintptr_t>(p) & 7) != 0; --n) c = _mm_crc32_u8(static_cast<uint32_t>(c), *p++);
  for (; n >= 8; n -= 8, p += 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    c = _mm_crc32_u64(c, v);
  }
  for (; n > 0; --n) c = _mm_crc32_u8(static_cast<uint32_t>(c), *p++);
  return ~static_cast<uint32_t>(c);
}

bool cpu_has_sse42() {
  static const bool has = __builtin_cpu_supports("sse4.2");
  return has;
}
#endif

// Whether any of n values has an all-ones exponent (NaN or Inf), read as unsigned bits of the same
// width: one branch-free pass the compiler vectorises, in blocks so a bad tensor stops early.
template <typename Bits>
bool any_exponent_all_ones(const void* data, int64_t n, Bits mask) {
  const auto* p = static_cast<const Bits*>(data);
  constexpr int64_t kBlock = 1 << 16;
  for (int64_t begin = 0; begin < n; begin += kBlock) {
    const int64_t end = std::min(n, begin + kBlock);
    Bits bad = 0;
    for (int64_t i = begin; i < end; ++i) bad |= static_cast<Bits>((p[i] & mask) == mask);
    if (bad) return true;
  }
  return false;
}

}  // namespace

namespace detail {
uint32_t crc32c_portable(uint32_t crc, const void* data, size_t n) {
  const Tables& t = crc_tables();
  const auto* p = static_cast<const unsigned char*>(data);
  uint32_t c = ~crc;
  for (; n >= 8; n -= 8, p += 8) {
    const uint32_t lo = c ^ (static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
                             static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24);
    c = t[7][lo & 0xff] ^ t[6][(lo >> 8) & 0xff] ^ t[5][(lo >> 16) & 0xff] ^ t[4][lo >> 24] ^ t[3][p[4]] ^
        t[2][p[5]] ^ t[1][p[6]] ^ t[0][p[7]];
  }
  for (; n > 0; --n) c = t[0][(c ^ *p++) & 0xff] ^ (c >> 8);
  return ~c;
}
}  // namespace detail

uint32_t crc32c(uint32_t crc, const void* data, size_t n) {
#ifdef P2P_CRC32C_SSE42
  if (cpu_has_sse42()) return crc32c_sse42(crc, static_cast<const unsigned char*>(data), n);
#endif
  return detail::crc32c_portable(crc, data, n);
}

std::string checksum_hex(uint32_t crc) {
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", crc);
  return buf;
}

uint32_t tensor_crc32c(const at::Tensor& t) {
  if (!t.defined()) return 0;
  const at::Tensor c = t.device().is_cpu() ? t.contiguous() : t.to(at::kCPU).contiguous();
  return crc32c(0, c.data_ptr(), static_cast<size_t>(c.nbytes()));
}

bool all_finite(const at::Tensor& t) {
  if (!t.defined() || !at::isFloatingType(t.scalar_type()) || t.numel() == 0) return true;
  if (!t.device().is_cpu() || !t.is_contiguous()) return at::isfinite(t).all().item<bool>();
  switch (t.scalar_type()) {
    case at::kFloat: return !any_exponent_all_ones<uint32_t>(t.data_ptr(), t.numel(), 0x7f800000u);
    case at::kDouble: return !any_exponent_all_ones<uint64_t>(t.data_ptr(), t.numel(), 0x7ff0000000000000ull);
    case at::kHalf: return !any_exponent_all_ones<uint16_t>(t.data_ptr(), t.numel(), 0x7c00);
    case at::kBFloat16: return !any_exponent_all_ones<uint16_t>(t.data_ptr(), t.numel(), 0x7f80);
    default: return at::isfinite(t).all().item<bool>();
  }
}

std::string non_finite_report(const StateDict& dict) {
  std::vector<std::string> bad;
  size_t floating = 0;
  for (const auto& [name, t] : dict) {
    if (t.defined() && at::isFloatingType(t.scalar_type())) ++floating;
    if (all_finite(t)) continue;
    if (bad.size() < 3) {  // counted only on this (failing) path
      const int64_t nan = at::isnan(t).sum().item<int64_t>();
      const int64_t inf = at::isinf(t).sum().item<int64_t>();
      std::string what;
      if (nan > 0) what += std::to_string(nan) + " NaN";
      if (inf > 0) what += (what.empty() ? "" : ", ") + std::to_string(inf) + " Inf";
      bad.push_back(name + " (" + what + " of " + std::to_string(t.numel()) + " values)");
    } else {
      bad.push_back(name);
    }
  }
  if (bad.empty()) return "";
  std::string list;
  for (size_t i = 0; i < bad.size() && i < 3; ++i) list += (i ? ", " : "") + bad[i];
  if (bad.size() > 3) list += ", ...";
  return std::to_string(bad.size()) + " of " + std::to_string(floating) + " floating tensors hold non-finite values: " +
         list;
}

void check_finite(const StateDict& dict, const std::string& source, const std::string& hint) {
  const std::string report = non_finite_report(dict);
  if (!report.empty()) fail(source + ": " + report + (hint.empty() ? std::string() : " — " + hint));
}

}  // namespace p2p
