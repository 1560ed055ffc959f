// JSON mapping of the option structs (see config_json.h). Field names equal the CLI flag names.
#include "p2p/core/config_json.h"

#include "p2p/core/error.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <sstream>
#include <type_traits>
#include <vector>

namespace p2p {

namespace {

// The JSON of the stored fields of any option struct, by walking its field list (config.h).
template <typename C>
nlohmann::json fields_to_json(const C& c) {
  nlohmann::json j = nlohmann::json::object();
  for_each_field(c, [&](const char* name, const auto& field, ResumeRule rule) {
    if (rule != ResumeRule::derived) j[name] = field;
  });
  return j;
}

// Fields read from a file are held to the same bounds as the flag of the same name (cli/options.cpp):
// a damaged or hand-edited config must fail here, naming the field, not later as an allocator error or
// a silently wrapped number.
constexpr int64_t kIntMax = std::numeric_limits<int>::max();
constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();

struct IntBound { const char* name; int64_t lo, hi; const char* words; };
struct RealBound { const char* name; double lo, hi; bool lo_open, hi_open; const char* words; };
struct Choice { const char* name; std::vector<const char*> values; };

struct Bounds {
  std::vector<IntBound> ints;
  std::vector<RealBound> reals;
  std::vector<Choice> choices;
};

const Bounds& bounds_of(const char* what) {
  static const Bounds net = {
      {{"input_nc", 1, kIntMax, "a whole number >= 1"}, {"output_nc", 1, kIntMax, "a whole number >= 1"},
       {"ngf", 1, kIntMax, "a whole number >= 1"}, {"ndf", 1, kIntMax, "a whole number >= 1"},
       {"n_layers_D", 1, 8, "a whole number from 1 to 8"}, {"num_D", 1, 8, "a whole number from 1 to 8"}},
      {{"init_gain", 0, HUGE_VAL, true, false, "a positive finite number"}},
      {{"norm", {"batch", "sync_batch", "instance", "none"}},
       {"netD", {"basic", "n_layers", "pixel"}},
       {"norm_D", {"", "batch", "sync_batch", "instance", "none", "spectral"}},
       {"init_type", {"normal", "xavier", "kaiming", "orthogonal"}},
       {"dropout_placement", {"reference", "paper"}},
       {"output_activation", {"tanh", "none"}}}};
  static const Bounds data = {
      {{"load_size", 1, kIntMax, "a whole number >= 1"}, {"crop_size", 1, kIntMax, "a whole number >= 1"},
       {"num_threads", 0, kIntMax, "a whole number >= 0"}, {"max_dataset_size", 1, kInt64Max, "a whole number >= 1"}},
      {{"val_fraction", 0, 0.5, false, false, "a number from 0 to 0.5"},
       {"jitter", 0, 1, false, false, "a number from 0 to 1"},
       {"rotate", 0, 180, false, false, "a number from 0 to 180"},
       {"scale_jitter", 0, 1, false, true, "a number in [0, 1)"},
       {"palette_distance", 0, HUGE_VAL, true, false, "a positive finite number"}},
      {{"dataset_mode", {"auto", "aligned", "folders", "unaligned", "single"}},
       {"direction", {"AtoB", "BtoA"}},
       {"preprocess", {"resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none"}},
       {"augment", {"none", "basic", "strong"}},
       {"jitter_side", {"input", "target", "both", "none"}},
       {"normalize", {"none", "dataset"}}}};
  static const Bounds none;
  const std::string w = what;
  return w == "network" ? net : w == "data" ? data : none;
}

// What is wrong with `v` for a field of type T named `name` ("" when nothing): the JSON type, a number
// the type cannot hold exactly, then the flag's own bounds.
template <typename T>
std::string field_problem(const char* name, const nlohmann::json& v, const Bounds& bounds) {
  if constexpr (std::is_same_v<T, bool>) {
    if (!v.is_boolean()) return "is not true or false";
  } else if constexpr (std::is_integral_v<T>) {
    if (!v.is_number_integer()) return "is not a whole number";
    // Above INT64_MAX only an unsigned 64-bit field holds it, and no flag's bound reaches it.
    const bool huge = v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(kInt64Max);
    const int64_t x = huge ? kInt64Max : v.get<int64_t>();
    const bool fits = huge ? std::is_same_v<T, uint64_t>
                     : x >= static_cast<int64_t>(std::numeric_limits<T>::min()) &&
                           (std::is_same_v<T, uint64_t> || x <= static_cast<int64_t>(std::numeric_limits<T>::max()));
    for (const IntBound& b : bounds.ints) {
      if (std::string(b.name) == name && (huge || x < b.lo || x > b.hi)) {
        return std::string("is not ") + b.words + " (as --" + name + " takes)";
      }
    }
    if (!fits) return "does not fit the field (" + std::to_string(sizeof(T) * 8) + "-bit)";
  } else if constexpr (std::is_floating_point_v<T>) {
    if (!v.is_number()) return "is not a number";
    const double x = v.get<double>();
    if (!std::isfinite(x)) return "is not finite";
    for (const RealBound& b : bounds.reals) {
      if (std::string(b.name) != name) continue;
      const bool in = (b.lo_open ? x > b.lo : x >= b.lo) && (b.hi_open ? x < b.hi : x <= b.hi);
      if (!in) return std::string("is not ") + b.words + " (as --" + name + " takes)";
    }
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (!v.is_string()) return "is not a string";
    for (const Choice& c : bounds.choices) {
      if (std::string(c.name) != name) continue;
      std::string all;
      bool found = false;
      for (const char* value : c.values) {
        found = found || v.get<std::string>() == value;
        all += (all.empty() ? "" : ", ") + (*value ? std::string(value) : std::string("\"\""));
      }
      if (!found) return "is not one of " + all + " (as --" + name + " takes)";
    }
    if (std::string(name) == "attention") {  // a comma list, as --attention takes
      std::stringstream in(v.get<std::string>());
      std::string item;
      while (std::getline(in, item, ',')) {
        if (item != "none" && item != "down" && item != "up" && item != "skip") {
          return "is not a comma list of none, down, up, skip (as --attention takes)";
        }
      }
    }
  } else if constexpr (std::is_same_v<T, std::vector<double>>) {
    if (!v.is_array()) return "is not a list of numbers";
    for (const auto& x : v) {
      if (!x.is_number() || !std::isfinite(x.get<double>())) return "is not a list of finite numbers";
    }
  }
  return "";
}

template <typename C>
void fields_from_json(C& c, const nlohmann::json& j, const std::string& source, const char* what) {
  if (!j.is_object()) fail(source + ": expected a JSON object of " + what + " options");
  const Bounds& bounds = bounds_of(what);
  for_each_field(c, [&](const char* name, auto& field, ResumeRule rule) {
    auto it = j.find(name);
    if (rule == ResumeRule::derived || it == j.end()) return;
    using T = std::decay_t<decltype(field)>;
    const std::string problem = field_problem<T>(name, *it, bounds);
    if (!problem.empty()) {
      std::string shown = it->dump();
      if (shown.size() > 60) shown = shown.substr(0, 57) + "...";
      fail(source + ": field '" + name + "' " + shown + " " + problem);
    }
    try {
      field = it->template get<T>();
    } catch (const std::exception&) {
      fail(source + ": field '" + name + "' has the wrong type (" + it->dump() + ")");
    }
  });
}

}  // namespace

nlohmann::json to_json(const NetConfig& c) { return fields_to_json(c); }
nlohmann::json to_json(const DataConfig& c) { return fields_to_json(c); }
nlohmann::json to_json(const TrainConfig& c) { return fields_to_json(c); }
nlohmann::json to_json(const TestConfig& c) { return fields_to_json(c); }

void update_from_json(NetConfig& c, const nlohmann::json& j, const std::string& source) {
  fields_from_json(c, j, source, "network");
}
void update_from_json(DataConfig& c, const nlohmann::json& j, const std::string& source) {
  fields_from_json(c, j, source, "data");
}
void update_from_json(TrainConfig& c, const nlohmann::json& j, const std::string& source) {
  fields_from_json(c, j, source, "training");
}

ResumeRule resume_rule(const std::string& section, const std::string& field) {
  ResumeRule found = ResumeRule::identity;  // an unknown field is held to the run's value
  auto look = [&](const char* name, const auto&, ResumeRule rule) {
    if (field == name) found = rule;
  };
  if (section == "net") for_each_field(NetConfig(), look);
  if (section == "data") for_each_field(DataConfig(), look);
  if (section == "train") for_each_field(TrainConfig(), look);
  return found;
}

namespace {
std::string show(const nlohmann::json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }
}  // namespace

ResumeMerge merge_for_resume(const nlohmann::json& saved, const nlohmann::json& typed, const nlohmann::json& defaults,
                             const std::string& run) {
  ResumeMerge out;
  out.changes = nlohmann::json::object();
  std::vector<std::string> refused;
  for (const char* section : {"net", "data", "train"}) {
    nlohmann::json merged = saved.contains(section) && saved[section].is_object() ? saved[section] : nlohmann::json::object();
    const nlohmann::json& given = typed.contains(section) ? typed[section] : nlohmann::json::object();
    const nlohmann::json& fallback = defaults.at(section);
    for (const auto& [field, value] : fallback.items()) {
      if (resume_rule(section, field) == ResumeRule::per_run) merged[field] = given.contains(field) ? given[field] : value;
    }
    for (const auto& [field, value] : given.items()) {
      const ResumeRule rule = resume_rule(section, field);
      if (rule == ResumeRule::per_run) continue;
      const nlohmann::json before = merged.contains(field) ? merged[field] : fallback.value(field, nlohmann::json());
      if (before == value) continue;
      if (rule == ResumeRule::identity) {
        refused.push_back("--" + field + " " + show(value) + " (the run has " + show(before) + ")");
        continue;
      }
      merged[field] = value;
      out.notes.push_back("--" + field + " " + show(value) + " replaces the run's " + show(before));
      out.changes[field] = {before, value};
    }
    out.config[section] = merged;
  }
  if (!refused.empty()) {
    std::string list;
    for (const std::string& r : refused) list += (list.empty() ? "" : ", ") + r;
    fail("--continue_train: " + run + " cannot resume with options that change what the run is: " + list +
         ". Resume without them, or train a new run under another --name");
  }
  return out;
}

}  // namespace p2p
