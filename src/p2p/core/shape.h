// A tensor shape as messages print it: "[2, 3, 64, 64]". One spelling for every "expected ... got ..." message.
#pragma once

#include <c10/util/ArrayRef.h>

#include <cstdint>
#include <string>

namespace p2p {

inline std::string shape_str(c10::ArrayRef<int64_t> sizes) {
  std::string s = "[";
  for (size_t i = 0; i < sizes.size(); ++i) s += (i ? ", " : "") + std::to_string(sizes[i]);
  return s + "]";
}

}  // namespace p2p
