// `p2p train`: train a translator on a paired dataset (reference option names and defaults).
#include "cli/commands.h"
#include "cli/options.h"

#include "p2p/core/config_json.h"
#include "p2p/core/error.h"
#include "p2p/core/runtime.h"
#include "p2p/train/trainer.h"

#include <iostream>

namespace p2p::cli {

int& exit_status() {
  static int status = 0;
  return status;
}

void register_train(CLI::App& app) {
  auto* cmd = app.add_subcommand("train", "train G and D on <dataroot>/<phase> (val/ or a held-out share for metrics)");
  auto net = std::make_shared<NetConfig>();
  auto data = std::make_shared<DataConfig>();
  auto train = std::make_shared<TrainConfig>();
  auto rt = std::make_shared<RuntimeOptions>();
  add_net_options(*cmd, *net);
  add_data_options(*cmd, *data, /*with_phase=*/true);
  add_train_options(*cmd, *train);
  add_runtime_options(*cmd, *rt);
  cmd->get_option("--dataroot")->required();
  cmd->callback([=] {
    const c10::Device device = setup_runtime(*rt);
    const nlohmann::json resolved = {{"net", to_json(*net)}, {"data", to_json(*data)}, {"train", to_json(*train)},
                                     {"device", device.str()}};
    install_stop_handlers();
    TrainResult r = p2p::train(*net, *data, *train, device, resolved, std::cerr);
    std::cout << "run folder: " << r.run_dir << "  epochs: " << r.last_epoch << "  iterations: " << r.total_iters
              << (r.interrupted ? "  (stopped early; resume with --continue_train)" : "") << "\n";
    if (r.interrupted && stop_requested()) exit_status() = 130;
  });
}

}  // namespace p2p::cli
