// Sweep specs, their runs, and running them as child processes (see sweep.h).
#include "p2p/studies/sweep.h"

#include "p2p/core/error.h"
#include "p2p/core/runtime.h"
#include "p2p/io/fs.h"
#include "p2p/report/history.h"
#include "p2p/io/run_folder.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <ostream>
#include <set>
#include <thread>

namespace fs = std::filesystem;

namespace p2p {

namespace {

// Run-name text of a value: strings as they are, numbers as JSON writes them, switches on/off.
std::string value_label(const nlohmann::ordered_json& v) {
  if (v.is_boolean()) return v.get<bool>() ? "on" : "off";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object()) {
    if (v.contains("label") && v["label"].is_string()) return v["label"].get<std::string>();
    std::string s;
    for (auto kv = v.begin(); kv != v.end(); ++kv) s += (s.empty() ? "" : "+") + kv.key() + "-" + value_label(kv.value());
    return s;
  }
  return v.dump();
}

std::string safe_name(const std::string& s) {
  std::string out;
  for (char c : s) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_') ? c : '-';
  return out;
}

void set_flag(std::vector<std::pair<std::string, nlohmann::ordered_json>>& flags, const std::string& key, const nlohmann::ordered_json& v) {
  for (auto& kv : flags) {
    if (kv.first == key) {
      kv.second = v;
      return;
    }
  }
  flags.emplace_back(key, v);
}

void check_not_reserved(const std::string& key, const std::string& where) {
  static const char* kReserved[] = {"name", "checkpoints_dir", "continue_train"};
  for (const char* r : kReserved) {
    if (key == r) fail(where + ": \"" + r + "\" is set by the sweep itself (run names and folder; --out chooses where)");
  }
}

void check_flags_object(const nlohmann::ordered_json& obj, const std::string& where) {
  for (auto kv = obj.begin(); kv != obj.end(); ++kv) {
    check_not_reserved(kv.key(), where);
    const auto& v = kv.value();
    if (!(v.is_string() || v.is_number() || v.is_boolean())) {
      fail(where + ": \"" + kv.key() + "\" must be a string, number or true/false (got " + v.dump() + ")");
    }
  }
}

}  // namespace

SweepSpec parse_sweep_spec(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail("cannot read sweep spec " + path);
  nlohmann::ordered_json j;
  // JSON leaves a repeated key to the reader (nlohmann keeps one silently); a spec that says two things
  // about one flag is refused, naming the key and the object that holds it.
  struct Frame {
    std::set<std::string> keys;
    std::string key;  // the latest key of this object
  };
  std::vector<Frame> open;
  auto callback = [&](int, nlohmann::ordered_json::parse_event_t event, nlohmann::ordered_json& parsed) {
    using E = nlohmann::ordered_json::parse_event_t;
    if (event == E::object_start || event == E::array_start) open.push_back({});
    if (event == E::object_end || event == E::array_end) open.pop_back();
    if (event == E::key && !open.empty()) {
      const std::string key = parsed.get<std::string>();
      if (!open.back().keys.insert(key).second) {
        std::string in_object;
        for (size_t i = 0; i + 1 < open.size(); ++i) {
          if (!open[i].key.empty()) in_object += (in_object.empty() ? "" : " ") + ("\"" + open[i].key + "\"");
        }
        fail(path + ": key \"" + key + "\" is given twice" + (in_object.empty() ? "" : " in " + in_object) +
             " (JSON readers keep one silently; keep the one you mean)");
      }
      open.back().key = key;
    }
    return true;
  };
  try {
    j = nlohmann::ordered_json::parse(in, callback);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    fail(path + ": not valid JSON (" + e.what() + ")");
  }
  if (!j.is_object()) fail(path + ": a sweep spec is a JSON object with \"name\", \"base\" and \"grid\"");
  for (auto kv = j.begin(); kv != j.end(); ++kv) {
    if (kv.key() != "name" && kv.key() != "base" && kv.key() != "grid" && kv.key() != "quick" && kv.key() != "about") {
      fail(path + ": unknown key \"" + kv.key() + "\" (expected name, base, grid, quick, about)");
    }
  }
  SweepSpec s;
  s.path = path;
  if (!j.contains("name") || !j["name"].is_string()) fail(path + ": \"name\" (a string) is required");
  s.name = j["name"].get<std::string>();
  try {
    check_run_name(s.name);
  } catch (const Error& e) {
    fail(path + ": \"name\": " + e.what());
  }
  for (const char* key : {"base", "quick"}) {
    if (!j.contains(key)) continue;
    if (!j[key].is_object()) fail(path + ": \"" + key + "\" must be an object of flag: value");
    nlohmann::ordered_json flags = j[key];
    if (std::string(key) == "quick" && flags.contains("grid")) flags.erase("grid");
    check_flags_object(flags, path + ": \"" + key + "\"");
    (std::string(key) == "base" ? s.base : s.quick) = j[key];
  }
  if (!j.contains("grid") || !j["grid"].is_object() || j["grid"].empty()) {
    fail(path + ": \"grid\" must be an object of flag: [values] with at least one axis");
  }
  auto check_axis = [&](const std::string& where, const std::string& key, const nlohmann::ordered_json& values) {
    if (!values.is_array() || values.empty()) fail(where + " must be a non-empty array of values");
    bool plain = false;
    for (const auto& v : values) plain = plain || !v.is_object();
    if (plain) check_not_reserved(key, where);  // an axis of objects is only a name
    for (const auto& v : values) {
      if (v.is_object()) {
        nlohmann::ordered_json flags = v;
        flags.erase("label");
        check_flags_object(flags, where);
      } else if (!(v.is_string() || v.is_number() || v.is_boolean())) {
        fail(where + ": values are strings, numbers, true/false or objects of flags (got " + v.dump() + ")");
      }
    }
  };
  for (auto kv = j["grid"].begin(); kv != j["grid"].end(); ++kv) {
    check_axis(path + ": grid \"" + kv.key() + "\"", kv.key(), kv.value());
    s.grid.emplace_back(kv.key(), kv.value().get<std::vector<nlohmann::ordered_json>>());
  }
  if (s.quick.contains("grid")) {
    if (!s.quick["grid"].is_object()) fail(path + ": quick \"grid\" must be an object of flag: [values]");
    for (auto kv = s.quick["grid"].begin(); kv != s.quick["grid"].end(); ++kv) {
      check_axis(path + ": quick grid \"" + kv.key() + "\"", kv.key(), kv.value());
    }
  }
  return s;
}

std::vector<std::string> sweep_flag_names(const SweepSpec& spec) {
  std::vector<std::string> names;
  auto add_object = [&](const nlohmann::ordered_json& obj) {
    for (auto kv = obj.begin(); kv != obj.end(); ++kv) {
      if (kv.key() != "grid" && kv.key() != "label") names.push_back(kv.key());
    }
  };
  add_object(spec.base);
  add_object(spec.quick);
  auto add_axis = [&](const std::string& key, const nlohmann::ordered_json& values) {
    bool plain = false;
    for (const auto& v : values) {
      if (v.is_object()) add_object(v);
      else plain = true;
    }
    if (plain) names.push_back(key);
  };
  for (const auto& [key, values] : spec.grid) add_axis(key, values);
  if (spec.quick.contains("grid")) {
    for (auto kv = spec.quick["grid"].begin(); kv != spec.quick["grid"].end(); ++kv) add_axis(kv.key(), kv.value());
  }
  return names;
}

namespace {

using Axes = std::vector<std::pair<std::string, std::vector<nlohmann::ordered_json>>>;

// The axes a sweep runs: the spec's grid, with quick's axes replacing or joining them when asked.
Axes axes_of(const SweepSpec& spec, bool quick) {
  Axes grid = spec.grid;
  if (quick && spec.quick.contains("grid")) {
    for (auto kv = spec.quick["grid"].begin(); kv != spec.quick["grid"].end(); ++kv) {
      bool replaced = false;
      for (auto& axis : grid) {
        if (axis.first == kv.key()) axis.second = kv.value().get<std::vector<nlohmann::ordered_json>>(), replaced = true;
      }
      if (!replaced) grid.emplace_back(kv.key(), kv.value().get<std::vector<nlohmann::ordered_json>>());
    }
  }
  return grid;
}

}  // namespace

void check_sweep_flags(const SweepSpec& spec, const std::function<FlagKind(const std::string&)>& kind_of) {
  auto check = [&](const std::string& where, const std::string& key, const nlohmann::ordered_json& v) {
    const FlagKind kind = kind_of(key);
    const std::string at = spec.path + ": " + where + ": \"" + key + "\"";
    if (kind == FlagKind::unknown) fail(at + " is not a flag of p2p train (see p2p train --help)");
    if (kind == FlagKind::switch_flag && !v.is_boolean()) {
      fail(at + " is a switch: give true (on) or false (off), not " + v.dump());
    }
    if (kind == FlagKind::value && v.is_boolean() && v.get<bool>()) {
      fail(at + " takes a value (e.g. \"" + key + "\": 4); true would give it none (false leaves it at its default)");
    }
  };
  auto check_object = [&](const std::string& where, const nlohmann::ordered_json& obj) {
    for (auto kv = obj.begin(); kv != obj.end(); ++kv) {
      if (kv.key() != "grid" && kv.key() != "label") check(where, kv.key(), kv.value());
    }
  };
  auto check_axes = [&](const std::string& where, const nlohmann::ordered_json& grid) {
    for (auto axis = grid.begin(); axis != grid.end(); ++axis) {
      for (const auto& v : axis.value()) {
        if (v.is_object()) check_object(where + " \"" + axis.key() + "\"", v);
        else check(where, axis.key(), v);
      }
    }
  };
  check_object("base", spec.base);
  check_object("quick", spec.quick);
  nlohmann::ordered_json grid = nlohmann::ordered_json::object();
  for (const auto& [key, values] : spec.grid) grid[key] = values;
  check_axes("grid", grid);
  if (spec.quick.contains("grid")) check_axes("quick grid", spec.quick["grid"]);
}

uint64_t sweep_run_count(const SweepSpec& spec, bool quick) {
  uint64_t n = 1;
  for (const auto& axis : axes_of(spec, quick)) {
    n *= axis.second.size();  // each factor is at least 1, and n stays at most kMaxSweepRuns + 1 before it
    if (n > kMaxSweepRuns) return kMaxSweepRuns + 1;
  }
  return n;
}

std::vector<SweepRun> expand_sweep(const SweepSpec& spec, bool quick) {
  if (sweep_run_count(spec, quick) > kMaxSweepRuns) {
    std::string sizes;
    for (const auto& axis : axes_of(spec, quick)) {
      sizes += (sizes.empty() ? "" : " x ") + std::to_string(axis.second.size()) + " (" + axis.first + ")";
    }
    fail(spec.path + ": the grid" + (quick ? " with --quick" : "") + " has more than " + std::to_string(kMaxSweepRuns) +
         " runs (" + sizes + "); a sweep trains each one, so split it or drop values");
  }
  std::vector<std::pair<std::string, nlohmann::ordered_json>> base;
  for (auto kv = spec.base.begin(); kv != spec.base.end(); ++kv) base.emplace_back(kv.key(), kv.value());
  if (quick) {
    for (auto kv = spec.quick.begin(); kv != spec.quick.end(); ++kv) {
      if (kv.key() != "grid") set_flag(base, kv.key(), kv.value());
    }
  }
  const Axes grid = axes_of(spec, quick);
  std::vector<SweepRun> runs;
  std::map<std::string, std::string> points;  // run name -> the grid point that made it
  std::vector<size_t> at(grid.size(), 0);
  while (true) {
    SweepRun r;
    r.name = spec.name;
    r.flags = base;
    std::string point;
    for (size_t a = 0; a < grid.size(); ++a) {
      const nlohmann::ordered_json& v = grid[a].second[at[a]];
      r.name += "__" + safe_name(grid[a].first + "-" + value_label(v));
      point += (point.empty() ? "" : ", ") + grid[a].first + " " + v.dump();
      if (v.is_object()) {
        for (auto kv = v.begin(); kv != v.end(); ++kv) {
          if (kv.key() != "label") set_flag(r.flags, kv.key(), kv.value());
        }
      } else {
        set_flag(r.flags, grid[a].first, v);
      }
    }
    // One run folder per point: a second point with the same name would find the first one's run
    // finished and be skipped without a word.
    if (const auto [it, fresh] = points.emplace(r.name, point); !fresh) {
      fail(spec.path + ": the grid points {" + it->second + "} and {" + point + "} both make the run name \"" +
           r.name + "\"; give the values distinct text, or objects with distinct \"label\"s");
    }
    runs.push_back(std::move(r));
    size_t a = grid.size();
    while (a > 0 && ++at[a - 1] == grid[a - 1].second.size()) at[--a] = 0;
    if (a == 0) break;
  }
  return runs;
}

std::vector<std::string> train_arguments(const SweepRun& run, const std::string& checkpoints_dir, RunState state) {
  std::vector<std::string> args = flag_arguments(run);
  for (const std::string& a : {std::string("--name"), run.name, std::string("--checkpoints_dir"), checkpoints_dir}) {
    args.push_back(a);
  }
  if (state == RunState::partial) args.emplace_back("--continue_train");
  return args;
}

std::string shell_line(const std::vector<std::string>& args) {
  std::string line;
  for (const std::string& a : args) {
    const bool plain = !a.empty() && a.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                         "0123456789_-+=.,:/@%") == std::string::npos;
    std::string word = plain ? a : "'";
    if (!plain) {
      for (const char c : a) word += c == '\'' ? std::string("'\\''") : std::string(1, c);
      word += "'";
    }
    line += (line.empty() ? "" : " ") + word;
  }
  return line;
}

std::vector<std::string> flag_arguments(const SweepRun& run) {
  std::vector<std::string> args;
  for (const auto& [key, v] : run.flags) {
    if (v.is_boolean()) {
      if (v.get<bool>()) args.push_back("--" + key);
      continue;
    }
    args.push_back("--" + key);
    args.push_back(v.is_string() ? v.get<std::string>() : v.dump());
  }
  return args;
}

RunState sweep_run_state(const std::string& run_dir) {
  const fs::path dir(run_dir);
  std::error_code ec;
  if (!fs::exists(dir / "latest.pt", ec)) return RunState::fresh;
  try {
    const nlohmann::json config = read_run_config(run_dir);
    const int64_t last = config["train"].value("n_epochs", 0) + config["train"].value("n_epochs_decay", 0);
    const RunResults r = pick_results(read_history((dir / "history.jsonl").string()), "val_l1");
    if (r.has_last && r.last.epoch >= last) return RunState::finished;
  } catch (const Error&) {
    // unreadable history or config: let `train --continue_train` decide and report
  }
  return RunState::partial;
}

SweepResult run_sweep(const std::vector<SweepRun>& runs, const std::string& out_dir, const std::string& program,
                      std::ostream& log) {
  SweepResult result;
  const std::string ck = (fs::path(out_dir) / "runs").string();
  make_dirs(ck);
  for (size_t i = 0; i < runs.size(); ++i) {
    const SweepRun& run = runs[i];
    const std::string dir = (fs::path(ck) / run.name).string();
    const RunState state = sweep_run_state(dir);
    const std::string tag = "[" + std::to_string(i + 1) + "/" + std::to_string(runs.size()) + "] " + run.name;
    if (state == RunState::finished) {
      log << tag << ": finished earlier, skipped\n";
      ++result.skipped;
      result.run_dirs.push_back(dir);
      continue;
    }
    if (stop_requested()) {
      result.interrupted = true;
      result.stop_status = stop_exit_status();
      break;
    }
    std::vector<std::string> args = {program, "train"};
    for (auto& a : train_arguments(run, ck, state)) args.push_back(a);
    log << tag << (state == RunState::partial ? ": resuming\n" : ": training\n") << std::flush;
    const pid_t sweep = getpid();
    const pid_t pid = fork();
    if (pid < 0) fail("sweep: cannot start " + program + ": " + std::strerror(errno));
    if (pid == 0) {
      // The kernel kills this run when the sweep dies, however it dies (a SIGKILLed sweep cannot pass
      // anything on); checked again after arming, in case the sweep died before.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != sweep) std::_Exit(128 + SIGKILL);
      setpgid(0, 0);  // its own group: the terminal's Ctrl-C reaches the sweep, which passes it on once
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(program.c_str(), argv.data());
      std::_Exit(127);
    }
    setpgid(pid, pid);  // as the child does, whichever runs first
    int status = 0;
    bool forwarded = false;
    while (waitpid(pid, &status, WNOHANG) == 0) {
      if (stop_requested() && !forwarded) {
        kill(-pid, SIGTERM);  // the run saves at its next step and exits
        forwarded = true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (fs::exists(fs::path(dir) / "history.jsonl")) result.run_dirs.push_back(dir);
    if (stop_requested() || code == 128 + SIGINT || code == 128 + SIGTERM) {  // the run was stopped, not failed
      log << tag << ": stopped; run the sweep again to continue from here\n";
      result.interrupted = true;
      result.stop_status = stop_requested() ? stop_exit_status() : code;
      break;
    }
    if (code != 0) {
      log << tag << ": failed (exit status " << code << "); the sweep goes on\n";
      ++result.failed;
      continue;
    }
    ++(state == RunState::partial ? result.resumed : result.trained);
  }
  return result;
}

}  // namespace p2p
