// Loading a generator from any saved form (generator.h).
#include "p2p/eval/generator.h"

#include "p2p/core/config_json.h"
#include "p2p/core/error.h"
#include "p2p/eval/export.h"
#include "p2p/eval/inference.h"
#include "p2p/io/checkpoint.h"
#include "p2p/io/run_folder.h"

#include <filesystem>

namespace fs = std::filesystem;

namespace p2p {

LoadedGenerator load_generator(const GeneratorSource& source, const nlohmann::json& net_overrides) {
  LoadedGenerator m;
  m.weights = source.weights;
  if (m.weights.empty()) {
    if (source.run_dir.empty()) fail("give --name (a run folder under --checkpoints_dir) or --weights FILE");
    m.run_dir = source.run_dir;
    m.weights = existing_checkpoint(m.run_dir, source.epoch, /*reference=*/true);
    m.config = read_run_config(m.run_dir);
  }
  nlohmann::json exported;  // the options a safetensors export carries
  const StateDict file = read_generator_weights(m.weights, exported);  // read once: checkpoints can be large
  if (m.config.is_null() && !exported.is_null()) m.config = exported;
  if (is_p2p_checkpoint(file)) {
    const CheckpointMeta meta = checkpoint_meta(file, m.weights);
    if (m.config.is_null() && !meta.config_json.empty()) m.config = nlohmann::json::parse(meta.config_json);
    m.checkpoint_epoch = meta.epoch;
  }
  if (m.config.is_object() && m.config.contains("net")) update_from_json(m.net, m.config["net"], m.weights);
  if (net_overrides.is_object() && !net_overrides.empty()) update_from_json(m.net, net_overrides, "command line");
  m.G = make_generator(m.net);
  load_generator_weights(*m.G, file, m.weights);
  return m;
}

DataConfig generator_data_config(const LoadedGenerator& g) {
  DataConfig d;
  if (g.config.is_object() && g.config.contains("data")) update_from_json(d, g.config["data"], g.weights);
  d.input_nc = g.net.input_nc;
  d.output_nc = d.palette.empty() ? g.net.output_nc : 3;  // a segmenter's label maps are read as RGB
  return d;
}

InferencePrepared prepare_network_for_inference(Network& G, const c10::Device& device, bool eval,
                                                InferenceRewrites rewrites) {
  InferencePrepared done;
  G.to(device);
  set_eval_mode(G, eval);
  if (eval && rewrites.fold) done.folded = fold_batch_norm(G);  // running statistics: norms join the convs
  if (device.is_cpu() && rewrites.pack) done.packed = pack_for_cpu_inference(G);
  return done;
}

void prepare_for_inference(LoadedGenerator& g, const c10::Device& device, bool eval) {
  prepare_network_for_inference(*g.G, device, eval);
}

}  // namespace p2p
