// Plain option structs shared by the library. The CLI layer (src/cli/options.cpp) is the only place
// that knows flag names; it fills these structs, and models/data/train/eval take them as values.
// Defaults are the pix2pix paper's / reference implementation's (see REFERENCE.md facts in README).
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
};

// Data loading and augmentation.
struct DataConfig {
  std::string dataroot;              // folder holding <phase>/ (aligned AB files, or A/ and B/ subfolders)
  std::string phase = "train";
  std::string dataset_mode = "auto";  // auto | aligned | folders
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
  std::string jitter_side = "input";  // input | target | both: which side gets the photometric jitter
  bool sar_db = false;               // A is SAR intensity: 10*log10, clipped to db_range, scaled to [-1,1]
  std::string db_range = "-25:0";    // MIN:MAX in dB for sar_db
  std::string normalize = "none";    // none | dataset (per-channel mean/std of the training set)
  // normalize dataset: per-channel mean/std of the network input A over the training set (in [0,1]
  // units), computed once and stored with the run so test/translate apply the same mapping. B keeps the
  // [-1,1] mapping G's tanh output needs. Empty until computed.
  std::vector<double> mean_A, std_A;
};

// Training schedule, losses, optimisation, checkpoints.
struct TrainConfig {
  std::string name = "experiment";
  std::string checkpoints_dir = "./checkpoints";
  std::string loss = "cgan+l1";      // cgan+l1 | gan+l1 | cgan | gan | l1  (paper's loss ablation)
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
  int print_freq = 100;              // iterations between plain progress lines (non-terminal output)
  int num_samples = 3;               // sample triplets saved per epoch
  int64_t max_iters = 0;             // > 0: stop (with a checkpoint) after this many total iterations
  uint64_t seed = 0;
  bool deterministic = false;
  int max_val = 0;                   // > 0: evaluate on at most this many val pairs per epoch
  std::string best_metric = "val_l1";  // val_l1 | val_psnr | val_ssim: picks best.pt and feeds plateau
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

}  // namespace p2p
