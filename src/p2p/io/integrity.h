// Checks of tensor data read from files: the content hash the toolkit writes into its own files
// (safetensors metadata, checkpoint metadata) and verifies on load, and the finiteness of weights. Both
// are one cheap pass over the bytes: the hash uses the CPU's CRC-32C instruction where there is one, the
// finiteness check reads exponent bits without allocating, so checking every load costs little next to
// reading the file.
#pragma once

#include "p2p/io/state_dict.h"

#include <cstddef>
#include <cstdint>
#include <string>

namespace p2p {

// CRC-32C (Castagnoli, as in iSCSI, ext4 and Python's crc32c package) of `n` bytes, continuing from
// `crc` (0 to start).
uint32_t crc32c(uint32_t crc, const void* data, size_t n);

// "%08x" of a checksum, as stored in the files' metadata.
std::string checksum_hex(uint32_t crc);

// The content hash of a tensor: CRC-32C of its bytes (contiguous, host order: little-endian).
uint32_t tensor_crc32c(const at::Tensor& t);

// True when every value of a floating tensor is finite (other dtypes always are).
bool all_finite(const at::Tensor& t);

// The floating tensors of `dict` holding NaN or +-Inf, as one line ("2 of 58 tensors hold non-finite
// values: model.0.weight (3 NaN, 1 Inf of 3072 values), ..."); "" when all are finite.
std::string non_finite_report(const StateDict& dict);

// Throws p2p::Error "<source>: <non_finite_report> — <hint>" when a tensor is not finite.
void check_finite(const StateDict& dict, const std::string& source, const std::string& hint);

namespace detail {
uint32_t crc32c_portable(uint32_t crc, const void* data, size_t n);  // the table version, for tests
}  // namespace detail

}  // namespace p2p
