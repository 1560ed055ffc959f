// safetensors files (the Hugging Face format many deployment tools read): an 8-byte little-endian
// header length, a JSON header mapping each tensor's name to its dtype, shape and byte range, an optional
// "__metadata__" object of string pairs, then the raw little-endian tensor bytes. No code runs on load,
// unlike a pickle. Files written here carry a CRC-32C of their data bytes in the metadata
// (kDataChecksumKey), verified on read; files written elsewhere carry none.
#pragma once

#include "p2p/io/state_dict.h"

#include <map>
#include <string>

namespace p2p {

// The metadata key of the data checksum: CRC-32C (integrity.h) of every byte after the header, 8 hex digits.
inline constexpr const char* kDataChecksumKey = "pix2pix.data_crc32c";

struct Safetensors {
  StateDict tensors;                            // in file order of their data
  std::map<std::string, std::string> metadata;  // the header's "__metadata__"
  bool verified = false;  // read: the file carried kDataChecksumKey and its data matched it
};

// True when `path` starts like a safetensors file (a plausible header length, then '{').
bool is_safetensors_file(const std::string& path);

// What keeps `path` from being a safetensors file, in words ("its header length 2^60 does not fit the
// file (1234 bytes)"), or "" when its start is plausible; for messages about damaged files.
std::string safetensors_header_problem(const std::string& path);

// The header's "__metadata__" alone (no tensor data is read).
std::map<std::string, std::string> read_safetensors_metadata(const std::string& path);

// Reads and checks the whole file: a header that is not JSON, a dtype we do not read, a shape that does
// not match its byte range, ranges outside the data or overlapping, a truncated file, or data that does
// not match its recorded checksum throw p2p::Error naming the file and the tensor.
Safetensors read_safetensors(const std::string& path);

// Writes contiguous copies of the tensors (float32, float64, float16, bfloat16, int8..int64, uint8,
// bool), names in the order given, the header padded to 8 bytes, the data's checksum in the metadata
// (kDataChecksumKey, replacing any given); atomically.
void write_safetensors(const std::string& path, const Safetensors& file);

}  // namespace p2p
