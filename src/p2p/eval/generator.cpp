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

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <new>
#include <set>
#include <vector>

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

bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

bool is_cycle_config(const nlohmann::json& config) {
  return config.is_object() && config.contains("train") && config["train"].is_object() &&
         config["train"].value("model", std::string()) == "cycle_gan";
}

bool has_section(const StateDict& file, const std::string& prefix) {
  return std::any_of(file.begin(), file.end(), [&](const auto& e) { return e.first.rfind(prefix, 0) == 0; });
}

// <run_dir>/<epoch>_net_<name>.pth: the reference's file of one network.
fs::path reference_file(const std::string& run_dir, const std::string& epoch, const std::string& name) {
  return fs::path(run_dir) / (epoch + "_net_" + name + ".pth");
}

// The reference generator files of run_dir (*_net_G*.pth), for messages.
std::string reference_generator_files(const std::string& run_dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(run_dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string n = it->path().filename().string();
    if (n.find("_net_G") != std::string::npos && n.size() > 4 && n.compare(n.size() - 4, 4, ".pth") == 0) names.push_back(n);
  }
  std::sort(names.begin(), names.end());
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out.empty() ? "no reference generator files" : out;
}

// What a reference state_dict's keys say about its architecture, as flags; "" when they say nothing
// recognisable. ResnetGenerator: model.<i>.conv_block.<j> per block, its second conv at conv_block.6
// with dropout (5 without), an affine norm (batch) after the first conv has model.2.weight.
std::string architecture_hint(const StateDict& file) {
  std::set<std::string> blocks;
  bool dropout = false, affine = false, unet = false;
  int64_t ngf = 0, input_nc = 0;
  for (const auto& [key, t] : file) {
    if (key.rfind("model.model.", 0) == 0) unet = true;
    const size_t at = key.find(".conv_block.");
    if (key.rfind("model.", 0) == 0 && at != std::string::npos) {
      blocks.insert(key.substr(6, at - 6));
      // The second conv: conv_block.5 without dropout, .6 with (a norm's entries can also sit at .6).
      if (key.compare(at + 12, std::string::npos, "6.weight") == 0 && t.defined() && t.dim() == 4) dropout = true;
    }
    if (key == "model.2.weight") affine = true;
    if (key == "model.1.weight" && t.defined() && t.dim() == 4) ngf = t.size(0), input_nc = t.size(1);
  }
  if (!blocks.empty()) {
    std::string h = "--netG resnet_" + std::to_string(blocks.size()) + "blocks --norm " + (affine ? "batch" : "instance") +
                    (dropout ? "" : " --no_dropout");
    if (ngf > 0) h += " --ngf " + std::to_string(ngf) + " --input_nc " + std::to_string(input_nc);
    return h;
  }
  if (unet) return "--netG unet_<N> (N: the size it was trained at, e.g. unet_256) with its --norm and --ngf";
  return "";
}

}  // namespace

std::string generator_for_suffix(const std::string& suffix) {
  if (suffix.empty()) return "G";
  if (suffix == "_A" || suffix == "_B") return "G" + suffix;
  fail("--model_suffix '" + suffix + "': expected '' (<epoch>_net_G.pth), _A (G_A: A -> B) or _B (G_B: B -> A)");
}

std::string generator_for_direction(const std::string& direction, const std::string& flag) {
  if (direction == "AtoB") return "G_A";
  if (direction == "BtoA") return "G_B";
  fail(flag + " " + direction + ": expected AtoB (G_A) or BtoA (G_B)");
}

LoadedGenerator load_generator(const GeneratorSource& source, const nlohmann::json& net_overrides) {
  LoadedGenerator m;
  m.weights = source.weights;
  const std::string& wanted = source.generator;
  const std::string choice =
      !source.generator_flag.empty() ? source.generator_flag : "generator " + (wanted.empty() ? std::string("''") : wanted);
  if (!wanted.empty() && wanted != "G" && wanted != "G_A" && wanted != "G_B") {
    fail(choice + ": expected G_A (A -> B) or G_B (B -> A) for a CycleGAN run, or G for a pix2pix run");
  }
  bool reference_folder = false;  // the generator was picked by its reference file name
  std::string config_source;  // where m.config came from, for messages about its fields
  if (m.weights.empty()) {
    if (source.run_dir.empty()) fail("give --name (a run folder under --checkpoints_dir) or --weights FILE");
    m.run_dir = source.run_dir;
    std::error_code ec;
    const std::string ours = checkpoint_path(m.run_dir, source.epoch);
    const fs::path ref_A = reference_file(m.run_dir, source.epoch, "G_A"), ref_B = reference_file(m.run_dir, source.epoch, "G_B");
    if (!fs::exists(ours, ec) && (is_file(ref_A) || is_file(ref_B) || wanted == "G_A" || wanted == "G_B")) {
      // A reference folder of a CycleGAN run: the generator is a file of its own.
      m.generator = !wanted.empty() ? wanted : is_file(reference_file(m.run_dir, source.epoch, "G")) ? "G" : "G_A";
      const fs::path file = reference_file(m.run_dir, source.epoch, m.generator);
      if (!is_file(file)) {
        if (!fs::is_directory(m.run_dir, ec)) fail("run folder " + m.run_dir + " does not exist (check --name and --checkpoints_dir)");
        fail(choice + ": " + m.run_dir + " has no " + file.filename().string() + " (--epoch " + source.epoch + "); it holds " +
             reference_generator_files(m.run_dir) + (is_file(ref_A) && is_file(ref_B)
                                                         ? " — a CycleGAN pair: choose G_A (A -> B) or G_B (B -> A)"
                                                         : ""));
      }
      m.weights = file.string();
      m.cycle_gan = is_file(ref_A) && is_file(ref_B);
      reference_folder = true;
    } else {
      m.weights = existing_checkpoint(m.run_dir, source.epoch, /*reference=*/true);
      reference_folder = m.weights != ours;
    }
    m.config = read_run_config(m.run_dir);
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
  const bool checkpoint = is_p2p_checkpoint(file);
  if (checkpoint) {
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
    m.cycle_gan = is_cycle_config(m.config) || has_section(file, "G_A.");
    if (m.cycle_gan) {
      if (wanted == "G") {
        fail(choice + ": " + m.weights + " is a CycleGAN run with generators G_A (A -> B) and G_B (B -> A), no G; "
             "choose one of them");
      }
      m.generator = wanted.empty() ? "G_A" : wanted;
    } else if (wanted == "G_A" || wanted == "G_B") {
      fail(choice + ": " + m.weights + " is a pix2pix run with one generator, G (G_A and G_B belong to runs trained "
           "with --model cycle_gan)");
    }
  } else if (!reference_folder && (wanted == "G_A" || wanted == "G_B")) {
    fail(choice + ": " + m.weights + " holds a single generator; G_A and G_B choose between the generators of a "
         "CycleGAN run (--name) or checkpoint");
  }
  if (m.config.is_object() && m.config.contains("net")) update_from_json(m.net, m.config["net"], config_source);
  // The run's NetConfig describes G_A; G_B maps B back to A (as train's reversed_generator builds it).
  if (checkpoint && m.generator == "G_B") std::swap(m.net.input_nc, m.net.output_nc);
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
  if (checkpoint) {
    const std::string prefix = m.generator + ".";
    if (!has_section(file, prefix)) fail("checkpoint " + m.weights + " holds no " + m.generator + " (no " + prefix + "* entries)");
    load_into(*m.G, checkpoint_section(file, prefix), m.weights + " (" + m.generator + ")");
  } else if (!m.config.is_null()) {
    load_into(*m.G, file, m.weights);
  } else {
    try {
      load_into(*m.G, file, m.weights);
    } catch (const Error& e) {
      // A reference .pth names no architecture: say which flags its keys point to.
      const std::string hint = architecture_hint(file);
      fail(std::string(e.what()) + " — a reference .pth carries no architecture: give its flags" +
           (hint.empty() ? std::string(" (the reference's CycleGAN generators: --netG resnet_9blocks --norm instance --no_dropout)")
                         : "; its keys look like " + hint));
    }
  }
  return m;
}

DataConfig generator_data_config(const LoadedGenerator& g) {
  DataConfig d;
  if (g.config.is_object() && g.config.contains("data")) update_from_json(d, g.config["data"], g.weights);
  d.input_nc = g.net.input_nc;
  d.output_nc = d.palette.empty() ? g.net.output_nc : 3;  // a segmenter's label maps are read as RGB
  if (g.generator == "G_B") d.sar_db = false;  // G_B's inputs are B-domain images; SAR dB maps A
  return d;
}

nlohmann::json generator_config(const LoadedGenerator& g) {
  nlohmann::json config = {{"net", to_json(g.net)}};
  if (g.config.is_object() && g.config.contains("data")) {
    config["data"] = g.config["data"];
    if (g.generator == "G_B") {
      const DataConfig d = generator_data_config(g);
      config["data"]["input_nc"] = d.input_nc;
      config["data"]["output_nc"] = d.output_nc;
      config["data"]["sar_db"] = d.sar_db;
    }
  }
  return config;
}

InferencePrepared prepare_network_for_inference(Network& G, const c10::Device& device, bool eval,
                                                InferenceRewrites rewrites) {
  InferencePrepared done;
  G.to(device);
  set_eval_mode(G, eval);
  if (eval && rewrites.fold) done.folded = fold_batch_norm(G);  // running statistics: norms join the convs
  if (rewrites.precision == Precision::kBf16 && !device.is_cpu()) fail("bf16 inference: only on the CPU in this build");
  G.inference_precision = rewrites.precision;
  if (device.is_cpu() && rewrites.pack) done.packed = pack_for_cpu_inference(G, rewrites.precision);
  return done;
}

void prepare_for_inference(LoadedGenerator& g, const c10::Device& device, bool eval, Precision precision) {
  InferenceRewrites rewrites;
  rewrites.precision = precision;
  prepare_network_for_inference(*g.G, device, eval, rewrites);
}

}  // namespace p2p
