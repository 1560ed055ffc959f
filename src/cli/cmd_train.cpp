// `p2p train`: train a translator on a paired dataset (reference option names and defaults). With
// --continue_train the run's config.json gives every default, so `p2p train --name X --continue_train`
// alone resumes; typed options are judged by merge_for_resume (core/config_json.h). Under a launcher
// (RANK, WORLD_SIZE, ... set) the process is one rank of a data-parallel job.
#include "cli/commands.h"
#include "cli/options.h"

#include "p2p/core/build_info.h"
#include "p2p/core/config_json.h"
#include "p2p/core/error.h"
#include "p2p/core/runtime.h"
#include "p2p/dist/env.h"
#include "p2p/io/run_folder.h"
#include "p2p/train/model.h"
#include "p2p/train/trainer.h"

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <thread>

namespace fs = std::filesystem;

namespace p2p::cli {

int& exit_status() {
  static int status = 0;
  return status;
}

namespace {

// Paths are stored absolute, so a run can be tested or resumed from any working directory.
std::string absolute(const std::string& path) {
  return path.empty() ? path : fs::absolute(path).lexically_normal().string();
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

nlohmann::json sections(const NetConfig& n, const DataConfig& d, const TrainConfig& t) {
  return {{"net", to_json(n)}, {"data", to_json(d)}, {"train", to_json(t)}};
}

// --continue_train: the run's saved options become n, d, t, with what `cmd` typed judged by
// merge_for_resume (notes printed). Returns the run's override history, this resume's changes appended.
// A folder of the reference's training checkpoints (<epoch>_net_G.pth or <epoch>_net_G_A.pth) with no
// run of ours in it.
bool reference_run_folder(const std::string& run_dir, const std::string& epoch) {
  std::error_code ec;
  if (fs::exists(fs::path(run_dir) / "config.json", ec) || fs::exists(fs::path(run_dir) / "latest.pt", ec)) return false;
  return fs::exists(fs::path(run_dir) / (epoch + "_net_G.pth"), ec) || fs::exists(fs::path(run_dir) / (epoch + "_net_G_A.pth"), ec);
}

nlohmann::json resume_options(const CLI::App& cmd, NetConfig& n, DataConfig& d, TrainConfig& t) {
  const std::string run_dir = (fs::path(t.checkpoints_dir) / t.name).string();
  const nlohmann::json saved = read_run_config(run_dir);
  if (saved.is_null()) {
    fail("--continue_train: " + run_dir + " has no config.json or latest.pt to resume (" +
         (fs::is_directory(run_dir) ? "it holds " + describe_checkpoints(run_dir) : std::string("no such folder")) +
         "; check --name and --checkpoints_dir)");
  }
  const ResumeMerge merge = merge_for_resume(saved, typed_options(cmd, sections(n, d, t)),
                                             sections(NetConfig(), DataConfig(), TrainConfig()), run_dir);
  for (const std::string& note : merge.notes) std::cerr << "note: " << note << "\n";
  n = NetConfig(), d = DataConfig(), t = TrainConfig();
  update_from_json(n, merge.config["net"], run_dir + "/config.json");
  update_from_json(d, merge.config["data"], run_dir + "/config.json");
  update_from_json(t, merge.config["train"], run_dir + "/config.json");
  nlohmann::json overrides = saved.contains("overrides") && saved["overrides"].is_array() ? saved["overrides"]
                                                                                           : nlohmann::json::array();
  if (!merge.changes.empty()) overrides.push_back({{"time", utc_now()}, {"changes", merge.changes}});
  return overrides;
}

}  // namespace

void register_train(CLI::App& app) {
  auto* cmd = app.add_subcommand("train", "train G and D on <dataroot>/<phase> (val/ or a held-out share for metrics)");
  auto net = std::make_shared<NetConfig>();
  auto data = std::make_shared<DataConfig>();
  auto train = std::make_shared<TrainConfig>();
  auto rt = std::make_shared<RuntimeOptions>();
  auto compat = std::make_shared<ReferenceCompat>();
  add_generator_options(*cmd, *net);
  add_discriminator_options(*cmd, *net);
  add_init_options(*cmd, *net);
  add_data_options(*cmd, *data, DataUse::train);
  add_train_options(*cmd, *train);
  add_runtime_options(*cmd, *rt);
  add_precision_option(*cmd, train->precision);
  add_reference_options(*cmd, *compat, DisplayFlags::train);
  cmd->callback([=] {
    install_stop_handlers();  // first: a signal during set-up ends the run cleanly too
    apply_reference_options(*cmd, *compat, std::cerr);
    const DistEnv dist = dist_env();  // RANK, WORLD_SIZE, ... as a launcher sets them
    RuntimeOptions runtime = *rt;
    if (dist.distributed() && !given(*cmd, "--torch_threads")) {
      const int here = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
      runtime.torch_threads = std::max(1, here / dist.local_world_size);  // the ranks here share the cores
    }
    const c10::Device device = setup_runtime(runtime, std::cerr);
    NetConfig n = *net;
    DataConfig d = *data;
    TrainConfig t = *train;
    d.dataroot = absolute(d.dataroot);
    t.checkpoints_dir = absolute(t.checkpoints_dir);
    nlohmann::json overrides = nlohmann::json::array();
    // A reference run folder (its <epoch>_net_*.pth, no config.json of ours) resumes with the options typed
    // now, as the reference's --continue_train does (the trainer loads the networks from those files).
    const bool reference_run = t.continue_train && reference_run_folder((fs::path(t.checkpoints_dir) / t.name).string(), t.epoch);
    if (reference_run) {
      if (d.dataroot.empty()) fail("--dataroot is required to continue a reference run (its options are not stored here)");
    } else if (t.continue_train) {
      overrides = resume_options(*cmd, n, d, t);
    } else if (d.dataroot.empty()) {
      fail("--dataroot is required (the folder holding " + d.phase + "/ and optionally val/)");
    }
    // A resumed run's options come from its config.json, where the model's defaults were already applied
    // (and may have been overridden by typed flags then): treat every option as given.
    apply_model_defaults(n, d, t,
                         [&](const std::string& flag) { return (t.continue_train && !reference_run) || given(*cmd, flag); });
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    d.num_threads = capped_threads("--num_threads", d.num_threads, 4 * cores, std::cerr);  // loaders wait on files
    // Timed on the run's own generator, size and batch; the ranks of a job take turns (one measures).
    CalibrationWorkload work{true, n, d.crop_size, t.batch_size};
    t.precision = precision_name(setup_precision(t.precision, device, work, std::cerr, &t));  // recorded as resolved
    setup_blas_threads(runtime, device, work, std::cerr, &t);
    nlohmann::json resolved = sections(n, d, t);
    resolved["device"] = device.str();
    resolved["build"] = build_record(device);  // what made this run: version, git revision, LibTorch, CPU
    resolved["overrides"] = overrides;
    // Rank 0 speaks for a data-parallel job; the others report only their errors.
    std::ostringstream quiet;
    const TrainResult r = p2p::train(n, d, t, device, resolved, dist.rank == 0 ? std::cerr : quiet, dist);
    if (r.already_finished || dist.rank != 0) {
      if (r.interrupted && stop_requested()) exit_status() = stop_exit_status();
      return;
    }
    std::cout << "run folder: " << r.run_dir << "  epochs: ";
    if (r.last_epoch_batches > 0) {  // stopped inside an epoch: say how far, not that it was trained
      std::cout << r.last_epoch - 1 << " + " << r.last_epoch_batches << "/" << r.epoch_batches << " batches of epoch "
                << r.last_epoch;
    } else {
      std::cout << r.last_epoch;
    }
    std::cout << "  iterations: " << r.total_iters;
    if (r.interrupted) {
      std::cout << (r.saved ? "  (stopped early; resume with --continue_train)" : "  (stopped before training; nothing saved)");
    }
    std::cout << "\n";
    if (r.interrupted && stop_requested()) exit_status() = stop_exit_status();
  });
}

}  // namespace p2p::cli
