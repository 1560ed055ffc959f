// `p2p test` of CycleGAN runs and of single generators over one folder (cycle_test.h). Shares the
// output helpers of run_test (test_output.h) and its per-file failure rule (batch.h).
#include "p2p/eval/cycle_test.h"

#include "p2p/core/error.h"
#include "p2p/core/runtime.h"
#include "p2p/data/normalization.h"
#include "p2p/data/transforms.h"
#include "p2p/eval/batch.h"
#include "p2p/eval/realism.h"
#include "p2p/eval/test_output.h"
#include "p2p/io/fs.h"
#include "p2p/io/image.h"
#include "p2p/report/html.h"

#include <ATen/ATen.h>

#include <filesystem>
#include <map>
#include <optional>

namespace fs = std::filesystem;

namespace p2p {

using detail::as_saved;
using detail::metrics_note;
using detail::one_item;
using detail::output_extension;
using detail::remove_stale;
using detail::results_title;
using detail::save_output;

namespace {

bool is_dir(const std::string& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}

// One image as the test preprocesses it (centre crop, no flip), in the network range. `input`: the side
// the run's input mapping applies to (A: --sar_db, nodata filled as in training).
at::Tensor load_for_test(const std::string& path, int channels, const DataConfig& cfg, bool input, const std::string& flag) {
  int bits = 8;
  at::Tensor x = load_image(path, channels, bits, flag);
  if (input && cfg.sar_db) {
    double lo = 0, hi = 0;
    parse_db_range(cfg.db_range, lo, hi);
    x = sar_db_to_unit(x, lo, hi);
    bits = 32;
  }
  if (input) {
    fill_input_nodata(x, cfg);
  } else {
    x.masked_fill_(x.isnan(), 0.5);
  }
  const AugmentParams p = draw_augment(cfg, static_cast<int>(x.size(2)), static_cast<int>(x.size(1)), 0, false, path);
  x = apply_augment(x, p, cfg.crop_size, bits);
  return input ? input_to_network(x, cfg) : to_network_range(x);
}

// The first num_test images of `dir`, refusing two with one stem (their outputs would collide).
std::vector<std::string> test_images(const std::string& dir, const TestConfig& test, int64_t& available) {
  std::vector<std::string> files = list_images(dir);
  available = static_cast<int64_t>(files.size());
  if (test.num_test > 0 && static_cast<int64_t>(files.size()) > test.num_test) files.resize(static_cast<size_t>(test.num_test));
  std::map<std::string, std::string> seen;
  for (const std::string& f : files) {
    auto [it, inserted] = seen.emplace(file_stem(f), f);
    if (!inserted) fail("two images named '" + file_stem(f) + "' in " + dir + ": " + it->second + " and " + f);
  }
  return files;
}

// stem -> file of the images in `dir` ("" or missing: none).
std::map<std::string, std::string> by_stem(const std::string& dir) {
  std::map<std::string, std::string> out;
  if (dir.empty()) return out;
  for (const std::string& f : list_images(dir)) out.emplace(file_stem(f), f);
  return out;
}

nlohmann::json metrics_json(const ImageMetrics& m) {
  return {{"l1", m.l1}, {"mae", m.mae}, {"psnr", m.psnr}, {"ssim", m.ssim}};
}

nlohmann::json failed_json(const std::vector<std::pair<std::string, std::string>>& failed) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& [file, why] : failed) out.push_back({{"file", file}, {"error", why}});
  return out;
}

void prepare_out_dir(const std::string& out_dir, const std::vector<std::string>& subdirs) {
  for (const std::string& d : subdirs) make_dirs((fs::path(out_dir) / d).string());
  remove_stale((fs::path(out_dir) / "index.html").string());
  remove_stale((fs::path(out_dir) / "metrics.json").string());
}

// One direction: real -> G -> fake -> G_back -> rec. Names follow the reference: real_<in>, fake_<out>, rec_<in>.
struct Direction {
  Network* G;
  Network* back;
  char in, out;          // 'A' / 'B': the domain letters of the input and output
  int in_nc, out_nc;
  bool input_mapping;    // the input is A (the run's input mapping applies)
};

}  // namespace

std::string truth_dir(const DataConfig& data, const std::string& phase, char side) {
  const char other = side == 'A' ? 'B' : 'A';
  const std::string dir = (fs::path(data.dataroot) / "truth" / (phase + other)).string();
  return is_dir(dir) ? dir : "";
}

CycleTestReport run_cycle_test(Network& G_A, Network& G_B, const DataConfig& data, const TestConfig& test,
                               const c10::Device& device, const std::string& out_dir, const nlohmann::json& provenance,
                               std::ostream& log, RealismScorer* realism) {
  DataConfig cfg = data;
  cfg.no_flip = true;
  cfg.size_multiple = 1;  // translate_tensor pads and crops back: outputs keep the preprocessed size
  check_augment_config(cfg);
  if (cfg.normalize != "none") {
    fail("--normalize " + cfg.normalize + ": a CycleGAN run maps both domains to [-1,1]; it cannot use dataset statistics");
  }
  const bool swapped = cfg.direction == "BtoA";  // training read its A side from <phase>B
  const std::string dir_A = (fs::path(cfg.dataroot) / (test.phase + (swapped ? "B" : "A"))).string();
  const std::string dir_B = (fs::path(cfg.dataroot) / (test.phase + (swapped ? "A" : "B"))).string();
  for (const std::string& d : {dir_A, dir_B}) {
    if (!is_dir(d)) {
      fail("--dataroot: " + d + " does not exist; testing a CycleGAN run translates <dataroot>/<phase>A through G_A "
           "and <phase>B through G_B (--phase " + test.phase + ")");
    }
  }
  CycleTestReport report;
  report.AtoB.input_dir = dir_A;
  report.BtoA.input_dir = dir_B;
  report.AtoB.truth_dir = truth_dir(cfg, test.phase, swapped ? 'B' : 'A');
  report.BtoA.truth_dir = truth_dir(cfg, test.phase, swapped ? 'A' : 'B');
  const std::vector<std::string> files_A = test_images(dir_A, test, report.AtoB.available);
  const std::vector<std::string> files_B = test_images(dir_B, test, report.BtoA.available);
  if (files_A.empty() && files_B.empty()) fail("no image files in " + dir_A + " or " + dir_B);
  const std::map<std::string, std::string> truth_B = by_stem(report.AtoB.truth_dir);
  const std::map<std::string, std::string> truth_A = by_stem(report.BtoA.truth_dir);
  // Realism of fake_B: against each output's true partner when all have one, else the real B images.
  bool paired_realism = !files_A.empty();
  for (const std::string& f : files_A) paired_realism = paired_realism && truth_B.count(file_stem(f));
  prepare_out_dir(out_dir, {"images", "fake_B", "fake_A"});
  const std::string images_dir = (fs::path(out_dir) / "images").string();

  std::vector<HtmlRow> rows;
  nlohmann::json per_image_json[2] = {nlohmann::json::array(), nlohmann::json::array()};
  const Direction dirs[2] = {{&G_A, &G_B, 'A', 'B', cfg.input_nc, cfg.output_nc, true},
                             {&G_B, &G_A, 'B', 'A', cfg.output_nc, cfg.input_nc, false}};
  for (int k = 0; k < 2; ++k) {
    const Direction& d = dirs[k];
    CycleDirectionReport& r = k == 0 ? report.AtoB : report.BtoA;
    const std::vector<std::string>& files = k == 0 ? files_A : files_B;
    const std::map<std::string, std::string>& truths = k == 0 ? truth_B : truth_A;
    const std::string in(1, d.in), out(1, d.out);
    std::vector<std::pair<std::string, ImageMetrics>> scored;
    for (size_t i = 0; i < files.size(); ++i) {
      one_item(files[i], report.failed, log, [&] {
        const std::string stem = file_stem(files[i]);
        const at::Tensor real = load_for_test(files[i], d.in_nc, cfg, d.input_mapping,
                                              d.input_mapping ? "--input_nc" : "--output_nc (the B images)");
        seed_item(test.seed, stem);
        const at::Tensor fake = translate_tensor(*d.G, real, device);
        const at::Tensor rec = translate_tensor(*d.back, fake, device);
        const at::Tensor real_u = to_unit_range(real), fake_u = to_unit_range(fake), rec_u = to_unit_range(rec);
        const std::string n_real = stem + "_real_" + in + output_extension(real_u.size(0));
        const std::string n_fake = stem + "_fake_" + out + output_extension(fake_u.size(0));
        const std::string n_rec = stem + "_rec_" + in + output_extension(rec_u.size(0));
        save_output((fs::path(images_dir) / n_real).string(), real_u);
        save_output((fs::path(images_dir) / n_fake).string(), fake_u);
        save_output((fs::path(images_dir) / n_rec).string(), rec_u);
        save_output((fs::path(out_dir) / ("fake_" + out) / (stem + output_extension(fake_u.size(0)))).string(), fake_u);
        HtmlRow row{stem + " (" + in + " -> " + out + ")",
                    {{"real_" + in, "images/" + n_real}, {"fake_" + out, "images/" + n_fake}, {"rec_" + in, "images/" + n_rec}},
                    ""};
        at::Tensor truth_u;
        const auto t = truths.find(stem);
        if (t != truths.end()) {
          truth_u = to_unit_range(load_for_test(t->second, d.out_nc, cfg, !d.input_mapping, "the true partner"));
          if (truth_u.sizes() != fake_u.sizes()) {
            fail("true partner " + t->second + " is " + std::to_string(truth_u.size(2)) + "x" +
                 std::to_string(truth_u.size(1)) + " after preprocessing, the output " + std::to_string(fake_u.size(2)) +
                 "x" + std::to_string(fake_u.size(1)));
          }
          const ImageMetrics m = compute_metrics(as_saved(fake_u), as_saved(truth_u));
          scored.emplace_back(stem, m);
          nlohmann::json j = metrics_json(m);
          j["name"] = stem;
          per_image_json[k].push_back(j);
          row.note = metrics_note(m) + " (vs its true partner)";
        }
        if (k == 0 && realism) {
          at::Tensor target;
          if (paired_realism) {
            target = as_saved(truth_u);
          } else if (realism->uses_target() && !files_B.empty()) {
            target = as_saved(to_unit_range(load_for_test(files_B[i % files_B.size()], cfg.output_nc, cfg, false, "--output_nc")));
          }
          realism->add(stem, as_saved(fake_u), target, as_saved(real_u));
        }
        ++r.translated;
        rows.push_back(std::move(row));
      });
    }
    r.scored = static_cast<int64_t>(scored.size());
    if (!scored.empty()) r.mean = summarize(scored).mean;
  }

  nlohmann::json doc = provenance.is_object() ? provenance : nlohmann::json::object();
  doc["model"] = "cycle_gan";
  doc["eval_mode"] = test.eval;
  doc["seed"] = test.seed;
  const char* names[2] = {"AtoB", "BtoA"};
  for (int k = 0; k < 2; ++k) {
    const CycleDirectionReport& r = k == 0 ? report.AtoB : report.BtoA;
    nlohmann::json j = {{"generator", k == 0 ? "G_A" : "G_B"}, {"input", r.input_dir},
                        {"truth", r.truth_dir.empty() ? nlohmann::json() : nlohmann::json(r.truth_dir)},
                        {"available", r.available}, {"translated", r.translated}, {"count", r.scored},
                        {"images", per_image_json[k]}};
    if (r.scored > 0) j["mean"] = metrics_json(r.mean);
    doc[names[k]] = j;
  }
  if (report.AtoB.scored > 0) {  // fake_B against its true partners at the top level, as run_test writes it
    doc["mean"] = metrics_json(report.AtoB.mean);
    doc["images"] = per_image_json[0];
    doc["count"] = report.AtoB.scored;
  }
  doc["failed"] = failed_json(report.failed);
  if (realism) {
    report.scores = realism->finish();
    report.scores_summary = realism->summary();
    doc["realism_target"] = paired_realism ? "true partners" : "real B images";
    doc.update(report.scores);
  }
  write_text_atomically((fs::path(out_dir) / "metrics.json").string(), doc.dump(2) + "\n");
  std::string summary;
  for (int k = 0; k < 2; ++k) {
    const CycleDirectionReport& r = k == 0 ? report.AtoB : report.BtoA;
    summary += std::string(k == 0 ? "G_A" : "G_B") + " translated " + std::to_string(r.translated) + " of " +
               std::to_string(r.available) + " images from " + r.input_dir;
    summary += r.scored > 0 ? "; " + std::to_string(r.scored) + " scored against their true partners: mean " +
                                  metrics_note(r.mean) + ". "
                            : ". ";
  }
  if (!report.scores_summary.empty()) summary += "fake_B: " + report.scores_summary + ".";
  write_html((fs::path(out_dir) / "index.html").string(), results_title(provenance, test.phase, "CycleGAN"), summary, rows,
             256, {{"metrics.json", "metrics.json"}});
  return report;
}

TestReport run_single_test(Network& G, const DataConfig& data, const TestConfig& test, const c10::Device& device,
                           const std::string& out_dir, const nlohmann::json& provenance, std::ostream& log,
                           RealismScorer* realism) {
  DataConfig cfg = data;
  cfg.no_flip = true;
  cfg.size_multiple = 1;
  check_augment_config(cfg);
  check_input_statistics(cfg);
  if (realism && realism->needs_target()) {
    fail("--model test translates one folder without targets: only scores that need none (FID/KID against "
         "--fid_reference, --save_fid_stats, --segmenter) apply");
  }
  const std::string dir = cfg.dataroot;
  if (!is_dir(dir)) fail("--dataroot " + dir + " is not a folder (--dataset_mode single reads the images in --dataroot itself)");
  TestReport report;
  const std::vector<std::string> files = test_images(dir, test, report.available);
  if (files.empty()) {
    fail("no image files in " + dir + ": --dataset_mode single reads the images in --dataroot itself, as the "
         "reference does (e.g. --dataroot datasets/horse2zebra/testA)");
  }
  prepare_out_dir(out_dir, {"images"});
  const std::string images_dir = (fs::path(out_dir) / "images").string();
  std::vector<HtmlRow> rows;
  for (const std::string& file : files) {
    one_item(file, report.failed, log, [&] {
      const std::string stem = file_stem(file);
      const at::Tensor real = load_for_test(file, cfg.input_nc, cfg, true, "--input_nc");
      seed_item(test.seed, stem);
      const at::Tensor fake = translate_tensor(G, real, device);
      const at::Tensor real_u = input_from_network(real, cfg), fake_u = to_unit_range(fake);
      const std::string n_real = stem + "_real" + output_extension(real_u.size(0));
      const std::string n_fake = stem + "_fake" + output_extension(fake_u.size(0));
      save_output((fs::path(images_dir) / n_real).string(), real_u);
      save_output((fs::path(images_dir) / n_fake).string(), fake_u);
      if (realism) realism->add(stem, as_saved(fake_u), at::Tensor(), as_saved(real_u));
      ++report.scored;
      rows.push_back({stem, {{"real", "images/" + n_real}, {"fake", "images/" + n_fake}}, ""});
    });
  }
  nlohmann::json doc = provenance.is_object() ? provenance : nlohmann::json::object();
  doc["model"] = "test";
  doc["input"] = dir;
  doc["available"] = report.available;
  doc["translated"] = report.scored;
  doc["eval_mode"] = test.eval;
  doc["seed"] = test.seed;
  doc["failed"] = failed_json(report.failed);
  if (realism) {
    report.scores = realism->finish();
    report.scores_summary = realism->summary();
    doc.update(report.scores);
  }
  write_text_atomically((fs::path(out_dir) / "metrics.json").string(), doc.dump(2) + "\n");
  const std::string summary = "Translated " + std::to_string(report.scored) + " of " + std::to_string(report.available) +
                              " images from " + dir + "." +
                              (report.scores_summary.empty() ? std::string() : " " + report.scores_summary + ".");
  write_html((fs::path(out_dir) / "index.html").string(), results_title(provenance, "single", "test"), summary, rows, 256,
             {{"metrics.json", "metrics.json"}});
  return report;
}

}  // namespace p2p
