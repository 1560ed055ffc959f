// `p2p test` and `p2p translate`: run a trained generator. The architecture comes from the run's
// config (stored in every checkpoint), so users need not repeat training flags; flags given on the
// command line override it. Reference *.pth files carry no config: their flags must be given.
#include "cli/commands.h"
#include "cli/options.h"

#include "p2p/core/config_json.h"
#include "p2p/core/error.h"
#include "p2p/eval/inference.h"
#include "p2p/io/checkpoint.h"
#include "p2p/models/networks.h"
#include "p2p/train/trainer.h"

#include <filesystem>
#include <iostream>

namespace fs = std::filesystem;

namespace p2p::cli {

namespace {

// Copies the fields behind the `flags` the user typed from `typed` into `target` (typed flags win over
// a checkpoint's config). Field names equal flag names without the dashes.
template <typename Config>
void apply_typed(Config& target, const Config& typed, const CLI::App& cmd, std::initializer_list<const char*> flags,
                 const std::string& source) {
  const nlohmann::json values = to_json(typed);
  for (const char* flag : flags) {
    if (given(cmd, flag)) update_from_json(target, nlohmann::json{{flag + 2, values.at(flag + 2)}}, source);
  }
}

void merge_net(NetConfig& net, const CLI::App& cmd, const nlohmann::json& config, const std::string& source) {
  const NetConfig typed = net;
  if (config.contains("net")) update_from_json(net, config["net"], source);
  apply_typed(net, typed, cmd,
              {"--input_nc", "--output_nc", "--ngf", "--ndf", "--netG", "--netD", "--n_layers_D", "--norm",
               "--no_dropout", "--dropout_placement"},
              source);
}

// Resolves the weights file and the network config, builds G and loads it.
NetworkPtr load_generator(const CLI::App& cmd, NetConfig& net, const ModelRef& ref, const std::string& epoch,
                          nlohmann::json& config, std::string& weights) {
  weights = ref.weights;
  if (weights.empty()) {
    if (ref.name.empty()) fail("give --name (a run folder under --checkpoints_dir) or --weights FILE");
    weights = checkpoint_path((fs::path(ref.checkpoints_dir) / ref.name).string(), epoch);
    if (!fs::exists(weights)) {
      fail("checkpoint " + weights + " does not exist (check --name, --checkpoints_dir and --epoch)");
    }
  }
  const StateDict file = read_state_dict(weights);  // read once: checkpoints can be large
  if (is_p2p_checkpoint(file)) {
    const CheckpointMeta meta = checkpoint_meta(file, weights);
    if (!meta.config_json.empty()) config = nlohmann::json::parse(meta.config_json);
    merge_net(net, cmd, config, weights);
  }
  NetworkPtr G = make_generator(net);
  load_generator_weights(*G, file, weights);
  return G;
}

}  // namespace

void register_test(CLI::App& app) {
  auto* cmd = app.add_subcommand("test", "translate a dataset split with a trained run; writes images, index.html, metrics");
  auto net = std::make_shared<NetConfig>();
  auto data = std::make_shared<DataConfig>();
  auto test = std::make_shared<TestConfig>();
  auto ref = std::make_shared<ModelRef>();
  auto rt = std::make_shared<RuntimeOptions>();
  add_net_options(*cmd, *net);
  add_data_options(*cmd, *data);
  add_test_options(*cmd, *test);
  add_model_ref_options(*cmd, *ref, /*allow_weights=*/true);
  add_runtime_options(*cmd, *rt);
  cmd->callback([=] {
    const c10::Device device = setup_runtime(*rt);
    NetConfig n = *net;
    nlohmann::json config;
    std::string weights;
    NetworkPtr G = load_generator(*cmd, n, *ref, test->epoch, config, weights);
    // Data options: the training run's, then whatever was typed.
    DataConfig d;
    if (config.contains("data")) update_from_json(d, config["data"], weights);
    apply_typed(d, *data, *cmd,
                {"--dataroot", "--dataset_mode", "--folder_names", "--pair_replace", "--direction", "--preprocess",
                 "--load_size", "--crop_size", "--max_dataset_size"},
                "command line");
    if (d.dataroot.empty()) fail("--dataroot: required (the run's config names none)");
    d.phase = test->phase;
    d.input_nc = n.input_nc;
    d.output_nc = n.output_nc;
    G->to(device);
    set_eval_mode(*G, test->eval);
    const std::string name = ref->name.empty() ? fs::path(weights).stem().string() : ref->name;
    const std::string out = (fs::path(test->results_dir) / name / (test->phase + "_" + test->epoch)).string();
    const int64_t n_done = run_test(*G, d, *test, device, out);
    std::cout << "translated " << n_done << " images -> " << out << "/index.html\n";
  });
}

void register_translate(CLI::App& app) {
  auto* cmd = app.add_subcommand("translate", "translate image files of any size with a trained generator");
  auto net = std::make_shared<NetConfig>();
  auto ref = std::make_shared<ModelRef>();
  auto rt = std::make_shared<RuntimeOptions>();
  auto input = std::make_shared<std::string>();
  auto output = std::make_shared<std::string>();
  auto epoch = std::make_shared<std::string>("latest");
  auto eval = std::make_shared<bool>(false);
  add_net_options(*cmd, *net);
  add_model_ref_options(*cmd, *ref, /*allow_weights=*/true);
  add_runtime_options(*cmd, *rt);
  cmd->add_option("--input", *input, "an image file or a folder of images")->required();
  cmd->add_option("--output", *output, "folder for the translated images (<stem>.png)")->required();
  cmd->add_option("--epoch", *epoch, "checkpoint of --name: latest, best or an epoch number")->capture_default_str();
  cmd->add_flag("--eval", *eval, "running BN statistics and no dropout (default: the paper's test mode)");
  cmd->callback([=] {
    const c10::Device device = setup_runtime(*rt);
    NetConfig n = *net;
    nlohmann::json config;
    std::string weights;
    NetworkPtr G = load_generator(*cmd, n, *ref, *epoch, config, weights);
    G->to(device);
    set_eval_mode(*G, *eval);
    const int64_t count = run_translate(*G, *input, *output, n.input_nc, device);
    std::cout << "translated " << count << " images -> " << *output << "\n";
  });
}

}  // namespace p2p::cli
