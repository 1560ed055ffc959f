// Model families behind one interface (see family.h): the factory, and Pix2PixModel's side of the
// interface (its checkpoint layout G, D, opt_G, opt_D; its start line; its validation).
#include "p2p/train/family.h"

#include "p2p/core/console.h"
#include "p2p/core/error.h"
#include "p2p/train/cycle_gan.h"
#include "p2p/train/model.h"
#include "p2p/train/validation.h"

namespace p2p {

std::unique_ptr<TrainModel> make_train_model(const NetConfig& net, const TrainConfig& train, const c10::Device& device) {
  check_choice("--model", train.model, "pix2pix|segmentation|cycle_gan");
  if (train.model == "cycle_gan") return std::make_unique<CycleGanModel>(net, train, device);
  return std::make_unique<Pix2PixModel>(net, train, device);
}

TrainingState Pix2PixModel::training_state() {
  return TrainingState::pix2pix(G_.get(), discriminator(), opt_G_.get(), opt_D_.get());
}

std::vector<torch::nn::Module*> Pix2PixModel::networks() {
  std::vector<torch::nn::Module*> out = {G_.get()};
  if (torch::nn::Module* D = discriminator()) out.push_back(D);
  return out;
}

std::vector<at::Tensor> Pix2PixModel::parameters_G() { return G_->parameters(); }
std::vector<at::Tensor> Pix2PixModel::parameters_D() { return D_ ? D_->parameters() : std::vector<at::Tensor>(); }

std::string Pix2PixModel::describe_networks() const {
  std::string line = "G " + net_.netG + " " + with_commas(count_parameters(*G_)) + " parameters";
  if (D_) {
    line += ", D " + net_.netD + (net_.num_D > 1 ? " x" + std::to_string(net_.num_D) + " scales" : std::string()) + " " +
            with_commas(count_parameters(*D_)) + " parameters";
  } else {
    line += ", no D (--loss " + train_.loss + ")";
  }
  return line;
}

std::string Pix2PixModel::describe_objective() const { return objective_->describe(); }

nlohmann::json Pix2PixModel::weights() const { return objective_->weights(); }

ValResult Pix2PixModel::validate(const ValidationContext& ctx) {
  const auto* paired = dynamic_cast<const PairedDataset*>(&ctx.val);
  if (!paired) fail("internal: --model " + train_.model + " validates on paired data");
  return p2p::validate(*this, *paired, ctx.data, ctx.train, ctx.epoch, ctx.samples_dir, ctx.stoppable, ctx.segmenter);
}

}  // namespace p2p
