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

// Training stopped because values became NaN/Inf; the last good checkpoint is kept on disk.
class Diverged : public Error {
 public:
  explicit Diverged(const std::string& what) : Error(what) {}
};

// A loss became NaN/Inf (caught before any optimizer step used it).
class NonFiniteLoss : public Diverged {
 public:
  explicit NonFiniteLoss(const std::string& what) : Diverged(what) {}
};

// Weights, buffers or optimizer moments became NaN/Inf; such state is never written to a checkpoint.
class NonFiniteState : public Diverged {
 public:
  explicit NonFiniteState(const std::string& what) : Diverged(what) {}
};

[[noreturn]] inline void fail(const std::string& what) { throw Error(what); }

// Checks that `value` is one of `allowed` (a '|'-separated list); throws naming the option otherwise.
void check_choice(const std::string& option, const std::string& value, const std::string& allowed);

}  // namespace p2p
