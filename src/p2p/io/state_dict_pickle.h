// The pickle half of PyTorch's zip checkpoint format (the `data.pkl` record), kept apart from the zip
// container so it can be read on its own. Only what torch.save(state_dict) emits is understood: an
// OrderedDict (or dict) from names to tensors rebuilt by torch._utils._rebuild_tensor_v2 over typed
// storages that live in separate records. Anything else is refused rather than guessed at.
#pragma once

#include "p2p/io/state_dict.h"

#include <c10/core/ScalarType.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

namespace p2p::detail {

// Returns the flat storage `key` (record data/<key>) as a 1-d CPU tensor of `numel` elements of `dtype`.
using StorageLoader = std::function<at::Tensor(const std::string& key, at::ScalarType dtype, int64_t numel)>;

// Parses a data.pkl. Tensors come back contiguous and owning their memory (views of one storage are
// copied apart). Errors throw p2p::Error starting with `source`.
StateDict unpickle_state_dict(const char* data, size_t size, const StorageLoader& load_storage,
                              const std::string& source);

// Pickles `dict` as a protocol-2 OrderedDict whose i-th tensor lives in storage key std::to_string(i),
// each storage holding exactly that tensor's contiguous data.
std::string pickle_state_dict(const StateDict& dict);

// "Float" for kFloat ... as in torch.<Name>Storage; throws p2p::Error for dtypes the format lacks.
std::string storage_type_name(at::ScalarType dtype);

}  // namespace p2p::detail
