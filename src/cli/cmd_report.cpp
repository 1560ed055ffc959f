// Turning runs into evidence: `p2p report` rebuilds a run folder's tables, plots and report page from its
// files (training does this after every epoch; this is for copied or older runs), `p2p compare` puts
// several runs side by side.
#include "cli/commands.h"
#include "cli/options.h"

#include "p2p/core/error.h"
#include "p2p/report/history.h"
#include "p2p/report/run_report.h"
#include "p2p/studies/compare.h"

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

void register_compare(CLI::App& app) {
  auto* cmd = app.add_subcommand("compare", "one table, bar charts and side-by-side samples of several runs, as a page");
  auto o = std::make_shared<CompareOptions>();
  auto rt = std::make_shared<RuntimeOptions>();
  cmd->add_option("runs", o->runs, "run folders (<checkpoints_dir>/<name>)")->required();
  cmd->add_option("--out", o->out_dir, "folder for compare.md/.csv, bar charts, samples/ and index.html")->required();
  cmd->add_option("--num_samples", o->num_samples, "validation pairs translated by every run, side by side (0 = none)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--checkpoint", o->checkpoint, "each run's checkpoint for the samples: best, latest or an epoch")
      ->capture_default_str();
  cmd->add_option("--seed", o->seed, "dropout draws of the paper's test mode, the same for every run")->capture_default_str();
  add_runtime_options(*cmd, *rt);
  cmd->callback([=] {
    o->device = setup_runtime(*rt, std::cerr);
    compare_runs(*o, std::cout);
    std::cout << (fs::path(o->out_dir) / "index.html").string() << "\n";
  });
}

}  // namespace p2p::cli
