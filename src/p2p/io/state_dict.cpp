// Reference checkpoint files: the zip container of torch.save (read and written with LibTorch's own
// PyTorchStreamReader/Writer), the strict pickle in state_dict_pickle.cpp, and copying tensors into our
// modules by name. Our module names equal the reference's state_dict keys by construction (see
// src/p2p/models/networks.h), so no key mapping happens here: a mismatch is a user error, reported
// with the names and shapes involved.
#include "p2p/io/state_dict.h"

#include "p2p/core/error.h"
#include "p2p/io/fs.h"
#include "p2p/io/state_dict_pickle.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <caffe2/serialize/inline_container.h>
#include <torch/nn/module.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace p2p {
namespace {

const char* const kExpected = "a PyTorch zip-format state_dict (torch.save(net.state_dict()))";

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

// Refuses what PyTorchStreamReader would report cryptically: missing, empty and non-zip files.
void check_container(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) fail(path + ": no such file (expected " + kExpected + ")");
  if (!std::filesystem::is_regular_file(path, ec)) bad_file(path, "not a regular file");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path + ": cannot open: " + std::strerror(errno));
  unsigned char magic[4] = {0, 0, 0, 0};
  in.read(reinterpret_cast<char*>(magic), 4);
  std::streamsize got = in.gcount();
  if (got == 0) bad_file(path, "the file is empty (0 bytes)");
  if (got == 4 && magic[0] == 'P' && magic[1] == 'K' && magic[2] == 3 && magic[3] == 4) return;
  if (magic[0] == 0x80) {
    bad_file(path, "this is a legacy (pre-1.6, non-zip) torch.save file; load and re-save it with "
                   "torch.save(torch.load(f), f) in PyTorch >= 1.6");
  }
  bad_file(path, "not a zip archive");
}

at::Tensor read_storage(caffe2::serialize::PyTorchStreamReader& reader, const std::string& path,
                        const std::string& key, at::ScalarType dtype, int64_t numel) {
  const std::string record = "data/" + key;
  if (!reader.hasRecord(record)) bad_file(path, "storage record " + record + " is missing");
  auto [data, size] = reader.getRecord(record);
  const size_t item = c10::elementSize(dtype);
  if (size % item != 0 || static_cast<uint64_t>(numel) != size / item) {  // no overflow for any numel
    bad_file(path, "storage record " + record + " holds " + std::to_string(size) + " bytes but " +
                       std::to_string(numel) + " elements of " + std::to_string(item) + " bytes were expected");
  }
  const size_t want = size;
  at::Tensor flat = at::empty({numel}, at::TensorOptions().dtype(dtype));
  if (want) std::memcpy(flat.data_ptr(), data.get(), want);
  return flat;
}

bool host_is_little_endian() {
  const uint16_t probe = 1;
  unsigned char first;
  std::memcpy(&first, &probe, 1);
  return first == 1;
}

}  // namespace

StateDict read_state_dict(const std::string& path) {
  check_container(path);
  TORCH_CHECK(host_is_little_endian(), "state_dict files are only supported on little-endian hosts");
  try {
    caffe2::serialize::PyTorchStreamReader reader(path);
    if (!reader.hasRecord("data.pkl")) bad_file(path, "the zip archive has no data.pkl record");
    if (reader.hasRecord("byteorder")) {  // written by newer PyTorch; absent means little-endian
      auto [order, n] = reader.getRecord("byteorder");
      std::string value(static_cast<const char*>(order.get()), n);
      if (value != "little") bad_file(path, "storages are stored " + value + "-endian");
    }
    auto [pickle, size] = reader.getRecord("data.pkl");
    auto load = [&](const std::string& key, at::ScalarType dtype, int64_t numel) {
      return read_storage(reader, path, key, dtype, numel);
    };
    return detail::unpickle_state_dict(static_cast<const char*>(pickle.get()), size, load, path);
  } catch (const c10::Error& e) {
    bad_file(path, "the zip container cannot be read (" + first_line(e.what_without_backtrace()) +
                       "); the file may be truncated or damaged");
  }
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

void load_into(torch::nn::Module& net, const StateDict& dict, const std::string& source) {
  std::map<std::string, at::Tensor> targets;
  std::vector<std::string> order;
  for (auto& [name, tensor] : state_dict_of(net)) {
    targets.emplace(name, tensor);
    order.push_back(name);
  }
  // Check everything first: a failed load must not leave a half-loaded network behind.
  std::vector<std::string> mismatches, unexpected, missing;
  std::set<std::string> present;
  for (const auto& [name, tensor] : dict) {
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
  torch::NoGradGuard no_grad;
  for (const auto& [name, tensor] : dict) targets.at(name).copy_(tensor);
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
