// Small subcommands: `p2p metrics` (score a folder of outputs), `p2p info` (network sizes and cost),
// `p2p data` (combine A/B folders into AB images; split train/val).
#include "cli/commands.h"
#include "cli/options.h"

#include "p2p/core/error.h"
#include "p2p/data/combine.h"
#include "p2p/data/preview.h"
#include "p2p/eval/metrics.h"
#include "p2p/models/info.h"
#include "p2p/models/multiscale.h"
#include "p2p/models/networks.h"
#include "p2p/train/model.h"
#include "p2p/train/objective.h"

#include <iomanip>
#include <iostream>

namespace p2p::cli {

void register_metrics(CLI::App& app) {
  auto* cmd = app.add_subcommand("metrics", "PSNR / SSIM / MAE / L1 of predicted images against targets (paired by name)");
  struct Opts {
    std::string pred, target, json, csv;
    int channels = 3;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--pred", o->pred, "folder of predicted images")->required()->check(CLI::ExistingDirectory);
  cmd->add_option("--target", o->target, "folder of target images (same file stems)")->required()->check(CLI::ExistingDirectory);
  cmd->add_option("--channels", o->channels, "compare as 1 (gray) or 3 (RGB) channels")->check(CLI::IsMember({1, 3}))->capture_default_str();
  cmd->add_option("--json", o->json, "write per-image and mean metrics as JSON here");
  cmd->add_option("--csv", o->csv, "write per-image and mean metrics as CSV here");
  cmd->callback([o] {
    const MetricsReport r = evaluate_folders(o->pred, o->target, o->channels);
    if (!o->json.empty()) write_metrics_json(o->json, r);
    if (!o->csv.empty()) write_metrics_csv(o->csv, r);
    std::cout << std::fixed << std::setprecision(6) << "images " << r.per_image.size() << "  L1 " << r.mean.l1
              << "  MAE " << r.mean.mae << "  PSNR " << std::setprecision(3) << r.mean.psnr << "  SSIM "
              << std::setprecision(5) << r.mean.ssim << "\n";
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
  cmd->add_option("--crop_size", *size, "input side in pixels")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--height", *height, "input height if not square (default: --crop_size)")->check(CLI::NonNegativeNumber);
  cmd->callback([=] {
    const int64_t h = *height > 0 ? *height : *size, w = *size;
    const LossSetup setup = parse_loss(train->loss);
    const Objective objective(*train, setup.use_gan, setup.use_l1, net->output_nc, c10::Device(c10::kCPU));
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
  });
}

void register_data(CLI::App& app) {
  auto* cmd = app.add_subcommand("data", "dataset tools: combine A/B folders into AB images, split train/val");
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
  split->add_option("--val_fraction", s->val_fraction, "share of images for val")->check(CLI::Range(0.0, 0.5))->capture_default_str();
  split->callback([s] {
    const SplitCounts n = split_train_val(s->dir, s->out, s->val_fraction);
    std::cout << "split " << (n.train + n.val) << " images of " << s->dir << ": " << n.train << " to " << s->out
              << "/train, " << n.val << " to " << s->out << "/val\n";
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
  preview->add_option("--input_nc", p->net.input_nc, "channels of A")->check(CLI::PositiveNumber)->capture_default_str();
  preview->add_option("--output_nc", p->net.output_nc, "channels of B")->check(CLI::PositiveNumber)->capture_default_str();
  preview->add_option("--n", p->n, "pairs to write")->check(CLI::PositiveNumber)->capture_default_str();
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
}

}  // namespace p2p::cli
