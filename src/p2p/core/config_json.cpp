// JSON mapping of the option structs (see config_json.h). Field names equal the CLI flag names.
#include "p2p/core/config_json.h"

#include "p2p/core/error.h"

#include <set>

namespace p2p {

#define P2P_FIELD(name) {#name, c.name}

nlohmann::json to_json(const NetConfig& c) {
  return {P2P_FIELD(input_nc), P2P_FIELD(output_nc), P2P_FIELD(ngf),        P2P_FIELD(ndf),
          P2P_FIELD(netG),     P2P_FIELD(netD),      P2P_FIELD(n_layers_D), P2P_FIELD(norm),
          P2P_FIELD(init_type), P2P_FIELD(init_gain), P2P_FIELD(no_dropout), P2P_FIELD(dropout_placement),
          P2P_FIELD(norm_D),   P2P_FIELD(num_D),     P2P_FIELD(attention)};
}

nlohmann::json to_json(const DataConfig& c) {
  return {P2P_FIELD(dataroot),   P2P_FIELD(phase),     P2P_FIELD(dataset_mode),   P2P_FIELD(folder_names), P2P_FIELD(pair_replace),
          P2P_FIELD(direction),  P2P_FIELD(preprocess), P2P_FIELD(load_size),     P2P_FIELD(crop_size),
          P2P_FIELD(no_flip),    P2P_FIELD(serial_batches), P2P_FIELD(num_threads), P2P_FIELD(max_dataset_size),
          P2P_FIELD(val_fraction), P2P_FIELD(augment),  P2P_FIELD(jitter),        P2P_FIELD(rotate),
          P2P_FIELD(scale_jitter), P2P_FIELD(jitter_side), P2P_FIELD(sar_db),    P2P_FIELD(db_range),
          P2P_FIELD(normalize),  P2P_FIELD(mean_A),    P2P_FIELD(std_A)};
}

nlohmann::json to_json(const TrainConfig& c) {
  return {P2P_FIELD(name),           P2P_FIELD(checkpoints_dir), P2P_FIELD(loss),         P2P_FIELD(gan_mode),
          P2P_FIELD(lambda_L1),      P2P_FIELD(lambda_gp),       P2P_FIELD(lr),           P2P_FIELD(lr_D),
          P2P_FIELD(beta1),          P2P_FIELD(beta2),           P2P_FIELD(batch_size),   P2P_FIELD(n_epochs),
          P2P_FIELD(n_epochs_decay), P2P_FIELD(lr_policy),       P2P_FIELD(lr_decay_iters), P2P_FIELD(epoch_count),
          P2P_FIELD(continue_train), P2P_FIELD(epoch),           P2P_FIELD(save_epoch_freq), P2P_FIELD(save_latest_freq),
          P2P_FIELD(print_freq),     P2P_FIELD(num_samples),     P2P_FIELD(max_iters),    P2P_FIELD(seed),
          P2P_FIELD(deterministic),  P2P_FIELD(max_val),         P2P_FIELD(best_metric),
          P2P_FIELD(lambda_charbonnier), P2P_FIELD(charbonnier_eps), P2P_FIELD(lambda_ssim), P2P_FIELD(lambda_grad),
          P2P_FIELD(grad_op),        P2P_FIELD(lambda_perc),     P2P_FIELD(vgg_weights),  P2P_FIELD(perc_layers),
          P2P_FIELD(lambda_fm),      P2P_FIELD(loss_schedule),   P2P_FIELD(real_label),   P2P_FIELD(fake_label),
          P2P_FIELD(g_steps_per_d),  P2P_FIELD(d_steps_per_g),   P2P_FIELD(clip_grad_G),  P2P_FIELD(clip_grad_D),
          P2P_FIELD(pool_size),      P2P_FIELD(lr_D_ratio),      P2P_FIELD(dist_timeout)};
}

nlohmann::json to_json(const TestConfig& c) {
  return {P2P_FIELD(results_dir), P2P_FIELD(phase), P2P_FIELD(epoch), P2P_FIELD(eval), P2P_FIELD(num_test),
          P2P_FIELD(seed)};
}

#undef P2P_FIELD

namespace {
template <typename T>
void take(const nlohmann::json& j, const char* key, T& field, const std::string& source) {
  auto it = j.find(key);
  if (it == j.end()) return;
  try {
    field = it->get<T>();
  } catch (const std::exception&) {
    fail(source + ": field '" + key + "' has the wrong type (" + it->dump() + ")");
  }
}
}  // namespace

#define P2P_TAKE(name) take(j, #name, c.name, source)

void update_from_json(NetConfig& c, const nlohmann::json& j, const std::string& source) {
  if (!j.is_object()) fail(source + ": expected a JSON object of network options");
  P2P_TAKE(input_nc), P2P_TAKE(output_nc), P2P_TAKE(ngf), P2P_TAKE(ndf), P2P_TAKE(netG), P2P_TAKE(netD);
  P2P_TAKE(n_layers_D), P2P_TAKE(norm), P2P_TAKE(init_type), P2P_TAKE(init_gain), P2P_TAKE(no_dropout);
  P2P_TAKE(dropout_placement), P2P_TAKE(norm_D), P2P_TAKE(num_D), P2P_TAKE(attention);
}

void update_from_json(DataConfig& c, const nlohmann::json& j, const std::string& source) {
  if (!j.is_object()) fail(source + ": expected a JSON object of data options");
  P2P_TAKE(dataroot), P2P_TAKE(phase), P2P_TAKE(dataset_mode), P2P_TAKE(folder_names), P2P_TAKE(pair_replace), P2P_TAKE(direction);
  P2P_TAKE(preprocess), P2P_TAKE(load_size), P2P_TAKE(crop_size), P2P_TAKE(no_flip), P2P_TAKE(serial_batches);
  P2P_TAKE(num_threads), P2P_TAKE(max_dataset_size), P2P_TAKE(val_fraction), P2P_TAKE(augment), P2P_TAKE(jitter);
  P2P_TAKE(rotate), P2P_TAKE(scale_jitter), P2P_TAKE(jitter_side), P2P_TAKE(sar_db), P2P_TAKE(db_range);
  P2P_TAKE(normalize), P2P_TAKE(mean_A), P2P_TAKE(std_A);
}

void update_from_json(TrainConfig& c, const nlohmann::json& j, const std::string& source) {
  if (!j.is_object()) fail(source + ": expected a JSON object of training options");
  P2P_TAKE(name), P2P_TAKE(checkpoints_dir), P2P_TAKE(loss), P2P_TAKE(gan_mode), P2P_TAKE(lambda_L1);
  P2P_TAKE(lambda_gp), P2P_TAKE(lr), P2P_TAKE(lr_D), P2P_TAKE(beta1), P2P_TAKE(beta2), P2P_TAKE(batch_size);
  P2P_TAKE(n_epochs), P2P_TAKE(n_epochs_decay), P2P_TAKE(lr_policy), P2P_TAKE(lr_decay_iters);
  P2P_TAKE(epoch_count), P2P_TAKE(continue_train), P2P_TAKE(epoch), P2P_TAKE(save_epoch_freq);
  P2P_TAKE(save_latest_freq), P2P_TAKE(print_freq), P2P_TAKE(num_samples), P2P_TAKE(max_iters), P2P_TAKE(seed);
  P2P_TAKE(deterministic), P2P_TAKE(max_val), P2P_TAKE(best_metric), P2P_TAKE(lambda_charbonnier);
  P2P_TAKE(charbonnier_eps), P2P_TAKE(lambda_ssim), P2P_TAKE(lambda_grad), P2P_TAKE(grad_op), P2P_TAKE(lambda_perc);
  P2P_TAKE(vgg_weights), P2P_TAKE(perc_layers), P2P_TAKE(lambda_fm), P2P_TAKE(loss_schedule), P2P_TAKE(real_label);
  P2P_TAKE(fake_label), P2P_TAKE(g_steps_per_d), P2P_TAKE(d_steps_per_g), P2P_TAKE(clip_grad_G);
  P2P_TAKE(clip_grad_D), P2P_TAKE(pool_size), P2P_TAKE(lr_D_ratio), P2P_TAKE(dist_timeout);
}

#undef P2P_TAKE

}  // namespace p2p

namespace p2p {

ResumeRule resume_rule(const std::string& section, const std::string& field) {
  static const std::set<std::string> per_run = {"name", "checkpoints_dir", "continue_train", "epoch", "epoch_count",
                                                "max_iters", "dist_timeout"};
  static const std::set<std::string> train_overrides = {
      "lr",         "lr_D",       "beta1",          "beta2",       "n_epochs",   "n_epochs_decay", "lr_policy",
      "lr_decay_iters", "save_epoch_freq", "save_latest_freq", "print_freq", "num_samples", "max_val",
      "deterministic"};
  if (section == "train" && per_run.count(field)) return ResumeRule::per_run;
  if (section == "train" && train_overrides.count(field)) return ResumeRule::override_with_note;
  if (section == "data" && (field == "dataroot" || field == "num_threads")) return ResumeRule::override_with_note;
  return ResumeRule::identity;  // the network, what the data means, the objective, the seed
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
