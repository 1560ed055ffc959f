// A segmentation run as a scorer, and the FCN-score (segmenter.h).
#include "p2p/eval/segmenter.h"

#include "p2p/core/config_json.h"
#include "p2p/core/error.h"
#include "p2p/data/normalization.h"
#include "p2p/data/pairing.h"
#include "p2p/eval/generator.h"
#include "p2p/eval/inference.h"
#include "p2p/io/image.h"
#include "p2p/io/run_folder.h"

#include <ATen/ATen.h>

#include <filesystem>

namespace fs = std::filesystem;

namespace p2p {

std::shared_ptr<Segmenter> Segmenter::load(const std::string& run_dir, const std::string& flag,
                                           const c10::Device& device, const std::string& epoch) {
  if (!fs::is_directory(run_dir)) fail(flag + " " + run_dir + ": no such run folder (a `p2p train --model segmentation` run)");
  const nlohmann::json config = read_run_config(run_dir);
  const std::string model = config.is_object() && config.contains("train") ? config["train"].value("model", "pix2pix") : "";
  if (model != "segmentation") {
    fail(flag + " " + run_dir + ": not a segmentation run (its config.json " +
         (config.is_null() ? std::string("is missing") : "says --model " + model) +
         "); train one with `p2p train --model segmentation --palette ...`");
  }
  std::string which = epoch;
  if (which == "best" && !fs::exists(checkpoint_path(run_dir, "best"))) which = "latest";
  auto seg = std::shared_ptr<Segmenter>(new Segmenter());
  GeneratorSource source;
  source.run_dir = run_dir;
  source.epoch = which;
  LoadedGenerator g = load_generator(source);
  seg->G_ = g.G;
  seg->data_ = generator_data_config(g);
  seg->run_dir_ = run_dir;
  seg->checkpoint_ = g.weights;
  seg->device_ = device;
  // The palette the run trained with, as it stored it (a palette file may have moved or changed since).
  const std::string stored = (fs::path(run_dir) / "palette.json").string();
  seg->palette_ = load_palette(fs::exists(stored) ? stored : seg->data_.palette);
  if (seg->palette_.num_classes() != g.net.output_nc) {
    fail(flag + " " + run_dir + ": its palette has " + std::to_string(seg->palette_.num_classes()) +
         " classes but the network " + std::to_string(g.net.output_nc) + " outputs");
  }
  prepare_network_for_inference(*seg->G_, device, /*eval=*/true);
  return seg;
}

at::Tensor Segmenter::predict(const at::Tensor& photo) const {
  if (photo.dim() != 3 || photo.size(0) != data_.input_nc) {
    fail("segmenter " + run_dir_ + ": expected a " + std::to_string(data_.input_nc) + "-channel image, got shape " +
         std::to_string(photo.dim() == 3 ? photo.size(0) : photo.dim()));
  }
  const at::Tensor logits = translate_tensor(*G_, input_to_network(photo, data_), device_);
  return logits.argmax(0);
}

at::Tensor Segmenter::predict_at(const at::Tensor& photo, int64_t width, int64_t height) const {
  if (photo.size(1) == height && photo.size(2) == width) return predict(photo);
  const at::Tensor resized = at::upsample_bilinear2d(photo.unsqueeze(0).to(at::kFloat), {height, width},
                                                     /*align_corners=*/false)
                                 .squeeze(0)
                                 .clamp(0, 1);
  return predict(resized);
}

FcnScore fcn_score(const Segmenter& seg, const std::string& photos_dir, const std::string& labels_dir,
                   double palette_distance) {
  const double distance = palette_distance < 0 ? seg.data().palette_distance : palette_distance;
  LabelMapScores scores(seg.palette(), distance);
  FcnScore out;
  for (const PairRecord& pair : pair_outputs_by_stem(photos_dir, labels_dir)) {
    const at::Tensor labels = load_image(pair.b_path, 3);
    const at::Tensor photo = load_image(pair.a_path, seg.data().input_nc);
    scores.add(seg.predict_at(photo, labels.size(2), labels.size(1)), labels);
    ++out.images;
  }
  out.scores = scores.scores();
  out.ignored_fraction = scores.ignored_fraction();
  return out;
}

}  // namespace p2p
