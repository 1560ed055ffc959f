// Sweeps: a grid over training flags, each combination an ordinary run folder, trained one after another
// by `p2p train` child processes, resumable, ending with a comparison of all runs.
//
// Spec (JSON), keys being `p2p train` flag names without "--":
//   {"name": "norm_x_gan",
//    "base": {"dataroot": "../shared/datasets/facades", "direction": "BtoA", "n_epochs": 5},
//    "grid": {"gan_mode": ["vanilla", "lsgan"], "norm": ["batch", "instance"]},
//    "quick": {"netG": "unet_64", "crop_size": 64, "n_epochs": 1}}
// Objects keep the file's order (axes, flags). Every combination of the grid's values is a run; a grid
// value may also be an object of several flags (with an optional "label" naming it in run names), for
// axes such as the receptive field where one point sets --netD and --n_layers_D together. `quick` (used
// with --quick) overrides base flags and may replace grid axes, for a CPU variant that finishes in
// minutes. true adds a switch flag, false omits it. An "about" string is allowed and ignored.
// Refused before any run starts: a key given twice in one object, "name"/"checkpoints_dir"/
// "continue_train" anywhere (the sweep sets them), a switch given anything but true/false, a grid of more
// than kMaxSweepRuns runs (counted, not expanded), and two points whose run names are the same.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>
#include <utility>
#include <vector>

namespace p2p {

// The most runs a sweep may have: each is a whole training, so a larger grid is a mistake in the spec.
constexpr uint64_t kMaxSweepRuns = 10000;

struct SweepSpec {
  std::string path;  // the spec file, for messages
  std::string name;
  nlohmann::ordered_json base = nlohmann::ordered_json::object();
  std::vector<std::pair<std::string, std::vector<nlohmann::ordered_json>>> grid;  // axes in the file's order
  nlohmann::ordered_json quick = nlohmann::ordered_json::object();
};

struct SweepRun {
  std::string name;                                          // <spec name>__<axis>-<value>__...
  std::vector<std::pair<std::string, nlohmann::ordered_json>> flags;  // base, then this point's grid values
};

// Reads and checks a spec: "name" a valid run name, "base"/"quick" objects, "grid" an object of non-empty
// arrays. Errors name the file and the key.
SweepSpec parse_sweep_spec(const std::string& path);

// Every flag name the spec sets (base, quick, grid, flags inside object values), for the caller to check
// against the flag table.
std::vector<std::string> sweep_flag_names(const SweepSpec& spec);

// What the CLI's flag table says of a key: not a flag of `p2p train`, a switch, or a flag with a value.
enum class FlagKind { unknown, switch_flag, value };
// Checks every key and value the spec sets against `kind_of`: an unknown key, a switch given anything but
// true/false, and a flag with a value given true fail naming the file, where in the spec, and the key.
void check_sweep_flags(const SweepSpec& spec, const std::function<FlagKind(const std::string&)>& kind_of);

// How many runs the grid (with `quick`'s axes when asked) has, counted without expanding it; values
// above kMaxSweepRuns come back as kMaxSweepRuns + 1.
uint64_t sweep_run_count(const SweepSpec& spec, bool quick);

// The runs of the grid's product, in row-major order of the axes (the last axis varies fastest). Fails
// before expanding a grid of more than kMaxSweepRuns runs, and when two runs would share a name.
std::vector<SweepRun> expand_sweep(const SweepSpec& spec, bool quick);

// ["--key", "value", ...] of a run (switches without value).
std::vector<std::string> flag_arguments(const SweepRun& run);

enum class RunState { fresh, partial, finished };
// finished: its history holds the last epoch its config.json schedules; partial: a checkpoint exists.
RunState sweep_run_state(const std::string& run_dir);

// The arguments after `p2p train` that train `run` in <checkpoints_dir>/<run.name>: its flags, --name,
// --checkpoints_dir, and --continue_train when it is `partial`. What run_sweep starts and --dry_run prints.
std::vector<std::string> train_arguments(const SweepRun& run, const std::string& checkpoints_dir, RunState state);

// `args` as one line a POSIX shell reads back as the same words (single quotes where needed).
std::string shell_line(const std::vector<std::string>& args);

struct SweepResult {
  int trained = 0, resumed = 0, skipped = 0, failed = 0;
  bool interrupted = false;            // a stop (SIGINT/SIGTERM) ended it; rerun to continue
  int stop_status = 0;                 // then: the exit status of the stop (stop_exit_status(), runtime.h)
  std::vector<std::string> run_dirs;   // of the runs that have a history, for the comparison
};

// Trains each run under <out_dir>/runs with `program train ...` (a child process per run: a crash or
// failure of one run is reported and the sweep goes on), resuming partial runs and skipping finished
// ones. A stop request is passed on to the running child (SIGTERM), which saves and exits; the sweep
// then stops too. Each child runs in its own process group (a terminal's Ctrl-C reaches the sweep alone,
// which passes it on once) and is killed by the kernel when the sweep dies, even by SIGKILL, so no
// trainer outlives it holding its run folder; the next sweep resumes that run from its last checkpoint.
SweepResult run_sweep(const std::vector<SweepRun>& runs, const std::string& out_dir, const std::string& program,
                      std::ostream& log);

}  // namespace p2p
