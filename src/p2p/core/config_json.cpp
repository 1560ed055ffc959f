// JSON mapping of the option structs (see config_json.h). Field names equal the CLI flag names.
#include "p2p/core/config_json.h"

#include "p2p/core/error.h"

namespace p2p {

#define P2P_FIELD(name) {#name, c.name}

nlohmann::json to_json(const NetConfig& c) {
  return {P2P_FIELD(input_nc), P2P_FIELD(output_nc), P2P_FIELD(ngf),        P2P_FIELD(ndf),
          P2P_FIELD(netG),     P2P_FIELD(netD),      P2P_FIELD(n_layers_D), P2P_FIELD(norm),
          P2P_FIELD(init_type), P2P_FIELD(init_gain), P2P_FIELD(no_dropout), P2P_FIELD(dropout_placement)};
}

nlohmann::json to_json(const DataConfig& c) {
  return {P2P_FIELD(dataroot),   P2P_FIELD(phase),     P2P_FIELD(dataset_mode),   P2P_FIELD(folder_names), P2P_FIELD(pair_replace),
          P2P_FIELD(direction),  P2P_FIELD(preprocess), P2P_FIELD(load_size),     P2P_FIELD(crop_size),
          P2P_FIELD(no_flip),    P2P_FIELD(serial_batches), P2P_FIELD(num_threads), P2P_FIELD(max_dataset_size),
          P2P_FIELD(val_fraction)};
}

nlohmann::json to_json(const TrainConfig& c) {
  return {P2P_FIELD(name),           P2P_FIELD(checkpoints_dir), P2P_FIELD(loss),         P2P_FIELD(gan_mode),
          P2P_FIELD(lambda_L1),      P2P_FIELD(lambda_gp),       P2P_FIELD(lr),           P2P_FIELD(lr_D),
          P2P_FIELD(beta1),          P2P_FIELD(beta2),           P2P_FIELD(batch_size),   P2P_FIELD(n_epochs),
          P2P_FIELD(n_epochs_decay), P2P_FIELD(lr_policy),       P2P_FIELD(lr_decay_iters), P2P_FIELD(epoch_count),
          P2P_FIELD(continue_train), P2P_FIELD(epoch),           P2P_FIELD(save_epoch_freq), P2P_FIELD(save_latest_freq),
          P2P_FIELD(print_freq),     P2P_FIELD(num_samples),     P2P_FIELD(max_iters),    P2P_FIELD(seed),
          P2P_FIELD(deterministic),  P2P_FIELD(max_val)};
}

nlohmann::json to_json(const TestConfig& c) {
  return {P2P_FIELD(results_dir), P2P_FIELD(phase), P2P_FIELD(epoch), P2P_FIELD(eval), P2P_FIELD(num_test)};
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
  P2P_TAKE(dropout_placement);
}

void update_from_json(DataConfig& c, const nlohmann::json& j, const std::string& source) {
  if (!j.is_object()) fail(source + ": expected a JSON object of data options");
  P2P_TAKE(dataroot), P2P_TAKE(phase), P2P_TAKE(dataset_mode), P2P_TAKE(folder_names), P2P_TAKE(pair_replace), P2P_TAKE(direction);
  P2P_TAKE(preprocess), P2P_TAKE(load_size), P2P_TAKE(crop_size), P2P_TAKE(no_flip), P2P_TAKE(serial_batches);
  P2P_TAKE(num_threads), P2P_TAKE(max_dataset_size), P2P_TAKE(val_fraction);
}

#undef P2P_TAKE

}  // namespace p2p
