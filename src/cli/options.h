// The only place that knows flag names: registers options on CLI11 (sub)commands and fills the plain
// config structs of the library. Names follow the reference implementation where it has one, and
// command lines copied from the reference run: --model pix2pix is accepted, display-only flags are
// accepted and ignored with a note, a repeated flag takes its last value, and an unknown flag gets a
// "did you mean" suggestion. Each command registers only the options it uses, so its --help is exact.
#pragma once

#include "p2p/core/config.h"
#include "p2p/dist/launcher.h"
#include "p2p/eval/realism.h"
#include "p2p/eval/translate.h"
#include "p2p/models/calibration.h"
#include "p2p/serve/server.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <ostream>
#include <string>
#include <vector>

namespace p2p::cli {

struct RuntimeOptions {
  std::string device = "auto";  // auto | cpu | cuda[:N] | reference-style GPU ids (-1 = CPU)
  int torch_threads = 0;        // 0 = one per core
  int blas_threads = 0;         // OpenBLAS threads; 0 = measured once per machine (blas_calibration.h)
  std::string precision = "fp32";  // fp32 | bf16 | auto (add_precision_option: train, test, translate, bench, serve)
};

// Which trained model to use for inference: a run folder (--name, --checkpoints_dir) or a file.
struct ModelRef {
  std::string name;
  std::string checkpoints_dir = "./checkpoints";
  std::string weights;  // a pix2pix.cpp checkpoint or a reference *_net_G.pth
  // Which generator of a CycleGAN run (GeneratorSource::generator): --generator G|G_A|G_B, --direction
  // AtoB|BtoA (translate, export), the reference's --model_suffix ''|_A|_B (test).
  std::string generator, direction, model_suffix;
};

// Options of the reference's command lines that do not change results here.
struct ReferenceCompat {
  std::string model = "pix2pix";
  std::vector<std::string> models = {"pix2pix"};  // the --model values the command runs (test: + cycle_gan, test)
  int display_id = 0, display_port = 0, display_freq = 0, update_html_freq = 0, display_ncols = 0, display_winsize = 0;
  std::string display_server, display_env, wandb_project_name;
  bool no_html = false, use_wandb = false;
};

// Value checks for options. Each message says the allowed range in words ("'0' is not a whole number
// from 1 to 2147483647"), where CLI11's Range and PositiveNumber print their numeric limit (a 309-digit
// double); `what` is that phrase, `shown` the placeholder --help prints.
CLI::Validator real_in(double lo, double hi, bool lo_open, bool hi_open, const std::string& what, const std::string& shown);
CLI::Validator integer_in(long long lo, long long hi, const std::string& what, const std::string& shown);
CLI::Validator positive_real();
CLI::Validator non_negative_real();
CLI::Validator positive_int();        // 1 .. 2^31-1 (int fields)
CLI::Validator non_negative_int();    // 0 .. 2^31-1
CLI::Validator positive_int64();      // 1 .. 2^63-1 (int64_t fields)
CLI::Validator non_negative_int64();  // 0 .. 2^63-1

// The realism and segmentation scores of `p2p test` (test: the outputs of a run) and `p2p metrics`.
void add_realism_options(CLI::App& app, RealismOptions& c, bool test);

// Generator architecture (train, test, translate, info, bench).
void add_generator_options(CLI::App& app, NetConfig& c);
// Discriminator architecture and initialisation (train, info, bench).
void add_discriminator_options(CLI::App& app, NetConfig& c);
void add_init_options(CLI::App& app, NetConfig& c);
// All three (info, bench).
void add_net_options(CLI::App& app, NetConfig& c);
void add_model_ref_options(CLI::App& app, ModelRef& c, bool allow_weights);
// --generator G|G_A|G_B; with `direction` also --direction AtoB|BtoA (commands without a data
// --direction); with `model_suffix` the reference's --model_suffix (test).
void add_generator_choice_options(CLI::App& app, ModelRef& c, bool direction, bool model_suffix);
// Which data options a command uses: training reads all; test only those that decide what a pair is.
enum class DataUse { train, test };
void add_data_options(CLI::App& app, DataConfig& c, DataUse use);
void add_train_options(CLI::App& app, TrainConfig& c);
// Parts of the train/data option sets, shared with `p2p info` (the objective) and `p2p data preview`.
void add_loss_options(CLI::App& app, TrainConfig& c);
void add_objective_options(CLI::App& app, TrainConfig& c);
void add_stabiliser_options(CLI::App& app, TrainConfig& c);
void add_augment_options(CLI::App& app, DataConfig& c);
// `test` only: --results_dir, --phase, --num_test.
void add_test_options(CLI::App& app, TestConfig& c);
// `test` and `translate`: --epoch, --eval, --seed.
void add_inference_options(CLI::App& app, TestConfig& c);
void add_runtime_options(CLI::App& app, RuntimeOptions& c);
// --precision fp32|bf16|auto into `value` (core/precision.h; resolved by setup_precision).
void add_precision_option(CLI::App& app, std::string& value);
// `translate`: --tile, --overlap, --tile_batch, --resume.
void add_translate_options(CLI::App& app, TranslateOptions& c);
// --tile, --overlap, --tile_batch (translate, serve).
void add_tile_options(CLI::App& app, TileOptions& c);

// `p2p serve`: the models (--name and --weights, repeatable, NAME=... to name them), the address, the
// token and the limits.
struct ServeCli {
  std::vector<std::string> names, weights;
  std::string checkpoints_dir = "./checkpoints";
  std::string token_file;
  std::string palette;
  p2p::serve::ServeOptions server;
};
void add_serve_options(CLI::App& app, ServeCli& c);
// `export`: --format, --out, --epoch, --eval.
void add_export_options(CLI::App& app, std::string& format, std::string& out, std::string& epoch, bool& eval);
// `launch`: --nproc, --nnodes, --node_rank, --master_addr, --master_port, --grace.
void add_launch_options(CLI::App& app, LaunchOptions& c);
// Which of the reference's display-only flags a command accepts: none; those of its base options, which
// its test command lines carry (--display_winsize, --use_wandb, --wandb_project_name); or all (train).
enum class DisplayFlags { none, base, train };
// --model (one of c.models), and the display-only flags `display` names.
void add_reference_options(CLI::App& app, ReferenceCompat& c, DisplayFlags display);

// Refuses a --model not in c.models; prints one note listing the display-only flags given.
void apply_reference_options(const CLI::App& app, const ReferenceCompat& c, std::ostream& note);

// True when the user gave `--flag` on the command line of `app` (as opposed to the default).
bool given(const CLI::App& app, const std::string& flag);

// The options of `sections` ({"net": NetConfig json, ...}) whose flags the command line gave, same layout.
nlohmann::json typed_options(const CLI::App& app, const nlohmann::json& sections);

// Applies the compute-thread option (capped at the core count with a note) and resolves the device.
c10::Device setup_runtime(const RuntimeOptions& r, std::ostream& note);

// OpenBLAS threads: --blas_threads as given (capped), or with 0 the count measured for `work`, what the
// command will run (calibrated once per machine and workload, then cached): with `train` (training
// commands) whole training steps of that model family, as for --precision auto; otherwise the
// generator. On a GPU nothing is measured: BLAS is not what runs there, and it stays at one thread.
void setup_blas_threads(const RuntimeOptions& r, const c10::Device& device, const CalibrationWorkload& work,
                        std::ostream& note, const TrainConfig* train = nullptr);

// --precision: fp32; bf16 (refused without native bf16 instructions or off the CPU); auto: bf16 where the
// CPU has them and `work` (the command's generator, size and batch) measured at most 0.9x as long in
// bf16 (once per machine and workload, cached). Says which on `note`, and sets work.precision so the
// BLAS calibration that follows times the work that will run.
// With `train` (training commands) auto times whole training steps of that model family on random
// batches, since the discriminator and the optimizer decide as much as G; the global random state is
// left as it was.
Precision setup_precision(const std::string& value, const c10::Device& device, CalibrationWorkload& work,
                          std::ostream& note, const TrainConfig* train = nullptr);

// Caps a thread-count flag at `most` with a note (far more threads than cores only adds overhead).
int capped_threads(const std::string& flag, int value, int most, std::ostream& note);

// Before parsing: an option the command does not have gets a message naming it and, when one is close,
// "did you mean --x?" (or which command has it). "" when every option is known.
std::string unknown_option_message(const CLI::App& app, int argc, const char* const* argv);

}  // namespace p2p::cli
