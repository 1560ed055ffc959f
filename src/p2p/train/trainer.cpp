// The training run (see trainer.h). Resume is exact: the data order and augmentation of every sample
// are functions of (seed, epoch, position), the RNG state travels in the checkpoint, and validation
// neither consumes training randomness nor moves BatchNorm running statistics (validation.h).
// Nothing is lost or poisoned: the run folder is locked while training, checkpoints are written
// atomically and durably, a non-finite state is never written, and latest/best are made consistent
// again on resume when a stop fell between their writes.
#include "p2p/train/trainer.h"

#include "p2p/core/error.h"
#include "p2p/core/runtime.h"
#include "p2p/data/dataset.h"
#include "p2p/data/normalization.h"
#include "p2p/io/checkpoint.h"
#include "p2p/io/fs.h"
#include "p2p/models/multiscale.h"
#include "p2p/models/networks.h"
#include "p2p/report/run_report.h"
#include "p2p/report/tensorboard.h"
#include "p2p/train/model.h"
#include "p2p/train/progress.h"
#include "p2p/train/run_folder.h"
#include "p2p/train/schedule.h"
#include "p2p/train/validation.h"

#include <ATen/Parallel.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <memory>
#include <sstream>

namespace fs = std::filesystem;

namespace p2p {

namespace {

constexpr int64_t kStateCheckEvery = 50;  // iterations between checks that weights and moments are finite

nlohmann::json metrics_json(const ImageMetrics& m) {
  return {{"l1", m.l1}, {"mae", m.mae}, {"psnr", m.psnr}, {"ssim", m.ssim}};
}

std::string with_commas(int64_t n) {
  std::string digits = std::to_string(n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

// Keeps history lines of epochs before `first_epoch` (dropping those a resumed run will redo).
void truncate_history(const std::string& path, int64_t first_epoch) {
  std::ifstream in(path);
  if (!in) return;
  std::string line, kept;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    try {
      if (nlohmann::json::parse(line).value("epoch", int64_t{0}) < first_epoch) kept += line + "\n";
    } catch (const std::exception&) {
      // A line cut by a kill mid-write: drop it.
    }
  }
  write_text_atomically(path, kept);
}

void append_line(const std::string& path, const std::string& line) {
  std::ofstream out(path, std::ios::app);
  out << line << "\n";
  out.flush();
  if (!out) fail("cannot append to " + path);
}

// The best epoch by --best_metric; a non-finite metric is never best.
struct Best {
  std::string metric;
  bool higher = false;
  double value = 0;
  int64_t epoch = 0;  // 0: none yet
  bool improved_by(double v) const { return std::isfinite(v) && (epoch == 0 || (higher ? v > value : v < value)); }
};

class Run {
 public:
  Run(const NetConfig& net, DataConfig data, const TrainConfig& cfg, const c10::Device& device,
      const nlohmann::json& resolved, std::ostream& log);
  TrainResult execute();

 private:
  bool resume();  // false: nothing left to train
  void start_fresh();
  void make_best_consistent(const std::string& from, const CheckpointMeta& meta);
  void print_start_line() const;
  void train_epochs();
  bool finish_epoch(int64_t epoch, double lr_factor, double train_seconds);  // false: stop the run
  void save(const std::string& path, int64_t epoch, int64_t epoch_iter);
  void check_state_finite(int64_t epoch, int64_t batch);
  void record_epoch(const nlohmann::json& record, bool live);
  void refresh_report(bool live);
  std::string kept_checkpoint() const;

  const NetConfig net_;
  DataConfig data_;
  const TrainConfig cfg_;
  nlohmann::json resolved_;  // + the input statistics of --normalize dataset once computed
  std::ostream& log_;
  const fs::path run_dir_;
  const std::string latest_, history_, samples_dir_;
  const int64_t last_epoch_;
  const double lr_D_;
  LrSchedule schedule_;
  std::unique_ptr<Pix2PixModel> model_;
  TrainingState state_;
  Splits splits_;
  std::unique_ptr<PairedDataset> train_set_, val_set_;
  std::unique_ptr<DataLoader> loader_;
  std::unique_ptr<FolderLock> lock_;
  std::unique_ptr<EventWriter> events_;  // TensorBoard; null when the file could not be created
  Best best_;
  LossSums sums_;
  int64_t first_epoch_ = 1, skip_batches_ = 0;
  int64_t saved_epoch_ = -1, saved_iters_ = 0;  // what latest.pt holds (-1: nothing saved)
  double val_seconds_ = 0;                      // last validation's duration, for the run's ETA
  TrainResult result_;
};

Run::Run(const NetConfig& net, DataConfig data, const TrainConfig& cfg, const c10::Device& device,
         const nlohmann::json& resolved, std::ostream& log)
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
  best_.metric = cfg_.best_metric;
  best_.higher = higher_is_better(cfg_.best_metric);
  if (!cfg_.continue_train && (cfg_.epoch_count < 1 || cfg_.epoch_count > last_epoch_)) {
    fail("--epoch_count " + std::to_string(cfg_.epoch_count) + ": the schedule has epochs 1.." +
         std::to_string(last_epoch_) + " (--n_epochs " + std::to_string(cfg_.n_epochs) + " + --n_epochs_decay " +
         std::to_string(cfg_.n_epochs_decay) + "), so there is nothing to train from there");
  }
  seed_everything(cfg_.seed, cfg_.deterministic);
  model_ = std::make_unique<Pix2PixModel>(net_, cfg_, device);  // initialised from the seed (replaced on resume)
  Network& G = model_->generator();
  data_.size_multiple = static_cast<int>(G.size_multiple());
  data_.input_nc = net_.input_nc;
  data_.output_nc = net_.output_nc;
  const bool crops = data_.preprocess == "resize_and_crop" || data_.preprocess == "crop" ||
                     data_.preprocess == "scale_width_and_crop";
  if (crops && data_.crop_size % G.size_multiple() != 0) {
    fail("--crop_size " + std::to_string(data_.crop_size) + " is not a multiple of " +
         std::to_string(G.size_multiple()) + ", which --netG " + net_.netG + " needs (each stride-2 level halves it)");
  }
  if (net_.num_D > 1 && crops) check_num_D(net_, data_.crop_size);
  splits_ = train_val_split(data_);
  if (data_.normalize == "dataset" && data_.mean_A.empty()) {
    // Once per run: a resumed run reads them back from config.json, test/translate from the checkpoint.
    compute_input_statistics(data_, splits_.train);
    resolved_["data"]["mean_A"] = data_.mean_A;
    resolved_["data"]["std_A"] = data_.std_A;
  }
  train_set_ = std::make_unique<PairedDataset>(splits_.train, data_, /*augment=*/true);
  val_set_ = std::make_unique<PairedDataset>(splits_.val, data_, /*augment=*/false);
  loader_ = std::make_unique<DataLoader>(*train_set_, cfg_.batch_size, /*shuffle=*/!data_.serial_batches,
                                         data_.num_threads);
  if (loader_->batches_per_epoch() == 0) fail("--dataroot " + data_.dataroot + ": no training pairs");
  if (cfg_.lr_policy == "plateau" && val_set_->size() == 0) {
    fail("--lr_policy plateau is fed the validation metric, but there are no validation pairs (add a val/ folder "
         "or set --val_fraction above 0)");
  }
  state_ = {&G, model_->discriminator(), &model_->optimizer_G(), model_->optimizer_D()};
  result_.run_dir = run_dir_.string();
}

TrainResult Run::execute() {
  // One trainer per run folder: a second one would interleave history and mix configs and weights.
  lock_ = std::make_unique<FolderLock>(run_dir_.string(), "training process");
  for (const std::string& dir : {run_dir_.string(), samples_dir_}) {
    for (const std::string& name : remove_stale_temp_files(dir)) {
      log_ << "removed " << name << ", left in " << dir << " by a write that was killed\n";
    }
  }
  if (cfg_.continue_train) {
    if (!resume()) return result_;
  } else {
    start_fresh();
  }
  make_dirs(samples_dir_);
  write_text_atomically((run_dir_ / "config.json").string(), resolved_.dump(2) + "\n");
  print_start_line();
  try {
    events_ = std::make_unique<EventWriter>((run_dir_ / "tensorboard").string());
  } catch (const std::exception& e) {
    log_ << "warning: no TensorBoard events for this run: " << e.what() << "\n";
  }

  if (!cfg_.continue_train) {
    // Baseline: the untrained generator's validation metrics, so the history shows what training bought.
    const ValResult v0 = validate(*model_, *val_set_, data_, cfg_, first_epoch_ - 1, samples_dir_, /*stoppable=*/true);
    val_seconds_ = v0.seconds;
    if (v0.has) {
      nlohmann::json record = {{"epoch", first_epoch_ - 1}, {"iters", 0}, {"baseline", true}, {"val", metrics_json(v0.mean)}};
      record_epoch(record, /*live=*/true);
      log_ << std::fixed << std::setprecision(4) << "before training: val L1 " << v0.mean.l1 << " PSNR "
           << std::setprecision(2) << v0.mean.psnr << " SSIM " << std::setprecision(4) << v0.mean.ssim << "\n";
    }
  }
  if (stop_requested()) {
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
  try {
    write_run_report(run_dir_.string(), live);
  } catch (const std::exception& e) {
    log_ << "warning: run report not refreshed: " << e.what() << "\n";
  }
}

bool Run::resume() {
  if (describe_checkpoints(run_dir_.string()) == "no checkpoints") {
    fail("--continue_train: " + run_dir_.string() + " has no checkpoint yet (its first run stopped before one "
         "was saved); start it again without --continue_train");
  }
  const std::string from = existing_checkpoint(run_dir_.string(), cfg_.epoch, /*reference=*/false);
  const CheckpointMeta meta = load_checkpoint(from, state_, /*resume=*/true);
  schedule_.load_state(meta.scheduler_json.empty() ? nlohmann::json() : nlohmann::json::parse(meta.scheduler_json));
  if (meta.best_epoch > 0 && meta.best_metric == best_.metric) {
    best_.value = meta.best_value;
    best_.epoch = meta.best_epoch;
  }
  model_->set_iteration(meta.total_iters);
  saved_epoch_ = meta.epoch;
  saved_iters_ = meta.total_iters;
  result_.last_epoch = meta.epoch;
  result_.total_iters = meta.total_iters;
  result_.best_epoch = best_.epoch;
  result_.saved = true;
  make_best_consistent(from, meta);
  if (meta.epoch_iter > 0) {
    first_epoch_ = meta.epoch;
    skip_batches_ = meta.epoch_iter;
    if (!meta.extra_json.empty()) sums_ = LossSums::from_json(nlohmann::json::parse(meta.extra_json));
  } else {
    first_epoch_ = meta.epoch + 1;
  }
  if (first_epoch_ > last_epoch_) {
    log_ << run_dir_.string() << " has finished: " << fs::path(from).filename().string() << " ends epoch "
         << meta.epoch << " and the schedule has " << last_epoch_ << " epochs (--n_epochs " << cfg_.n_epochs
         << " + --n_epochs_decay " << cfg_.n_epochs_decay << "). Nothing to train; to train longer, resume with "
         << "more epochs, e.g. --n_epochs_decay " << cfg_.n_epochs_decay + std::max<int64_t>(meta.epoch - last_epoch_ + 10, 10)
         << "\n";
    result_.already_finished = true;
    return false;
  }
  if (cfg_.epoch_count != 1 && cfg_.epoch_count != first_epoch_) {
    log_ << "note: --epoch_count " << cfg_.epoch_count << " is not used: " << fs::path(from).filename().string()
         << " continues the run at epoch " << first_epoch_ << "\n";
  }
  truncate_history(history_, first_epoch_);
  log_ << "resuming " << run_dir_.string() << " from " << from << " at epoch " << first_epoch_
       << (skip_batches_ ? " (batch " + std::to_string(skip_batches_ + 1) + ")" : std::string()) << "\n";
  return true;
}

void Run::start_fresh() {
  if (fs::exists(latest_)) {
    fail("run folder " + run_dir_.string() + " already holds checkpoints: pass --continue_train to resume it, "
         "or choose another --name");
  }
  first_epoch_ = cfg_.epoch_count;
  std::error_code ec;
  fs::remove(history_, ec);
}

// A stop between the writes of latest.pt and best.pt leaves best.pt an epoch behind the best one that
// latest.pt records; when latest.pt *is* that epoch, it is copied into place.
void Run::make_best_consistent(const std::string& from, const CheckpointMeta& meta) {
  if (meta.best_epoch <= 0) return;
  const std::string best = checkpoint_path(run_dir_.string(), "best");
  int64_t held = -1;
  if (fs::exists(best)) {
    try {
      held = read_checkpoint_meta(best).epoch;
    } catch (const Error&) {
      held = -1;  // damaged: replaced below when possible
    }
  }
  if (held == meta.best_epoch) return;
  if (meta.epoch == meta.best_epoch && meta.epoch_iter == 0) {
    write_atomically(best, [&](const std::string& tmp) { fs::copy_file(from, tmp, fs::copy_options::overwrite_existing); });
    log_ << "restored best.pt: " << fs::path(from).filename().string() << " holds the best epoch " << meta.best_epoch
         << " (" << meta.best_metric << " " << meta.best_value << "), which best.pt had missed\n";
  } else {
    log_ << "note: best.pt holds " << (held < 0 ? std::string("no readable epoch") : "epoch " + std::to_string(held))
         << ", not the best epoch " << meta.best_epoch << " recorded in " << from
         << "; the next better epoch replaces it\n";
  }
}

void Run::print_start_line() const {
  Network& G = model_->generator();
  std::ostringstream line;
  line << "training on " << model_->device().str() << " (" << at::get_num_threads() << " threads): "
       << with_commas(static_cast<int64_t>(splits_.train.size())) << " train pairs, "
       << with_commas(static_cast<int64_t>(splits_.val.size())) << " val pairs (" << splits_.val_source << "); G "
       << net_.netG << " " << with_commas(count_parameters(G)) << " parameters";
  if (torch::nn::Module* D = model_->discriminator()) {
    line << ", D " << net_.netD << (net_.num_D > 1 ? " x" + std::to_string(net_.num_D) + " scales" : std::string())
         << " " << with_commas(count_parameters(*D)) << " parameters";
  } else {
    line << ", no D (--loss l1)";
  }
  log_ << line.str() << "\nobjective: G = " << model_->objective().describe() << "\n";
}

std::string Run::kept_checkpoint() const {
  if (saved_epoch_ < 0) return "no checkpoint had been written yet";
  return "the last good checkpoint " + latest_ + " (epoch " + std::to_string(saved_epoch_) + ", iteration " +
         std::to_string(saved_iters_) + ") is kept";
}

void Run::check_state_finite(int64_t epoch, int64_t batch) {
  const std::vector<std::string> bad = non_finite_entries(state_);
  if (bad.empty()) return;
  throw NonFiniteState("the model state became non-finite by iteration " + std::to_string(model_->iteration()) +
                       " (epoch " + std::to_string(epoch) + ", batch " + std::to_string(batch) + "): " +
                       std::to_string(bad.size()) + " tensors hold NaN/Inf, e.g. " + bad.front() + "; " +
                       kept_checkpoint() + ". Lower --lr or --lambda_L1");
}

void Run::save(const std::string& path, int64_t epoch, int64_t epoch_iter) {
  CheckpointMeta m;
  m.epoch = epoch;
  m.epoch_iter = epoch_iter;
  m.total_iters = model_->iteration();
  if (best_.epoch > 0) {
    m.best_metric = best_.metric;
    m.best_value = best_.value;
    m.best_epoch = best_.epoch;
  }
  m.config_json = resolved_.dump();
  m.scheduler_json = schedule_.state().dump();
  m.extra_json = epoch_iter > 0 ? sums_.to_json().dump() : std::string();
  try {
    save_checkpoint(path, state_, m);  // refuses a non-finite state
  } catch (const NonFiniteState& e) {
    throw NonFiniteState("the model state became non-finite by iteration " + std::to_string(model_->iteration()) +
                         " (epoch " + std::to_string(epoch) + "): " + e.what() + "; " + kept_checkpoint() +
                         ". Lower --lr or --lambda_L1");
  }
  if (path == latest_) {
    saved_epoch_ = epoch;
    saved_iters_ = model_->iteration();
    result_.saved = true;
  }
}

void Run::train_epochs() {
  const bool interactive = Progress::stderr_is_terminal() && &log_ == &std::cerr;
  for (int64_t epoch = first_epoch_; epoch <= last_epoch_; ++epoch) {
    const double factor = schedule_.factor(static_cast<int>(epoch));
    model_->set_learning_rates(cfg_.lr * factor, lr_D_ * factor);
    model_->set_epoch(epoch);
    const auto t0 = std::chrono::steady_clock::now();
    loader_->start_epoch(cfg_.seed, epoch, skip_batches_);
    Progress progress(log_, interactive, static_cast<int>(epoch), static_cast<int>(last_epoch_),
                      loader_->batches_per_epoch(), cfg_.print_freq);
    progress.set_run_remaining((last_epoch_ - epoch) * loader_->batches_per_epoch(),
                               static_cast<double>(last_epoch_ - epoch + 1) * val_seconds_);
    int64_t epoch_iter = skip_batches_;
    skip_batches_ = 0;
    if (epoch_iter == 0) sums_ = LossSums();
    Batch batch;
    while (loader_->next(batch)) {
      StepLosses losses;
      try {
        losses = model_->optimize(batch);
        if (model_->iteration() % kStateCheckEvery == 0) check_state_finite(epoch, epoch_iter + 1);
      } catch (const NonFiniteLoss& e) {
        progress.finish();
        throw NonFiniteLoss(std::string(e.what()) + " in epoch " + std::to_string(epoch) + " (batch " +
                            std::to_string(epoch_iter + 1) + "); " + kept_checkpoint());
      } catch (const NonFiniteState&) {
        progress.finish();
        throw;
      }
      ++epoch_iter;
      sums_.add(losses);
      progress.update(epoch_iter, losses);
      const bool stop = stop_requested() || (cfg_.max_iters > 0 && model_->iteration() >= cfg_.max_iters);
      const bool periodic = cfg_.save_latest_freq > 0 && model_->iteration() % cfg_.save_latest_freq == 0;
      if ((stop || periodic) && epoch_iter < loader_->batches_per_epoch()) save(latest_, epoch, epoch_iter);
      if (stop && epoch_iter < loader_->batches_per_epoch()) {
        progress.finish();
        log_ << "stopped at iteration " << model_->iteration() << " (epoch " << epoch << ", batch " << epoch_iter
             << "); resume with --continue_train\n";
        result_.interrupted = true;
        result_.last_epoch = epoch;
        result_.total_iters = model_->iteration();
        return;
      }
    }
    progress.finish();
    const double train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!finish_epoch(epoch, factor, train_seconds)) return;
  }
}

// Validation, history, summary line and checkpoints of a finished epoch.
bool Run::finish_epoch(int64_t epoch, double factor, double train_seconds) {
  check_state_finite(epoch, loader_->batches_per_epoch());  // a poisoned epoch is neither recorded nor best
  const ValResult val = validate(*model_, *val_set_, data_, cfg_, epoch, samples_dir_);
  if (val.has) val_seconds_ = val.seconds;
  const nlohmann::json means = sums_.means();
  const double metric = val.has ? metric_value(val.mean, best_.metric) : NAN;
  if (val.has) schedule_.observe(metric);
  const Best before = best_;
  const bool is_best = val.has && best_.improved_by(metric);
  if (is_best) best_.value = metric, best_.epoch = epoch;
  nlohmann::json record = {{"epoch", epoch},
                           {"iters", model_->iteration()},
                           {"lr_G", cfg_.lr * factor},
                           {"lr_D", lr_D_ * factor},
                           {"weights", model_->objective().weights()},
                           {"train", means},
                           {"seconds", train_seconds},
                           {"it_per_s", sums_.count() / std::max(train_seconds, 1e-9)},
                           {"images_per_s", sums_.count() * cfg_.batch_size / std::max(train_seconds, 1e-9)}};
  if (val.has) record["val"] = metrics_json(val.mean);
  if (is_best) record["best"] = true;
  record_epoch(record, /*live=*/epoch < last_epoch_);
  std::ostringstream summary;
  summary << std::fixed << std::setprecision(4) << "epoch " << epoch << "/" << last_epoch_ << " done in "
          << std::setprecision(1) << train_seconds << "s  lr " << std::scientific << std::setprecision(2)
          << cfg_.lr * factor << std::fixed << std::setprecision(4) << "  G_L1 " << means["G_L1"].get<double>();
  if (val.has) {
    summary << "  val L1 " << val.mean.l1 << " PSNR " << std::setprecision(2) << val.mean.psnr << " SSIM "
            << std::setprecision(4) << val.mean.ssim;
  }
  if (is_best) {
    summary << "  * new best " << best_.metric << " " << metric;
    if (before.epoch > 0) summary << " (was " << before.value << " at epoch " << before.epoch << ")";
  }
  log_ << summary.str() << "\n";

  save(latest_, epoch, 0);
  if (is_best) save(checkpoint_path(run_dir_.string(), "best"), epoch, 0);
  if (cfg_.save_epoch_freq > 0 && epoch % cfg_.save_epoch_freq == 0) {
    save(checkpoint_path(run_dir_.string(), std::to_string(epoch)), epoch, 0);
  }
  result_.last_epoch = epoch;
  result_.total_iters = model_->iteration();
  result_.best_epoch = best_.epoch;
  if ((stop_requested() || (cfg_.max_iters > 0 && model_->iteration() >= cfg_.max_iters)) && epoch < last_epoch_) {
    log_ << "stopped after epoch " << epoch << "; resume with --continue_train\n";
    result_.interrupted = true;
    return false;
  }
  return true;
}

}  // namespace

TrainResult train(const NetConfig& net, DataConfig data, const TrainConfig& cfg, const c10::Device& device,
                  const nlohmann::json& resolved, std::ostream& log) {
  Run run(net, std::move(data), cfg, device, resolved, log);
  return run.execute();
}

}  // namespace p2p
