// safetensors files (the Hugging Face format many deployment tools read): an 8-byte little-endian
// header length, a JSON header mapping each tensor's name to its dtype, shape and byte range, an optional
// "__metadata__" object of string pairs, then the raw little-endian tensor bytes. No code runs on load,
// unlike a pickle.
#pragma once

#include "p2p/io/state_dict.h"

#include <map>
#include <string>

namespace p2p {

struct Safetensors {
  StateDict tensors;                            // in file order of their data
  std::map<std::string, std::string> metadata;  // the header's "__metadata__"
};

// True when `path` starts like a safetensors file (a plausible header length, then '{').
bool is_safetensors_file(const std::string& path);

// Reads and checks the whole file: a header that is not JSON, a dtype we do not read, a shape that does
// not match its byte range, ranges outside the data or overlapping, or a truncated file throw p2p::Error
// naming the file and the tensor.
Safetensors read_safetensors(const std::string& path);

// Writes contiguous copies of the tensors (float32, float64, float16, bfloat16, int8..int64, uint8,
// bool), names in the order given, the header padded to 8 bytes; atomically.
void write_safetensors(const std::string& path, const Safetensors& file);

}  // namespace p2p
