// JSON mapping of the option structs (see config_json.h). Field names equal the CLI flag names.
#include "p2p/core/config_json.h"

#include "p2p/core/error.h"

#include <type_traits>

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

template <typename C>
void fields_from_json(C& c, const nlohmann::json& j, const std::string& source, const char* what) {
  if (!j.is_object()) fail(source + ": expected a JSON object of " + what + " options");
  for_each_field(c, [&](const char* name, auto& field, ResumeRule rule) {
    auto it = j.find(name);
    if (rule == ResumeRule::derived || it == j.end()) return;
    try {
      field = it->template get<std::decay_t<decltype(field)>>();
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
