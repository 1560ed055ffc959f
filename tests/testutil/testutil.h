// Helpers shared by the test executables: scratch folders, running the p2p program, fixture paths.
// Linking them also points XDG_CACHE_HOME at <test dir>/scratch/xdg_cache, so no test writes the user's
// caches.
#pragma once

#include "test_config.h"

#include "p2p/core/error.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

namespace p2p::test {

// A fresh, empty folder under the test working directory, unique per call.
std::string scratch_dir(const std::string& tag);

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};
// Runs a shell command line, capturing its output.
CommandResult run_command(const std::string& command_line);
// Runs the built p2p program with `args` (a shell-quoted argument string).
CommandResult run_p2p(const std::string& args);

// ../shared/datasets/<name> beside the source tree ("" when absent, so tests can GTEST_SKIP).
std::string shared_dataset(const std::string& name);

// Writes a random RGB (channels 3) or gray (1) PNG of w x h with values from `seed`.
void write_random_png(const std::string& path, int w, int h, int channels, unsigned seed);

// A tiny aligned dataset: <root>/train and <root>/test holding n_train / n_test random 64x32 AB images
// (32x32 halves) named 0.png, 1.png ...; returns root.
std::string write_ab_dataset(const std::string& root, int n_train, int n_test);

// Options that make training and inference take milliseconds: unet_32, width 8, 32x32 crops.
inline const char* const kTinyRun = " --netG unet_32 --ngf 8 --ndf 8 --load_size 32 --crop_size 32 --num_threads 1 ";

// The p2p command line that trains a tiny run <ck>/<name> on `dataroot` for one epoch with no validation
// split (kTinyRun's networks and sizes), with `extra` flags.
inline std::string tiny_train_command(const std::string& dataroot, const std::string& ck, const std::string& name,
                                      const std::string& extra = "") {
  return "train --dataroot '" + dataroot + "' --checkpoints_dir '" + ck + "' --name " + name +
         " --n_epochs 1 --n_epochs_decay 0 --val_fraction 0 " + extra + kTinyRun;
}

// Folder of reference fixtures made by tests/fixtures/make_reference_fixtures.py with P2P_TEST_PYTHON
// (PyTorch): reference-format state_dicts and their PyTorch outputs. Made once per script version and
// shared by test processes. A missing PyTorch is a failure, not a skip, so reference checks can never
// pass vacuously.
const std::string& reference_fixtures();

// Runs tests/<script> (a path under the source tree's tests/) with P2P_TEST_PYTHON and `args` (shell-quoted).
CommandResult run_python_script(const std::string& script, const std::string& args);

// A folder of fixtures that tests/<script> writes into the folder it is given, made once per version
// (a hash of the script and of `version_text`) under <test dir>/fixtures/<prefix>_<hash> and shared by
// test processes; `done_file` marks a complete folder. Throws with the script's output and `hint` when
// it fails.
std::string cached_python_fixture(const std::string& prefix, const std::string& script, const std::string& version_text,
                                  const std::string& done_file, const std::string& hint);

// Success when P2P_TEST_PYTHON can import `modules` ("PIL, numpy"); otherwise a failure that says what
// is missing and how to install it (`packages`, Debian names; scripts/setup.sh installs them), so a
// reference check can never pass by being skipped. Use as ASSERT_TRUE(test::python_can_import(...)).
::testing::AssertionResult python_can_import(const std::string& modules, const std::string& packages);

// Runs `body` and returns the p2p::Error message it throws ("" when it throws none).
template <typename F>
std::string error_of(F body) {
  try {
    body();
  } catch (const p2p::Error& e) {
    return e.what();
  }
  return "";
}

bool file_exists(const std::string& path);
std::string read_file(const std::string& path);

// Sets an environment variable while it lives and then puts back what was there (or unsets it).
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value);
  ~ScopedEnv();
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_, previous_;
  bool had_ = false;
};

// P2P_CPU_BF16=0 while it lives: this process and the commands it runs see a CPU without native bf16
// (core/precision.h), to test the refusal and the fallback on a machine that has it.
class HiddenBf16 {
 public:
  HiddenBf16() : set_("P2P_CPU_BF16", "0") {}

 private:
  ScopedEnv set_;
};

// P2P_CPU_ISA=<isa> while it lives: this process and the commands it runs use at most that instruction
// set in the project's own kernels and see no bf16 below avx512 (core/cpu_features.h).
class CappedIsa {
 public:
  explicit CappedIsa(const char* isa) : set_("P2P_CPU_ISA", isa) {}

 private:
  ScopedEnv set_;
};

// The flags line of /proc/cpuinfo (the kernel's own reading of CPUID), padded with spaces so that
// " flag " matches whole words; "" where there is none.
std::string cpuinfo_flags();

}  // namespace p2p::test
