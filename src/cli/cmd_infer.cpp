// `p2p test`, `p2p translate` and `p2p export`: use a trained generator. With --name the run's
// config.json (or the config stored in the checkpoint) gives the architecture and data options, so users
// need not repeat training flags; flags given on the command line override it. A safetensors export
// carries them too. Reference run folders and *.pth files carry no config: their architecture flags
// must be given (the defaults are pix2pix's).
#include "cli/commands.h"
#include "cli/options.h"

#include "p2p/core/config_json.h"
#include "p2p/core/console.h"
#include "p2p/core/error.h"
#include "p2p/core/runtime.h"
#include "p2p/eval/export.h"
#include "p2p/eval/generator.h"
#include "p2p/deploy/torchscript.h"
#include "p2p/eval/inference.h"
#include "p2p/eval/realism.h"
#include "p2p/eval/translate.h"
#include "p2p/models/networks.h"
#include "p2p/report/run_report.h"

#include <algorithm>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>

namespace fs = std::filesystem;

namespace p2p::cli {

namespace {

// Copies the fields behind the `flags` the user typed from `typed` into `target` (typed flags win over
// a run's config). Field names equal flag names without the dashes.
template <typename Config>
void apply_typed(Config& target, const Config& typed, const CLI::App& cmd, std::initializer_list<const char*> flags,
                 const std::string& source) {
  const nlohmann::json values = to_json(typed);
  for (const char* flag : flags) {
    if (given(cmd, flag)) update_from_json(target, nlohmann::json{{flag + 2, values.at(flag + 2)}}, source);
  }
}

// The generator --name/--weights names; the architecture flags typed on the command line win over the
// run's stored options.
LoadedGenerator load_from_flags(const CLI::App& cmd, const NetConfig& typed, const ModelRef& ref, const std::string& epoch) {
  if (!ref.name.empty() && !ref.weights.empty()) {
    fail("--name " + ref.name + " and --weights " + ref.weights + " both name a generator: give one of them");
  }
  GeneratorSource source;
  source.weights = ref.weights;
  if (source.weights.empty() && !ref.name.empty()) source.run_dir = (fs::path(ref.checkpoints_dir) / ref.name).string();
  source.epoch = epoch;
  const nlohmann::json values = to_json(typed);
  nlohmann::json overrides = nlohmann::json::object();
  for (const char* flag :
       {"--input_nc", "--output_nc", "--ngf", "--netG", "--norm", "--no_dropout", "--dropout_placement"}) {
    if (given(cmd, flag)) overrides[flag + 2] = values.at(flag + 2);
  }
  LoadedGenerator m = load_generator(source, overrides);
  if (!m.integrity_note.empty()) std::cerr << "note: " << m.integrity_note << "\n";
  return m;
}

// run, checkpoint, epoch: written into metrics.json.
nlohmann::json provenance(const LoadedGenerator& m) {
  return {{"run", m.run_dir.empty() ? nlohmann::json() : nlohmann::json(fs::absolute(m.run_dir).lexically_normal().string())},
          {"checkpoint", fs::absolute(m.weights).lexically_normal().string()},
          {"epoch", m.checkpoint_epoch}};
}

// A test of a named run is listed on that run's report page (tests.jsonl + report.html). The report is
// derived output: failing to update it is a warning, not a failed test.
void link_into_run_report(const ModelRef& ref, const std::string& phase, const std::string& epoch,
                          const std::string& out, const TestReport& r) {
  if (ref.name.empty() || !ref.weights.empty()) return;
  const fs::path run = fs::path(ref.checkpoints_dir) / ref.name;
  if (!fs::exists(run / "history.jsonl")) return;
  try {
    nlohmann::json scores = {{"l1", r.mean.l1}, {"psnr", r.mean.psnr}, {"ssim", r.mean.ssim}};
    if (r.scores.is_object()) scores.update(r.scores);
    record_test_result(run.string(), phase, epoch, out, scores, static_cast<long>(r.scored));
    write_run_report(run.string(), /*live=*/false);
  } catch (const std::exception& e) {
    std::cerr << "warning: " << (run / "report.html").string() << " not updated: " << e.what() << "\n";
  }
}

std::string mean_line(const ImageMetrics& m) {
  std::ostringstream o;
  o << std::fixed << std::setprecision(4) << "L1 " << m.l1 << "  MAE " << m.mae << "  PSNR " << std::setprecision(2)
    << m.psnr << " dB  SSIM " << std::setprecision(4) << m.ssim;
  return o.str();
}

}  // namespace

void register_test(CLI::App& app) {
  auto* cmd = app.add_subcommand("test", "translate a dataset split with a trained run; writes images, index.html, metrics");
  auto net = std::make_shared<NetConfig>();
  auto data = std::make_shared<DataConfig>();
  auto test = std::make_shared<TestConfig>();
  auto ref = std::make_shared<ModelRef>();
  auto rt = std::make_shared<RuntimeOptions>();
  auto compat = std::make_shared<ReferenceCompat>();
  add_generator_options(*cmd, *net);
  add_data_options(*cmd, *data, DataUse::test);
  add_test_options(*cmd, *test);
  add_inference_options(*cmd, *test);
  add_model_ref_options(*cmd, *ref, /*allow_weights=*/true);
  add_runtime_options(*cmd, *rt);
  add_reference_options(*cmd, *compat, DisplayFlags::base);
  auto realism = std::make_shared<RealismOptions>();
  add_realism_options(*cmd, *realism, /*test=*/true);
  cmd->callback([=] {
    apply_reference_options(*cmd, *compat, std::cerr);
    const c10::Device device = setup_runtime(*rt, std::cerr);
    LoadedGenerator m = load_from_flags(*cmd, *net, *ref, test->epoch);
    // Data options: the training run's, then whatever was typed.
    DataConfig d = generator_data_config(m);
    apply_typed(d, *data, *cmd,
                {"--dataroot", "--dataset_mode", "--folder_names", "--pair_replace", "--direction", "--preprocess",
                 "--load_size", "--crop_size", "--max_dataset_size"},
                "command line");
    if (d.dataroot.empty()) fail("--dataroot: required (the run's config names none)");
    d.dataroot = fs::absolute(d.dataroot).lexically_normal().string();
    d.phase = test->phase;
    setup_blas_threads(*rt, device, {false, m.net, d.crop_size, 1}, std::cerr);
    prepare_for_inference(m, device, test->eval);
    seed_everything(test->seed, false);  // the paper's test mode draws dropout masks
    const std::string name = ref->name.empty() ? fs::path(m.weights).stem().string() : ref->name;
    if (test->results_dir.empty()) fail("--results_dir is empty; name the folder for the results");
    const std::string out = (fs::path(test->results_dir) / name / (test->phase + "_" + test->epoch)).string();
    check_output_folder(out, "--results_dir");  // a read-only folder fails now, with the system's reason
    // A segmentation run is scored by its own palette; a translator by what the realism options ask for.
    RealismOptions scoring = *realism;
    if (!d.palette.empty()) {
      if (!scoring.palette.empty()) fail("--palette: a segmentation run's outputs are scored with its own palette");
      const fs::path stored = fs::path(m.run_dir) / "palette.json";
      scoring.palette = !m.run_dir.empty() && fs::exists(stored) ? stored.string() : d.palette;
      if (scoring.palette_distance < 0) scoring.palette_distance = d.palette_distance;
    }
    std::unique_ptr<RealismScorer> scorer;
    if (scoring.any()) scorer = std::make_unique<RealismScorer>(scoring, device);
    const TestReport r = run_test(*m.G, d, *test, device, out, provenance(m), std::cerr, scorer.get());
    std::cout << "scored " << r.scored << " of " << r.available << " pairs";
    if (!r.failed.empty()) std::cout << " (" << r.failed.size() << " failed, listed above)";
    if (r.scored + static_cast<int64_t>(r.failed.size()) < r.available) std::cout << " — pass --num_test 0 for all";
    std::cout << "\nmean " << mean_line(r.mean);
    if (!r.scores_summary.empty()) std::cout << "\n" << r.scores_summary;
    std::cout << "\nresults: " << out << "/index.html\n";
    link_into_run_report(*ref, test->phase, test->epoch, out, r);
    if (!r.failed.empty()) exit_status() = 1;
  });
}

void register_translate(CLI::App& app) {
  auto* cmd = app.add_subcommand("translate", "translate image files of any size with a trained generator");
  auto net = std::make_shared<NetConfig>();
  auto ref = std::make_shared<ModelRef>();
  auto rt = std::make_shared<RuntimeOptions>();
  auto compat = std::make_shared<ReferenceCompat>();
  auto input = std::make_shared<std::string>();
  auto output = std::make_shared<std::string>();
  auto test = std::make_shared<TestConfig>();
  add_generator_options(*cmd, *net);
  add_model_ref_options(*cmd, *ref, /*allow_weights=*/true);
  add_runtime_options(*cmd, *rt);
  add_reference_options(*cmd, *compat, DisplayFlags::none);
  auto options = std::make_shared<TranslateOptions>();
  cmd->add_option("--input", *input, "an image file, a folder of images, or a list file (.txt, one path per line)")
      ->required();
  cmd->add_option("--output", *output, "folder for the translated images (<stem>.png; TIFF inputs give <stem>.tif)")
      ->required();
  add_inference_options(*cmd, *test);
  add_translate_options(*cmd, *options);
  cmd->callback([=] {
    // Output mistakes end the command before the generator is loaded (run_translate checks the folder).
    if (output->empty()) fail("--output is empty; name the folder for the translated images (. for the working folder)");
    apply_reference_options(*cmd, *compat, std::cerr);
    const c10::Device device = setup_runtime(*rt, std::cerr);
    LoadedGenerator m = load_from_flags(*cmd, *net, *ref, test->epoch);
    // Timed at the tile size, or at the size the run trained on (whole images vary).
    const int64_t size = options->tiles.tile > 0 ? options->tiles.tile : generator_data_config(m).crop_size;
    setup_blas_threads(*rt, device, {false, m.net, size, 1}, std::cerr);
    prepare_for_inference(m, device, test->eval);
    seed_everything(test->seed, false);
    // The run's input mapping (SAR dB, --normalize dataset statistics) applies to new inputs too.
    TranslateOptions o = *options;
    o.progress = stderr_is_terminal();
    o.seed = test->seed;
    const TranslateReport r = run_translate(*m.G, *input, *output, generator_data_config(m), device, std::cerr, o);
    const int64_t total = r.written + r.skipped + static_cast<int64_t>(r.failed.size());
    std::cout << "translated " << r.written << " of " << total << " images -> " << *output;
    if (r.skipped > 0) std::cout << ", " << r.skipped << " skipped (output exists, --resume)";
    if (!r.failed.empty()) {
      std::cout << ", " << r.failed.size() << " failed:\n";
      for (const auto& [file, why] : r.failed) std::cout << "  " << file << ": " << why << "\n";
    } else {
      std::cout << "\n";
    }
    if (!r.failed.empty()) exit_status() = 1;
  });
}

void register_export(CLI::App& app) {
  auto* cmd = app.add_subcommand("export", "write a trained generator for use elsewhere (safetensors with its options)");
  auto net = std::make_shared<NetConfig>();
  auto ref = std::make_shared<ModelRef>();
  auto test = std::make_shared<TestConfig>();
  auto format = std::make_shared<std::string>("safetensors");
  auto out = std::make_shared<std::string>();
  add_generator_options(*cmd, *net);
  add_model_ref_options(*cmd, *ref, /*allow_weights=*/true);
  add_export_options(*cmd, *format, *out, test->epoch, test->eval);
  cmd->callback([=] {
    LoadedGenerator m = load_from_flags(*cmd, *net, *ref, test->epoch);
    nlohmann::json config = {{"net", to_json(m.net)}};
    if (m.config.is_object() && m.config.contains("data")) config["data"] = m.config["data"];
    if (*format == "torchscript") {
      set_eval_mode(*m.G, test->eval);
      const int64_t multiple = std::max<int64_t>(1, m.G->size_multiple());
      const int64_t example = (256 + multiple - 1) / multiple * multiple;  // any size works afterwards
      export_generator_torchscript(*out, *m.G, m.net.input_nc, example, config);
    } else {
      export_generator_safetensors(*out, *m.G, config, m.weights);
    }
    std::cout << "exported G (" << m.net.netG << ", " << count_parameters(*m.G) << " parameters) from " << m.weights
              << " -> " << *out << " (" << *format << ")\n";
  });
}

}  // namespace p2p::cli
