// Turning runs into evidence: `p2p report` rebuilds a run folder's tables, plots and report page from its
// files (training does this after every epoch; this is for copied or older runs), `p2p compare` puts
// several runs side by side, `p2p sweep` trains a grid of runs and compares them.
#include "cli/commands.h"
#include "cli/options.h"

#include "p2p/core/config_json.h"
#include "p2p/core/error.h"
#include "p2p/core/runtime.h"
#include "p2p/io/run_folder.h"
#include "p2p/report/history.h"
#include "p2p/report/run_report.h"
#include "p2p/studies/compare.h"
#include "p2p/studies/sweep.h"

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
      ->check(non_negative_int())
      ->capture_default_str();
  cmd->add_option("--checkpoint", o->checkpoint, "each run's checkpoint for the samples: best, latest or an epoch")
      ->capture_default_str();
  cmd->add_option("--seed", o->seed, "dropout draws of the paper's test mode, the same for every run")->capture_default_str();
  add_runtime_options(*cmd, *rt);
  cmd->callback([=] {
    o->device = setup_runtime(*rt, std::cerr);
    // The samples run each run's generator; the first run's stands for them in the BLAS calibration.
    CalibrationWorkload work;
    const nlohmann::json first = read_run_config(o->runs.front());
    if (first.is_object() && first.contains("net")) update_from_json(work.net, first["net"], o->runs.front() + "/config.json");
    if (first.is_object() && first.contains("data")) work.size = first["data"].value("crop_size", 256);
    setup_blas_threads(*rt, o->device, work, std::cerr);
    compare_runs(*o, std::cout);
    std::cout << (fs::path(o->out_dir) / "index.html").string() << "\n";
  });
}

void register_sweep(CLI::App& app) {
  auto* cmd = app.add_subcommand("sweep", "train every combination of a grid of training flags, then compare the runs");
  struct Opts {
    std::string spec, out, val_segmenter;
    bool quick = false, dry_run = false;
    int num_samples = 4;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("spec", o->spec, "sweep spec (JSON: name, base, grid, quick)")->required();
  cmd->add_option("--val_segmenter", o->val_segmenter,
                  "a segmentation run: every run records the FCN-score of its validation outputs (val_miou), and the "
                  "final table shows it")
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--out", o->out, "sweep folder: runs/<name>__<axis>-<value>... and compare/")->required();
  cmd->add_flag("--quick", o->quick, "apply the spec's \"quick\" overrides (a short CPU variant)");
  cmd->add_flag("--dry_run", o->dry_run, "print each run's name, state and command line; train nothing");
  cmd->add_option("--num_samples", o->num_samples, "validation pairs shown side by side in the comparison")
      ->check(non_negative_int())
      ->capture_default_str();
  cmd->callback([o, cmd] {
    install_stop_handlers();
    const SweepSpec spec = parse_sweep_spec(o->spec);
    // The flags are the train command's own: an unknown key, or a value of the wrong kind for a switch,
    // fails here, before any run starts.
    const CLI::App* train = cmd->get_parent()->get_subcommand("train");
    check_sweep_flags(spec, [train](const std::string& key) {
      const CLI::Option* opt = train->get_option_no_throw("--" + key);
      if (opt == nullptr) return FlagKind::unknown;
      return opt->get_expected_max() == 0 ? FlagKind::switch_flag : FlagKind::value;  // add_flag expects no value
    });
    std::vector<SweepRun> runs = expand_sweep(spec, o->quick);
    if (!o->val_segmenter.empty()) {  // one segmenter scores every run (a base flag the spec did not set)
      const std::string seg = fs::absolute(o->val_segmenter).lexically_normal().string();
      for (SweepRun& r : runs) r.flags.emplace_back("val_segmenter", seg);
    }
    const std::string program = fs::read_symlink("/proc/self/exe").string();
    if (o->dry_run) {  // each line runs as printed (what run_sweep would start)
      const std::string ck = fs::absolute(fs::path(o->out) / "runs").lexically_normal().string();
      for (const SweepRun& r : runs) {
        const RunState st = sweep_run_state((fs::path(ck) / r.name).string());
        std::vector<std::string> line = {program, "train"};
        for (const std::string& a : train_arguments(r, ck, st)) line.push_back(a);
        std::cout << r.name << "  [" << (st == RunState::finished ? "finished" : st == RunState::partial ? "partial" : "new")
                  << "]\n  " << shell_line(line) << "\n";
      }
      return;
    }
    std::cout << "sweep " << spec.name << ": " << runs.size() << " runs under " << (fs::path(o->out) / "runs").string()
              << "\n" << std::flush;
    const SweepResult r = run_sweep(runs, o->out, program, std::cout);
    std::cout << "sweep " << spec.name << ": " << r.trained << " trained, " << r.resumed << " resumed, " << r.skipped
              << " already finished, " << r.failed << " failed" << (r.interrupted ? ", stopped" : "") << "\n";
    if (!r.run_dirs.empty() && !r.interrupted) {
      CompareOptions c;
      c.runs = r.run_dirs;
      c.out_dir = (fs::path(o->out) / "compare").string();
      c.num_samples = o->num_samples;
      compare_runs(c, std::cout);
      std::cout << "comparison: " << (fs::path(c.out_dir) / "index.html").string() << "\n";
    }
    if (r.interrupted) exit_status() = r.stop_status;
    else if (r.failed > 0) exit_status() = 1;
  });
}

}  // namespace p2p::cli
