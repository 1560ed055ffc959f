// `p2p report`: rebuilds a run folder's tables, plots and report page from its files (training does this
// after every epoch; this is for runs copied from elsewhere, older runs, or a run still in progress).
#include "cli/commands.h"

#include "p2p/core/error.h"
#include "p2p/report/history.h"
#include "p2p/report/run_report.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>

namespace fs = std::filesystem;

namespace p2p::cli {

void register_report(CLI::App& app) {
  auto* cmd = app.add_subcommand("report", "rebuild a run folder's history.csv, results, plots and report.html");
  auto runs = std::make_shared<std::vector<std::string>>();
  cmd->add_option("runs", *runs, "run folders (<checkpoints_dir>/<name>)")->required();
  cmd->callback([=] {
    int failed = 0;
    for (const std::string& run : *runs) {
      try {
        if (!fs::is_directory(run)) fail("run folder " + run + " does not exist");
        write_run_report(run, /*live=*/false);
        std::cout << (fs::path(run) / "report.html").string() << "\n";
        std::ifstream results(fs::path(run) / "results.md");
        std::cout << results.rdbuf() << "\n";
      } catch (const Error& e) {
        std::cerr << "error: " << e.what() << "\n";
        ++failed;  // one bad folder does not stop the others
      }
    }
    if (failed) exit_status() = 1;
  });
}

}  // namespace p2p::cli
