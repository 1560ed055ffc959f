// The training run (see trainer.h): set-up and the run's records. Resume is exact: the data order and
// augmentation of every sample are functions of (seed, epoch, position), the RNG state (every rank's)
// and the image pool (every rank's) travel in the checkpoint, and validation neither consumes training randomness nor moves BatchNorm running statistics
// (validation.h). Nothing is lost or poisoned: the run folder is locked while training, checkpoints are
// written atomically and durably, a non-finite state is never written, and latest/best are made
// consistent again on resume when a stop fell between their writes (run_checkpoints.cpp).
#include "p2p/train/trainer.h"

#include "p2p/core/console.h"
#include "p2p/core/error.h"
#include "p2p/core/runtime.h"
#include "p2p/data/normalization.h"
#include "p2p/data/palette.h"
#include "p2p/data/unaligned.h"
#include "p2p/models/networks.h"
#include "p2p/report/run_report.h"
#include "p2p/train/run.h"
#include "p2p/train/validation.h"

#include <ATen/Parallel.h>

#include <fstream>
#include <iomanip>
#include <sstream>

namespace p2p {

namespace detail {

namespace {

void append_line(const std::string& path, const std::string& line) {
  std::ofstream out(path, std::ios::app);
  out << line << "\n";
  out.flush();
  if (!out) fail("cannot append to " + path);
}

}  // namespace

Run::Run(const NetConfig& net, DataConfig data, const TrainConfig& cfg, const c10::Device& device,
         const nlohmann::json& resolved, std::ostream& log, const DistEnv& dist)
    : net_(net), data_(std::move(data)), cfg_(cfg), resolved_(resolved), log_(log),
      run_dir_(fs::path(cfg.checkpoints_dir) / cfg.name),
      latest_(checkpoint_path(run_dir_.string(), "latest")),
      history_((run_dir_ / "history.jsonl").string()),
      samples_dir_((run_dir_ / "samples").string()),
      last_epoch_(static_cast<int64_t>(cfg.n_epochs) + cfg.n_epochs_decay),
      lr_D_(effective_lr_D(cfg)),
      schedule_(cfg) {
  if (cfg_.batch_size < 1) fail("--batch_size: must be >= 1");
  check_run_name(cfg_.name);
  if ((cfg_.model == "segmentation") != (cfg_.loss == "ce") || (cfg_.model == "segmentation" && data_.palette.empty()) ||
      (cfg_.model == "cycle_gan") != (data_.dataset_mode == "unaligned")) {
    fail("--model " + cfg_.model + " with --loss " + cfg_.loss + (data_.palette.empty() ? "" : " and --palette " + data_.palette) +
         ": the options were not completed by apply_model_defaults (train/model.h)");
  }
  best_.metric = cfg_.best_metric;
  best_.higher = higher_is_better(cfg_.best_metric);
  if (!cfg_.continue_train && (cfg_.epoch_count < 1 || cfg_.epoch_count > last_epoch_)) {
    fail("--epoch_count " + std::to_string(cfg_.epoch_count) + ": the schedule has epochs 1.." +
         std::to_string(last_epoch_) + " (--n_epochs " + std::to_string(cfg_.n_epochs) + " + --n_epochs_decay " +
         std::to_string(cfg_.n_epochs_decay) + "), so there is nothing to train from there");
  }
  if (dist.distributed()) {
    DataParallel::check_supported(net_, cfg_, device);
    dp_ = std::make_unique<DataParallel>(dist, cfg_.dist_timeout);  // meets the other ranks
    resolved_["distributed"] = {{"world_size", dist.world_size}, {"backend", "gloo"},
                                {"batch_per_rank", cfg_.batch_size}};
  }
  precision_ = parse_fixed_precision(cfg_.precision, device, "--precision");
  seed_everything(cfg_.seed, cfg_.deterministic);
  model_ = make_train_model(net_, cfg_, device);  // initialised from the seed (replaced on resume)
  Network& G = model_->generator();
  data_.size_multiple = static_cast<int>(G.size_multiple());
  data_.input_nc = net_.input_nc;
  data_.output_nc = data_.palette.empty() ? net_.output_nc : 3;  // label maps are read as RGB and decoded
  if (!cfg_.val_segmenter.empty()) segmenter_ = Segmenter::load(cfg_.val_segmenter, "--val_segmenter", device);
  const bool crops = data_.preprocess == "resize_and_crop" || data_.preprocess == "crop" ||
                     data_.preprocess == "scale_width_and_crop";
  if (crops && data_.crop_size % G.size_multiple() != 0) {
    fail("--crop_size " + std::to_string(data_.crop_size) + " is not a multiple of " +
         std::to_string(G.size_multiple()) + ", which --netG " + net_.netG + " needs (each stride-2 level halves it)");
  }
  if (net_.num_D > 1 && crops) check_num_D(net_, data_.crop_size);
  load_data();
  loader_ = std::make_unique<DataLoader>(*train_set_, cfg_.batch_size, /*shuffle=*/!data_.serial_batches,
                                         data_.num_threads, DataLoader::Shard{dist.rank, dist.world_size});
  if (loader_->batches_per_epoch() == 0) fail("--dataroot " + data_.dataroot + ": no training pairs");
  if (cfg_.lr_policy == "plateau" && val_set_->size() == 0) {
    fail("--lr_policy plateau is fed the validation metric, but there are no validation pairs (add a val/ folder "
         "or set --val_fraction above 0)");
  }
  state_ = model_->training_state();
  result_.run_dir = run_dir_.string();
}

TrainResult Run::execute() {
  if (writer()) {
    // One trainer per run folder: a second one would interleave history and mix configs and weights.
    lock_ = std::make_unique<FolderLock>(run_dir_.string(), "training process");
    for (const std::string& dir : {run_dir_.string(), samples_dir_}) {
      for (const std::string& name : remove_stale_temp_files(dir)) {
        log_ << "removed " << name << ", left in " << dir << " by a write that was killed\n";
      }
    }
  }
  if (cfg_.continue_train) {
    if (!resume()) return result_;
  } else {
    start_fresh();
  }
  if (dp_) dp_->attach(*model_, cfg_.seed, rank_rng_);  // after resume: every rank starts from rank 0's state
  if (writer()) {
    make_dirs(samples_dir_);
    write_text_atomically((run_dir_ / "config.json").string(), resolved_.dump(2) + "\n");
    // The classes as trained, kept with the run: scoring with it must not depend on a palette file's fate.
    if (!data_.palette.empty()) {
      write_text_atomically((run_dir_ / "palette.json").string(), palette_to_json(load_palette(data_.palette)).dump(2) + "\n");
    }
    try {
      events_ = std::make_unique<EventWriter>((run_dir_ / "tensorboard").string());
    } catch (const std::exception& e) {
      log_ << "warning: no TensorBoard events for this run: " << e.what() << "\n";
    }
  }
  print_start_line();

  if (!cfg_.continue_train && writer()) {
    // Baseline: the untrained generator's validation metrics, so the history shows what training bought.
    const ValResult v0 =
        model_->validate({*val_set_, data_, cfg_, first_epoch_ - 1, samples_dir_, /*stoppable=*/true, segmenter_.get()});
    val_seconds_ = v0.seconds;
    if (v0.has) {
      nlohmann::json record = {{"epoch", first_epoch_ - 1}, {"iters", 0}, {"baseline", true}, {"val", val_json(v0)}};
      record_epoch(record, /*live=*/true);
      log_ << "before training: " << val_summary(v0) << "\n";
    }
  }
  if (agreed_stop(stop_requested())) {
    log_ << "stopped before the first iteration; nothing was trained or saved\n";
    result_.interrupted = true;
    result_.saved = saved_epoch_ >= 0;
    return result_;
  }
  train_epochs();
  refresh_report(/*live=*/false);  // finished or stopped: the page stops reloading itself
  return result_;
}

// history.jsonl is the record; TensorBoard events and the report are derived from it, so a failure to
// write those is reported and training goes on.
void Run::record_epoch(const nlohmann::json& record, bool live) {
  if (!writer()) return;
  append_line(history_, record.dump());
  if (events_) {
    try {
      write_epoch_events(*events_, record, samples_dir_);
    } catch (const std::exception& e) {
      log_ << "warning: TensorBoard events not written: " << e.what() << "\n";
    }
  }
  if (live) refresh_report(live);  // the last epoch's report is drawn once training has ended
}

void Run::refresh_report(bool live) {
  if (!writer()) return;
  try {
    write_run_report(run_dir_.string(), live);
  } catch (const std::exception& e) {
    log_ << "warning: run report not refreshed: " << e.what() << "\n";
  }
}
// Unaligned data (cycle_gan): <dataroot>/<phase>A|B, validated on valA|B, else testA|B (the reference has
// no validation: there it only gives samples and, where `p2p data unpair` recorded true partners, scores),
// else the first training images. Paired data: train_val_split (dataset.h).
void Run::load_data() {
  std::ostringstream summary;
  if (data_.dataset_mode == "unaligned") {
    if (data_.dataroot.empty()) fail("--dataroot is required: the folder holding " + data_.phase + "A/ and " + data_.phase + "B/");
    UnalignedFiles train = find_unaligned(data_, data_.dataroot, data_.phase);
    std::string val_phase;
    for (const char* p : {"val", "test"}) {
      if (val_phase.empty() && p != data_.phase && has_unaligned(data_.dataroot, p)) val_phase = p;
    }
    UnalignedFiles val = val_phase.empty() ? train : find_unaligned(data_, data_.dataroot, val_phase);
    summary << with_commas(static_cast<int64_t>(train.A.size())) << " " << data_.phase << "A + "
            << with_commas(static_cast<int64_t>(train.B.size())) << " " << data_.phase << "B images, validation on "
            << (val_phase.empty() ? "the first training images (samples only; no valA/B or testA/B)" : val_phase + "A/B");
    train_set_ = std::make_unique<UnalignedDataset>(std::move(train), data_, /*augment=*/true);
    val_set_ = std::make_unique<UnalignedDataset>(std::move(val), data_, /*augment=*/false);
  } else {
    Splits splits = train_val_split(data_);
    if (data_.normalize == "dataset" && data_.mean_A.empty()) {
      // Once per run: a resumed run reads them back from config.json, test/translate from the checkpoint.
      compute_input_statistics(data_, splits.train);
      resolved_["data"]["mean_A"] = data_.mean_A;
      resolved_["data"]["std_A"] = data_.std_A;
    }
    summary << with_commas(static_cast<int64_t>(splits.train.size())) << " train pairs, "
            << with_commas(static_cast<int64_t>(splits.val.size())) << " val pairs (" << splits.val_source << ")";
    train_set_ = std::make_unique<PairedDataset>(std::move(splits.train), data_, /*augment=*/true);
    val_set_ = std::make_unique<PairedDataset>(std::move(splits.val), data_, /*augment=*/false);
  }
  data_summary_ = summary.str();
}

void Run::print_start_line() const {
  std::ostringstream line;
  line << "training on " << model_->device().str() << " (" << at::get_num_threads() << " threads, "
       << precision_name(precision_);
  if (dp_) line << " per rank, " << dp_->world_size() << " data-parallel ranks x batch " << cfg_.batch_size;
  line << "): " << data_summary_ << "; " << model_->describe_networks();
  log_ << line.str() << "\nobjective: " << (cfg_.model == "cycle_gan" ? "" : "G = ") << model_->describe_objective() << "\n";
}
}  // namespace detail

TrainResult train(const NetConfig& net, DataConfig data, const TrainConfig& cfg, const c10::Device& device,
                  const nlohmann::json& resolved, std::ostream& log, const DistEnv& dist) {
  detail::Run run(net, std::move(data), cfg, device, resolved, log, dist);
  return run.execute();
}

}  // namespace p2p
