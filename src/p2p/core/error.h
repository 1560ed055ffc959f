// Errors for bad user input (files, flags, checkpoints). Every message names the file or flag and
// says what was expected; the CLI prints it and exits non-zero. Internal invariants use TORCH_CHECK.
#pragma once

#include <stdexcept>
#include <string>

namespace p2p {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// Training stopped because a loss became NaN/Inf; the last good checkpoint is kept on disk.
class NonFiniteLoss : public Error {
 public:
  explicit NonFiniteLoss(const std::string& what) : Error(what) {}
};

[[noreturn]] inline void fail(const std::string& what) { throw Error(what); }

// Checks that `value` is one of `allowed` (a '|'-separated list); throws naming the option otherwise.
void check_choice(const std::string& option, const std::string& value, const std::string& allowed);

}  // namespace p2p
