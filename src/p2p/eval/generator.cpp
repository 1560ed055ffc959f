// Loading a generator from any saved form (generator.h).
#include "p2p/eval/generator.h"

#include "p2p/core/config_json.h"
#include "p2p/core/error.h"
#include "p2p/eval/export.h"
#include "p2p/eval/inference.h"
#include "p2p/io/checkpoint.h"
#include "p2p/io/run_folder.h"
#include "p2p/io/safetensors.h"

#include <c10/util/Exception.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <new>

namespace fs = std::filesystem;

namespace p2p {

namespace {

// What loading `path` cannot verify, for LoadedGenerator::integrity_note.
std::string integrity_note(const std::string& path) {
  if (is_safetensors_file(path)) {
    if (read_safetensors_metadata(path).count(kDataChecksumKey)) return "";
    return path + " carries no checksum of its data (a safetensors file not written by this version of p2p "
           "export), so damage to its weights cannot be detected";
  }
  if (is_legacy_torch_save(path)) {
    return path + " carries no checksum of its data (the legacy torch.save format of PyTorch <= 1.5), so "
           "damage to its weights cannot be detected";
  }
  return "";
}

}  // namespace

LoadedGenerator load_generator(const GeneratorSource& source, const nlohmann::json& net_overrides) {
  LoadedGenerator m;
  m.weights = source.weights;
  std::string config_source;  // where m.config came from, for messages about its fields
  if (m.weights.empty()) {
    if (source.run_dir.empty()) fail("give --name (a run folder under --checkpoints_dir) or --weights FILE");
    m.run_dir = source.run_dir;
    m.weights = existing_checkpoint(m.run_dir, source.epoch, /*reference=*/true);
    m.config = read_run_config(m.run_dir);
    std::error_code ec;
    config_source = fs::is_regular_file(fs::path(m.run_dir) / "config.json", ec)
                        ? (fs::path(m.run_dir) / "config.json").string()
                        : checkpoint_path(m.run_dir, "latest") + " (its stored options)";
  }
  nlohmann::json exported;  // the options a safetensors export carries
  const StateDict file = read_generator_weights(m.weights, exported);  // read once: checkpoints can be large
  m.integrity_note = integrity_note(m.weights);
  if (m.config.is_null() && !exported.is_null()) {
    m.config = exported;
    config_source = m.weights + " (its header's pix2pix.net)";
  }
  if (is_p2p_checkpoint(file)) {
    const CheckpointMeta meta = checkpoint_meta(file, m.weights);
    if (m.config.is_null() && !meta.config_json.empty()) {
      try {
        m.config = nlohmann::json::parse(meta.config_json);
      } catch (const std::exception& e) {
        fail("checkpoint " + m.weights + ": its stored options are not valid JSON (" + e.what() + ")");
      }
      config_source = m.weights + " (its stored options)";
    }
    m.checkpoint_epoch = meta.epoch;
  }
  if (m.config.is_object() && m.config.contains("net")) update_from_json(m.net, m.config["net"], config_source);
  if (net_overrides.is_object() && !net_overrides.empty()) update_from_json(m.net, net_overrides, "command line");
  // Options within their flags' bounds can still ask for more memory than there is (ngf 100000): said
  // as such, naming where they came from, instead of the allocator's message.
  auto too_large = [&](const std::string& detail) {
    const bool typed = net_overrides.is_object() && !net_overrides.empty();
    const std::string from = config_source.empty() ? std::string("the command line")
                                                   : config_source + (typed ? " and the command line" : "");
    fail("the generator " + m.net.netG + " with ngf " + std::to_string(m.net.ngf) + ", input_nc " +
         std::to_string(m.net.input_nc) + " and output_nc " + std::to_string(m.net.output_nc) + " (from " + from +
         ") cannot be built: " + detail + (config_source.empty() ? "" : " (a damaged architecture record?)"));
  };
  try {
    m.G = make_generator(m.net);
  } catch (const c10::Error& e) {
    const std::string what = e.what_without_backtrace();
    const size_t at = what.find("tried to allocate ");
    if (at == std::string::npos) too_large(what.substr(0, what.find('\n')));
    const double bytes = std::strtod(what.c_str() + at + 18, nullptr);
    char gib[32];
    std::snprintf(gib, sizeof gib, "%.3g", bytes / (1024.0 * 1024.0 * 1024.0));
    too_large(std::string("one of its tensors alone needs ") + gib + " GiB, more memory than there is");
  } catch (const std::bad_alloc&) {
    too_large("it needs more memory than there is");
  }
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
