// The training run (see trainer.h). Resume is exact: the data order and augmentation of every sample
// are functions of (seed, epoch, position), the RNG state travels in the checkpoint, and validation
// neither consumes training randomness nor moves BatchNorm running statistics.
#include "p2p/train/trainer.h"

#include "p2p/core/error.h"
#include "p2p/core/runtime.h"
#include "p2p/data/dataset.h"
#include "p2p/eval/metrics.h"
#include "p2p/io/checkpoint.h"
#include "p2p/io/fs.h"
#include "p2p/io/image.h"
#include "p2p/train/model.h"
#include "p2p/train/progress.h"
#include "p2p/train/schedule.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <mutex>
#include <sstream>

namespace fs = std::filesystem;

namespace p2p {

std::string checkpoint_path(const std::string& run_dir, const std::string& which) {
  if (which == "latest" || which == "best") return (fs::path(run_dir) / (which + ".pt")).string();
  try {
    size_t used = 0;
    const int n = std::stoi(which, &used);
    if (used == which.size() && n >= 0) return (fs::path(run_dir) / ("epoch_" + std::to_string(n) + ".pt")).string();
  } catch (...) {
  }
  fail("--epoch: '" + which + "' is not latest, best or an epoch number");
}

namespace {

// Sums of step losses over an epoch (kept in checkpoints so a resumed epoch reports full means).
struct LossSums {
  double G_total = 0, G_GAN = 0, G_L1 = 0, D_real = 0, D_fake = 0, D_gp = 0;
  int64_t count = 0;
  void add(const StepLosses& l) {
    G_total += l.G_total, G_GAN += l.G_GAN, G_L1 += l.G_L1, D_real += l.D_real, D_fake += l.D_fake,
        D_gp += l.D_gp;
    ++count;
  }
  nlohmann::json to_json() const {
    return {{"G_total", G_total}, {"G_GAN", G_GAN}, {"G_L1", G_L1}, {"D_real", D_real},
            {"D_fake", D_fake},   {"D_gp", D_gp},   {"count", count}};
  }
  static LossSums from_json(const nlohmann::json& j) {
    LossSums s;
    if (!j.is_object()) return s;
    s.G_total = j.value("G_total", 0.0), s.G_GAN = j.value("G_GAN", 0.0), s.G_L1 = j.value("G_L1", 0.0);
    s.D_real = j.value("D_real", 0.0), s.D_fake = j.value("D_fake", 0.0), s.D_gp = j.value("D_gp", 0.0);
    s.count = j.value("count", int64_t{0});
    return s;
  }
  nlohmann::json means() const {
    const double n = count > 0 ? static_cast<double>(count) : 1.0;
    return {{"G_total", G_total / n}, {"G_GAN", G_GAN / n}, {"G_L1", G_L1 / n},
            {"D_real", D_real / n},   {"D_fake", D_fake / n}, {"D_gp", D_gp / n}};
  }
};

std::string format_losses(const StepLosses& l, const LossSetup& s) {
  std::ostringstream o;
  o << std::fixed << std::setprecision(3);
  o << "G " << l.G_total;
  if (s.use_gan) o << " G_GAN " << l.G_GAN;
  o << " G_L1 " << l.G_L1;
  if (s.use_gan) o << " D_real " << l.D_real << " D_fake " << l.D_fake;
  return o.str();
}

// Runs `fn` and then puts back G's buffers (BatchNorm running stats) and the RNG state, so that
// evaluating in the paper's test mode (batch statistics, dropout on) leaves training untouched.
template <typename Fn>
void without_side_effects(torch::nn::Module& G, Fn&& fn) {
  std::vector<at::Tensor> saved;
  for (auto& b : G.buffers()) saved.push_back(b.clone());
  at::Tensor rng;
  auto gen = at::detail::getDefaultCPUGenerator();
  {
    std::lock_guard<std::mutex> lock(gen.mutex());
    rng = gen.get_state();
  }
  fn();
  at::NoGradGuard no_grad;
  size_t i = 0;
  for (auto& b : G.buffers()) b.copy_(saved[i++]);
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(rng);
}

// Side-by-side [A | fake_B | B] in [0,1], gray expanded to RGB when channel counts differ.
at::Tensor triplet(const at::Tensor& A, const at::Tensor& fake, const at::Tensor& B) {
  std::vector<at::Tensor> parts = {to_unit_range(A), to_unit_range(fake), to_unit_range(B)};
  const bool mixed = A.size(0) != B.size(0);
  for (auto& p : parts) {
    if (mixed && p.size(0) == 1) p = p.expand({3, p.size(1), p.size(2)});
  }
  return at::cat(parts, 2);
}

struct ValResult {
  bool has = false;
  ImageMetrics mean;
};

ValResult validate(Pix2PixModel& model, const PairedDataset& val, const TrainConfig& cfg, int epoch,
                   const std::string& samples_dir) {
  ValResult result;
  if (val.size() == 0) return result;
  Network& G = model.generator();
  std::vector<std::pair<std::string, ImageMetrics>> per_image;
  without_side_effects(G, [&] {
    at::NoGradGuard no_grad;
    G.train();  // paper test mode: dropout on, batch statistics
    const size_t n = cfg.max_val > 0 ? std::min<size_t>(val.size(), cfg.max_val) : val.size();
    for (size_t i = 0; i < n; ++i) {
      Sample s = val.get(i, 0);
      at::Tensor fake = G.forward(s.A.unsqueeze(0).to(model.device())).squeeze(0).cpu();
      per_image.emplace_back(s.stem, compute_metrics(to_unit_range(fake), to_unit_range(s.B)));
      if (static_cast<int>(i) < cfg.num_samples) {
        std::ostringstream name;
        name << "epoch_" << std::setw(3) << std::setfill('0') << epoch << "_" << s.stem << ".png";
        save_png((fs::path(samples_dir) / name.str()).string(), triplet(s.A, fake, s.B));
      }
    }
  });
  G.train();
  result.has = true;
  result.mean = summarize(per_image).mean;
  return result;
}

nlohmann::json metrics_json(const ImageMetrics& m) {
  return {{"l1", m.l1}, {"mae", m.mae}, {"psnr", m.psnr}, {"ssim", m.ssim}};
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

}  // namespace

TrainResult train(const NetConfig& net, DataConfig data, const TrainConfig& cfg, const c10::Device& device,
                  const nlohmann::json& resolved, std::ostream& log) {
  if (cfg.batch_size < 1) fail("--batch_size: must be >= 1");
  if (cfg.name.empty()) fail("--name: must not be empty");
  const fs::path run_dir = fs::path(cfg.checkpoints_dir) / cfg.name;
  const std::string latest = checkpoint_path(run_dir.string(), "latest");
  const std::string history = (run_dir / "history.jsonl").string();
  const std::string samples_dir = (run_dir / "samples").string();

  LrSchedule schedule(cfg);
  seed_everything(cfg.seed, cfg.deterministic);
  Pix2PixModel model(net, cfg, device);  // initialised from the seed (replaced on resume)
  Network& G = model.generator();
  data.size_multiple = static_cast<int>(G.size_multiple());
  data.input_nc = net.input_nc;
  data.output_nc = net.output_nc;
  const bool crops = data.preprocess == "resize_and_crop" || data.preprocess == "crop" ||
                     data.preprocess == "scale_width_and_crop";
  if (crops && data.crop_size % G.size_multiple() != 0) {
    fail("--crop_size " + std::to_string(data.crop_size) + " is not a multiple of " +
         std::to_string(G.size_multiple()) + ", which --netG " + net.netG + " needs (each stride-2 level halves it)");
  }

  Splits splits = train_val_split(data);
  PairedDataset train_set(splits.train, data, /*augment=*/true);
  PairedDataset val_set(splits.val, data, /*augment=*/false);
  DataLoader loader(train_set, cfg.batch_size, /*shuffle=*/!data.serial_batches, data.num_threads);
  if (loader.batches_per_epoch() == 0) fail("--dataroot " + data.dataroot + ": no training pairs");

  TrainingState state{&G, model.discriminator(), &model.optimizer_G(), model.optimizer_D()};
  CheckpointMeta meta;
  int64_t first_epoch = cfg.epoch_count;
  int64_t skip_batches = 0;
  LossSums sums;
  if (cfg.continue_train) {
    const std::string from = checkpoint_path(run_dir.string(), cfg.epoch);
    if (!fs::exists(from)) fail("--continue_train: no checkpoint " + from + " to resume from");
    meta = load_checkpoint(from, state, /*restore_rng=*/true);
    schedule.load_state(meta.scheduler_json.empty() ? nlohmann::json() : nlohmann::json::parse(meta.scheduler_json));
    if (meta.epoch_iter > 0) {
      first_epoch = meta.epoch;
      skip_batches = meta.epoch_iter;
      if (!meta.extra_json.empty()) sums = LossSums::from_json(nlohmann::json::parse(meta.extra_json));
    } else {
      first_epoch = meta.epoch + 1;
    }
    model.set_iteration(meta.total_iters);
    truncate_history(history, first_epoch);
    log << "resuming " << run_dir.string() << " from " << from << " at epoch " << first_epoch
        << (skip_batches ? " (batch " + std::to_string(skip_batches + 1) + ")" : std::string()) << "\n";
  } else if (fs::exists(latest)) {
    fail("run folder " + run_dir.string() + " already holds checkpoints: pass --continue_train to resume it, "
         "or choose another --name");
  } else {
    make_dirs(run_dir.string());
    std::error_code ec;
    fs::remove(history, ec);
  }
  make_dirs(samples_dir);
  write_text_atomically((run_dir / "config.json").string(), resolved.dump(2) + "\n");

  const int64_t last_epoch = cfg.epoch_count - 1 + cfg.n_epochs + cfg.n_epochs_decay;
  const double lr_D = cfg.lr_D > 0 ? cfg.lr_D : cfg.lr;
  const std::string config_json = resolved.dump();
  TrainResult result;
  result.run_dir = run_dir.string();
  result.best_val_l1 = meta.best_val_l1;

  auto save = [&](const std::string& path, int64_t epoch, int64_t epoch_iter) {
    CheckpointMeta m;
    m.epoch = epoch;
    m.epoch_iter = epoch_iter;
    m.total_iters = model.iteration();
    m.best_val_l1 = result.best_val_l1;
    m.config_json = config_json;
    m.scheduler_json = schedule.state().dump();
    m.extra_json = epoch_iter > 0 ? sums.to_json().dump() : std::string();
    save_checkpoint(path, state, m);
  };

  if (!cfg.continue_train) {
    // Baseline: the untrained generator's validation metrics, so the history shows what training bought.
    ValResult v0 = validate(model, val_set, cfg, static_cast<int>(cfg.epoch_count - 1), samples_dir);
    if (v0.has) {
      nlohmann::json record = {
          {"epoch", cfg.epoch_count - 1}, {"iters", 0}, {"baseline", true}, {"val", metrics_json(v0.mean)}};
      append_line(history, record.dump());
      log << std::fixed << std::setprecision(4) << "before training: val L1 " << v0.mean.l1 << " PSNR "
          << std::setprecision(2) << v0.mean.psnr << " SSIM " << std::setprecision(4) << v0.mean.ssim << "\n";
    }
  }

  const bool interactive = Progress::stderr_is_terminal() && &log == &std::cerr;
  for (int64_t epoch = first_epoch; epoch <= last_epoch; ++epoch) {
    const int schedule_epoch = static_cast<int>(epoch - cfg.epoch_count + 1);
    const double factor = schedule.factor(schedule_epoch);
    model.set_learning_rates(cfg.lr * factor, lr_D * factor);
    const auto t0 = std::chrono::steady_clock::now();
    loader.start_epoch(cfg.seed, epoch, skip_batches);
    Progress progress(log, interactive, static_cast<int>(epoch), static_cast<int>(last_epoch),
                      loader.batches_per_epoch(), cfg.print_freq);
    int64_t epoch_iter = skip_batches;
    skip_batches = 0;
    if (epoch_iter == 0) sums = LossSums();
    Batch batch;
    while (loader.next(batch)) {
      StepLosses losses;
      try {
        losses = model.optimize(batch);
      } catch (const NonFiniteLoss& e) {
        progress.finish();
        const std::string kept = fs::exists(latest) ? "the last good checkpoint " + latest + " is kept"
                                                    : "no checkpoint had been written yet";
        throw NonFiniteLoss(std::string(e.what()) + " in epoch " + std::to_string(epoch) + " (batch " +
                            std::to_string(epoch_iter + 1) + "); " + kept);
      }
      ++epoch_iter;
      sums.add(losses);
      progress.update(epoch_iter, format_losses(losses, model.losses()));
      const bool stop = stop_requested() || (cfg.max_iters > 0 && model.iteration() >= cfg.max_iters);
      const bool periodic = cfg.save_latest_freq > 0 && model.iteration() % cfg.save_latest_freq == 0;
      if ((stop || periodic) && epoch_iter < loader.batches_per_epoch()) save(latest, epoch, epoch_iter);
      if (stop && epoch_iter < loader.batches_per_epoch()) {
        progress.finish();
        log << "stopped at iteration " << model.iteration() << " (epoch " << epoch << ", batch " << epoch_iter
            << "); resume with --continue_train\n";
        result.interrupted = true;
        result.last_epoch = epoch;
        result.total_iters = model.iteration();
        return result;
      }
    }
    progress.finish();
    const double train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    ValResult val = validate(model, val_set, cfg, static_cast<int>(epoch), samples_dir);
    const nlohmann::json means = sums.means();
    schedule.observe(val.has ? val.mean.l1 : means["G_L1"].get<double>());
    nlohmann::json record = {{"epoch", epoch},
                             {"iters", model.iteration()},
                             {"lr_G", cfg.lr * factor},
                             {"lr_D", lr_D * factor},
                             {"train", means},
                             {"seconds", train_seconds},
                             {"it_per_s", sums.count / std::max(train_seconds, 1e-9)}};
    if (val.has) {
      record["val"] = metrics_json(val.mean);
    }
    append_line(history, record.dump());
    std::ostringstream summary;
    summary << std::fixed << std::setprecision(4) << "epoch " << epoch << "/" << last_epoch << " done in "
            << std::setprecision(1) << train_seconds << "s  lr " << std::scientific << std::setprecision(2)
            << cfg.lr * factor << std::fixed << std::setprecision(4) << "  G_L1 " << means["G_L1"].get<double>();
    if (val.has) {
      summary << "  val L1 " << val.mean.l1 << " PSNR " << std::setprecision(2) << val.mean.psnr << " SSIM "
              << std::setprecision(4) << val.mean.ssim;
    }
    log << summary.str() << "\n";

    const bool is_best = val.has && val.mean.l1 < result.best_val_l1;
    if (is_best) result.best_val_l1 = val.mean.l1;
    save(latest, epoch, 0);
    if (is_best) save(checkpoint_path(run_dir.string(), "best"), epoch, 0);
    if (cfg.save_epoch_freq > 0 && epoch % cfg.save_epoch_freq == 0) {
      save(checkpoint_path(run_dir.string(), std::to_string(epoch)), epoch, 0);
    }
    result.last_epoch = epoch;
    result.total_iters = model.iteration();
    if ((stop_requested() || (cfg.max_iters > 0 && model.iteration() >= cfg.max_iters)) && epoch < last_epoch) {
      log << "stopped after epoch " << epoch << "; resume with --continue_train\n";
      result.interrupted = true;
      return result;
    }
  }
  return result;
}

}  // namespace p2p
