// The pickle half of PyTorch's checkpoint formats, kept apart from the containers so it can be read on
// its own. Only what torch.save(state_dict) emits is understood: an OrderedDict (or dict) from names to
// tensors rebuilt by torch._utils._rebuild_tensor_v2 (or the pre-0.4 _rebuild_tensor) over typed
// storages. Anything else is refused rather than guessed at.
//   zip format (PyTorch >= 1.6): data.pkl, storages in records data/<key>, persistent ids
//     ('storage', torch.<T>Storage, key, location, numel)
//   legacy format (PyTorch <= 1.5, e.g. the reference's published models): one stream of pickles —
//     magic number, protocol version 1001, sys info, the state dict with persistent ids
//     ('storage', torch.<T>Storage, root_key, location, numel, view_metadata), the list of storage
//     keys — then each storage as a little-endian uint64 element count and its raw bytes.
// Parsing yields tensor *specs* (storage key, offset, sizes, strides) checked against the declared
// storage sizes; materialize() turns them into tensors once the storages' bytes are at hand.
#pragma once

#include "p2p/io/state_dict.h"

#include <c10/core/ScalarType.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace p2p::detail {

struct StorageDecl {
  at::ScalarType dtype = at::ScalarType::Undefined;
  int64_t numel = 0;  // elements
};

struct TensorSpec {
  std::string storage;  // key of the root storage
  int64_t offset = 0;   // in elements, from the root storage's start
  std::vector<int64_t> sizes, strides;
};

struct PickledDict {
  std::vector<std::pair<std::string, TensorSpec>> tensors;  // file order
  std::map<std::string, StorageDecl> storages;              // every storage the tensors use
};

// Parses a zip-format data.pkl. Errors throw p2p::Error starting with `source`.
PickledDict unpickle_zip_state_dict(const char* data, size_t size, const std::string& source);

// True when `head` (the first bytes of a file) starts like a legacy torch.save stream.
bool is_legacy_stream(const char* head, size_t n);

struct LegacyStream {
  PickledDict dict;
  std::vector<std::string> storage_keys;  // in the order their bytes follow
  size_t storages_begin = 0;              // offset of the first storage's element count
};
// Parses the pickles of a legacy stream (checks the magic number, protocol version and byte order).
LegacyStream unpickle_legacy_stream(const char* data, size_t size, const std::string& source);

// Tensors of `dict` over the flat 1-d `storages` (by key), each contiguous and owning its memory (views
// of one storage are copied apart).
StateDict materialize(const PickledDict& dict, const std::map<std::string, at::Tensor>& storages);

// Pickles `dict` as a protocol-2 OrderedDict whose i-th tensor lives in storage key std::to_string(i),
// each storage holding exactly that tensor's contiguous data.
std::string pickle_state_dict(const StateDict& dict);

// "Float" for kFloat ... as in torch.<Name>Storage; throws p2p::Error for dtypes the format lacks.
std::string storage_type_name(at::ScalarType dtype);

}  // namespace p2p::detail
