// Flag table (see options.h). Each option: name, target field, help; value sets are checked here so a
// bad value fails before any work, with CLI11 naming the flag and the allowed values.
#include "cli/options.h"

#include "p2p/core/runtime.h"

#include <torch/cuda.h>

namespace p2p::cli {

void add_net_options(CLI::App& app, NetConfig& c) {
  app.add_option("--input_nc", c.input_nc, "channels of the input image A (1 or 3)")->check(CLI::IsMember({1, 3}))->capture_default_str();
  app.add_option("--output_nc", c.output_nc, "channels of the output image B (1 or 3)")->check(CLI::IsMember({1, 3}))->capture_default_str();
  app.add_option("--ngf", c.ngf, "generator filters in the first conv layer")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--ndf", c.ndf, "discriminator filters in the first conv layer")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--netG", c.netG, "generator: unet_<N> (N=2^k, e.g. unet_256), encoder_decoder_<N>, resnet_9blocks, resnet_6blocks")->capture_default_str();
  app.add_option("--netD", c.netD, "discriminator: basic (70x70 PatchGAN), n_layers, pixel")->check(CLI::IsMember({"basic", "n_layers", "pixel"}))->capture_default_str();
  app.add_option("--n_layers_D", c.n_layers_D, "layers of --netD n_layers (1: 16x16, 3: 70x70, 5: 286x286 field)")->check(CLI::Range(1, 8))->capture_default_str();
  app.add_option("--norm", c.norm, "normalisation: batch, instance, none")->check(CLI::IsMember({"batch", "instance", "none"}))->capture_default_str();
  app.add_option("--init_type", c.init_type, "weight init: normal, xavier, kaiming, orthogonal")->check(CLI::IsMember({"normal", "xavier", "kaiming", "orthogonal"}))->capture_default_str();
  app.add_option("--init_gain", c.init_gain, "scale of normal/xavier/orthogonal init")->capture_default_str();
  app.add_flag("--no_dropout", c.no_dropout, "no dropout in the generator");
  app.add_option("--dropout_placement", c.dropout_placement, "reference (3 U-Net blocks above the innermost) or paper (first 3 decoder layers)")->check(CLI::IsMember({"reference", "paper"}))->capture_default_str();
}

void add_model_ref_options(CLI::App& app, ModelRef& c, bool allow_weights) {
  app.add_option("--name", c.name, "experiment name: the run folder <checkpoints_dir>/<name>");
  app.add_option("--checkpoints_dir", c.checkpoints_dir, "where run folders live")->capture_default_str();
  if (allow_weights) {
    app.add_option("--weights", c.weights, "generator weights: a pix2pix.cpp checkpoint or a reference *_net_G.pth")
        ->check(CLI::ExistingFile);
  }
}

void add_data_options(CLI::App& app, DataConfig& c, bool with_phase) {
  app.add_option("--dataroot", c.dataroot, "dataset folder holding <phase>/ (AB images or A/ and B/ subfolders)");
  if (with_phase) app.add_option("--phase", c.phase, "dataset split to train on")->capture_default_str();
  app.add_option("--dataset_mode", c.dataset_mode, "auto, aligned (AB images), folders (A/ and B/ paired by name)")->check(CLI::IsMember({"auto", "aligned", "folders"}))->capture_default_str();
  app.add_option("--folder_names", c.folder_names, "folders mode: A and B subfolder names as A_NAME:B_NAME (e.g. s1:s2)")->capture_default_str();
  app.add_option("--pair_replace", c.pair_replace, "folders mode: FROM:TO turns an A file name into its B partner's (e.g. _s1_:_s2_)");
  app.add_option("--direction", c.direction, "AtoB or BtoA")->check(CLI::IsMember({"AtoB", "BtoA"}))->capture_default_str();
  app.add_option("--preprocess", c.preprocess, "resize_and_crop, crop, scale_width, scale_width_and_crop, none")->check(CLI::IsMember({"resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none"}))->capture_default_str();
  app.add_option("--load_size", c.load_size, "resize images to this size first")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--crop_size", c.crop_size, "then crop to this size")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_flag("--no_flip", c.no_flip, "no random horizontal flips");
  app.add_flag("--serial_batches", c.serial_batches, "take pairs in order instead of shuffling");
  app.add_option("--num_threads", c.num_threads, "data loading threads")->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--max_dataset_size", c.max_dataset_size, "use at most this many pairs")->check(CLI::PositiveNumber);
  app.add_option("--val_fraction", c.val_fraction, "fraction of train held out for validation when there is no val/ folder")->check(CLI::Range(0.0, 0.5))->capture_default_str();
}

void add_train_options(CLI::App& app, TrainConfig& c) {
  app.add_option("--name", c.name, "experiment name: checkpoints go to <checkpoints_dir>/<name>")->capture_default_str();
  app.add_option("--checkpoints_dir", c.checkpoints_dir, "where run folders live")->capture_default_str();
  app.add_option("--loss", c.loss, "objective: cgan+l1 (pix2pix), gan+l1, cgan, gan (unconditional D), l1 (no D)")->check(CLI::IsMember({"cgan+l1", "gan+l1", "cgan", "gan", "l1"}))->capture_default_str();
  app.add_option("--gan_mode", c.gan_mode, "vanilla (BCE), lsgan (MSE), wgangp (with gradient penalty)")->check(CLI::IsMember({"vanilla", "lsgan", "wgangp"}))->capture_default_str();
  app.add_option("--lambda_L1", c.lambda_L1, "weight of the L1 term")->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--lambda_gp", c.lambda_gp, "weight of the WGAN-GP gradient penalty")->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--lr", c.lr, "initial Adam learning rate")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--lr_D", c.lr_D, "discriminator learning rate (default: --lr)");
  app.add_option("--beta1", c.beta1, "Adam beta1")->check(CLI::Range(0.0, 0.9999))->capture_default_str();
  app.add_option("--batch_size", c.batch_size, "images per batch")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--n_epochs", c.n_epochs, "epochs at the initial learning rate")->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--n_epochs_decay", c.n_epochs_decay, "epochs of linear decay to zero")->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--lr_policy", c.lr_policy, "linear, step, cosine, plateau")->check(CLI::IsMember({"linear", "step", "cosine", "plateau"}))->capture_default_str();
  app.add_option("--lr_decay_iters", c.lr_decay_iters, "step policy: x0.1 every this many epochs")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--epoch_count", c.epoch_count, "number of the first epoch")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_flag("--continue_train", c.continue_train, "resume from the checkpoint named by --epoch");
  app.add_option("--epoch", c.epoch, "checkpoint to resume from: latest, best or an epoch number")->capture_default_str();
  app.add_option("--save_epoch_freq", c.save_epoch_freq, "keep a checkpoint every this many epochs (0 = never)")->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--save_latest_freq", c.save_latest_freq, "also refresh 'latest' every this many iterations (0 = epoch ends only)")->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--print_freq", c.print_freq, "iterations between progress lines when not on a terminal")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--num_samples", c.num_samples, "validation triplets saved per epoch")->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--max_iters", c.max_iters, "stop with a resumable checkpoint after this many iterations (0 = no limit)")->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--max_val", c.max_val, "validate on at most this many pairs (0 = all)")->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--seed", c.seed, "seed of initialisation, data order and augmentation")->capture_default_str();
  app.add_flag("--deterministic", c.deterministic, "deterministic kernels: bit-identical reruns and resumes");
}

void add_test_options(CLI::App& app, TestConfig& c) {
  app.add_option("--results_dir", c.results_dir, "results go to <results_dir>/<name>/<phase>_<epoch>/")->capture_default_str();
  app.add_option("--phase", c.phase, "dataset split to translate")->capture_default_str();
  app.add_option("--epoch", c.epoch, "checkpoint: latest, best or an epoch number")->capture_default_str();
  app.add_flag("--eval", c.eval, "running BN statistics and no dropout (default: the paper's test mode)");
  app.add_option("--num_test", c.num_test, "translate at most this many pairs (0 = all)")->check(CLI::NonNegativeNumber)->capture_default_str();
}

void add_runtime_options(CLI::App& app, RuntimeOptions& c) {
  app.add_option("--device,--gpu_ids", c.device, "auto, cpu, cuda, cuda:N, or GPU ids as in the reference (-1 = CPU)")->capture_default_str();
  app.add_option("--torch_threads", c.torch_threads, "compute threads (0 = one per core)")->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--blas_threads", c.blas_threads, "OpenBLAS threads (1 avoids oversubscription)")->check(CLI::PositiveNumber)->capture_default_str();
}

bool given(const CLI::App& app, const std::string& flag) {
  try {
    return app.get_option(flag)->count() > 0;
  } catch (const CLI::OptionNotFound&) {
    return false;
  }
}

c10::Device setup_runtime(const RuntimeOptions& r) {
  configure_threads(r.torch_threads);
  set_blas_threads(r.blas_threads);
  if (r.device == "auto") {
    return torch::cuda::is_available() ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
  }
  return parse_device(r.device, "--device");
}

}  // namespace p2p::cli
