// Tests for core/config_json: the field lists of config.h name every member of each option struct,
// every field round-trips through JSON (config.json, checkpoints), and a resumed run's options merge by what each option means for the run (identity refused, schedule and
// logging overridden with a note, per-invocation options never taken from the saved run).
#include "p2p/core/config_json.h"
#include "p2p/core/error.h"

#include <gtest/gtest.h>

#include <limits>
#include <map>
#include <sstream>
#include <type_traits>
#include <utility>

namespace p2p {
namespace {

// The number of members of an aggregate, counted by brace-initialising it from N values that convert
// to anything: independent of the field lists, so a member the list forgets is caught.
struct AnyValue {
  template <typename T>
  operator T() const;  // declared only: used in unevaluated contexts
};
template <typename T, typename... A>
constexpr auto initialisable(int) -> decltype(T{std::declval<A>()...}, true) { return true; }
template <typename T, typename... A>
constexpr bool initialisable(...) { return false; }
template <typename T, typename... A>
constexpr size_t member_count() {
  if constexpr (initialisable<T, A..., AnyValue>(0)) {
    return member_count<T, A..., AnyValue>();
  } else {
    return sizeof...(A);
  }
}

template <typename C>
size_t listed_fields() {
  size_t n = 0;
  for_each_field(C(), [&](const char*, const auto&, ResumeRule) { ++n; });
  return n;
}

TEST(ConfigFields, EveryMemberIsListedOnce) {
  EXPECT_EQ(listed_fields<NetConfig>(), member_count<NetConfig>());
  EXPECT_EQ(listed_fields<DataConfig>(), member_count<DataConfig>());
  EXPECT_EQ(listed_fields<TrainConfig>(), member_count<TrainConfig>());
  EXPECT_EQ(listed_fields<TestConfig>(), member_count<TestConfig>());
  // Known answers, so a counting mistake in member_count cannot pass both sides.
  EXPECT_EQ(member_count<NetConfig>(), 16u);
  EXPECT_EQ(member_count<TestConfig>(), 6u);
}

// A value unlike the default, of the field's own type.
void change(int& v) { v = v * 3 + 7; }
void change(int64_t& v) { v = v == std::numeric_limits<int64_t>::max() ? 123456789012LL : v * 3 + 7; }
void change(uint64_t& v) { v = v * 3 + 12345678901ull; }
void change(double& v) { v = v * 2.5 + 0.125; }
void change(bool& v) { v = !v; }
void change(std::string& v) { v += "|changed"; }
void change(std::vector<double>& v) { v = {0.25, -1.5, 3e-7}; }

// Fields read from files are held to their flags' bounds (test_config_bounds.cpp): those with a list of
// values or a small range take another allowed value instead.
template <typename T>
void keep_in_bounds(const std::string& name, T& v) {
  if constexpr (std::is_same_v<T, std::string>) {
    static const std::map<std::string, std::string> allowed = {
        {"netD", "pixel"},          {"norm", "instance"},     {"norm_D", "spectral"},   {"init_type", "xavier"},
        {"dropout_placement", "paper"}, {"attention", "down,up"}, {"output_activation", "none"},
        {"dataset_mode", "folders"}, {"direction", "BtoA"},   {"preprocess", "crop"},   {"augment", "strong"},
        {"jitter_side", "both"},    {"normalize", "dataset"}};
    auto it = allowed.find(name);
    if (it != allowed.end()) v = it->second;
  } else if constexpr (std::is_same_v<T, int>) {
    if (name == "n_layers_D" || name == "num_D") v = 5;
  }
}

template <typename T>
std::string text(const T& v) {
  std::ostringstream out;
  out.precision(17);
  if constexpr (std::is_same_v<T, std::vector<double>>) {
    for (double x : v) out << x << ",";
  } else {
    out << v;
  }
  return out.str();
}

// Every stored field set away from its default comes back through JSON; derived ones keep the default.
template <typename C>
void expect_every_field_round_trips() {
  C changed;
  for_each_field(changed, [](const char* name, auto& field, ResumeRule) {
    change(field);
    keep_in_bounds(name, field);
  });
  C back;
  update_from_json(back, nlohmann::json::parse(to_json(changed).dump()), "test");  // through text, as on disk
  std::vector<std::string> got, want, defaults;
  for_each_field(back, [&](const char*, const auto& f, ResumeRule) { got.push_back(text(f)); });
  for_each_field(static_cast<const C&>(changed), [&](const char*, const auto& f, ResumeRule) { want.push_back(text(f)); });
  for_each_field(C(), [&](const char* name, const auto& f, ResumeRule rule) {
    defaults.push_back(text(f));
    if (rule == ResumeRule::derived) want[defaults.size() - 1] = text(f);
    else EXPECT_NE(want[defaults.size() - 1], text(f)) << name << " was not changed";
  });
  size_t i = 0;
  for_each_field(C(), [&](const char* name, const auto&, ResumeRule) {
    EXPECT_EQ(got[i], want[i]) << name;
    ++i;
  });
}

TEST(ConfigFields, EveryFieldRoundTripsThroughJson) {
  expect_every_field_round_trips<NetConfig>();
  expect_every_field_round_trips<DataConfig>();
  expect_every_field_round_trips<TrainConfig>();
}

TEST(ConfigFields, TestOptionsReachJson) {
  TestConfig t;
  for_each_field(t, [](const char*, auto& field, ResumeRule) { change(field); });
  const nlohmann::json j = to_json(t);
  EXPECT_EQ(j.size(), 6u);
  EXPECT_EQ(j["results_dir"], "./results|changed");
  EXPECT_EQ(j["eval"], true);
  EXPECT_EQ(j["num_test"], 157);
}

// Resuming with every field typed differently: overrides and per-run options are taken, every
// identity option is refused by name, derived ones are never stored.
TEST(ConfigFields, ResumeJudgesEveryFieldByItsRule) {
  NetConfig n;
  DataConfig d;
  TrainConfig t;
  for_each_field(n, [](const char*, auto& field, ResumeRule) { change(field); });
  for_each_field(d, [](const char*, auto& field, ResumeRule) { change(field); });
  for_each_field(t, [](const char*, auto& field, ResumeRule) { change(field); });
  const nlohmann::json defaults = {{"net", to_json(NetConfig())}, {"data", to_json(DataConfig())}, {"train", to_json(TrainConfig())}};
  const nlohmann::json typed = {{"net", to_json(n)}, {"data", to_json(d)}, {"train", to_json(t)}};
  std::string message;
  try {
    merge_for_resume(defaults, typed, defaults, "run");
  } catch (const Error& e) {
    message = e.what();
  }
  size_t identity = 0;
  auto check = [&](const char* name, const auto&, ResumeRule rule) {
    if (rule == ResumeRule::derived) return;  // never stored, so never typed
    const bool named = message.find("--" + std::string(name) + " ") != std::string::npos;
    EXPECT_EQ(named, rule == ResumeRule::identity) << name << " in: " << message;
    identity += rule == ResumeRule::identity;
  };
  for_each_field(n, check);
  for_each_field(d, check);
  for_each_field(t, check);
  EXPECT_GT(identity, 40u);
  // Without the refused ones the rest is applied.
  nlohmann::json allowed = typed;
  for (const char* section : {"net", "data", "train"}) {
    for (auto it = allowed[section].begin(); it != allowed[section].end();) {
      it = resume_rule(section, it.key()) == ResumeRule::identity ? allowed[section].erase(it) : std::next(it);
    }
  }
  const ResumeMerge m = merge_for_resume(defaults, allowed, defaults, "run");
  EXPECT_EQ(m.config["train"]["lr"], t.lr);
  EXPECT_EQ(m.config["train"]["beta2"], t.beta2);
  EXPECT_EQ(m.config["train"]["max_iters"], t.max_iters);
  EXPECT_EQ(m.config["data"]["num_threads"], d.num_threads);
  EXPECT_FALSE(m.config["data"].contains("size_multiple"));
  EXPECT_FALSE(m.changes.contains("max_iters"));
  EXPECT_TRUE(m.changes.contains("print_freq"));
}

TEST(ConfigJson, WrongTypeNamesSourceAndField) {
  NetConfig n;
  try {
    update_from_json(n, nlohmann::json{{"ngf", "wide"}}, "run/config.json");
    FAIL() << "expected p2p::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("run/config.json"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("ngf"), std::string::npos);
  }
}

nlohmann::json defaults() {
  return {{"net", to_json(NetConfig())}, {"data", to_json(DataConfig())}, {"train", to_json(TrainConfig())}};
}

// A saved run: unet_128, lr 1e-4, dataroot /data/a, trained with --max_iters 10 and --epoch_count 3.
nlohmann::json saved_run() {
  nlohmann::json s = defaults();
  s["net"]["netG"] = "unet_128";
  s["train"]["lr"] = 1e-4;
  s["train"]["max_iters"] = 10;
  s["train"]["epoch_count"] = 3;
  s["data"]["dataroot"] = "/data/a";
  return s;
}

TEST(ResumeMerge, SavedOptionsAreTheDefaults) {
  const ResumeMerge m = merge_for_resume(saved_run(), nlohmann::json::object(), defaults(), "run");
  EXPECT_EQ(m.config["net"]["netG"], "unet_128");
  EXPECT_EQ(m.config["train"]["lr"], 1e-4);
  EXPECT_EQ(m.config["data"]["dataroot"], "/data/a");
  // Options of the invocation that saved the run do not carry over: it would stop at once again.
  EXPECT_EQ(m.config["train"]["max_iters"], 0);
  EXPECT_EQ(m.config["train"]["epoch_count"], 1);
  EXPECT_TRUE(m.notes.empty());
  EXPECT_TRUE(m.changes.empty());
}

TEST(ResumeMerge, ScheduleAndDataLocationOverrideWithANote) {
  nlohmann::json typed = {{"train", {{"lr", 5e-5}, {"n_epochs", 300}, {"max_iters", 7}}},
                          {"data", {{"dataroot", "/data/moved"}}},
                          {"net", {{"netG", "unet_128"}}}};  // same as the run: no note
  const ResumeMerge m = merge_for_resume(saved_run(), typed, defaults(), "run");
  EXPECT_EQ(m.config["train"]["lr"], 5e-5);
  EXPECT_EQ(m.config["train"]["n_epochs"], 300);
  EXPECT_EQ(m.config["train"]["max_iters"], 7);
  EXPECT_EQ(m.config["data"]["dataroot"], "/data/moved");
  ASSERT_EQ(m.notes.size(), 3u);
  EXPECT_EQ(m.changes["lr"], nlohmann::json({1e-4, 5e-5}));
  EXPECT_EQ(m.changes["dataroot"], nlohmann::json({"/data/a", "/data/moved"}));
  EXPECT_FALSE(m.changes.contains("max_iters"));  // per-run: not a change of the run
  EXPECT_FALSE(m.changes.contains("netG"));
}

TEST(ResumeMerge, ArchitectureDataAndObjectiveChangesAreRefusedNamingEach) {
  nlohmann::json typed = {{"net", {{"netG", "unet_256"}, {"ngf", 32}}},
                          {"data", {{"direction", "BtoA"}, {"crop_size", 128}}},
                          {"train", {{"lambda_L1", 10.0}, {"lr", 1e-3}}}};
  try {
    merge_for_resume(saved_run(), typed, defaults(), "checkpoints/run");
    FAIL() << "expected p2p::Error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("checkpoints/run"), std::string::npos) << msg;
    EXPECT_NE(msg.find("--netG unet_256 (the run has unet_128)"), std::string::npos) << msg;
    EXPECT_NE(msg.find("--ngf 32 (the run has 64)"), std::string::npos) << msg;
    EXPECT_NE(msg.find("--direction BtoA (the run has AtoB)"), std::string::npos) << msg;
    EXPECT_NE(msg.find("--crop_size 128 (the run has 256)"), std::string::npos) << msg;
    EXPECT_NE(msg.find("--lambda_L1 10.0 (the run has 100.0)"), std::string::npos) << msg;
    EXPECT_EQ(msg.find("--lr "), std::string::npos) << msg;  // an override, not a conflict
  }
}

TEST(ResumeMerge, RulesByMeaning) {
  EXPECT_EQ(resume_rule("net", "norm"), ResumeRule::identity);
  EXPECT_EQ(resume_rule("data", "load_size"), ResumeRule::identity);
  EXPECT_EQ(resume_rule("data", "val_fraction"), ResumeRule::identity);
  EXPECT_EQ(resume_rule("train", "seed"), ResumeRule::identity);
  EXPECT_EQ(resume_rule("train", "best_metric"), ResumeRule::identity);
  EXPECT_EQ(resume_rule("data", "num_threads"), ResumeRule::override_with_note);
  EXPECT_EQ(resume_rule("train", "n_epochs_decay"), ResumeRule::override_with_note);
  EXPECT_EQ(resume_rule("train", "print_freq"), ResumeRule::override_with_note);
  EXPECT_EQ(resume_rule("train", "epoch"), ResumeRule::per_run);
  EXPECT_EQ(resume_rule("train", "checkpoints_dir"), ResumeRule::per_run);
}

}  // namespace
}  // namespace p2p
