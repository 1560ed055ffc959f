// `p2p test`, `p2p translate` and `p2p export`: use a trained generator. With --name the run's
// config.json (or the config stored in the checkpoint) gives the architecture and data options, so users
// need not repeat training flags; flags given on the command line override it. A safetensors export
// carries them too. Reference run folders and *.pth files carry no config: their architecture flags
// must be given (the defaults are pix2pix's).
#include "cli/commands.h"
#include "cli/generator_flags.h"
#include "cli/options.h"

#include "p2p/core/config_json.h"
#include "p2p/core/console.h"
#include "p2p/core/error.h"
#include "p2p/core/runtime.h"
#include "p2p/eval/cycle_test.h"
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
#include <optional>
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

// run, checkpoint, epoch: written into metrics.json.
nlohmann::json provenance(const LoadedGenerator& m) {
  return {{"run", m.run_dir.empty() ? nlohmann::json() : nlohmann::json(fs::absolute(m.run_dir).lexically_normal().string())},
          {"checkpoint", fs::absolute(m.weights).lexically_normal().string()},
          {"epoch", m.checkpoint_epoch}};
}

// A test of a named run is listed on that run's report page (tests.jsonl + report.html). The report is
// derived output: failing to update it is a warning, not a failed test.
void link_into_run_report(const ModelRef& ref, const std::string& phase, const std::string& epoch,
                          const std::string& out, const nlohmann::json& scores, long count) {
  if (ref.name.empty() || !ref.weights.empty()) return;
  const fs::path run = fs::path(ref.checkpoints_dir) / ref.name;
  if (!fs::exists(run / "history.jsonl")) return;
  try {
    record_test_result(run.string(), phase, epoch, out, scores, count);
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
  compat->models = {"pix2pix", "cycle_gan", "test"};
  add_generator_options(*cmd, *net);
  add_data_options(*cmd, *data, DataUse::test);
  add_test_options(*cmd, *test);
  add_inference_options(*cmd, *test);
  add_model_ref_options(*cmd, *ref, /*allow_weights=*/true);
  add_generator_choice_options(*cmd, *ref, /*direction=*/false, /*model_suffix=*/true);
  add_runtime_options(*cmd, *rt);
  add_precision_option(*cmd, rt->precision);
  add_reference_options(*cmd, *compat, DisplayFlags::base);
  auto realism = std::make_shared<RealismOptions>();
  add_realism_options(*cmd, *realism, /*test=*/true);
  cmd->callback([=] {
    apply_reference_options(*cmd, *compat, std::cerr);
    // Which test: the reference's --model (pix2pix: pairs; cycle_gan: both generators on unaligned
    // folders; test: one generator over one folder), or by default what the run is.
    std::string model = compat->model;
    const bool typed_model = given(*cmd, "--model"), typed_mode = given(*cmd, "--dataset_mode");
    if (typed_mode && data->dataset_mode == "single" && model != "test") {
      fail("--dataset_mode single (one folder of inputs, no targets) is the reference's TestModel: add --model test "
           "(and --model_suffix _A or _B for a generator of a CycleGAN run)");
    }
    if (model == "test" && typed_mode && data->dataset_mode != "single") {
      fail("--model test translates one folder (--dataset_mode single), not --dataset_mode " + data->dataset_mode);
    }
    if (given(*cmd, "--model_suffix") && model != "test") {
      fail("--model_suffix picks the generator of --model test; with --model " + model +
           (model == "cycle_gan" ? " both generators run" : " use --generator G_A or G_B"));
    }
    if (model == "cycle_gan" && given(*cmd, "--generator")) {
      fail("--generator " + ref->generator + ": --model cycle_gan runs both generators (G_A on <phase>A, G_B on "
           "<phase>B); for one of them use --model test --dataset_mode single --model_suffix _A or _B");
    }
    if (model != "cycle_gan" && typed_mode && data->dataset_mode == "unaligned") {
      fail("--dataset_mode unaligned holds no pairs to test G on: use --model cycle_gan with a CycleGAN run");
    }
    std::pair<std::string, std::string> choice = chosen_generator(*cmd, *ref, /*direction=*/false);
    if (model == "test" && choice.first.empty()) choice = {"G", "--model_suffix ''"};  // the reference's default
    const c10::Device device = setup_runtime(*rt, std::cerr);
    LoadedGenerator m = load_from_flags(*cmd, *net, *ref, test->epoch, choice);  // cycle_gan: the first, checked below
    if (!typed_model && m.cycle_gan && m.generator == "G_A" && choice.first.empty() &&
        !(typed_mode && data->dataset_mode != "unaligned")) {
      model = "cycle_gan";  // a CycleGAN run is tested as one unless told otherwise
    }
    if (model == "cycle_gan" && !m.cycle_gan) {
      fail("--model cycle_gan: " + m.weights + " is not a CycleGAN run (it holds one generator, G); test it with "
           "--model pix2pix, or name a run trained with --model cycle_gan (or a reference folder with <epoch>_net_G_A.pth "
           "and <epoch>_net_G_B.pth)");
    }
    if (model == "cycle_gan" && m.generator != "G_A") {
      m = load_from_flags(*cmd, *net, *ref, test->epoch, {"G_A", "--model cycle_gan"});
    }
    std::optional<LoadedGenerator> m_B;  // cycle_gan: G_B beside G_A
    if (model == "cycle_gan") m_B = load_from_flags(*cmd, *net, *ref, test->epoch, {"G_B", "--model cycle_gan"});
    // Data options: the training run's, then whatever was typed.
    DataConfig d = generator_data_config(m);
    if (model != "cycle_gan" && d.dataset_mode == "unaligned") d.dataset_mode = "auto";  // G_A on paired data
    // --model test reads one folder: no dataset mode applies (single is no mode of a run's data).
    if (model == "test") {
      apply_typed(d, *data, *cmd, {"--dataroot", "--preprocess", "--load_size", "--crop_size", "--max_dataset_size"},
                  "command line");
    } else {
      apply_typed(d, *data, *cmd,
                  {"--dataroot", "--dataset_mode", "--folder_names", "--pair_replace", "--direction", "--preprocess",
                   "--load_size", "--crop_size", "--max_dataset_size"},
                  "command line");
    }
    if (d.dataroot.empty()) fail("--dataroot: required (the run's config names none)");
    d.dataroot = fs::absolute(d.dataroot).lexically_normal().string();
    d.phase = test->phase;
    CalibrationWorkload work{false, m.net, d.crop_size, 1};
    const Precision precision = setup_precision(rt->precision, device, work, std::cerr);
    setup_blas_threads(*rt, device, work, std::cerr);
    prepare_for_inference(m, device, test->eval, precision);
    if (m_B) prepare_for_inference(*m_B, device, test->eval, precision);
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
    if (model == "cycle_gan" && (!scoring.palette.empty() || !scoring.lpips_weights.empty() || !scoring.alexnet_weights.empty()) &&
        truth_dir(d, test->phase, d.direction == "BtoA" ? 'B' : 'A').empty()) {
      fail(std::string(scoring.palette.empty() ? "--lpips_weights" : "--palette") + " compares each fake_B with its true "
           "partner, which unaligned data lacks: it needs <dataroot>/truth/" + test->phase +
           "B (`p2p data unpair` writes it); FID and KID compare with the real B images");
    }
    std::unique_ptr<RealismScorer> scorer;
    if (scoring.any()) scorer = std::make_unique<RealismScorer>(scoring, device);
    if (model == "cycle_gan") {
      const CycleTestReport r = run_cycle_test(*m.G, *m_B->G, d, *test, device, out, provenance(m), std::cerr, scorer.get());
      nlohmann::json scores = nlohmann::json::object();
      for (const auto* dr : {&r.AtoB, &r.BtoA}) {
        std::cout << (dr == &r.AtoB ? "G_A" : "G_B") << ": translated " << dr->translated << " of " << dr->available
                  << " images from " << dr->input_dir;
        if (dr->scored > 0) std::cout << "; against " << dr->scored << " true partners: mean " << mean_line(dr->mean);
        std::cout << "\n";
      }
      if (r.AtoB.scored > 0) scores = {{"l1", r.AtoB.mean.l1}, {"psnr", r.AtoB.mean.psnr}, {"ssim", r.AtoB.mean.ssim}};
      if (!r.failed.empty()) std::cout << r.failed.size() << " failed (listed above)\n";
      if (!r.scores_summary.empty()) std::cout << "fake_B: " << r.scores_summary << "\n";
      if (r.scores.is_object()) scores.update(r.scores);
      std::cout << "results: " << out << "/index.html\n";
      link_into_run_report(*ref, test->phase, test->epoch, out, scores, static_cast<long>(r.AtoB.translated));
      if (!r.failed.empty()) exit_status() = 1;
      return;
    }
    if (model == "test") {
      const TestReport r = run_single_test(*m.G, d, *test, device, out, provenance(m), std::cerr, scorer.get());
      std::cout << "translated " << r.scored << " of " << r.available << " images with " << m.generator << " ("
                << m.weights << ")";
      if (!r.failed.empty()) std::cout << " (" << r.failed.size() << " failed, listed above)";
      if (!r.scores_summary.empty()) std::cout << "\n" << r.scores_summary;
      std::cout << "\nresults: " << out << "/index.html\n";
      if (!r.failed.empty()) exit_status() = 1;
      return;
    }
    const TestReport r = run_test(*m.G, d, *test, device, out, provenance(m), std::cerr, scorer.get());
    std::cout << "scored " << r.scored << " of " << r.available << " pairs";
    if (!r.failed.empty()) std::cout << " (" << r.failed.size() << " failed, listed above)";
    if (r.scored + static_cast<int64_t>(r.failed.size()) < r.available) std::cout << " — pass --num_test 0 for all";
    std::cout << "\nmean " << mean_line(r.mean);
    if (!r.scores_summary.empty()) std::cout << "\n" << r.scores_summary;
    std::cout << "\nresults: " << out << "/index.html\n";
    nlohmann::json scores = {{"l1", r.mean.l1}, {"psnr", r.mean.psnr}, {"ssim", r.mean.ssim}};
    if (r.scores.is_object()) scores.update(r.scores);
    link_into_run_report(*ref, test->phase, test->epoch, out, scores, static_cast<long>(r.scored));
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
  add_generator_choice_options(*cmd, *ref, /*direction=*/true, /*model_suffix=*/false);
  add_runtime_options(*cmd, *rt);
  add_precision_option(*cmd, rt->precision);
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
    LoadedGenerator m = load_from_flags(*cmd, *net, *ref, test->epoch, chosen_generator(*cmd, *ref, /*direction=*/true));
    // Timed at the tile size, or at the size the run trained on (whole images vary).
    const int64_t size = options->tiles.tile > 0 ? options->tiles.tile : generator_data_config(m).crop_size;
    CalibrationWorkload work{false, m.net, size, 1};
    const Precision precision = setup_precision(rt->precision, device, work, std::cerr);
    setup_blas_threads(*rt, device, work, std::cerr);
    prepare_for_inference(m, device, test->eval, precision);
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
  add_generator_choice_options(*cmd, *ref, /*direction=*/true, /*model_suffix=*/false);
  add_export_options(*cmd, *format, *out, test->epoch, test->eval);
  cmd->callback([=] {
    LoadedGenerator m = load_from_flags(*cmd, *net, *ref, test->epoch, chosen_generator(*cmd, *ref, /*direction=*/true));
    const nlohmann::json config = generator_config(m);  // G_B of a CycleGAN run: its own channels
    if (*format == "torchscript") {
      set_eval_mode(*m.G, test->eval);
      const int64_t multiple = std::max<int64_t>(1, m.G->size_multiple());
      const int64_t example = (256 + multiple - 1) / multiple * multiple;  // any size works afterwards
      export_generator_torchscript(*out, *m.G, m.net.input_nc, example, config);
    } else {
      export_generator_safetensors(*out, *m.G, config, m.weights);
    }
    std::cout << "exported " << m.generator << " (" << m.net.netG << ", " << count_parameters(*m.G) << " parameters) from " << m.weights
              << " -> " << *out << " (" << *format << ")\n";
  });
}

}  // namespace p2p::cli
