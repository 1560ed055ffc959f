// Flag table (see options.h). Each option: name, target field, help; values are checked here so a bad
// value fails before any work, with a message naming the flag and the allowed values or bounds in
// words (never a 309-digit number).
#include "cli/options.h"

#include "p2p/core/blas_calibration.h"
#include "p2p/core/error.h"
#include "p2p/core/random_state.h"
#include "p2p/core/runtime.h"
#include "p2p/data/dataset.h"
#include "p2p/io/run_folder.h"
#include "p2p/train/family.h"

#include <ATen/Parallel.h>
#include <torch/cuda.h>

#include <algorithm>
#include <iomanip>
#include <cerrno>
#include <chrono>
#include <mutex>
#include <cmath>
#include <cstdlib>
#include <set>
#include <sstream>
#include <string>
#include <vector>
#include <thread>

namespace p2p::cli {

// A real number in [lo, hi] (hi_open: [lo, hi)), finite; `what` says it in words for the message,
// `shown` in --help.
CLI::Validator real_in(double lo, double hi, bool lo_open, bool hi_open, const std::string& what,
                       const std::string& shown) {
  return CLI::Validator(
      [=](std::string& s) -> std::string {
        errno = 0;
        char* end = nullptr;
        const double v = std::strtod(s.c_str(), &end);
        const bool ok = !s.empty() && end == s.c_str() + s.size() && errno != ERANGE && std::isfinite(v) &&
                        (lo_open ? v > lo : v >= lo) && (hi_open ? v < hi : v <= hi);
        return ok ? std::string() : "'" + s + "' is not " + what;
      },
      shown);
}

CLI::Validator positive_real() { return real_in(0, HUGE_VAL, true, false, "a positive finite number", "POSITIVE"); }
CLI::Validator non_negative_real() { return real_in(0, HUGE_VAL, false, false, "a finite number >= 0", "NONNEGATIVE"); }

// A whole number in [lo, hi], written in decimal digits (so "-1" is not silently wrapped for unsigned
// fields and "1e3" is not read as 1).
CLI::Validator integer_in(long long lo, long long hi, const std::string& what, const std::string& shown) {
  return CLI::Validator(
      [=](std::string& s) -> std::string {
        errno = 0;
        char* end = nullptr;
        const long long v = std::strtoll(s.c_str(), &end, 10);
        const bool ok = !s.empty() && end == s.c_str() + s.size() && errno != ERANGE && v >= lo && v <= hi;
        return ok ? std::string() : "'" + s + "' is not " + what;
      },
      shown);
}

constexpr long long kIntMax = 2147483647, kInt64Max = 9223372036854775807LL;
// The bound said as a reader says it: 2147483647 is the largest a 32-bit field holds; 2^63-1 is written
// as a power, not as 19 digits.
CLI::Validator positive_int() { return integer_in(1, kIntMax, "a whole number from 1 to 2147483647", "POSITIVE"); }
CLI::Validator non_negative_int() { return integer_in(0, kIntMax, "a whole number from 0 to 2147483647", "NONNEGATIVE"); }
CLI::Validator positive_int64() { return integer_in(1, kInt64Max, "a whole number from 1 to 2^63-1", "POSITIVE"); }
CLI::Validator non_negative_int64() { return integer_in(0, kInt64Max, "a whole number from 0 to 2^63-1", "NONNEGATIVE"); }

namespace {

CLI::Validator run_name() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        try {
          check_run_name(s);
        } catch (const Error&) {
          return "'" + s + "' is not one folder name (no '/' or '..', not '.'); runs live in "
                 "<checkpoints_dir>/<name>, and --checkpoints_dir chooses where";
        }
        return "";
      },
      "NAME");
}

template <typename T>
CLI::Option* opt(CLI::App& app, const std::string& name, T& field, const std::string& help) {
  return app.add_option(name, field, help)->capture_default_str();
}

// "a,b" where every item is one of `names`.
CLI::Validator comma_list_of(std::vector<std::string> names) {
  return CLI::Validator(
      [names](std::string& s) -> std::string {
        std::string item;
        std::stringstream in(s);
        std::string all;
        for (const std::string& n : names) all += (all.empty() ? "" : ", ") + n;
        while (std::getline(in, item, ',')) {
          if (std::find(names.begin(), names.end(), item) == names.end()) {
            return "'" + item + "' is not one of " + all + " (comma-separated)";
          }
        }
        return "";
      },
      "LIST");
}

const char* const kIgnoredGroup = "Ignored reference options (display only)";

int cores() { return static_cast<int>(std::max(1u, std::thread::hardware_concurrency())); }

}  // namespace

void add_generator_options(CLI::App& app, NetConfig& c) {
  opt(app, "--input_nc", c.input_nc, "channels of the input A (1 gray, 3 RGB; any N with TIFF bands)")->check(positive_int());
  opt(app, "--output_nc", c.output_nc, "channels of the output B (1 gray, 3 RGB; any N with TIFF bands)")->check(positive_int());
  opt(app, "--ngf", c.ngf, "generator filters in the first conv layer")->check(positive_int());
  opt(app, "--netG", c.netG, "generator: unet_<N> (N=2^k, e.g. unet_256), encoder_decoder_<N>, resnet_9blocks, resnet_6blocks");
  opt(app, "--norm", c.norm, "normalisation: batch, sync_batch (statistics across data-parallel ranks), instance, none")
      ->check(CLI::IsMember({"batch", "sync_batch", "instance", "none"}));
  app.add_flag("--no_dropout", c.no_dropout, "no dropout in the generator");
  opt(app, "--dropout_placement", c.dropout_placement, "reference (3 U-Net blocks above the innermost) or paper (first 3 decoder layers)")
      ->check(CLI::IsMember({"reference", "paper"}));
  opt(app, "--attention", c.attention, "U-Net attention: none, or a comma list of down (encoder), up (decoder), skip (gates)")
      ->check(comma_list_of({"none", "down", "up", "skip"}));
  opt(app, "--output_activation", c.output_activation, "tanh (an image in [-1,1]) or none (raw outputs; --model segmentation sets it)")
      ->check(CLI::IsMember({"tanh", "none"}));
}

void add_discriminator_options(CLI::App& app, NetConfig& c) {
  opt(app, "--ndf", c.ndf, "discriminator filters in the first conv layer")->check(positive_int());
  opt(app, "--netD", c.netD, "discriminator: basic (70x70 PatchGAN), n_layers, pixel")->check(CLI::IsMember({"basic", "n_layers", "pixel"}));
  opt(app, "--n_layers_D", c.n_layers_D, "layers of --netD n_layers (1: 16x16, 3: 70x70, 5: 286x286 field)")
      ->check(integer_in(1, 8, "a whole number from 1 to 8", "1..8"));
  opt(app, "--norm_D", c.norm_D, "discriminator normalisation: batch, sync_batch, instance, none, spectral (default: --norm)")
      ->check(CLI::IsMember({"", "batch", "sync_batch", "instance", "none", "spectral"}));
  opt(app, "--num_D", c.num_D, "discriminator scales (pix2pixHD multi-scale; inputs halved per scale)")
      ->check(integer_in(1, 8, "a whole number from 1 to 8", "1..8"));
}

void add_init_options(CLI::App& app, NetConfig& c) {
  opt(app, "--init_type", c.init_type, "weight init: normal, xavier, kaiming, orthogonal")
      ->check(CLI::IsMember({"normal", "xavier", "kaiming", "orthogonal"}));
  opt(app, "--init_gain", c.init_gain, "scale of normal/xavier/orthogonal init")->check(positive_real());
}

void add_net_options(CLI::App& app, NetConfig& c) {
  add_generator_options(app, c);
  add_discriminator_options(app, c);
  add_init_options(app, c);
}

void add_model_ref_options(CLI::App& app, ModelRef& c, bool allow_weights) {
  app.add_option("--name", c.name, "experiment name: the run folder <checkpoints_dir>/<name> (a reference run folder with <epoch>_net_G.pth works too)")
      ->check(run_name());
  opt(app, "--checkpoints_dir", c.checkpoints_dir, "where run folders live");
  if (allow_weights) {
    app.add_option("--weights", c.weights, "generator weights: a pix2pix.cpp checkpoint, a reference *_net_G.pth or a p2p export .safetensors")
        ->check(CLI::ExistingFile);
  }
}

void add_generator_choice_options(CLI::App& app, ModelRef& c, bool direction, bool model_suffix) {
  app.add_option("--generator", c.generator,
                 "which generator of a CycleGAN run: G_A (A -> B, the default) or G_B (B -> A); G for a pix2pix run")
      ->check(CLI::IsMember({"G", "G_A", "G_B"}));
  if (direction) {
    app.add_option("--direction", c.direction, "CycleGAN runs: AtoB uses G_A, BtoA G_B (the same as --generator)")
        ->check(CLI::IsMember({"AtoB", "BtoA"}));
  }
  if (model_suffix) {
    app.add_option("--model_suffix", c.model_suffix,
                   "the reference's generator suffix for --model test: '' (<epoch>_net_G.pth), _A (G_A) or _B (G_B)")
        ->check(CLI::IsMember({"", "_A", "_B"}));
  }
}

void add_data_options(CLI::App& app, DataConfig& c, DataUse use) {
  const bool train = use == DataUse::train;
  app.add_option("--dataroot", c.dataroot, "dataset folder holding <phase>/ (AB images or A/ and B/ subfolders)");
  if (train) opt(app, "--phase", c.phase, "dataset split to train on");
  opt(app, "--dataset_mode", c.dataset_mode,
      "auto, aligned (AB images), folders (A/ and B/ paired by name), unaligned (<phase>A/ and <phase>B/, cycle_gan)" +
          std::string(train ? "" : ", single (one folder of inputs, --model test)"))
      ->check(train ? CLI::IsMember({"auto", "aligned", "folders", "unaligned"})
                    : CLI::IsMember({"auto", "aligned", "folders", "unaligned", "single"}));
  opt(app, "--folder_names", c.folder_names, "folders mode: A and B subfolder names as A_NAME:B_NAME (e.g. s1:s2)");
  app.add_option("--pair_replace", c.pair_replace, "folders mode: FROM:TO turns an A file name into its B partner's (e.g. _s1_:_s2_)");
  opt(app, "--direction", c.direction, "AtoB or BtoA")->check(CLI::IsMember({"AtoB", "BtoA"}));
  opt(app, "--preprocess", c.preprocess, "resize_and_crop, crop, scale_width, scale_width_and_crop, none")
      ->check(CLI::IsMember({"resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none"}));
  opt(app, "--load_size", c.load_size, "resize images to this size first")->check(positive_int());
  opt(app, "--crop_size", c.crop_size, "then crop to this size")->check(positive_int());
  app.add_option("--max_dataset_size", c.max_dataset_size, "use at most this many pairs")
      ->check(positive_int64());
  if (!train) return;
  opt(app, "--palette", c.palette,
      "segmentation: B is a colour label map: cityscapes, facades or a palette JSON file (p2p data palette makes one); "
      "colours decode to class ids by nearest palette colour");
  opt(app, "--palette_distance", c.palette_distance, "with --palette: pixels farther than this (RGB units) from every colour are ignored")
      ->check(positive_real());
  app.add_flag("--no_flip", c.no_flip, "no random horizontal flips");
  app.add_flag("--serial_batches", c.serial_batches, "take pairs in order instead of shuffling");
  opt(app, "--num_threads", c.num_threads, "data loading threads")->check(non_negative_int());
  opt(app, "--val_fraction", c.val_fraction, "share of train held out for validation when there is no val/ folder (0 = none)")
      ->check(real_in(0, 0.5, false, false, "a number from 0 to 0.5", "[0, 0.5]"));
  add_augment_options(app, c);
  const std::string rs = "Remote-sensing input";
  app.add_flag("--sar_db", c.sar_db, "A is SAR intensity: 10*log10, clipped to --db_range, scaled to [-1,1]")->group(rs);
  opt(app, "--db_range", c.db_range, "MIN:MAX in dB for --sar_db")->group(rs);
  opt(app, "--normalize", c.normalize, "none, or dataset: per-channel mean/std of A over the training set (kept with the run)")
      ->check(CLI::IsMember({"none", "dataset"}))->group(rs);
}

void add_augment_options(CLI::App& app, DataConfig& c) {
  const std::string g = "Augmentation";
  opt(app, "--augment", c.augment, "none (centre crop), basic (resize/crop/flip), strong (+ rotation/scale, and colour jitter on --jitter_side)")
      ->check(CLI::IsMember({"none", "basic", "strong"}))->group(g);
  opt(app, "--jitter", c.jitter, "strong: colour jitter strength (brightness, contrast, saturation; hue half of it)")
      ->check(real_in(0, 1, false, false, "a number from 0 to 1", "[0, 1]"))->group(g);
  opt(app, "--rotate", c.rotate, "strong: rotation drawn from +-this many degrees")
      ->check(real_in(0, 180, false, false, "a number from 0 to 180", "[0, 180]"))->group(g);
  opt(app, "--scale_jitter", c.scale_jitter, "strong: scale drawn from [1-s, 1+s]")
      ->check(real_in(0, 1, false, true, "a number in [0, 1)", "[0, 1)"))->group(g);
  opt(app, "--jitter_side", c.jitter_side,
      "strong: which side gets colour jitter: none (the default: label maps' colours are their classes), input "
      "(photos, SAR), target, both")
      ->check(CLI::IsMember({"input", "target", "both", "none"}))->group(g);
}

void add_train_options(CLI::App& app, TrainConfig& c) {
  opt(app, "--name", c.name, "experiment name: checkpoints go to <checkpoints_dir>/<name>")->check(run_name());
  opt(app, "--model", c.model,
      "pix2pix (G and D), segmentation (photo -> class ids under cross-entropy; needs --palette), or cycle_gan "
      "(unpaired: G_A, G_B, D_A, D_B on trainA/ and trainB/)")
      ->check(CLI::Validator(
          [](std::string& v) -> std::string {
            if (v == "pix2pix" || v == "segmentation" || v == "cycle_gan") return "";
            return "--model " + v + ": pix2pix.cpp trains the reference's pix2pix and cycle_gan models and segmenters "
                   "(not test, colorization or template); use --model pix2pix, cycle_gan or segmentation";
          },
          "pix2pix|segmentation|cycle_gan"));
  opt(app, "--checkpoints_dir", c.checkpoints_dir, "where run folders live");
  add_loss_options(app, c);
  add_stabiliser_options(app, c);
  opt(app, "--lr", c.lr, "initial Adam learning rate")->check(positive_real());
  app.add_option("--lr_D", c.lr_D, "discriminator learning rate (default: --lr, or --lr x --lr_D_ratio)")->check(positive_real());
  opt(app, "--beta1", c.beta1, "Adam beta1")->check(real_in(0, 1, false, true, "a number in [0, 1)", "[0, 1)"));
  opt(app, "--beta2", c.beta2, "Adam beta2")->check(real_in(0, 1, false, true, "a number in [0, 1)", "[0, 1)"));
  opt(app, "--batch_size", c.batch_size, "images per batch")->check(positive_int());
  opt(app, "--n_epochs", c.n_epochs, "epochs at the initial learning rate")->check(non_negative_int());
  opt(app, "--n_epochs_decay", c.n_epochs_decay, "epochs of linear decay to zero")->check(non_negative_int());
  opt(app, "--lr_policy", c.lr_policy, "linear, step, cosine, plateau")->check(CLI::IsMember({"linear", "step", "cosine", "plateau"}));
  opt(app, "--lr_decay_iters", c.lr_decay_iters, "step policy: x0.1 every this many epochs")->check(positive_int());
  opt(app, "--epoch_count", c.epoch_count, "first epoch to train: the fixed schedule resumes there (epochs N .. n_epochs + n_epochs_decay)")
      ->check(positive_int());
  app.add_flag("--continue_train", c.continue_train, "resume the run from the checkpoint named by --epoch; its config.json gives the defaults");
  opt(app, "--epoch", c.epoch, "checkpoint to resume from: latest, best or an epoch number");
  opt(app, "--save_epoch_freq", c.save_epoch_freq, "keep a checkpoint every this many epochs (0 = never)")->check(non_negative_int());
  opt(app, "--save_latest_freq", c.save_latest_freq, "also refresh 'latest' every this many iterations (0 = epoch ends only)")
      ->check(non_negative_int());
  opt(app, "--print_freq", c.print_freq, "iterations between progress lines when not on a terminal")->check(positive_int());
  opt(app, "--num_samples", c.num_samples, "validation triplets saved per epoch")->check(non_negative_int());
  opt(app, "--max_iters", c.max_iters, "stop with a resumable checkpoint after this many iterations (0 = no limit)")
      ->check(non_negative_int64());
  opt(app, "--max_val", c.max_val, "validate on at most this many pairs (0 = all)")->check(non_negative_int());
  opt(app, "--best_metric", c.best_metric,
      "what best.pt and --lr_policy plateau go by: val_l1 (lowest), val_psnr, val_ssim, val_miou, val_pixel_acc (highest; "
      "val_miou needs --model segmentation or --val_segmenter)")
      ->check(CLI::IsMember({"val_l1", "val_psnr", "val_ssim", "val_miou", "val_pixel_acc"}));
  app.add_option("--val_segmenter", c.val_segmenter,
                 "a segmentation run folder: each epoch its mean IoU on the validation outputs against the input label "
                 "maps (the FCN-score) is recorded as val_miou");
  opt(app, "--seed", c.seed, "seed of initialisation, data order and augmentation")
      ->check(non_negative_int64());
  app.add_flag("--deterministic", c.deterministic, "deterministic kernels: bit-identical reruns and resumes");
  opt(app, "--dist_timeout", c.dist_timeout,
      "data-parallel runs: seconds a rank waits for the others (a dead or hung rank) before stopping with an error")
      ->check(positive_real());
}

void add_loss_options(CLI::App& app, TrainConfig& c) {
  opt(app, "--loss", c.loss, "objective: cgan+l1 (pix2pix), gan+l1, cgan, gan (unconditional D), l1 (no D), ce (segmentation)")
      ->check(CLI::IsMember({"cgan+l1", "gan+l1", "cgan", "gan", "l1", "ce"}));
  opt(app, "--gan_mode", c.gan_mode, "vanilla (BCE), lsgan (MSE), hinge, wgangp (with gradient penalty)")
      ->check(CLI::IsMember({"vanilla", "lsgan", "hinge", "wgangp"}));
  opt(app, "--lambda_L1", c.lambda_L1, "weight of the L1 term")->check(non_negative_real());
  opt(app, "--lambda_gp", c.lambda_gp, "weight of the WGAN-GP gradient penalty")->check(non_negative_real());
  const std::string cyc = "CycleGAN (--model cycle_gan)";
  opt(app, "--lambda_A", c.lambda_A, "weight of the cycle loss A -> B -> A")->check(non_negative_real())->group(cyc);
  opt(app, "--lambda_B", c.lambda_B, "weight of the cycle loss B -> A -> B")->check(non_negative_real())->group(cyc);
  opt(app, "--lambda_identity", c.lambda_identity,
      "identity loss weight as a fraction of the cycle weights (G_A(B) ~ B, G_B(A) ~ A; 0 = off)")
      ->check(non_negative_real())->group(cyc);
  add_objective_options(app, c);
}

void add_objective_options(CLI::App& app, TrainConfig& c) {
  const std::string g = "Objective (generator terms; weight 0 = off)";
  opt(app, "--lambda_charbonnier", c.lambda_charbonnier, "weight of the Charbonnier term sqrt(d^2 + eps^2)")
      ->check(non_negative_real())->group(g);
  opt(app, "--charbonnier_eps", c.charbonnier_eps, "eps of the Charbonnier term")->check(positive_real())->group(g);
  opt(app, "--lambda_ssim", c.lambda_ssim, "weight of the SSIM term 1 - SSIM")->check(non_negative_real())->group(g);
  opt(app, "--lambda_grad", c.lambda_grad, "weight of the gradient term (L1 between edge responses)")
      ->check(non_negative_real())->group(g);
  opt(app, "--grad_op", c.grad_op, "edge operator of the gradient term: sobel, laplacian")
      ->check(CLI::IsMember({"sobel", "laplacian"}))->group(g);
  opt(app, "--lambda_perc", c.lambda_perc, "weight of the VGG perceptual term (needs --vgg_weights)")
      ->check(non_negative_real())->group(g);
  app.add_option("--vgg_weights", c.vgg_weights, "torchvision VGG16/VGG19 state_dict file for --lambda_perc")->group(g);
  opt(app, "--perc_layers", c.perc_layers, "VGG layers of the perceptual term (comma list, e.g. relu1_1,relu2_1)")->group(g);
  opt(app, "--lambda_fm", c.lambda_fm, "weight of discriminator feature matching (pix2pixHD)")
      ->check(non_negative_real())->group(g);
  app.add_option("--loss_schedule", c.loss_schedule,
                 "staged term weights: \"1:L1=100,GAN=1; 51:L1=50,ssim=10,perc=1\" (terms GAN, L1, charbonnier, ssim, grad, perc, fm)")
      ->group(g);
}

void add_stabiliser_options(CLI::App& app, TrainConfig& c) {
  const std::string g = "Stabilisers";
  opt(app, "--real_label", c.real_label, "D's target for real pairs (label smoothing, e.g. 0.9)")
      ->check(real_in(0, 1, false, false, "a number from 0 to 1", "[0, 1]"))->group(g);
  opt(app, "--fake_label", c.fake_label, "D's target for fake pairs (e.g. 0.1)")
      ->check(real_in(0, 1, false, false, "a number from 0 to 1", "[0, 1]"))->group(g);
  opt(app, "--g_steps_per_d", c.g_steps_per_d, "G steps per D step (D steps every K-th iteration)")->check(positive_int())->group(g);
  opt(app, "--d_steps_per_g", c.d_steps_per_g, "D steps per G step (G steps every K-th iteration)")->check(positive_int())->group(g);
  opt(app, "--clip_grad_G", c.clip_grad_G, "clip G's gradient norm to this (0 = off)")->check(non_negative_real())->group(g);
  opt(app, "--clip_grad_D", c.clip_grad_D, "clip D's gradient norm to this (0 = off)")->check(non_negative_real())->group(g);
  opt(app, "--pool_size", c.pool_size, "image pool of past fakes shown to D (0 = off, as the reference's pix2pix)")
      ->check(non_negative_int())->group(g);
  opt(app, "--lr_D_ratio", c.lr_D_ratio, "D's learning rate as a multiple of --lr (when --lr_D is not given; 0 = off)")
      ->check(non_negative_real())->group(g);
}

void add_realism_options(CLI::App& app, RealismOptions& c, bool test) {
  const std::string g = "Realism and segmentation scores";
  app.add_option("--palette", c.palette,
                 test ? "score the outputs as colour label maps of this palette (photo -> labels runs): cityscapes, facades or a JSON file"
                      : "--pred and --target hold colour label maps of this palette (cityscapes, facades or a JSON file): "
                        "pixel accuracy, class accuracy, mean IoU")
      ->group(g);
  app.add_option("--palette_distance", c.palette_distance,
                 "label-map colours farther than this (RGB units) from every palette colour are ignored (default: 128, "
                 "or the segmenter run's own)")
      ->check(positive_real())->group(g);
  app.add_option("--segmenter", c.segmenter,
                 test ? "a segmentation run: the FCN-score of the outputs against the input label maps"
                      : "a segmentation run: the FCN-score of the photos in --pred against the label maps in --labels")
      ->check(CLI::ExistingDirectory)->group(g);
  app.add_option("--inception_weights", c.inception_weights,
                 "pytorch-fid's pt_inception-2015-12-05-6726825d.pth: FID and KID of the outputs against the targets "
                 "(\"default\": $XDG_DATA_HOME/p2p/weights/, else ~/.local/share/p2p/weights/)")
      ->group(g);
  app.add_option("--fid_reference", c.fid_reference,
                 "FID/KID against these saved statistics (.npz from --save_fid_stats, or pytorch-fid's --save-stats: "
                 "FID only) instead of the target images")
      ->check(CLI::ExistingFile)->group(g);
  app.add_option("--save_fid_stats", c.save_fid_stats,
                 test ? "write the outputs' Inception statistics here (.npz: mu, sigma, features)"
                      : "write the Inception statistics of the --pred images here (.npz: mu, sigma, features), e.g. "
                        "a dataset's photos once, for later --fid_reference")
      ->group(g);
  app.add_option("--alexnet_weights", c.alexnet_weights, "torchvision's alexnet-owt-7be5be79.pth (LPIPS trunk; with --lpips_weights)")
      ->group(g);
  app.add_option("--lpips_weights", c.lpips_weights, "the lpips package's weights/v0.1/alex.pth (LPIPS v0.1; with --alexnet_weights)")
      ->group(g);
  app.add_option("--kid_subsets", c.kid_subsets, "KID: random subsets drawn")->check(positive_int())->capture_default_str()->group(g);
  app.add_option("--kid_subset_size", c.kid_subset_size, "KID: images per subset (clamped to the smaller set)")
      ->check(positive_int())->capture_default_str()->group(g);
}

void add_test_options(CLI::App& app, TestConfig& c) {
  opt(app, "--results_dir", c.results_dir, "results go to <results_dir>/<name>/<phase>_<epoch>/");
  opt(app, "--phase", c.phase, "dataset split to translate");
  opt(app, "--num_test", c.num_test, "translate at most this many pairs (0 = all)")
      ->check(non_negative_int64());
}

void add_inference_options(CLI::App& app, TestConfig& c) {
  opt(app, "--epoch", c.epoch, "checkpoint of --name: latest, best or an epoch number (or a reference <epoch>_net_G.pth)");
  app.add_flag("--eval", c.eval, "running BN statistics and no dropout (default: the paper's test mode)");
  opt(app, "--seed", c.seed, "seed of the dropout draws of the paper's test mode (reproducible outputs)")
      ->check(non_negative_int64());
}

void add_tile_options(CLI::App& app, TileOptions& c) {
  opt(app, "--tile", c.tile,
      "translate in tiles of this size, blended (0: whole image; images over 4096x4096 are tiled at 1024)")
      ->check(non_negative_int64());
  opt(app, "--overlap", c.overlap, "pixels neighbouring tiles share, blended with a smooth window")
      ->check(non_negative_int64());
  opt(app, "--tile_batch", c.tile_batch, "tiles per forward pass")->check(positive_int64());
}

void add_serve_options(CLI::App& app, ServeCli& c) {
  app.add_option("--name", c.names,
                 "a run to serve: <checkpoints_dir>/<name>; repeat for several models; ALIAS=NAME serves it as ALIAS");
  opt(app, "--checkpoints_dir", c.checkpoints_dir, "where run folders live");
  app.add_option("--weights", c.weights,
                 "a generator file to serve (checkpoint, reference .pth, .safetensors); repeatable; ALIAS=FILE names it");
  opt(app, "--host", c.server.host, "address to listen on (127.0.0.1: this machine only; 0.0.0.0: every interface)");
  opt(app, "--port", c.server.port, "TCP port (0: any free port, printed on the start line)")
      ->check(integer_in(0, 65535, "a port number from 0 to 65535", "0..65535"));
  app.add_option("--token", c.server.token,
                 "require 'Authorization: Bearer TOKEN' on every endpoint but /healthz (the page also takes ?token=)");
  app.add_option("--token_file", c.token_file, "read the token from this file (first line), kept out of the process list")
      ->check(CLI::ExistingFile);
  opt(app, "--max_body_mb", c.server.max_body_mb, "largest request body in MiB; larger ones get 413")
      ->check(real_in(0, 4096, true, false, "a number above 0 and at most 4096", "(0, 4096]"));
  opt(app, "--max_queue", c.server.max_queue,
      "translate requests admitted at once (waiting or running); more get 503 with Retry-After")
      ->check(integer_in(1, 4096, "a whole number from 1 to 4096", "1..4096"));
  opt(app, "--batch_wait_ms", c.server.batch_wait_ms,
      "how long a request waits for others to share its forward pass (-1: 0 on the CPU, where one forward fills "
      "the cores and requests queued behind it batch anyway; 5 on a GPU)")
      ->check(integer_in(-1, 10000, "a whole number of milliseconds from 0 to 10000, or -1", "-1..10000"));
  opt(app, "--max_batch", c.server.max_batch, "images per forward pass at most")
      ->check(integer_in(1, 1024, "a whole number from 1 to 1024", "1..1024"));
  opt(app, "--timeout_s", c.server.timeout_s, "a translate request not answered this long after admission gets 504")
      ->check(real_in(0, 86400, true, false, "a number of seconds above 0 and at most 86400", "(0, 86400]"));
  app.add_option("--palette", c.palette,
                 "label colours for the drawing page: cityscapes, facades, a palette JSON file, or none (default: the "
                 "run's palette.json, else the colours of its training inputs when they are label maps)");
}

void add_translate_options(CLI::App& app, TranslateOptions& c) {
  add_tile_options(app, c.tiles);
  app.add_flag("--resume", c.resume, "skip inputs whose output already exists (outputs are written atomically)");
}

void add_runtime_options(CLI::App& app, RuntimeOptions& c) {
  opt(app, "--device,--gpu_ids", c.device, "auto, cpu, cuda, cuda:N, or GPU ids as in the reference (-1 = CPU)");
  opt(app, "--torch_threads", c.torch_threads, "compute threads (0 = one per core)")->check(non_negative_int());
  opt(app, "--blas_threads", c.blas_threads,
      "OpenBLAS threads (0: the faster of 1 and --torch_threads, measured once on this machine and cached)")
      ->check(non_negative_int());
}

void add_precision_option(CLI::App& app, std::string& value) {
  opt(app, "--precision", value,
      "arithmetic on the CPU: fp32; bf16 (convolutions in bfloat16 with fp32 weights, optimizer state and losses; "
      "needs avx512_bf16 or AMX); auto (bf16 where the CPU has it and it measures faster, else fp32)")
      ->check(CLI::IsMember({"fp32", "bf16", "auto"}));
}

void add_export_options(CLI::App& app, std::string& format, std::string& out, std::string& epoch, bool& eval) {
  opt(app, "--format", format,
      "safetensors: G's weights, its architecture options and input mapping in the header; torchscript: G "
      "traced into a TorchScript module (torch.jit.load)")
      ->check(CLI::IsMember({"safetensors", "torchscript"}));
  app.add_flag("--eval", eval, "torchscript: trace with running statistics and no dropout (default: the paper's test mode)");
  app.add_option("--out", out, "file to write")->required();
  opt(app, "--epoch", epoch, "checkpoint of the run to export: latest, best or an epoch number");
}

void add_launch_options(CLI::App& app, LaunchOptions& c) {
  opt(app, "--nproc", c.nproc, "ranks to start on this machine")->check(positive_int());
  opt(app, "--nnodes", c.nnodes, "machines in the job (each runs p2p launch)")->check(positive_int());
  opt(app, "--node_rank", c.node_rank, "this machine's place, 0..nnodes-1 (node 0 hosts the rendezvous)")
      ->check(non_negative_int());
  opt(app, "--master_addr", c.master_addr, "address of node 0, where rank 0 listens");
  opt(app, "--master_port", c.master_port, "rendezvous port on node 0 (0: a free one; single machine only)")
      ->check(integer_in(0, 65535, "a port number from 0 to 65535", "0..65535"));
  opt(app, "--grace", c.grace_seconds, "seconds the ranks get to stop after one fails or a stop is passed on, before SIGKILL")
      ->check(positive_real());
}

void add_reference_options(CLI::App& app, ReferenceCompat& c, DisplayFlags display) {
  // train has its own --model (TrainConfig::model: pix2pix or segmentation).
  if (display != DisplayFlags::train) {
    std::string names;
    for (const std::string& m : c.models) names += (names.empty() ? "" : ", ") + m;
    opt(app, "--model", c.model,
        c.models.size() == 1 ? "the reference's model name: pix2pix (the only one here)"
                             : "the reference's model name: " + names +
                                   " (cycle_gan: both generators of a CycleGAN run; test: one generator over one folder, "
                                   "--dataset_mode single)");
  }
  if (display == DisplayFlags::none) return;
  const std::string ignored = "accepted for reference command lines and ignored (display only)";
  auto hidden = [&](CLI::Option* o) { o->group(kIgnoredGroup); };
  if (display == DisplayFlags::base) {
    hidden(app.add_option("--display_winsize", c.display_winsize, ignored));
    hidden(app.add_option("--wandb_project_name", c.wandb_project_name, ignored));
    hidden(app.add_flag("--use_wandb", c.use_wandb, ignored));
    return;
  }
  hidden(app.add_option("--display_id", c.display_id, ignored));
  hidden(app.add_option("--display_port", c.display_port, ignored));
  hidden(app.add_option("--display_freq", c.display_freq, ignored));
  hidden(app.add_option("--update_html_freq", c.update_html_freq, ignored));
  hidden(app.add_option("--display_ncols", c.display_ncols, ignored));
  hidden(app.add_option("--display_winsize", c.display_winsize, ignored));
  hidden(app.add_option("--display_server", c.display_server, ignored));
  hidden(app.add_option("--display_env", c.display_env, ignored));
  hidden(app.add_option("--wandb_project_name", c.wandb_project_name, ignored));
  hidden(app.add_flag("--no_html", c.no_html, ignored));
  hidden(app.add_flag("--use_wandb", c.use_wandb, ignored));
}

void apply_reference_options(const CLI::App& app, const ReferenceCompat& c, std::ostream& note) {
  if (std::find(c.models.begin(), c.models.end(), c.model) == c.models.end()) {
    if (c.models.size() > 1) {
      fail("--model " + c.model + ": this command runs the reference's pix2pix, cycle_gan and test models (not " +
           "colorization or template); use one of those or leave it out");
    }
    fail("--model " + c.model + ": this command uses the reference's pix2pix model only (cycle_gan and test are " +
         "options of p2p test; not colorization or template); use --model pix2pix or leave it out");
  }
  std::string list;  // the display flags given, in registration order
  for (const CLI::Option* o : app.get_options()) {
    if (o->get_group() == kIgnoredGroup && o->count() > 0) list += (list.empty() ? "" : ", ") + o->get_name();
  }
  if (!list.empty()) {
    note << "note: ignoring " << list << ": display options of the reference (progress is shown here; "
         << "results are written as files and HTML pages)\n";
  }
}

bool given(const CLI::App& app, const std::string& flag) {
  try {
    return app.get_option(flag)->count() > 0;
  } catch (const CLI::OptionNotFound&) {
    return false;
  }
}

nlohmann::json typed_options(const CLI::App& app, const nlohmann::json& sections) {
  nlohmann::json typed = nlohmann::json::object();
  for (const auto& [section, fields] : sections.items()) {
    typed[section] = nlohmann::json::object();
    for (const auto& [field, value] : fields.items()) {
      if (given(app, "--" + field)) typed[section][field] = value;
    }
  }
  return typed;
}

int capped_threads(const std::string& flag, int value, int most, std::ostream& note) {
  if (value <= most) return value;
  note << "note: " << flag << " " << value << " capped at " << most << " (this machine has " << cores()
       << " cores; more threads only add overhead)\n";
  return most;
}

c10::Device setup_runtime(const RuntimeOptions& r, std::ostream& note) {
  configure_threads(capped_threads("--torch_threads", r.torch_threads, cores(), note));
  if (r.device == "auto") {
    return torch::cuda::is_available() ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
  }
  return parse_device(r.device, "--device");
}

namespace {

// Whole training steps of the run's model family on a random batch at the workload's size and batch, in
// precision p: the work `train` and a training `bench` run, discriminator and optimizer included. Null
// where that is not the workload (inference, or the segmentation family, whose targets are class ids).
std::function<std::function<double()>(Precision)> training_step_timer(const CalibrationWorkload& work,
                                                                      const TrainConfig* train,
                                                                      const c10::Device& device) {
  if (!train || !work.training || train->model == "segmentation") return nullptr;
  return [work, config = *train, device](Precision p) -> std::function<double()> {
    std::shared_ptr<TrainModel> model = make_train_model(work.net, config, device);
    auto batch = std::make_shared<Batch>();
    // Rounded up to a size the generator takes: a --crop_size it refuses is the run's own error to
    // report, in its own words, not the calibration's.
    const int64_t multiple = std::max<int64_t>(1, model->generator().size_multiple());
    const int64_t n = std::max<int64_t>(1, work.batch);
    const int64_t side = (std::max<int64_t>(work.size, 1) + multiple - 1) / multiple * multiple;
    batch->A = at::rand({n, work.net.input_nc, side, side}) * 2 - 1;
    batch->B = at::rand({n, work.net.output_nc, side, side}) * 2 - 1;
    batch->stems.assign(n, "calibration");
    return [model, batch, p] {
      const PrecisionScope scope(p);
      const auto t0 = std::chrono::steady_clock::now();
      model->optimize(*batch);
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    };
  };
}

}  // namespace

Precision setup_precision(const std::string& value, const c10::Device& device, CalibrationWorkload& work,
                          std::ostream& note, const TrainConfig* train) {
  if (value != "auto") {
    work.precision = parse_fixed_precision(value, device, "--precision");
    return work.precision;
  }
  std::ostringstream why;
  if (!device.is_cpu()) {
    work.precision = Precision::kFp32;
    why << "auto: bf16 is for the CPU in this build";
  } else {
    const auto step_timer = training_step_timer(work, train, device);
    const std::string measured = (step_timer ? "a " + train->model + " step of " : "") + workload_name(work);
    PrecisionChoice c;
    {
      // Building models and running steps draws random numbers: a seeded run must not depend on
      // whether this measured now or read the cache.
      const KeepRandomState keep;
      c = choose_precision(work, default_blas_cache_file(), step_timer, step_timer ? "step " + train->model : "");
    }
    work.precision = c.precision;
    if (c.instructions.empty()) {
      why << "auto: this CPU has no avx512_bf16 or AMX";
    } else {
      why << "auto: " << c.instructions << "; " << measured << " took " << std::setprecision(3)
          << c.seconds_bf16 << " s in bf16, " << c.seconds_fp32 << " s in fp32"
          << (c.cached ? ", measured earlier on this machine" : ", measured now");
    }
  }
  note << "note: precision " << precision_name(work.precision) << " (" << why.str() << ")\n";
  return work.precision;
}

void setup_blas_threads(const RuntimeOptions& r, const c10::Device& device, const CalibrationWorkload& work,
                        std::ostream& note, const TrainConfig* train) {
  if (r.blas_threads != 0) {
    set_blas_threads(capped_threads("--blas_threads", r.blas_threads, cores(), note));
    return;
  }
  if (!device.is_cpu()) {
    set_blas_threads(1);
    return;
  }
  const std::string cache = default_blas_cache_file();
  std::string name = workload_name(work);
  std::function<double(int)> timer = generator_workload(work);
  bool whole_steps = false;
  // Training: whole steps. G's passes alone can gain from a second BLAS thread where the step loses it
  // (OpenBLAS's threads spin after each call, against LibTorch's in the discriminator and the optimizer).
  if (const auto steps = training_step_timer(work, train, device)) {
    name = "step " + train->model + " " + name;
    whole_steps = true;
    auto step = std::make_shared<std::function<double()>>();
    timer = [steps, step, p = work.precision](int blas_threads) {
      if (blas_threads > 0) set_blas_threads(blas_threads);
      if (!*step) *step = steps(p);
      return (*step)();
    };
  }
  BlasChoice c;
  {
    const KeepRandomState keep;  // building models and running steps draws random numbers
    c = calibrate_blas_threads(at::get_num_threads(), name, cache, timer);
  }
  if (!c.cached && c.seconds_one > 0) {
    note << "note: BLAS threads " << c.threads << " for " << name << " (measured once on this machine: "
         << (whole_steps ? "a step" : "a pass") << " took "
         << c.seconds_one << " s with 1, " << c.seconds_many << " s with " << at::get_num_threads() << "; cached in "
         << (cache.empty() ? "nothing" : cache) << ")\n";
  }
  set_blas_threads(c.threads);
}

namespace {

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

std::set<std::string> long_names(const CLI::App& app) {
  std::set<std::string> names;
  for (const CLI::Option* o : app.get_options()) {
    for (const std::string& n : o->get_lnames()) names.insert("--" + n);
  }
  return names;
}

std::string path_of(const CLI::App* app) {
  std::string path;
  for (; app != nullptr && app->get_parent() != nullptr; app = app->get_parent()) {
    path = app->get_name() + (path.empty() ? "" : " " + path);
  }
  return "p2p " + path;
}

}  // namespace

std::string unknown_option_message(const CLI::App& app, int argc, const char* const* argv) {
  // The (sub)command the arguments address: leading words that name subcommands.
  const CLI::App* cmd = &app;
  int i = 1;
  for (; i < argc; ++i) {
    const CLI::App* sub = nullptr;
    for (const CLI::App* s : cmd->get_subcommands([](const CLI::App*) { return true; })) {
      if (s->get_name() == argv[i]) sub = s;
    }
    if (sub == nullptr) break;
    cmd = sub;
  }
  if (cmd == &app) return "";
  const std::set<std::string> known = long_names(*cmd);
  for (; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--") break;
    if (arg.rfind("--", 0) != 0) continue;
    const std::string flag = arg.substr(0, arg.find('='));
    if (known.count(flag)) continue;
    std::string msg = path_of(cmd) + ": unknown option " + flag;
    for (const CLI::App* other : app.get_subcommands([](const CLI::App*) { return true; })) {
      if (other != cmd && long_names(*other).count(flag)) {
        return msg + " (" + flag + " is an option of `" + path_of(other) + "`, which `" + path_of(cmd) +
               "` does not use)";
      }
    }
    std::string best;
    size_t best_distance = std::max<size_t>(2, flag.size() / 4) + 1;
    for (const std::string& k : known) {
      const size_t d = edit_distance(flag, k);
      if (d < best_distance) best_distance = d, best = k;
    }
    return msg + (best.empty() ? " (see " + path_of(cmd) + " --help)" : " (did you mean " + best + "?)");
  }
  return "";
}

}  // namespace p2p::cli
