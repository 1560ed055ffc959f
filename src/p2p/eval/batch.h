// What the batch jobs over files (`p2p test`, `p2p translate`) share inside eval: the per-file failure
// rule (one bad file is reported and skipped, never the end of the job) and the output formats.
#pragma once

#include "p2p/core/error.h"

#include <c10/util/Exception.h>

#include <cstdint>
#include <functional>
#include <new>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace p2p::detail {

// PNG holds 1 (gray) or 3 (RGB) channels; any other count is written as a float32 TIFF.
inline bool png_channels(int64_t c) { return c == 1 || c == 3; }
inline const char* output_extension(int64_t c) { return png_channels(c) ? ".png" : ".tif"; }

// Runs `step` for one input of a batch job; a failure is reported and returned instead of ending the
// job (bad files, sizes the machine cannot hold).
template <typename Fn>
bool one_item(const std::string& file, std::vector<std::pair<std::string, std::string>>& failed, std::ostream& log,
              Fn&& step, const std::function<void()>& before_message = {}) {
  std::string why;
  try {
    step();
    return true;
  } catch (const Error& e) {
    why = e.what();
  } catch (const c10::Error& e) {
    why = e.what_without_backtrace();
  } catch (const std::bad_alloc&) {
    why = "not enough memory for this image";
  }
  why = why.substr(0, why.find('\n'));
  if (before_message) before_message();
  log << "skipped " << file << ": " << why << "\n";
  failed.emplace_back(file, why);
  return false;
}

}  // namespace p2p::detail
