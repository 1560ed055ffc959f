// Training checkpoints (see checkpoint.h). The file is a flat, PyTorch-loadable state_dict (same zip
// format as reference *.pth files, so torch.load opens it too) with prefixed keys:
//   G.<param>  D.<param>             network parameters and buffers (CycleGAN: G_A. G_B. D_A. D_B.)
//   opt_G.<param>.{step,exp_avg,exp_avg_sq[,max_exp_avg_sq]}   Adam state, keyed by parameter name
//                                     (opt_G.<net>.<param>... for an optimizer over several nets)
//   meta                              uint8 tensor holding a JSON object (epoch, iterations, config ...)
//   rng.cpu [rng.cuda]                generator states, for exact resume
//   trainer.<name>                    the trainer's own state (image pools, per-rank RNG states)
// Keying Adam state by parameter *name* (not position or address) makes a mismatch an error that
// names the tensor instead of silently mis-assigning moments.
#include "p2p/io/checkpoint.h"

#include "p2p/core/error.h"
#include "p2p/io/integrity.h"
#include "p2p/io/state_dict.h"

#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <torch/cuda.h>
#include <torch/optim/adam.h>

#include <nlohmann/json.hpp>

#include <cstring>
#include <map>
#include <mutex>
#include <sstream>
#include <type_traits>

namespace p2p {

namespace {

constexpr const char* kFormat = "pix2pix.cpp checkpoint v1";
// meta's {"<entry>": CRC-32C (integrity.h) of its bytes} for every other entry; absent in older files.
// Per entry, so a file with entries removed (optimizer state stripped for inference) still verifies,
// and an altered entry is named.
constexpr const char* kDataChecksum = "data_crc32c";

at::Tensor bytes_tensor(const std::string& s) {
  at::Tensor t = at::empty({static_cast<int64_t>(s.size())}, at::kByte);
  if (!s.empty()) std::memcpy(t.data_ptr<uint8_t>(), s.data(), s.size());
  return t;
}

std::string tensor_bytes(const at::Tensor& t) {
  at::Tensor c = t.to(at::kByte).contiguous();
  return std::string(reinterpret_cast<const char*>(c.data_ptr<uint8_t>()), c.numel());
}

void add_module(StateDict& out, const std::string& prefix, const torch::nn::Module& net) {
  for (auto& [name, t] : state_dict_of(net)) out.emplace_back(prefix + name, t.detach());
}

using NamedParams = std::vector<std::pair<std::string, at::Tensor>>;

// The parameters an optimizer steps, by the names its moments carry (see the file layout above).
NamedParams optimizer_params(const TrainingState& state, const TrainingState::Optimizer& opt) {
  NamedParams out;
  for (const std::string& net_name : opt.nets) {
    const torch::nn::Module* net = nullptr;
    for (const auto& n : state.nets) {
      if (n.name == net_name) net = n.module;
    }
    TORCH_CHECK(net != nullptr, "checkpoint: optimizer ", opt.name, " steps unknown net ", net_name);
    const std::string prefix = opt.nets.size() > 1 ? net_name + "." : std::string();
    for (const auto& item : net->named_parameters(/*recurse=*/true)) out.emplace_back(prefix + item.key(), item.value());
  }
  return out;
}

void add_adam(StateDict& out, const std::string& prefix, torch::optim::Optimizer& opt, const NamedParams& named) {
  auto* adam = dynamic_cast<torch::optim::Adam*>(&opt);
  TORCH_CHECK(adam != nullptr, "checkpoint: only Adam optimizers are supported");
  auto& state = adam->state();
  using Map = std::decay_t<decltype(state)>;
  for (const auto& [name, param] : named) {
    auto it = state.find(optimizer_state_key<Map>(param));
    if (it == state.end()) continue;  // parameter never stepped yet
    auto& s = static_cast<torch::optim::AdamParamState&>(*it->second);
    const std::string base = prefix + name + ".";
    out.emplace_back(base + "step", at::scalar_tensor(static_cast<int64_t>(s.step()), at::kLong));
    out.emplace_back(base + "exp_avg", s.exp_avg().detach());
    out.emplace_back(base + "exp_avg_sq", s.exp_avg_sq().detach());
    if (s.max_exp_avg_sq().defined()) out.emplace_back(base + "max_exp_avg_sq", s.max_exp_avg_sq().detach());
  }
}

// `complete`: every parameter must have its moments (a resumed run continues them exactly).
void load_adam(const StateDict& entries, torch::optim::Optimizer& opt, const NamedParams& named,
               const std::string& path, const std::string& which, bool complete) {
  auto* adam = dynamic_cast<torch::optim::Adam*>(&opt);
  TORCH_CHECK(adam != nullptr, "checkpoint: only Adam optimizers are supported");
  std::map<std::string, at::Tensor> by_name(entries.begin(), entries.end());
  auto& state = adam->state();
  using Map = std::decay_t<decltype(state)>;
  state.clear();
  for (const auto& [name, param] : named) {
    const std::string base = name + ".";
    auto step = by_name.find(base + "step");
    if (step == by_name.end()) {
      if (!complete) continue;
      fail("checkpoint " + path + ": the optimizer state " + which + "." + base + "step is missing, so the run "
           "cannot resume exactly (a damaged or partial checkpoint; resume from another --epoch)");
    }
    const at::Tensor& p = param;
    auto get = [&](const std::string& field) {
      auto it = by_name.find(base + field);
      if (it == by_name.end()) {
        fail("checkpoint " + path + ": optimizer state " + which + "." + base + field + " is missing");
      }
      if (it->second.sizes() != p.sizes()) {
        fail("checkpoint " + path + ": optimizer state " + which + "." + base + field + " has shape " +
             c10::str(it->second.sizes()) + " but the parameter has " + c10::str(p.sizes()));
      }
      return it->second.to(p.options()).clone();
    };
    auto s = std::make_unique<torch::optim::AdamParamState>();
    s->step(step->second.item<int64_t>());
    s->exp_avg(get("exp_avg"));
    s->exp_avg_sq(get("exp_avg_sq"));
    if (by_name.count(base + "max_exp_avg_sq")) s->max_exp_avg_sq(get("max_exp_avg_sq"));
    state[optimizer_state_key<Map>(p)] = std::move(s);
  }
}

// Networks and optimizer moments under the checkpoint's names, on their own device (the finiteness
// check runs there; write_state_dict copies to the CPU).
StateDict training_tensors(const TrainingState& state) {
  TORCH_CHECK(!state.nets.empty() && state.nets.front().module != nullptr, "checkpoint: a generator is required");
  StateDict out;
  for (const auto& net : state.nets) add_module(out, net.name + ".", *net.module);
  for (const auto& opt : state.optimizers) add_adam(out, opt.name + ".", *opt.optimizer, optimizer_params(state, opt));
  return out;
}

// "generator" / "discriminator" for messages about a net's section.
std::string net_role(const std::string& name) {
  return name.rfind('D', 0) == 0 ? "discriminator" : "generator";
}

std::vector<std::string> non_finite_names(const StateDict& dict) {
  std::vector<std::string> bad;
  for (const auto& [name, t] : dict) {
    if (at::isFloatingType(t.scalar_type()) && !at::isfinite(t).all().item<bool>()) bad.push_back(name);
  }
  return bad;
}

nlohmann::json meta_to_json(const CheckpointMeta& m) {
  return {{"format", kFormat},
          {"epoch", m.epoch},
          {"epoch_iter", m.epoch_iter},
          {"total_iters", m.total_iters},
          {"best_metric", m.best_metric},
          {"best_value", m.best_value},
          {"best_epoch", m.best_epoch},
          {"config", m.config_json},
          {"scheduler", m.scheduler_json},
          {"extra", m.extra_json}};
}

}  // namespace

CheckpointMeta checkpoint_meta(const StateDict& all, const std::string& path) {
  for (const auto& [name, t] : all) {
    if (name != "meta") continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(tensor_bytes(t));
    } catch (const std::exception& e) {
      fail("checkpoint " + path + ": metadata is not valid JSON (" + e.what() + ")");
    }
    if (j.value("format", "") != kFormat) {
      fail("checkpoint " + path + ": unknown format '" + j.value("format", "") + "' (expected " + kFormat + ")");
    }
    if (j.contains(kDataChecksum)) {
      const nlohmann::json& sums = j[kDataChecksum];
      if (!sums.is_object()) fail("checkpoint " + path + ": its metadata's " + kDataChecksum + " is not an object");
      for (const auto& [name, t] : all) {
        auto it = sums.find(name);
        if (name == "meta" || it == sums.end()) continue;  // entries added later are not vouched for
        const std::string got = checksum_hex(tensor_crc32c(t));
        if (!it->is_string() || it->get<std::string>() != got) {
          fail("checkpoint " + path + ": entry " + name + " does not match the checksum in its metadata (" +
               it->dump() + ", its data hashes to " + got + "): the file was altered or damaged after it was "
               "written; use another checkpoint (--epoch best or --epoch N)");
        }
      }
    }
    CheckpointMeta m;
    m.epoch = j.value("epoch", 0);
    m.epoch_iter = j.value("epoch_iter", 0);
    m.total_iters = j.value("total_iters", 0);
    m.best_metric = j.value("best_metric", "");
    m.best_value = j.value("best_value", 0.0);
    m.best_epoch = j.value("best_epoch", int64_t{0});
    if (m.best_metric.empty() && j.value("best_val_l1", 1e30) < 1e30) {  // files of version 0.1
      m.best_metric = "val_l1";
      m.best_value = j.value("best_val_l1", 0.0);
    }
    m.config_json = j.value("config", "");
    m.scheduler_json = j.value("scheduler", "");
    m.extra_json = j.value("extra", "");
    return m;
  }
  fail("checkpoint " + path + ": no 'meta' entry — this is not a pix2pix.cpp training checkpoint "
       "(reference *_net_G.pth files are loaded with --weights)");
}

std::vector<std::string> non_finite_entries(const TrainingState& state) {
  return non_finite_names(training_tensors(state));
}

void save_checkpoint(const std::string& path, const TrainingState& state, const CheckpointMeta& meta) {
  StateDict out = training_tensors(state);
  const std::vector<std::string> bad = non_finite_names(out);
  if (!bad.empty()) {
    std::string list;
    for (size_t i = 0; i < bad.size() && i < 4; ++i) list += (i ? ", " : "") + bad[i];
    throw NonFiniteState("refusing to write " + path + ": " + std::to_string(bad.size()) + " of its " +
                         std::to_string(out.size()) + " tensors hold NaN/Inf (" + list +
                         (bad.size() > 4 ? ", ..." : "") + ")");
  }
  if (state.trainer) {
    for (const auto& [name, t] : *state.trainer) out.emplace_back("trainer." + name, t.detach());
  }
  out.emplace_back("meta", bytes_tensor(meta_to_json(meta).dump()));
  {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    out.emplace_back("rng.cpu", gen.get_state());
  }
  if (torch::cuda::is_available()) {
    auto gen = at::globalContext().defaultGenerator(c10::Device(c10::kCUDA, 0));
    std::lock_guard<std::mutex> lock(gen.mutex());
    out.emplace_back("rng.cuda", gen.get_state());
  }
  // Last, each other entry's checksum goes into meta (on the host once: write_state_dict copies nothing
  // more), so altered data is caught even where the zip CRCs were recomputed.
  for (auto& entry : out) entry.second = entry.second.detach().to(at::kCPU).contiguous();
  nlohmann::json sealed = meta_to_json(meta);
  nlohmann::json& sums = sealed[kDataChecksum] = nlohmann::json::object();
  for (const auto& [name, t] : out) {
    if (name != "meta") sums[name] = checksum_hex(tensor_crc32c(t));
  }
  for (auto& [name, t] : out) {
    if (name == "meta") t = bytes_tensor(sealed.dump());
  }
  write_state_dict(path, out);  // atomic: temp file + rename
}

CheckpointMeta load_checkpoint(const std::string& path, const TrainingState& state, bool resume) {
  StateDict all = read_state_dict(path);
  CheckpointMeta meta = checkpoint_meta(all, path);
  // Every floating entry of the parts restored (networks, optimizer moments, trainer state): a state
  // holding NaN/Inf is never resumed from, nor later called the last good checkpoint.
  StateDict restored;
  for (const auto& e : all) {
    const std::string& n = e.first;
    auto under = [&n](const char* prefix) { return n.rfind(prefix, 0) == 0; };
    bool take = state.trainer && under("trainer.");
    for (const auto& net : state.nets) take = take || under((net.name + ".").c_str());
    for (const auto& opt : state.optimizers) take = take || under((opt.name + ".").c_str());
    if (take) restored.push_back(e);
  }
  check_finite(restored, "checkpoint " + path,
               resume ? "it cannot be resumed from; resume from an earlier checkpoint (--epoch best or --epoch N)"
                      : "the weights are unusable (saved from a diverged run, or damaged)");
  for (const auto& net : state.nets) {
    StateDict section = checkpoint_section(all, net.name + ".");
    if (section.empty() && net.name == "D") fail("checkpoint " + path + ": has no discriminator (trained with --loss l1?)");
    if (section.empty()) fail("checkpoint " + path + ": has no " + net.name + " (" + net_role(net.name) + ") entries");
    const std::string role = net.name == "G" || net.name == "D" ? net_role(net.name) : net.name;
    load_into(*net.module, section, path + " (" + role + ")");
  }
  // A run that has stepped has moments for every parameter; none at all is a missing section.
  const bool complete = resume && meta.total_iters > 0;
  for (const auto& opt : state.optimizers) {
    load_adam(checkpoint_section(all, opt.name + "."), *opt.optimizer, optimizer_params(state, opt), path, opt.name,
              complete);
  }
  if (state.trainer) *state.trainer = checkpoint_section(all, "trainer.");
  if (resume) {
    bool has_rng = false;
    for (const auto& [name, t] : all) has_rng = has_rng || name == "rng.cpu";
    if (!has_rng) fail("checkpoint " + path + ": the random-number state rng.cpu is missing, so the run cannot resume exactly");
    for (const auto& [name, t] : all) {
      if (name == "rng.cpu") {
        auto gen = at::detail::getDefaultCPUGenerator();
        std::lock_guard<std::mutex> lock(gen.mutex());
        gen.set_state(t);
      } else if (name == "rng.cuda" && torch::cuda::is_available()) {
        auto gen = at::globalContext().defaultGenerator(c10::Device(c10::kCUDA, 0));
        std::lock_guard<std::mutex> lock(gen.mutex());
        gen.set_state(t);
      }
    }
  }
  return meta;
}

TrainingState TrainingState::pix2pix(torch::nn::Module* G, torch::nn::Module* D, torch::optim::Optimizer* opt_G,
                                     torch::optim::Optimizer* opt_D) {
  TrainingState s;
  s.nets.push_back({"G", G});
  if (D) s.nets.push_back({"D", D});
  if (opt_G) s.optimizers.push_back({"opt_G", opt_G, {"G"}});
  if (opt_D && D) s.optimizers.push_back({"opt_D", opt_D, {"D"}});
  return s;
}

CheckpointMeta read_checkpoint_meta(const std::string& path) { return checkpoint_meta(read_state_dict(path), path); }

bool is_p2p_checkpoint(const std::string& path) { return is_p2p_checkpoint(read_state_dict(path)); }

bool is_p2p_checkpoint(const StateDict& file) {
  for (const auto& [name, t] : file) {
    if (name == "meta") return true;
  }
  return false;
}

StateDict checkpoint_section(const StateDict& all, const std::string& prefix) {
  StateDict out;
  for (const auto& [name, t] : all) {
    if (name.compare(0, prefix.size(), prefix) == 0) out.emplace_back(name.substr(prefix.size()), t);
  }
  return out;
}

}  // namespace p2p
