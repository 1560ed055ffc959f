// Small subcommands: `p2p metrics` (score a folder of outputs), `p2p info` (network sizes and cost),
// `p2p data` (combine A/B folders into AB images; split train/val; unpair for CycleGAN; propose a label palette).
#include "cli/commands.h"
#include "cli/options.h"

#include "p2p/core/error.h"
#include "p2p/data/combine.h"
#include "p2p/data/palette.h"
#include "p2p/data/preview.h"
#include "p2p/data/unpair.h"
#include "p2p/core/runtime.h"
#include "p2p/eval/metrics.h"
#include "p2p/eval/realism.h"
#include "p2p/io/fs.h"
#include "p2p/models/info.h"
#include "p2p/models/multiscale.h"
#include "p2p/models/networks.h"
#include "p2p/train/model.h"
#include "p2p/train/objective.h"

#include <iomanip>
#include <iostream>

namespace p2p::cli {

void register_metrics(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "metrics", "score outputs: L1 / MAE / PSNR / SSIM against targets (paired by name), and the realism scores "
                 "(FCN-score, FID, KID, LPIPS) and label-map scores the options below ask for");
  struct Opts {
    std::string pred, target, labels, json, csv;
    int channels = 3;
    RealismOptions realism;
  };
  auto o = std::make_shared<Opts>();
  auto rt = std::make_shared<RuntimeOptions>();
  cmd->add_option("--pred", o->pred, "folder of predicted images")->required()->check(CLI::ExistingDirectory);
  cmd->add_option("--target", o->target,
                  "folder of target images (same file stems); optional for the FCN-score alone and for FID statistics "
                  "(--fid_reference, --save_fid_stats)")
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--labels", o->labels, "with --segmenter: the label maps the --pred photos should show (same file stems)")
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--channels", o->channels, "compare as 1 (gray) or 3 (RGB) channels")->check(CLI::IsMember({1, 3}))->capture_default_str();
  cmd->add_option("--json", o->json, "write per-image and mean metrics (and the scores) as JSON here");
  cmd->add_option("--csv", o->csv, "write per-image and mean metrics as CSV here");
  add_realism_options(*cmd, o->realism, /*test=*/false);
  add_runtime_options(*cmd, *rt);
  cmd->callback([o, rt] {
    if (o->target.empty() && (!o->realism.any() || o->realism.needs_target_folder())) {
      fail("--target: required (the images the outputs are compared with), unless only --segmenter --labels, "
           "--fid_reference or --save_fid_stats is asked for");
    }
    if (!o->realism.segmenter.empty() && o->labels.empty()) fail("--segmenter: give --labels DIR, the label maps the photos in --pred should show");
    if (!o->labels.empty() && o->realism.segmenter.empty()) fail("--labels: only read with --segmenter RUN (the FCN-score)");
    MetricsReport r;
    if (!o->target.empty()) r = evaluate_folders(o->pred, o->target, o->channels);
    nlohmann::json scores;
    std::string summary;
    if (o->realism.any()) {
      const c10::Device device = setup_runtime(*rt, std::cerr);
      scores = score_folders(o->realism, o->pred, o->target, o->labels, device, &summary);
    }
    if (!o->json.empty() && !o->target.empty()) write_metrics_json(o->json, r, scores.is_object() ? scores : nlohmann::json::object());
    if (!o->json.empty() && o->target.empty()) write_text_atomically(o->json, scores.dump(2) + "\n");  // no image metrics
    if (!o->csv.empty() && !o->target.empty()) write_metrics_csv(o->csv, r);
    if (!o->target.empty()) {
      std::cout << std::fixed << std::setprecision(6) << "images " << r.per_image.size() << "  L1 " << r.mean.l1
                << "  MAE " << r.mean.mae << "  PSNR " << std::setprecision(3) << r.mean.psnr << "  SSIM "
                << std::setprecision(5) << r.mean.ssim << "\n";
    }
    if (!summary.empty()) std::cout << summary << "\n";
  });
}

void register_info(CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "the objective, and parameters, output shape and forward GMACs of G and D at a given size");
  auto net = std::make_shared<NetConfig>();
  auto train = std::make_shared<TrainConfig>();
  auto size = std::make_shared<int>(256);
  auto height = std::make_shared<int>(0);
  add_net_options(*cmd, *net);
  add_loss_options(*cmd, *train);
  cmd->add_option("--crop_size", *size, "input side in pixels")->check(positive_int())->capture_default_str();
  cmd->add_option("--height", *height, "input height if not square (default: --crop_size)")->check(non_negative_int());
  auto body = [=] {
    const int64_t h = *height > 0 ? *height : *size, w = *size;
    const LossSetup setup = parse_loss(train->loss);
    const Objective objective(*train, setup, net->output_nc, c10::Device(c10::kCPU));
    NetworkPtr G = make_generator(*net);
    const NetworkSummary g = summarize_network(*G, net->input_nc, h, w);
    auto shape = [](const std::vector<int64_t>& s) {
      std::string out = "[";
      for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
      return out + "]";
    };
    std::cout << std::fixed << std::setprecision(2);
    std::cout << "objective: G = " << objective.describe() << "\n";
    std::cout << "G " << net->netG << " (" << net->input_nc << "->" << net->output_nc << ", ngf " << net->ngf
              << ", norm " << net->norm << "): parameters " << g.parameters << ", output " << shape(g.output_shape)
              << ", " << g.gmacs << " GMAC at " << h << "x" << w << "\n";
    if (const int64_t att = attention_parameter_count(*G)) {
      std::cout << "  attention " << net->attention << ": " << att << " of those parameters\n";
    }
    if (!setup.use_gan) {
      std::cout << "no D (--loss l1)\n";
      return;
    }
    const int64_t d_in = setup.conditional ? net->input_nc + net->output_nc : net->output_nc;
    MultiScaleDiscriminator D(*net, d_in);
    int64_t sh = h, sw = w;
    for (size_t k = 0; k < D.num_scales(); ++k) {
      const NetworkSummary d = summarize_network(D.scale(k), d_in, sh, sw);
      std::cout << "D " << net->netD << (D.num_scales() > 1 ? " scale " + std::to_string(k) : std::string()) << " ("
                << d_in << " ch in, ndf " << net->ndf << ", norm " << (net->norm_D.empty() ? net->norm : net->norm_D)
                << "): parameters " << d.parameters << ", output " << shape(d.output_shape) << ", " << d.gmacs
                << " GMAC at " << sh << "x" << sw << ", receptive field " << receptive_field(*net) << "x"
                << receptive_field(*net) << "\n";
      sh = (sh - 1) / 2 + 1, sw = (sw - 1) / 2 + 1;  // AvgPool(3, stride 2, pad 1)
    }
    if (D.num_scales() > 1) std::cout << "D total: parameters " << count_parameters(D) << "\n";
  };
  cmd->callback([=] {
    try {
      body();
    } catch (const c10::Error& e) {
      // LibTorch says it as an enforce failure with the byte count in digits; say which options did it.
      const std::string what = e.what_without_backtrace();
      if (what.find("can't allocate memory") == std::string::npos) throw;
      fail("--ngf " + std::to_string(net->ngf) + " / --ndf " + std::to_string(net->ndf) + " (--netG " + net->netG +
           ", --netD " + net->netD + "): the networks' weights do not fit in this machine's memory; typical widths are "
           "32 to 128");
    }
  });
}

void register_data(CLI::App& app) {
  auto* cmd = app.add_subcommand("data", "dataset tools: combine A/B folders into AB images, split train/val, unpair AB images for CycleGAN, propose a label palette");
  cmd->require_subcommand(1);
  auto* combine = cmd->add_subcommand("combine", "write [A | B] images from name-paired A and B folders");
  struct CombineOpts {
    std::string a, b, out, pair_replace;
  };
  auto c = std::make_shared<CombineOpts>();
  combine->add_option("--dir_A", c->a, "folder of A images")->required()->check(CLI::ExistingDirectory);
  combine->add_option("--dir_B", c->b, "folder of B images")->required()->check(CLI::ExistingDirectory);
  combine->add_option("--out", c->out, "output folder for AB images")->required();
  combine->add_option("--pair_replace", c->pair_replace, "FROM:TO turns an A file name into its B partner's");
  combine->callback([c] {
    const int64_t n = combine_ab(c->a, c->b, c->out, c->pair_replace);
    std::cout << "wrote " << n << " AB images to " << c->out << "\n";
  });
  auto* split = cmd->add_subcommand("split", "copy a folder's images into <out>/train and <out>/val");
  struct SplitOpts {
    std::string dir, out;
    double val_fraction = 0.1;
  };
  auto s = std::make_shared<SplitOpts>();
  split->add_option("--dir", s->dir, "folder of images (AB images, for example)")->required()->check(CLI::ExistingDirectory);
  split->add_option("--out", s->out, "dataset root to create")->required();
  split->add_option("--val_fraction", s->val_fraction, "share of images for val")->check(real_in(0, 0.5, false, false, "a number from 0 to 0.5", "[0, 0.5]"))->capture_default_str();
  split->callback([s] {
    const SplitCounts n = split_train_val(s->dir, s->out, s->val_fraction);
    std::cout << "split " << (n.train + n.val) << " images of " << s->dir << ": " << n.train << " to " << s->out
              << "/train, " << n.val << " to " << s->out << "/val\n";
  });
  auto* unpair = cmd->add_subcommand(
      "unpair", "make an AB dataset unaligned (for --model cycle_gan): <out>/<split>A/<stem>.png and <split>B/b_0001.png ... "
                "with the pairing hidden; <out>/partners.csv and <out>/truth/ record the true partners");
  unpair->footer("Score outputs named by A stem against the true partners with:\n"
                 "  p2p metrics --pred OUTPUTS --target <out>/truth/testB");
  struct UnpairOpts {
    std::string dir, out;
    uint64_t seed = 0;
  };
  auto u = std::make_shared<UnpairOpts>();
  unpair->add_option("--dir", u->dir, "AB dataset root: train/, val/, test/ of [A | B] images")->required();
  unpair->add_option("--out", u->out, "new dataset folder (must not exist, or be empty)")->required();
  unpair->add_option("--seed", u->seed, "draws which number each B file gets")->capture_default_str();
  unpair->callback([u] {
    for (const UnpairCounts& c : unpair_dataset(u->dir, u->out, u->seed)) {
      std::cout << c.split << ": " << c.a << " A files to " << u->out << "/" << c.split << "A, " << c.b << " B files to "
                << u->out << "/" << c.split << "B (true partners: partners.csv, truth/" << c.split << "B)\n";
    }
  });
  auto* preview = cmd->add_subcommand("preview", "write augmented A | B training pairs as the networks see them");
  struct PreviewOpts {
    DataConfig data;
    NetConfig net;
    int n = 8;
    uint64_t seed = 0;
    std::string out;
  };
  auto p = std::make_shared<PreviewOpts>();
  add_data_options(*preview, p->data, DataUse::train);
  preview->add_option("--input_nc", p->net.input_nc, "channels of A")->check(positive_int())->capture_default_str();
  preview->add_option("--output_nc", p->net.output_nc, "channels of B")->check(positive_int())->capture_default_str();
  preview->add_option("--n", p->n, "pairs to write")->check(positive_int())->capture_default_str();
  preview->add_option("--seed", p->seed, "the training seed whose first epoch is shown")->capture_default_str();
  preview->add_option("--out", p->out, "folder for the preview images")->required();
  preview->callback([p] {
    if (p->data.dataroot.empty()) fail("--dataroot: required (the dataset to preview)");
    DataConfig d = p->data;
    d.input_nc = p->net.input_nc;
    d.output_nc = p->net.output_nc;
    const std::vector<std::string> written = write_augment_preview(d, p->n, p->seed, p->out);
    std::cout << "wrote " << written.size() << " augmented pairs (A | B, --augment " << d.augment << ") to " << p->out
              << "\n";
  });
  auto* palette = cmd->add_subcommand("palette", "propose a palette (class colours) from a folder of colour label images");
  struct PaletteOpts {
    std::string dir, out;
    int max_classes = 32;
    double merge_distance = kDefaultMergeDistance, min_share = kDefaultMinShare;
  };
  auto pl = std::make_shared<PaletteOpts>();
  palette->add_option("--dir", pl->dir, "folder of label images (flat class colours; JPEG noise is fine)")
      ->required()->check(CLI::ExistingDirectory);
  palette->add_option("--out", pl->out, "palette JSON file to write")->required();
  palette->add_option("--max_classes", pl->max_classes, "keep at most this many classes, the largest")
      ->check(integer_in(1, kMaxPaletteColours, "a whole number from 1 to " + std::to_string(kMaxPaletteColours), "1..250"))->capture_default_str();
  palette->add_option("--merge_distance", pl->merge_distance, "colours within this RGB distance of a more frequent one join its class")
      ->check(non_negative_real())->capture_default_str();
  palette->add_option("--min_share", pl->min_share, "smallest share of the pixels in flat areas a class may hold")
      ->check(real_in(0, 1, false, false, "a number from 0 to 1", "[0, 1]"))->capture_default_str();
  palette->callback([pl] {
    const std::vector<std::string> files = list_images(pl->dir);
    if (files.empty()) fail("--dir " + pl->dir + ": no label images (PNG, JPEG, ...) in it");
    const nlohmann::json j = propose_palette(files, pl->max_classes, pl->merge_distance, pl->min_share);
    write_text_atomically(pl->out, j.dump(2) + "\n");
    std::cout << "proposed " << j["classes"].size() << " classes from " << files.size() << " label images to " << pl->out
              << "; name them, and mark colours to skip in scores with \"ignore\": true\n";
    std::cout << std::fixed << std::setprecision(2);
    for (const auto& c : j["classes"]) {
      std::cout << "  " << c["name"].get<std::string>() << "  " << c["color"].dump() << "  " << 100 * c["share"].get<double>()
                << "%\n";
    }
    std::cout << "  (shares of the " << j["source"]["flat_pixels"].get<int64_t>() << " pixels in flat areas; "
              << 100 * j["source"]["unclassified_share"].get<double>() << "% of them are in no class)\n";
  });
}

}  // namespace p2p::cli
