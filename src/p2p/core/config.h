// Plain option structs shared by the library. The CLI layer (src/cli/options.cpp) is the only place
// that knows flag names; it fills these structs, and models/data/train/eval take them as values.
// Defaults are the pix2pix paper's and the reference implementation's (README, "What differs", lists
// every departure).
//
// Each struct's fields are also listed once, with what resuming a run does with each, in
// for_each_field below: the JSON mapping (config.json, checkpoints, exports), the resume rules and the
// tests walk that list, and a test checks that it names every member of the struct.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace p2p {

// Network architecture. One struct for G and D so a checkpoint's config can rebuild both.
struct NetConfig {
  int input_nc = 3;                  // channels of the network input A
  int output_nc = 3;                 // channels of the produced/target B
  int ngf = 64;                      // generator width of the first layer
  int ndf = 64;                      // discriminator width of the first layer
  std::string netG = "unet_256";     // unet_<N> | encoder_decoder_<N> | resnet_9blocks | resnet_6blocks
  std::string netD = "basic";        // basic (= n_layers with 3) | n_layers | pixel
  int n_layers_D = 3;                // only for netD n_layers
  std::string norm = "batch";        // batch | sync_batch (across data-parallel ranks) | instance | none
  std::string init_type = "normal";  // normal | xavier | kaiming | orthogonal
  double init_gain = 0.02;
  bool no_dropout = false;           // reference default: dropout on in G
  std::string dropout_placement = "reference";  // reference (3 blocks above innermost) | paper (first 3 decoder layers)
  std::string norm_D;                // batch | sync_batch | instance | none | spectral; empty = follows norm
  int num_D = 1;                     // discriminator scales (pix2pixHD multi-scale when > 1)
  std::string attention = "none";    // none | comma list of down, up, skip (U-Net generators only)
  // tanh (an image in [-1,1]) | none (raw outputs: a segmenter's per-class logits). The layer keeps its
  // place, so state_dict keys do not change.
  std::string output_activation = "tanh";
};

// Data loading and augmentation.
struct DataConfig {
  std::string dataroot;              // folder holding <phase>/ (aligned AB files, or A/ and B/ subfolders)
  std::string phase = "train";
  std::string dataset_mode = "auto";  // auto | aligned | folders | unaligned (trainA/ trainB/: cycle_gan)
  std::string folder_names = "A:B";  // folders mode: names of the A and B subfolders of <phase>/
  std::string pair_replace;          // folders mode: "FROM:TO" maps an A file name to its B partner
  std::string direction = "AtoB";    // AtoB | BtoA
  std::string preprocess = "resize_and_crop";  // resize_and_crop | crop | scale_width | scale_width_and_crop | none
  int load_size = 286;
  int crop_size = 256;
  bool no_flip = false;
  bool serial_batches = false;       // take pairs in order instead of shuffling
  int num_threads = 4;               // loader worker threads
  int64_t max_dataset_size = std::numeric_limits<int64_t>::max();
  double val_fraction = 0.1;         // used when <dataroot>/val does not exist
  int size_multiple = 1;             // set from the generator: preprocess 'none' pads/rounds to this
  int input_nc = 3;                  // channels A is converted to (copied from NetConfig by the caller)
  int output_nc = 3;                 // channels B is converted to (copied from NetConfig by the caller)
  std::string augment = "basic";     // none (centre crop, no flip) | basic (resize/crop/flip) | strong (+ jitter)
  double jitter = 0.2;               // strong: colour jitter strength (brightness/contrast/saturation, hue/2)
  double rotate = 10.0;              // strong: rotation drawn from [-rotate, rotate] degrees
  double scale_jitter = 0.1;         // strong: scale drawn from [1 - s, 1 + s]
  // none | input | target | both: which side gets strong's colour jitter. Off by default: the usual
  // input is a label map, whose colours are its classes.
  std::string jitter_side = "none";
  bool sar_db = false;               // A is SAR intensity: 10*log10, clipped to db_range, scaled to [-1,1]
  std::string db_range = "-25:0";    // MIN:MAX in dB for sar_db
  std::string normalize = "none";    // none | dataset (per-channel mean/std of the training set)
  // normalize dataset: per-channel mean/std of the network input A over the training set (in [0,1]
  // units), computed once and stored with the run so test/translate apply the same mapping. B keeps the
  // [-1,1] mapping G's tanh output needs. Empty until computed.
  std::vector<double> mean_A, std_A;
  // B is a colour label map decoded to class ids with this palette (cityscapes | facades | a JSON file;
  // data/palette.h): resized nearest, never interpolated. Empty: B is an image.
  std::string palette;
  double palette_distance = 128.0;   // a colour farther than this (RGB units) from every colour is ignored (kDefaultPaletteDistance)
};

// Training schedule, losses, optimisation, checkpoints.
struct TrainConfig {
  std::string name = "experiment";
  // pix2pix (G and D, the objective of --loss) | segmentation (G alone: photo -> per-class logits under
  // per-pixel cross-entropy, ignore label respected; needs --palette) | cycle_gan (G_A, G_B, D_A, D_B on
  // unaligned data: train/cycle_gan.h).
  std::string model = "pix2pix";
  std::string checkpoints_dir = "./checkpoints";
  std::string loss = "cgan+l1";      // cgan+l1 | gan+l1 | cgan | gan | l1  (paper's loss ablation) | ce (segmentation)
  std::string gan_mode = "vanilla";  // vanilla | lsgan | hinge | wgangp
  double lambda_L1 = 100.0;
  double lambda_gp = 10.0;           // wgangp gradient-penalty weight
  // Further generator terms; weight 0 = off. Names in --loss_schedule: GAN, L1, charbonnier, ssim, grad,
  // perc, fm.
  double lambda_charbonnier = 0.0;
  double charbonnier_eps = 1e-3;
  double lambda_ssim = 0.0;
  double lambda_grad = 0.0;
  std::string grad_op = "sobel";     // sobel | laplacian
  double lambda_perc = 0.0;
  std::string vgg_weights;           // torchvision VGG16/VGG19 state_dict file (needed when lambda_perc > 0)
  std::string perc_layers = "relu1_1,relu2_1";
  double lambda_fm = 0.0;            // discriminator feature matching (pix2pixHD)
  std::string loss_schedule;         // "1:L1=100,GAN=1; 51:L1=50,ssim=10": weights from an epoch on
  // cycle_gan: cycle-consistency weights (A -> B -> A, B -> A -> B) and the identity weight, a fraction
  // of them (the reference's defaults).
  double lambda_A = 10.0;
  double lambda_B = 10.0;
  double lambda_identity = 0.5;
  // Stabilisers.
  double real_label = 1.0;           // D's target for real pairs (label smoothing: 0.9)
  double fake_label = 0.0;           // D's target for fake pairs
  int g_steps_per_d = 1;             // G steps per D step
  int d_steps_per_g = 1;             // D steps per G step
  double clip_grad_G = 0.0;          // > 0: clip G's gradient norm to this
  double clip_grad_D = 0.0;          // > 0: clip D's gradient norm to this
  int pool_size = 0;                 // image pool of past fakes for D (reference semantics; 0 = off)
  double lr_D_ratio = 0.0;           // > 0: lr_D = lr * ratio (when --lr_D is not given)
  double lr = 2e-4;
  double lr_D = -1.0;                // < 0: same as lr
  double beta1 = 0.5;
  double beta2 = 0.999;
  int batch_size = 1;
  int n_epochs = 100;                // epochs at the initial lr
  int n_epochs_decay = 100;          // epochs of linear decay to 0
  std::string lr_policy = "linear";  // linear | step | cosine | plateau
  int lr_decay_iters = 50;           // step policy: multiply by 0.1 every this many epochs
  int epoch_count = 1;               // first epoch to train (reference: resume the fixed schedule there)
  bool continue_train = false;
  std::string epoch = "latest";      // which checkpoint to resume from: latest | best | <N>
  int save_epoch_freq = 5;
  int save_latest_freq = 0;          // iterations between mid-epoch 'latest' checkpoints; 0 = epoch ends only
  // fp32 | bf16: the arithmetic of the steps (core/precision.h); the CLI resolves --precision auto to one
  // of them. Weights, optimizer state and checkpoints are fp32 either way.
  std::string precision = "fp32";
  int print_freq = 100;              // iterations between plain progress lines (non-terminal output)
  int num_samples = 3;               // sample triplets saved per epoch
  int64_t max_iters = 0;             // > 0: stop (with a checkpoint) after this many total iterations
  uint64_t seed = 0;
  bool deterministic = false;
  int max_val = 0;                   // > 0: evaluate on at most this many val pairs per epoch
  std::string best_metric = "val_l1";  // val_l1 | val_psnr | val_ssim | val_miou | val_pixel_acc: picks best.pt and feeds plateau
  // A segmentation run that scores the validation outputs each epoch (the FCN-score: val_miou,
  // val_pixel_acc, val_class_acc against the input label maps).
  std::string val_segmenter;
  double dist_timeout = 1800;        // data-parallel: seconds a rank waits for the others before failing
};

// Inference (test and translate).
struct TestConfig {
  std::string results_dir = "./results";
  std::string phase = "test";
  std::string epoch = "latest";
  bool eval = false;                 // false = paper test mode: dropout on, batch statistics
  int64_t num_test = 50;
  uint64_t seed = 0;                 // dropout draws in the paper's test mode are reproducible
};

// What a field is to a run, which decides what `train --continue_train` does with a typed value
// (merge_for_resume, config_json.h) and whether the field is stored at all:
//   identity  — architecture, data semantics, objective, seed: the run *is* these; a change is refused;
//   override  — schedule, logging, data loading, where the data now lives: applied, with a note;
//   per_run   — options of one invocation (--continue_train, --epoch, ...): never taken from the saved run;
//   derived   — set by the library from other options, never stored (DataConfig's channel counts).
enum class ResumeRule { identity, override_with_note, per_run, derived };

// Calls f(name, member, rule) for every field of the struct, in the order config.json writes them.
// `C` is the struct or its const. Names equal the CLI flag names.
template <typename C, typename F>
void for_each_net_field(C& c, F&& f) {
  using R = ResumeRule;
  f("input_nc", c.input_nc, R::identity), f("output_nc", c.output_nc, R::identity);
  f("ngf", c.ngf, R::identity), f("ndf", c.ndf, R::identity), f("netG", c.netG, R::identity);
  f("netD", c.netD, R::identity), f("n_layers_D", c.n_layers_D, R::identity), f("norm", c.norm, R::identity);
  f("init_type", c.init_type, R::identity), f("init_gain", c.init_gain, R::identity);
  f("no_dropout", c.no_dropout, R::identity), f("dropout_placement", c.dropout_placement, R::identity);
  f("norm_D", c.norm_D, R::identity), f("num_D", c.num_D, R::identity), f("attention", c.attention, R::identity);
  f("output_activation", c.output_activation, R::identity);
}

template <typename C, typename F>
void for_each_data_field(C& c, F&& f) {
  using R = ResumeRule;
  f("dataroot", c.dataroot, R::override_with_note), f("phase", c.phase, R::identity);
  f("dataset_mode", c.dataset_mode, R::identity), f("folder_names", c.folder_names, R::identity);
  f("pair_replace", c.pair_replace, R::identity), f("direction", c.direction, R::identity);
  f("preprocess", c.preprocess, R::identity), f("load_size", c.load_size, R::identity);
  f("crop_size", c.crop_size, R::identity), f("no_flip", c.no_flip, R::identity);
  f("serial_batches", c.serial_batches, R::identity), f("num_threads", c.num_threads, R::override_with_note);
  f("max_dataset_size", c.max_dataset_size, R::identity), f("val_fraction", c.val_fraction, R::identity);
  f("size_multiple", c.size_multiple, R::derived), f("input_nc", c.input_nc, R::derived);
  f("output_nc", c.output_nc, R::derived), f("augment", c.augment, R::identity), f("jitter", c.jitter, R::identity);
  f("rotate", c.rotate, R::identity), f("scale_jitter", c.scale_jitter, R::identity);
  f("jitter_side", c.jitter_side, R::identity), f("sar_db", c.sar_db, R::identity);
  f("db_range", c.db_range, R::identity), f("normalize", c.normalize, R::identity);
  f("mean_A", c.mean_A, R::identity), f("std_A", c.std_A, R::identity);
  f("palette", c.palette, R::identity), f("palette_distance", c.palette_distance, R::identity);
}

template <typename C, typename F>
void for_each_train_field(C& c, F&& f) {
  using R = ResumeRule;
  const R over = R::override_with_note;
  f("name", c.name, R::per_run), f("model", c.model, R::identity), f("checkpoints_dir", c.checkpoints_dir, R::per_run);
  f("loss", c.loss, R::identity);
  f("gan_mode", c.gan_mode, R::identity), f("lambda_L1", c.lambda_L1, R::identity);
  f("lambda_gp", c.lambda_gp, R::identity), f("lambda_charbonnier", c.lambda_charbonnier, R::identity);
  f("charbonnier_eps", c.charbonnier_eps, R::identity), f("lambda_ssim", c.lambda_ssim, R::identity);
  f("lambda_grad", c.lambda_grad, R::identity), f("grad_op", c.grad_op, R::identity);
  f("lambda_perc", c.lambda_perc, R::identity), f("vgg_weights", c.vgg_weights, R::identity);
  f("perc_layers", c.perc_layers, R::identity), f("lambda_fm", c.lambda_fm, R::identity);
  f("loss_schedule", c.loss_schedule, R::identity), f("lambda_A", c.lambda_A, R::identity);
  f("lambda_B", c.lambda_B, R::identity), f("lambda_identity", c.lambda_identity, R::identity);
  f("real_label", c.real_label, R::identity);
  f("fake_label", c.fake_label, R::identity), f("g_steps_per_d", c.g_steps_per_d, R::identity);
  f("d_steps_per_g", c.d_steps_per_g, R::identity), f("clip_grad_G", c.clip_grad_G, R::identity);
  f("clip_grad_D", c.clip_grad_D, R::identity), f("pool_size", c.pool_size, R::identity);
  f("lr_D_ratio", c.lr_D_ratio, R::identity), f("lr", c.lr, over), f("lr_D", c.lr_D, over);
  f("beta1", c.beta1, over), f("beta2", c.beta2, over), f("batch_size", c.batch_size, R::identity);
  f("n_epochs", c.n_epochs, over), f("n_epochs_decay", c.n_epochs_decay, over), f("lr_policy", c.lr_policy, over);
  f("lr_decay_iters", c.lr_decay_iters, over), f("epoch_count", c.epoch_count, R::per_run);
  f("continue_train", c.continue_train, R::per_run), f("epoch", c.epoch, R::per_run);
  f("save_epoch_freq", c.save_epoch_freq, over), f("save_latest_freq", c.save_latest_freq, over);
  f("print_freq", c.print_freq, over), f("num_samples", c.num_samples, over);
  f("max_iters", c.max_iters, R::per_run), f("seed", c.seed, R::identity);
  f("deterministic", c.deterministic, over), f("max_val", c.max_val, over);
  f("best_metric", c.best_metric, R::identity), f("val_segmenter", c.val_segmenter, over);
  f("dist_timeout", c.dist_timeout, R::per_run), f("precision", c.precision, over);
}

// TestConfig is never resumed: every field is the invocation's own.
template <typename C, typename F>
void for_each_test_field(C& c, F&& f) {
  using R = ResumeRule;
  f("results_dir", c.results_dir, R::per_run), f("phase", c.phase, R::per_run), f("epoch", c.epoch, R::per_run);
  f("eval", c.eval, R::per_run), f("num_test", c.num_test, R::per_run), f("seed", c.seed, R::per_run);
}

template <typename F> void for_each_field(NetConfig& c, F&& f) { for_each_net_field(c, f); }
template <typename F> void for_each_field(const NetConfig& c, F&& f) { for_each_net_field(c, f); }
template <typename F> void for_each_field(DataConfig& c, F&& f) { for_each_data_field(c, f); }
template <typename F> void for_each_field(const DataConfig& c, F&& f) { for_each_data_field(c, f); }
template <typename F> void for_each_field(TrainConfig& c, F&& f) { for_each_train_field(c, f); }
template <typename F> void for_each_field(const TrainConfig& c, F&& f) { for_each_train_field(c, f); }
template <typename F> void for_each_field(TestConfig& c, F&& f) { for_each_test_field(c, f); }
template <typename F> void for_each_field(const TestConfig& c, F&& f) { for_each_test_field(c, f); }

}  // namespace p2p
