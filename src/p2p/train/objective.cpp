// The generator objective (see objective.h): term units, their registry, and the weight schedule.
#include "p2p/train/objective.h"

#include "p2p/core/error.h"
#include "p2p/data/palette.h"
#include "p2p/losses/feature_matching.h"
#include "p2p/losses/image_losses.h"
#include "p2p/losses/perceptual.h"
#include "p2p/train/model.h"
#include "p2p/train/step_losses.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <functional>
#include <sstream>

namespace p2p {

namespace {

// ---- Term units ---------------------------------------------------------------------------------

// Mean over D's scales of the generator's adversarial loss on its own pairs.
class GanTerm : public GeneratorTerm {
 public:
  explicit GanTerm(GanMode mode) : mode_(mode) {}
  at::Tensor value(const GeneratorInputs& in) override {
    at::Tensor sum = generator_gan_loss(in.d_fake[0].back(), mode_);
    if (in.d_fake.size() == 1) return sum;  // one scale: exactly the reference's loss
    for (size_t k = 1; k < in.d_fake.size(); ++k) sum = sum + generator_gan_loss(in.d_fake[k].back(), mode_);
    return sum / static_cast<double>(in.d_fake.size());
  }
  bool needs_discriminator() const override { return true; }

 private:
  GanMode mode_;
};

class L1Term : public GeneratorTerm {
 public:
  at::Tensor value(const GeneratorInputs& in) override { return at::l1_loss(in.fake, in.B); }
};

class CharbonnierTerm : public GeneratorTerm {
 public:
  explicit CharbonnierTerm(double eps) : eps_(eps) {}
  at::Tensor value(const GeneratorInputs& in) override { return charbonnier_loss(in.fake, in.B, eps_); }

 private:
  double eps_;
};

class SsimTerm : public GeneratorTerm {
 public:
  at::Tensor value(const GeneratorInputs& in) override { return ssim_loss(in.fake, in.B); }
};

class GradientTerm : public GeneratorTerm {
 public:
  explicit GradientTerm(GradOp op) : op_(op) {}
  at::Tensor value(const GeneratorInputs& in) override { return gradient_loss(in.fake, in.B, op_); }

 private:
  GradOp op_;
};

class PerceptualTerm : public GeneratorTerm {
 public:
  explicit PerceptualTerm(std::shared_ptr<VggFeatures> vgg) : vgg_(std::move(vgg)) {}
  at::Tensor value(const GeneratorInputs& in) override { return perceptual_loss(*vgg_, in.fake, in.B); }

 private:
  std::shared_ptr<VggFeatures> vgg_;
};

class FeatureMatchingTerm : public GeneratorTerm {
 public:
  at::Tensor value(const GeneratorInputs& in) override { return feature_matching_loss(in.d_fake, in.d_real); }
  bool needs_discriminator() const override { return true; }
  bool needs_real_features() const override { return true; }
};

// Per-pixel cross-entropy of G's logits [N,K,H,W] against B's class ids [N,1,H,W] (stored as floats);
// pixels of the ignore id count in neither the sum nor the mean.
class CrossEntropyTerm : public GeneratorTerm {
 public:
  at::Tensor value(const GeneratorInputs& in) override {
    return at::cross_entropy_loss(in.fake, in.B.squeeze(1).to(at::kLong), {}, at::Reduction::Mean, kIgnoreClass);
  }
};

// ---- Registry -----------------------------------------------------------------------------------

struct TermContext {
  const TrainConfig& cfg;
  bool use_gan;
  bool use_l1;
  bool use_ce;
  int output_nc;
  const c10::Device& device;
};

struct TermInfo {
  const char* name;        // as --loss_schedule spells it; logged as G_<name>
  const char* flag;        // the flag that sets its weight, for messages
  bool always_logged;      // computed even at weight 0
  std::function<double(const TermContext&)> weight;
  std::function<std::unique_ptr<GeneratorTerm>(const TermContext&)> make;
};

const std::vector<TermInfo>& registry() {
  static const std::vector<TermInfo> terms = {
      {"GAN", "--loss", false, [](const TermContext& c) { return c.use_gan ? 1.0 : 0.0; },
       [](const TermContext& c) { return std::make_unique<GanTerm>(parse_gan_mode(c.cfg.gan_mode)); }},
      {"L1", "--lambda_L1", true, [](const TermContext& c) { return c.use_l1 ? c.cfg.lambda_L1 : 0.0; },
       [](const TermContext&) { return std::make_unique<L1Term>(); }},
      {"charbonnier", "--lambda_charbonnier", false, [](const TermContext& c) { return c.cfg.lambda_charbonnier; },
       [](const TermContext& c) { return std::make_unique<CharbonnierTerm>(c.cfg.charbonnier_eps); }},
      {"ssim", "--lambda_ssim", false, [](const TermContext& c) { return c.cfg.lambda_ssim; },
       [](const TermContext&) { return std::make_unique<SsimTerm>(); }},
      {"grad", "--lambda_grad", false, [](const TermContext& c) { return c.cfg.lambda_grad; },
       [](const TermContext& c) { return std::make_unique<GradientTerm>(parse_grad_op(c.cfg.grad_op)); }},
      {"perc", "--lambda_perc", false, [](const TermContext& c) { return c.cfg.lambda_perc; },
       [](const TermContext& c) -> std::unique_ptr<GeneratorTerm> {
         if (c.cfg.vgg_weights.empty()) {
           fail("--lambda_perc: the perceptual term needs --vgg_weights FILE (a torchvision VGG16 or VGG19 "
                "state_dict .pth); nothing is downloaded at run time");
         }
         if (c.output_nc != 1 && c.output_nc != 3) {
           fail("--lambda_perc: the VGG perceptual term needs 1- or 3-channel outputs (--output_nc is " +
                std::to_string(c.output_nc) + ")");
         }
         auto vgg = load_vgg(c.cfg.vgg_weights, c.cfg.perc_layers);
         vgg->to(c.device);
         return std::make_unique<PerceptualTerm>(vgg);
       }},
      {"fm", "--lambda_fm", false, [](const TermContext& c) { return c.cfg.lambda_fm; },
       [](const TermContext&) { return std::make_unique<FeatureMatchingTerm>(); }},
      {"CE", "--loss", false, [](const TermContext& c) { return c.use_ce ? 1.0 : 0.0; },
       [](const TermContext&) { return std::make_unique<CrossEntropyTerm>(); }},
  };
  return terms;
}

std::string lower(std::string s) {
  for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

std::string known_names() {
  std::string out;
  for (const TermInfo& t : registry()) out += (out.empty() ? "" : ", ") + std::string(t.name);
  return out;
}

// The registry's spelling of a user-given term name (case-insensitive); empty when unknown.
std::string canonical(const std::string& name) {
  for (const TermInfo& t : registry()) {
    if (lower(t.name) == lower(name)) return t.name;
  }
  return "";
}

double parse_number(const std::string& text, const std::string& what) {
  try {
    size_t used = 0;
    const double v = std::stod(text, &used);
    if (used == text.size() && std::isfinite(v)) return v;
  } catch (const std::exception&) {
  }
  fail("--loss_schedule: " + what + " '" + text + "' is not a number");
}

std::string format_weight(double w) {
  std::ostringstream o;
  o << w;
  return o.str();
}

}  // namespace

std::vector<WeightStage> parse_loss_schedule(const std::string& text) {
  std::vector<WeightStage> stages;
  std::stringstream all(text);
  std::string stage_text;
  while (std::getline(all, stage_text, ';')) {
    stage_text = trim(stage_text);
    if (stage_text.empty()) continue;
    const size_t colon = stage_text.find(':');
    if (colon == std::string::npos) {
      fail("--loss_schedule: stage '" + stage_text + "' should read EPOCH:NAME=WEIGHT,... (e.g. \"1:L1=100,GAN=1; "
           "51:L1=50,ssim=10\")");
    }
    WeightStage stage;
    const double epoch = parse_number(trim(stage_text.substr(0, colon)), "epoch");
    if (epoch < 1 || epoch != std::floor(epoch)) fail("--loss_schedule: epochs are whole numbers >= 1 (got '" + trim(stage_text.substr(0, colon)) + "')");
    stage.epoch = static_cast<int64_t>(epoch);
    if (!stages.empty() && stage.epoch <= stages.back().epoch) {
      fail("--loss_schedule: stage epochs must increase (" + std::to_string(stage.epoch) + " follows " +
           std::to_string(stages.back().epoch) + ")");
    }
    std::stringstream items(stage_text.substr(colon + 1));
    std::string item;
    while (std::getline(items, item, ',')) {
      item = trim(item);
      if (item.empty()) continue;
      const size_t eq = item.find('=');
      if (eq == std::string::npos) fail("--loss_schedule: '" + item + "' should read NAME=WEIGHT");
      const std::string given = trim(item.substr(0, eq));
      const std::string name = canonical(given);
      if (name.empty()) fail("--loss_schedule: unknown term '" + given + "' (known: " + known_names() + ")");
      const double w = parse_number(trim(item.substr(eq + 1)), "weight of " + name);
      if (w < 0) fail("--loss_schedule: the weight of " + name + " must be >= 0 (got " + format_weight(w) + ")");
      stage.weights.emplace_back(name, w);
    }
    if (stage.weights.empty()) fail("--loss_schedule: stage at epoch " + std::to_string(stage.epoch) + " sets no weights");
    stages.push_back(std::move(stage));
  }
  return stages;
}

struct Objective::Entry {
  const TermInfo* info = nullptr;
  double base = 0;    // from the flags
  double weight = 0;  // in force
  std::unique_ptr<GeneratorTerm> term;
};

Objective::Objective(const TrainConfig& cfg, const LossSetup& losses, int output_nc, const c10::Device& device)
    : schedule_(parse_loss_schedule(cfg.loss_schedule)), gan_mode_(cfg.gan_mode) {
  const bool use_gan = losses.use_gan;
  const TermContext ctx{cfg, use_gan, losses.use_l1, losses.use_ce, output_nc, device};
  for (const TermInfo& info : registry()) {
    auto e = std::make_unique<Entry>();
    e->info = &info;
    e->base = info.weight(ctx);
    if (e->base < 0) fail(std::string(info.flag) + ": must be >= 0 (got " + format_weight(e->base) + ")");
    double most = e->base;
    for (const WeightStage& s : schedule_) {
      for (const auto& [name, w] : s.weights) {
        if (name == info.name) most = std::max(most, w);
      }
    }
    const bool needs_d = std::string(info.name) == "GAN" || std::string(info.name) == "fm";
    if (needs_d && most > 0 && !use_gan) {
      fail(std::string(most == e->base ? info.flag : "--loss_schedule") + ": the " + info.name +
           " term needs a discriminator, and --loss l1 trains none");
    }
    if (losses.use_ce && most > 0 && std::string(info.name) != "CE") {
      fail(std::string(most == e->base ? info.flag : "--loss_schedule") + ": the " + info.name +
           " term compares images, and --loss ce (the segmentation model) trains class logits");
    }
    if (most > 0 || (info.always_logged && !losses.use_ce)) e->term = info.make(ctx);
    e->weight = e->base;
    terms_.push_back(std::move(e));
  }
  set_epoch(cfg.epoch_count);
}

Objective::~Objective() = default;

void Objective::set_epoch(int64_t epoch) {
  for (auto& e : terms_) e->weight = e->base;
  for (const WeightStage& s : schedule_) {
    if (s.epoch > epoch) break;
    for (const auto& [name, w] : s.weights) {
      for (auto& e : terms_) {
        if (name == e->info->name) e->weight = w;
      }
    }
  }
}

std::map<std::string, double> Objective::weights() const {
  std::map<std::string, double> out;
  for (const auto& e : terms_) {
    if (e->term && (e->weight > 0 || e->base > 0 || !schedule_.empty())) out[e->info->name] = e->weight;
  }
  return out;
}

bool Objective::needs_discriminator() const {
  return std::any_of(terms_.begin(), terms_.end(),
                     [](const auto& e) { return e->weight > 0 && e->term && e->term->needs_discriminator(); });
}

bool Objective::needs_real_features() const {
  return std::any_of(terms_.begin(), terms_.end(),
                     [](const auto& e) { return e->weight > 0 && e->term && e->term->needs_real_features(); });
}

at::Tensor Objective::total(const GeneratorInputs& in, StepLosses& out, int64_t iteration) {
  at::Tensor loss = at::zeros({}, in.fake.options());
  for (auto& e : terms_) {
    if (!e->term || (e->weight == 0 && !e->info->always_logged)) continue;
    const at::Tensor v = e->term->value(in);
    const std::string name = std::string("G_") + e->info->name;
    check_finite_loss("loss_" + name, v, iteration);
    out.set(name, v.item<double>());
    if (e->weight == 0) continue;
    loss = e->weight == 1.0 ? loss + v : loss + v * e->weight;
  }
  check_finite_loss("loss_G", loss, iteration);
  return loss;
}

std::string Objective::describe() const {
  std::ostringstream o;
  bool first = true;
  for (const auto& e : terms_) {
    if (!e->term || e->base == 0) continue;
    o << (first ? "" : " + ") << format_weight(e->base) << " * " << e->info->name;
    if (std::string(e->info->name) == "GAN") o << "(" << gan_mode_ << ")";
    first = false;
  }
  if (first) o << "0";
  for (const WeightStage& s : schedule_) {
    o << "; from epoch " << s.epoch << ":";
    for (const auto& [name, w] : s.weights) o << " " << name << "=" << format_weight(w);
  }
  return o.str();
}

}  // namespace p2p
