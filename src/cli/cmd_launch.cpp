// `p2p launch`: start the ranks of a data-parallel job on this machine (see dist/launcher.h).
//   p2p launch --nproc 2 -- train --dataroot ... --name run
#include "cli/commands.h"
#include "cli/options.h"

#include "p2p/dist/launcher.h"

#include <iostream>
#include <memory>

namespace p2p::cli {

void register_launch(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "launch", "run a command (normally train) as the ranks of a data-parallel job: p2p launch --nproc N -- train ...");
  auto o = std::make_shared<LaunchOptions>();
  auto command = std::make_shared<std::vector<std::string>>();
  add_launch_options(*cmd, *o);
  cmd->add_option("command", *command, "what each rank runs, after --: a p2p command and its options")->required();
  cmd->callback([=] {
    std::vector<std::string> args = *command;
    if (!args.empty() && args.front() != "train") {
      std::cerr << "note: launch runs `p2p " << args.front() << "` on every rank; only train is data-parallel\n";
    }
    exit_status() = launch(*o, "/proc/self/exe", args, std::cerr);
  });
}

}  // namespace p2p::cli
