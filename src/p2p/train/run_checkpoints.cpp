// Saving, resuming and guarding the training state (see run.h).
#include "p2p/core/error.h"
#include "p2p/io/integrity.h"
#include "p2p/io/state_dict.h"
#include "p2p/train/run.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <fstream>
#include <map>
#include <mutex>

namespace p2p::detail {

namespace {

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

// The number of ranks of the run that wrote a checkpoint.
int64_t saved_world_size(const CheckpointMeta& meta) {
  try {
    const nlohmann::json config = nlohmann::json::parse(meta.config_json.empty() ? "{}" : meta.config_json);
    if (config.contains("distributed")) return config["distributed"].value("world_size", int64_t{1});
  } catch (const std::exception&) {
  }
  return 1;
}

// A mid-epoch checkpoint counts batches of its own run's world size; a resume with another world size
// skips the batches that cover as many samples (rounded down, so none is skipped unseen).
int64_t batches_to_skip(const CheckpointMeta& meta, int batch_size, int world_size, std::ostream& log) {
  const int64_t saved_world = saved_world_size(meta);
  if (saved_world == world_size) return meta.epoch_iter;
  const int64_t samples = meta.epoch_iter * batch_size * saved_world;
  const int64_t skip = samples / (static_cast<int64_t>(batch_size) * world_size);
  log << "note: the checkpoint was saved by " << saved_world << " rank(s) " << meta.epoch_iter << " batches into epoch "
      << meta.epoch << " (" << samples << " samples); with " << world_size << " rank(s) the epoch resumes after " << skip
      << " batches (" << skip * batch_size * world_size << " samples)\n";
  return skip;
}

}  // namespace

// A reference run folder (<epoch>_net_G.pth and _net_D.pth; CycleGAN: _net_G_A, _net_G_B, _net_D_A,
// _net_D_B) and no checkpoint of ours: the networks start from those files, the optimizers fresh and the
// schedule at --epoch_count, as the reference's own --continue_train does. False when the files are not
// all there.
bool Run::resume_from_reference() {
  if (fs::exists(latest_)) return false;
  std::vector<std::string> files;
  for (const auto& net : state_.nets) {
    files.push_back((run_dir_ / (cfg_.epoch + "_net_" + net.name + ".pth")).string());
    if (!fs::exists(files.back())) return false;
  }
  std::string names;
  for (size_t i = 0; i < files.size(); ++i) {
    StateDict weights = read_state_dict(files[i]);
    check_finite(weights, files[i], "the weights are unusable (saved from a diverged run, or damaged)");
    load_into(*state_.nets[i].module, weights, files[i]);
    names += (i ? ", " : "") + fs::path(files[i]).filename().string();
  }
  first_epoch_ = cfg_.epoch_count;
  if (writer()) write_text_atomically(history_, "");  // the reference's loss log is not ours to continue
  log_ << "resuming the reference run " << run_dir_.string() << ": networks from " << names
       << "; the optimizers start fresh (the reference saves none) and training goes on at epoch " << first_epoch_
       << " (--epoch_count)\n";
  return true;
}

bool Run::resume() {
  if (resume_from_reference()) return true;
  if (describe_checkpoints(run_dir_.string()) == "no checkpoints") {
    fail("--continue_train: " + run_dir_.string() + " has no checkpoint yet (its first run stopped before one "
         "was saved); start it again without --continue_train");
  }
  const std::string from = existing_checkpoint(run_dir_.string(), cfg_.epoch, /*reference=*/false);
  StateDict saved_trainer;
  TrainingState with_trainer = state_;
  with_trainer.trainer = &saved_trainer;
  const CheckpointMeta meta = load_checkpoint(from, with_trainer, /*resume=*/true);
  restore_trainer_state(saved_trainer, meta, from);
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
  if (writer()) make_best_consistent(from, meta);
  if (meta.epoch_iter > 0) {
    first_epoch_ = meta.epoch;
    skip_batches_ = batches_to_skip(meta, cfg_.batch_size, world_size(), log_);
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
  if (writer()) truncate_history(history_, first_epoch_);
  log_ << "resuming " << run_dir_.string() << " from " << from << " at epoch " << first_epoch_
       << (skip_batches_ ? " (batch " + std::to_string(skip_batches_ + 1) + ")" : std::string()) << "\n";
  return true;
}

// Layout of the "trainer." entries, per rank r (a single process is rank 0) and per image pool of the
// model family (pix2pix: pool; CycleGAN: pool_fake_B, pool_fake_A):
//   <pool>.<r>.count  int64 scalar: images in rank r's pool (present even when 0, so an empty pool and a
//                     file from before pools were saved are told apart)
//   <pool>.<r>.<i>    its image in slot i, [C, H, W]
//   rng.<r>           data-parallel only: rank r's CPU generator state (rank 0's is also rng.cpu)
void Run::gather_trainer_state() {
  if (trainer_state_iter_ == model_->iteration()) return;  // latest, best, epoch_N of one epoch: gathered once
  // This rank's [rng state when data-parallel], then per pool its count and images.
  std::vector<at::Tensor> local;
  if (dp_) {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    local.push_back(gen.get_state());
  }
  const auto pools = model_->pools();
  for (const auto& [name, pool] : pools) {
    local.push_back(at::scalar_tensor(static_cast<int64_t>(pool->images().size()), at::kLong));
    for (const at::Tensor& image : pool->images()) local.push_back(image);
  }
  std::vector<std::vector<at::Tensor>> ranks;
  if (dp_) {
    ranks = dp_->gather_to_rank0(local);
  } else {
    ranks.push_back(local);
  }
  trainer_state_.clear();
  for (size_t r = 0; r < ranks.size(); ++r) {
    const std::string rank = std::to_string(r);
    size_t next = 0;
    if (dp_) trainer_state_.emplace_back("rng." + rank, ranks[r].at(next++));
    for (const auto& [name, pool] : pools) {
      const at::Tensor count = ranks[r].at(next++);
      trainer_state_.emplace_back(name + "." + rank + ".count", count);
      for (int64_t i = 0; i < count.item<int64_t>(); ++i) {
        trainer_state_.emplace_back(name + "." + rank + "." + std::to_string(i), ranks[r].at(next++));
      }
    }
  }
  trainer_state_iter_ = model_->iteration();
}

// This rank's pools (any world size: a rank the checkpoint has no pool for starts with an empty one) and,
// resuming a data-parallel job of the same world size, its RNG state (for attach).
void Run::restore_trainer_state(const StateDict& saved, const CheckpointMeta& meta, const std::string& from) {
  const std::string rank = std::to_string(dp_ ? dp_->rank() : 0);
  std::map<std::string, at::Tensor> by_name(saved.begin(), saved.end());
  for (const auto& [name, pool] : model_->pools()) {
    auto count = by_name.find(name + "." + rank + ".count");
    std::vector<at::Tensor> images;
    if (count != by_name.end()) {
      for (int64_t i = 0; i < count->second.item<int64_t>(); ++i) {
        const std::string key = name + "." + rank + "." + std::to_string(i);
        auto image = by_name.find(key);
        if (image == by_name.end()) {
          fail("checkpoint " + from + ": image-pool entry trainer." + key +
               " is missing, so the run cannot resume exactly (a damaged checkpoint; resume from another --epoch)");
        }
        images.push_back(image->second.to(model_->device()));
      }
    } else if (cfg_.pool_size > 0 && meta.total_iters > 0 && saved_world_size(meta) == world_size()) {
      log_ << "note: " << from << " holds no image pool" << (name == "pool" ? std::string() : " " + name)
           << " (written before pools were saved); the pool starts empty\n";
    }
    pool->restore(images, "checkpoint " + from);
  }
  if (dp_ && saved_world_size(meta) == world_size()) {
    auto rng = by_name.find("rng." + rank);
    if (rng != by_name.end()) rank_rng_ = rng->second;
  }
}

void Run::start_fresh() {
  if (fs::exists(latest_)) {
    fail("run folder " + run_dir_.string() + " already holds checkpoints: pass --continue_train to resume it, "
         "or choose another --name");
  }
  first_epoch_ = cfg_.epoch_count;
  std::error_code ec;
  if (writer()) fs::remove(history_, ec);
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
  gather_trainer_state();  // every rank: rank 0 collects the ranks' pools
  if (!writer()) {  // rank 0 writes; the others only keep track of what it holds
    if (path == latest_) saved_epoch_ = epoch, saved_iters_ = model_->iteration(), result_.saved = true;
    return;
  }
  try {
    TrainingState with_trainer = state_;
    with_trainer.trainer = &trainer_state_;
    save_checkpoint(path, with_trainer, m);  // refuses a non-finite state
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
}  // namespace p2p::detail
