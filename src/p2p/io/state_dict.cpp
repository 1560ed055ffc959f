// Reference checkpoint files: the two containers of torch.save — the zip archive (read with LibTorch's
// PyTorchStreamReader, every record checked against its CRC-32) and the legacy stream of PyTorch <= 1.5 —
// the strict pickle in state_dict_pickle.cpp, and copying tensors into our modules by name. Our module
// names equal the reference's state_dict keys by construction (see src/p2p/models/networks.h), so no key
// mapping happens here: a mismatch is a user error, reported with the names and shapes involved.
#include "p2p/io/state_dict.h"

#include "p2p/core/error.h"
#include "p2p/io/fs.h"
#include "p2p/io/integrity.h"
#include "p2p/io/safetensors.h"
#include "p2p/io/state_dict_pickle.h"
#include "p2p/io/zip_index.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <caffe2/serialize/inline_container.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/instancenorm.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace p2p {
namespace {

const char* const kExpected = "a PyTorch state_dict file (torch.save(net.state_dict()), zip or legacy format)";

[[noreturn]] void bad_file(const std::string& path, const std::string& what) {
  fail(path + ": " + what + " — expected " + kExpected);
}

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

std::string shape_of(const at::Tensor& t) {
  std::ostringstream s;
  s << "[";
  for (int64_t d = 0; d < t.dim(); ++d) s << (d ? ", " : "") << t.size(d);
  s << "]";
  return s.str();
}

enum class Container { zip, legacy };

// Tells the two containers apart and refuses what the readers would report cryptically: missing,
// empty and unrelated files.
Container check_container(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) fail(path + ": no such file (expected " + kExpected + ")");
  if (!std::filesystem::is_regular_file(path, ec)) bad_file(path, "not a regular file");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path + ": cannot open: " + std::strerror(errno));
  char head[16] = {0};
  in.read(head, sizeof head);
  const size_t got = static_cast<size_t>(in.gcount());
  if (got == 0) bad_file(path, "the file is empty (0 bytes)");
  if (got >= 4 && std::memcmp(head, "PK\x03\x04", 4) == 0) return Container::zip;
  if (detail::is_legacy_stream(head, got)) return Container::legacy;
  if (static_cast<unsigned char>(head[0]) == 0x80) bad_file(path, "a pickle file without torch.save's legacy header");
  std::string ext = std::filesystem::path(path).extension().string();
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (ext == ".safetensors") {  // named as one, so that is the format it failed to be
    const std::string problem = safetensors_header_problem(path);
    fail(path + ": not a valid safetensors file: " + (problem.empty() ? "its header is damaged" : problem) +
         " (expected an 8-byte little-endian header length, then that many bytes of JSON)");
  }
  bad_file(path, "not a zip archive nor a legacy torch.save stream");
}

bool host_is_little_endian() {
  const uint16_t probe = 1;
  unsigned char first;
  std::memcpy(&first, &probe, 1);
  return first == 1;
}

at::Tensor flat_storage(const void* data, at::ScalarType dtype, int64_t numel) {
  at::Tensor flat = at::empty({numel}, at::TensorOptions().dtype(dtype));
  if (numel > 0) std::memcpy(flat.data_ptr(), data, static_cast<size_t>(flat.nbytes()));
  return flat;
}

StateDict read_zip(const std::string& path) {
  std::map<std::string, ZipEntry> index = read_zip_index(path);
  const bool torchscript = std::any_of(index.begin(), index.end(), [](const auto& e) {
    return e.first == "constants.pkl" || e.first.rfind("code/", 0) == 0;  // what torch.jit.save adds
  });
  if (torchscript) {
    fail(path + ": a TorchScript module (torch.jit.save, or p2p export --format torchscript), not a state_dict: "
         "it runs with torch.jit.load in Python or torch::jit::load in C++; --weights takes a pix2pix.cpp "
         "checkpoint, a reference *_net_G.pth or a p2p export .safetensors");
  }
  try {
    caffe2::serialize::PyTorchStreamReader reader(path);
    // Every record read is checked against the CRC-32 stored for it.
    auto record = [&](const std::string& name) {
      auto it = index.find(name);
      if (it == index.end()) bad_file(path, "the zip archive has no " + name + " record");
      auto [data, size] = reader.getRecord(name);
      verify_zip_entry(it->second, data.get(), size, path);
      return std::make_pair(std::move(data), size);
    };
    if (index.count("byteorder")) {  // written by newer PyTorch; absent means little-endian
      auto [order, n] = record("byteorder");
      std::string value(static_cast<const char*>(order.get()), n);
      if (value != "little") bad_file(path, "storages are stored " + value + "-endian");
    }
    auto [pickle, size] = record("data.pkl");
    const detail::PickledDict dict =
        detail::unpickle_zip_state_dict(static_cast<const char*>(pickle.get()), size, path);
    std::map<std::string, at::Tensor> storages;
    for (const auto& [key, decl] : dict.storages) {
      const std::string name = "data/" + key;
      if (!index.count(name)) bad_file(path, "storage record " + name + " is missing");
      auto [data, bytes] = record(name);
      const size_t item = c10::elementSize(decl.dtype);
      if (bytes % item != 0 || static_cast<uint64_t>(decl.numel) != bytes / item) {  // no overflow for any numel
        bad_file(path, "storage record " + name + " holds " + std::to_string(bytes) + " bytes but " +
                           std::to_string(decl.numel) + " elements of " + std::to_string(item) +
                           " bytes were expected");
      }
      storages.emplace(key, flat_storage(data.get(), decl.dtype, decl.numel));
    }
    for (auto& [name, entry] : index) {  // the rest (version, serialization id ...) must be intact too
      if (!entry.verified) record(name);
    }
    return detail::materialize(dict, storages);
  } catch (const c10::Error& e) {
    bad_file(path, "the zip container cannot be read (" + first_line(e.what_without_backtrace()) +
                       "); the file may be truncated or damaged");
  }
}

// Legacy stream: pickles, then each listed storage as a uint64 element count and its bytes, to the
// last byte of the file.
StateDict read_legacy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.eof() && in.fail()) fail(path + ": cannot read: " + std::strerror(errno));
  const detail::LegacyStream stream = detail::unpickle_legacy_stream(bytes.data(), bytes.size(), path);
  auto broken = [&](const std::string& what) { bad_file(path, "legacy torch.save stream: " + what); };
  size_t pos = stream.storages_begin;
  std::map<std::string, at::Tensor> storages;
  for (const std::string& key : stream.storage_keys) {
    const detail::StorageDecl& decl = stream.dict.storages.at(key);
    if (bytes.size() - pos < 8) broken("the file ends before storage " + key + " (truncated)");
    uint64_t count = 0;
    for (int i = 0; i < 8; ++i) count |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[pos + i])) << (8 * i);
    pos += 8;
    if (count != static_cast<uint64_t>(decl.numel)) {
      broken("storage " + key + " holds " + std::to_string(count) + " elements but the pickle declares " +
             std::to_string(decl.numel));
    }
    const size_t n = static_cast<size_t>(decl.numel) * c10::elementSize(decl.dtype);
    if (bytes.size() - pos < n) broken("the file ends inside storage " + key + " (truncated)");
    storages.emplace(key, flat_storage(bytes.data() + pos, decl.dtype, decl.numel));
    pos += n;
  }
  if (pos != bytes.size()) broken(std::to_string(bytes.size() - pos) + " bytes follow the last storage");
  return detail::materialize(stream.dict, storages);
}

}  // namespace

bool is_legacy_torch_save(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char head[16] = {0};
  in.read(head, sizeof head);
  return detail::is_legacy_stream(head, static_cast<size_t>(in.gcount()));
}

StateDict read_state_dict(const std::string& path) {
  const Container container = check_container(path);
  TORCH_CHECK(host_is_little_endian(), "state_dict files are only supported on little-endian hosts");
  return container == Container::zip ? read_zip(path) : read_legacy(path);
}

void write_state_dict(const std::string& path, const StateDict& dict) {
  std::set<std::string> names;
  std::vector<at::Tensor> tensors;
  for (const auto& [name, tensor] : dict) {
    TORCH_CHECK(tensor.defined(), "write_state_dict: tensor ", name, " is undefined");
    TORCH_CHECK(names.insert(name).second, "write_state_dict: name ", name, " appears twice");
    tensors.push_back(tensor.detach().to(at::kCPU).contiguous());
  }
  const std::string pickle = detail::pickle_state_dict(dict);

  // Written beside the target and renamed over it, so a crash never leaves a half-written checkpoint.
  write_atomically(path, [&](const std::string& tmp) {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) fail("cannot create " + tmp + " (while writing " + path + "): " + std::strerror(errno));
    try {
      // The callback never reports failure to the zip code (which would then throw from a
      // destructor); the stream's state is checked once the archive is complete.
      caffe2::serialize::PyTorchStreamWriter writer([&out](const void* buf, size_t n) -> size_t {
        out.write(static_cast<const char*>(buf), static_cast<std::streamsize>(n));
        return n;
      });
      writer.writeRecord("data.pkl", pickle.data(), pickle.size());
      writer.writeRecord("byteorder", "little", 6);
      for (size_t i = 0; i < tensors.size(); ++i) {
        writer.writeRecord("data/" + std::to_string(i), tensors[i].data_ptr(), tensors[i].nbytes());
      }
      writer.writeEndOfFile();
    } catch (const c10::Error& e) {
      fail("cannot write " + path + ": " + first_line(e.what_without_backtrace()));
    }
    out.close();
    if (!out) fail("cannot write " + path + " (disk full?)");
  });
}

namespace {
// Running statistics saved for InstanceNorm layers by old PyTorch releases (whose InstanceNorm kept
// them): the reference deletes them on load, because its InstanceNorm layers track none.
std::set<std::string> stale_instance_norm_keys(const torch::nn::Module& net, const StateDict& dict) {
  std::set<std::string> norms;
  for (const auto& m : net.named_modules(/*name_prefix=*/"", /*include_self=*/false)) {
    const auto* in = dynamic_cast<const torch::nn::InstanceNorm2dImpl*>(m.value().get());
    if (in != nullptr && !in->options.track_running_stats()) norms.insert(m.key() + ".");
  }
  std::set<std::string> stale;
  for (const auto& [name, tensor] : dict) {
    const size_t dot = name.rfind('.');
    if (dot == std::string::npos || !norms.count(name.substr(0, dot + 1))) continue;
    const std::string field = name.substr(dot + 1);
    if (field == "running_mean" || field == "running_var" || field == "num_batches_tracked") stale.insert(name);
  }
  return stale;
}
}  // namespace

void load_into(torch::nn::Module& net, const StateDict& dict, const std::string& source) {
  std::map<std::string, at::Tensor> targets;
  std::vector<std::string> order;
  for (auto& [name, tensor] : state_dict_of(net)) {
    targets.emplace(name, tensor);
    order.push_back(name);
  }
  const std::set<std::string> ignored = stale_instance_norm_keys(net, dict);
  // Check everything first: a failed load must not leave a half-loaded network behind.
  std::vector<std::string> mismatches, unexpected, missing;
  std::set<std::string> present;
  for (const auto& [name, tensor] : dict) {
    if (ignored.count(name)) continue;
    present.insert(name);
    auto it = targets.find(name);
    if (it == targets.end()) {
      unexpected.push_back(name);
    } else if (!tensor.defined() || tensor.sizes() != it->second.sizes()) {
      mismatches.push_back("tensor " + name + " has shape " + (tensor.defined() ? shape_of(tensor) : "undefined") +
                           " but the network expects " + shape_of(it->second));
    }
  }
  const std::string bn_counter = "num_batches_tracked";
  for (const std::string& name : order) {
    bool optional = name.size() >= bn_counter.size() &&
                    name.compare(name.size() - bn_counter.size(), bn_counter.size(), bn_counter) == 0;
    if (!present.count(name) && !optional) missing.push_back(name);
  }
  if (!mismatches.empty() || !missing.empty() || !unexpected.empty()) {
    auto list = [](const std::vector<std::string>& names) {
      std::string s;
      const size_t shown = 8;
      for (size_t i = 0; i < names.size() && i < shown; ++i) s += (i ? ", " : "") + names[i];
      if (names.size() > shown) s += ", ... (" + std::to_string(names.size()) + " in all)";
      return s;
    };
    std::string msg = "checkpoint " + source + " does not fit the network:";
    for (size_t i = 0; i < mismatches.size() && i < 8; ++i) msg += " " + mismatches[i] + ";";
    if (mismatches.size() > 8) msg += " ... (" + std::to_string(mismatches.size()) + " shape mismatches in all);";
    if (!missing.empty()) msg += " missing from the file: " + list(missing) + ";";
    if (!unexpected.empty()) msg += " not in the network: " + list(unexpected) + ";";
    fail(msg + " — was it trained with another --netG/--netD/--ngf/--ndf/--norm/--input_nc/--output_nc?");
  }
  // NaN or Inf weights give a black or blank image without any error: refused, naming them.
  StateDict used;
  for (const auto& entry : dict) {
    if (!ignored.count(entry.first)) used.push_back(entry);
  }
  check_finite(used, source, "the weights are unusable (saved from a diverged run, or damaged)");
  torch::NoGradGuard no_grad;
  for (const auto& [name, tensor] : dict) {
    if (!ignored.count(name)) targets.at(name).copy_(tensor);
  }
}

StateDict state_dict_of(const torch::nn::Module& net) {
  // PyTorch's order: a module's own parameters, then its buffers, then each child's, depth first.
  StateDict dict;
  auto add_own = [&dict](const torch::nn::Module& m, const std::string& prefix) {
    for (const auto& p : m.named_parameters(/*recurse=*/false)) {
      if (p.value().defined()) dict.emplace_back(prefix + p.key(), p.value().detach());
    }
    for (const auto& b : m.named_buffers(/*recurse=*/false)) {
      if (b.value().defined()) dict.emplace_back(prefix + b.key(), b.value().detach());
    }
  };
  add_own(net, "");
  for (const auto& child : net.named_modules(/*name_prefix=*/"", /*include_self=*/false)) {
    add_own(*child.value(), child.key() + ".");
  }
  return dict;
}

}  // namespace p2p
