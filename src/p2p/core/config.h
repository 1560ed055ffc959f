// Plain option structs shared by the library. The CLI layer (src/cli/options.cpp) is the only place
// that knows flag names; it fills these structs, and models/data/train/eval take them as values.
// Defaults are the pix2pix paper's / reference implementation's (see REFERENCE.md facts in README).
#pragma once

#include <cstdint>
#include <limits>
#include <string>

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
  std::string norm = "batch";        // batch | instance | none
  std::string init_type = "normal";  // normal | xavier | kaiming | orthogonal
  double init_gain = 0.02;
  bool no_dropout = false;           // reference default: dropout on in G
  std::string dropout_placement = "reference";  // reference (3 blocks above innermost) | paper (first 3 decoder layers)
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
};

// Training schedule, losses, optimisation, checkpoints.
struct TrainConfig {
  std::string name = "experiment";
  std::string checkpoints_dir = "./checkpoints";
  std::string loss = "cgan+l1";      // cgan+l1 | gan+l1 | cgan | gan | l1  (paper's loss ablation)
  std::string gan_mode = "vanilla";  // vanilla | lsgan | wgangp
  double lambda_L1 = 100.0;
  double lambda_gp = 10.0;           // wgangp gradient-penalty weight
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
