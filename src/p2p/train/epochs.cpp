// The epochs of a training run and what ends each (see run.h).
#include "p2p/core/error.h"
#include "p2p/core/runtime.h"
#include "p2p/train/progress.h"
#include "p2p/train/run.h"
#include "p2p/train/validation.h"

#include <chrono>
#include <iomanip>
#include <iostream>
#include <sstream>

namespace p2p::detail {

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
        const PrecisionScope precision(precision_);
        losses = model_->optimize(batch);
        if (model_->iteration() % kStateCheckEvery == 0) check_state_finite(epoch, epoch_iter + 1);
      } catch (const NonFiniteLoss& e) {
        progress.finish();
        throw NonFiniteLoss(std::string(e.what()) + " in epoch " + std::to_string(epoch) + " (batch " +
                            std::to_string(epoch_iter + 1) + "); " + kept_checkpoint());
      } catch (const NonFiniteState&) {
        progress.finish();
        throw;
      } catch (const std::exception& e) {
        progress.finish();
        if (!dp_) throw;
        dp_->rethrow_as_peer_failure(e);  // a rank gone or hung mid-step
      }
      ++epoch_iter;
      sums_.add(losses);
      progress.update(epoch_iter, losses);
      const bool stop = agreed_stop(stop_requested()) || (cfg_.max_iters > 0 && model_->iteration() >= cfg_.max_iters);
      const bool periodic = cfg_.save_latest_freq > 0 && model_->iteration() % cfg_.save_latest_freq == 0;
      if ((stop || periodic) && epoch_iter < loader_->batches_per_epoch()) save(latest_, epoch, epoch_iter);
      if (stop && epoch_iter < loader_->batches_per_epoch()) {
        progress.finish();
        log_ << "stopped at iteration " << model_->iteration() << " (epoch " << epoch << ", batch " << epoch_iter
             << "); resume with --continue_train\n";
        result_.interrupted = true;
        result_.last_epoch = epoch;
        result_.last_epoch_batches = epoch_iter;
        result_.epoch_batches = loader_->batches_per_epoch();
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
  ValResult val;  // rank 0 validates; the others take its metric, so every schedule moves alike
  if (writer()) val = model_->validate({*val_set_, data_, cfg_, epoch, samples_dir_, false, segmenter_.get()});
  if (val.has) val_seconds_ = val.seconds;
  nlohmann::json means = sums_.means();
  bool has_metric = val.has;
  double metric = val.has ? metric_value(val, best_.metric) : NAN;
  has_metric = has_metric && std::isfinite(metric);
  if (dp_) {
    const std::vector<double> agreed = dp_->from_rank0({has_metric ? 1.0 : 0.0, has_metric ? metric : 0.0});
    has_metric = agreed[0] > 0;
    metric = has_metric ? agreed[1] : NAN;
    std::vector<double> local;  // the epoch's loss means over every rank's batches
    for (const auto& [name, value] : means.items()) local.push_back(value.get<double>());
    const std::vector<double> all = dp_->mean(local);
    size_t i = 0;
    for (auto& [name, value] : means.items()) value = all[i++];
  }
  if (has_metric) schedule_.observe(metric);
  const Best before = best_;
  const bool is_best = has_metric && best_.improved_by(metric);
  if (is_best) best_.value = metric, best_.epoch = epoch;
  nlohmann::json record = {{"epoch", epoch},
                           {"iters", model_->iteration()},
                           {"lr_G", cfg_.lr * factor},
                           {"lr_D", lr_D_ * factor},
                           {"weights", model_->weights()},
                           {"train", means},
                           {"seconds", train_seconds},
                           {"it_per_s", sums_.count() / std::max(train_seconds, 1e-9)},
                           {"images_per_s",
                            sums_.count() * cfg_.batch_size * world_size() / std::max(train_seconds, 1e-9)}};
  if (val.has) record["val"] = val_json(val);
  if (is_best) record["best"] = true;
  record_epoch(record, /*live=*/epoch < last_epoch_);
  std::ostringstream summary;
  summary << std::fixed << std::setprecision(4) << "epoch " << epoch << "/" << last_epoch_ << " done in "
          << std::setprecision(1) << train_seconds << "s  lr " << std::scientific << std::setprecision(2)
          << cfg_.lr * factor << std::fixed << std::setprecision(4);
  for (const char* term : {"G_L1", "G_CE", "cycle_A", "cycle_B"}) {  // the per-pixel terms: the reference's progress numbers
    if (means.contains(term)) summary << "  " << term << " " << means[term].get<double>();
  }
  if (val.has) summary << "  " << val_summary(val);
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
  if ((agreed_stop(stop_requested()) || (cfg_.max_iters > 0 && model_->iteration() >= cfg_.max_iters)) &&
      epoch < last_epoch_) {
    log_ << "stopped after epoch " << epoch << "; resume with --continue_train\n";
    result_.interrupted = true;
    return false;
  }
  return true;
}

}  // namespace p2p::detail
