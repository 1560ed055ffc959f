// Test helpers (see testutil.h).
#include "testutil/testutil.h"

#include "p2p/io/image.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <sys/wait.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace p2p::test {

namespace {
// The tests, and every p2p program they start, keep their per-machine caches (the BLAS thread
// calibration) in the test folder's scratch/, never in the user's ~/.cache.
const bool kScratchCache = [] {
  const fs::path cache = fs::current_path() / "scratch" / "xdg_cache";
  ::setenv("XDG_CACHE_HOME", cache.c_str(), 1);
  return true;
}();
}  // namespace

std::string scratch_dir(const std::string& tag) {
  static std::atomic<int> counter{0};
  fs::path dir = fs::current_path() / "scratch" /
                 (tag + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

CommandResult run_command(const std::string& command_line) {
  CommandResult result;
  std::string cmd = command_line + " 2>&1";
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (!pipe) return result;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) result.output.append(buf, n);
  int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

CommandResult run_p2p(const std::string& args) {
  return run_command(std::string("'") + P2P_TEST_BIN + "' " + args);
}

std::string shared_dataset(const std::string& name) {
  fs::path p = fs::path(P2P_TEST_SHARED_DIR) / "datasets" / name;
  return fs::exists(p) ? p.string() : std::string();
}

void write_random_png(const std::string& path, int w, int h, int channels, unsigned seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  at::Tensor img = at::rand({channels, h, w}, gen, at::kFloat);
  save_png(path, img);
}

std::string write_ab_dataset(const std::string& root, int n_train, int n_test) {
  for (auto [split, n] : {std::pair<std::string, int>{"train", n_train}, {"test", n_test}}) {
    fs::create_directories(root + "/" + split);
    for (int i = 0; i < n; ++i) write_random_png(root + "/" + split + "/" + std::to_string(i) + ".png", 64, 32, 3, i + 1);
  }
  return root;
}

namespace {
std::string quote(const std::string& s) { return "'" + s + "'"; }
}  // namespace

CommandResult run_python_script(const std::string& script, const std::string& args) {
  return run_command(quote(P2P_TEST_PYTHON) + " " + quote(std::string(P2P_TEST_SOURCE_DIR) + "/tests/" + script) + " " + args);
}

std::string cached_python_fixture(const std::string& prefix, const std::string& script, const std::string& version_text,
                                  const std::string& done_file, const std::string& hint) {
  const std::string path = std::string(P2P_TEST_SOURCE_DIR) + "/tests/" + script;
  const std::string text = read_file(path);
  if (text.empty()) throw std::runtime_error("cannot read " + path);
  std::ostringstream name;
  name << prefix << "_" << std::hex << std::hash<std::string>{}(text + version_text);
  const fs::path done = fs::current_path() / "fixtures" / name.str();
  if (fs::exists(done / done_file)) return done.string();
  const std::string tmp = scratch_dir(prefix + "_fixtures");
  const CommandResult r = run_python_script(script, quote(tmp));
  if (r.exit_code != 0) throw std::runtime_error(script + " failed (" + hint + "):\n" + r.output);
  fs::create_directories(done.parent_path());
  std::error_code ec;
  fs::rename(tmp, done, ec);  // a concurrent test process may have won the race with identical files
  if (!fs::exists(done / done_file)) throw std::runtime_error("cannot move fixtures to " + done.string());
  return done.string();
}

const std::string& reference_fixtures() {
  // The script uses the benchmark's reference networks; a change there is a new fixture version.
  static const std::string dir = cached_python_fixture(
      "reference", "fixtures/make_reference_fixtures.py",
      read_file(std::string(P2P_TEST_SOURCE_DIR) + "/bench/reference/networks.py"), "manifest.json",
      std::string("needs ") + P2P_TEST_PYTHON +
          " with PyTorch; install it with: sudo apt-get install python3-torch, as scripts/setup.sh does");
  return dir;
}

::testing::AssertionResult python_can_import(const std::string& modules, const std::string& packages) {
  const CommandResult r = run_command(quote(P2P_TEST_PYTHON) + " -c 'import " + modules + "'");
  if (r.exit_code == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << P2P_TEST_PYTHON << " cannot import " << modules << " (" << r.output
                                       << "). This check compares with that library; install it with: "
                                       << "sudo apt-get install " << packages << " (scripts/setup.sh does)";
}

bool file_exists(const std::string& path) { return fs::exists(path); }

ScopedEnv::ScopedEnv(const char* name, const char* value) : name_(name) {
  if (const char* e = std::getenv(name)) {
    had_ = true;
    previous_ = e;
  }
  setenv(name, value, 1);
}

ScopedEnv::~ScopedEnv() {
  if (had_) {
    setenv(name_.c_str(), previous_.c_str(), 1);
  } else {
    unsetenv(name_.c_str());
  }
}

std::string cpuinfo_flags() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) == 0) return " " + line.substr(line.find(':') + 1) + " ";
  }
  return "";
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace p2p::test
