// Sweep specs, their runs, and running them as child processes (see sweep.h).
#include "p2p/studies/sweep.h"

#include "p2p/core/error.h"
#include "p2p/core/runtime.h"
#include "p2p/io/fs.h"
#include "p2p/report/history.h"
#include "p2p/io/run_folder.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <ostream>
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

void check_flags_object(const nlohmann::ordered_json& obj, const std::string& where) {
  static const char* kReserved[] = {"name", "checkpoints_dir", "continue_train"};
  for (auto kv = obj.begin(); kv != obj.end(); ++kv) {
    for (const char* r : kReserved) {
      if (kv.key() == r) fail(where + ": \"" + r + "\" is set by the sweep itself (run names and folder)");
    }
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
  try {
    j = nlohmann::ordered_json::parse(in);
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
  auto check_axis = [&](const std::string& where, const nlohmann::ordered_json& values) {
    if (!values.is_array() || values.empty()) fail(where + " must be a non-empty array of values");
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
    check_axis(path + ": grid \"" + kv.key() + "\"", kv.value());
    s.grid.emplace_back(kv.key(), kv.value().get<std::vector<nlohmann::ordered_json>>());
  }
  if (s.quick.contains("grid")) {
    if (!s.quick["grid"].is_object()) fail(path + ": quick \"grid\" must be an object of flag: [values]");
    for (auto kv = s.quick["grid"].begin(); kv != s.quick["grid"].end(); ++kv) {
      check_axis(path + ": quick grid \"" + kv.key() + "\"", kv.value());
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

std::vector<SweepRun> expand_sweep(const SweepSpec& spec, bool quick) {
  std::vector<std::pair<std::string, nlohmann::ordered_json>> base;
  for (auto kv = spec.base.begin(); kv != spec.base.end(); ++kv) base.emplace_back(kv.key(), kv.value());
  auto grid = spec.grid;
  if (quick) {
    for (auto kv = spec.quick.begin(); kv != spec.quick.end(); ++kv) {
      if (kv.key() != "grid") set_flag(base, kv.key(), kv.value());
    }
    if (spec.quick.contains("grid")) {
      for (auto kv = spec.quick["grid"].begin(); kv != spec.quick["grid"].end(); ++kv) {
        bool replaced = false;
        for (auto& axis : grid) {
          if (axis.first == kv.key()) axis.second = kv.value().get<std::vector<nlohmann::ordered_json>>(), replaced = true;
        }
        if (!replaced) grid.emplace_back(kv.key(), kv.value().get<std::vector<nlohmann::ordered_json>>());
      }
    }
  }
  std::vector<SweepRun> runs;
  std::vector<size_t> at(grid.size(), 0);
  while (true) {
    SweepRun r;
    r.name = spec.name;
    r.flags = base;
    for (size_t a = 0; a < grid.size(); ++a) {
      const nlohmann::ordered_json& v = grid[a].second[at[a]];
      r.name += "__" + safe_name(grid[a].first + "-" + value_label(v));
      if (v.is_object()) {
        for (auto kv = v.begin(); kv != v.end(); ++kv) {
          if (kv.key() != "label") set_flag(r.flags, kv.key(), kv.value());
        }
      } else {
        set_flag(r.flags, grid[a].first, v);
      }
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
      break;
    }
    std::vector<std::string> args = {program, "train"};
    for (auto& a : train_arguments(run, ck, state)) args.push_back(a);
    log << tag << (state == RunState::partial ? ": resuming\n" : ": training\n") << std::flush;
    const pid_t pid = fork();
    if (pid < 0) fail("sweep: cannot start " + program + ": " + std::strerror(errno));
    if (pid == 0) {
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(program.c_str(), argv.data());
      std::_Exit(127);
    }
    int status = 0;
    bool forwarded = false;
    while (waitpid(pid, &status, WNOHANG) == 0) {
      if (stop_requested() && !forwarded) {
        kill(pid, SIGTERM);  // the run saves at its next step and exits; a terminal's ^C reached it already
        forwarded = true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (fs::exists(fs::path(dir) / "history.jsonl")) result.run_dirs.push_back(dir);
    if (stop_requested() || code == 130) {
      log << tag << ": stopped; run the sweep again to continue from here\n";
      result.interrupted = true;
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
