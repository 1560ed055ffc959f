// safetensors reader and writer (see safetensors.h).
#include "p2p/io/safetensors.h"

#include "p2p/core/error.h"
#include "p2p/io/fs.h"
#include "p2p/io/integrity.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>

namespace p2p {

namespace {

constexpr uint64_t kMaxHeader = 100u << 20;  // the format's own limit on the JSON header

const std::vector<std::pair<std::string, at::ScalarType>>& dtypes() {
  static const std::vector<std::pair<std::string, at::ScalarType>> table = {
      {"F32", at::kFloat}, {"F64", at::kDouble}, {"F16", at::kHalf}, {"BF16", at::kBFloat16},
      {"I64", at::kLong},  {"I32", at::kInt},    {"I16", at::kShort}, {"I8", at::kChar},
      {"U8", at::kByte},   {"BOOL", at::kBool}};
  return table;
}

std::string tag_of(at::ScalarType type) {
  for (const auto& [t, dtype] : dtypes()) {
    if (dtype == type) return t;
  }
  return "";
}

uint64_t read_u64_le(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

}  // namespace

bool is_safetensors_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  unsigned char head[9];
  if (!in.read(reinterpret_cast<char*>(head), 9)) return false;
  const uint64_t n = read_u64_le(head);
  return n >= 2 && n <= kMaxHeader && head[8] == '{';
}

std::string safetensors_header_problem(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return "it cannot be opened";
  const uint64_t size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  unsigned char head[9] = {0};
  if (size < 9 || !in.read(reinterpret_cast<char*>(head), 9)) {
    return "it is " + std::to_string(size) + " bytes long, too short for a header length and a header";
  }
  const uint64_t n = read_u64_le(head);
  if (n > kMaxHeader || n > size - 8) {
    return "its header length " + std::to_string(n) + " (the first 8 bytes, little-endian) does not fit the file (" +
           std::to_string(size) + " bytes)";
  }
  if (n < 2) return "its header length " + std::to_string(n) + " is too small for a JSON object";
  if (head[8] != '{') {
    char found[8];
    std::snprintf(found, sizeof found, "0x%02x", head[8]);
    return std::string("its header does not start with '{' (byte 8 is ") + found + ")";
  }
  return "";
}

namespace {

// The JSON header of an open file of `size` bytes; leaves `in` at the first data byte.
nlohmann::json read_header(std::ifstream& in, uint64_t size, const std::string& path, uint64_t& n) {
  unsigned char head[8];
  if (size < 8 || !in.read(reinterpret_cast<char*>(head), 8)) fail(path + ": too short for a safetensors file");
  n = read_u64_le(head);
  if (n > kMaxHeader || n > size - 8) {
    fail(path + ": safetensors header length " + std::to_string(n) + " does not fit the file (" +
         std::to_string(size) + " bytes)");
  }
  std::string text(n, '\0');
  in.read(text.data(), static_cast<std::streamsize>(n));
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(text);
  } catch (const std::exception& e) {
    fail(path + ": safetensors header is not JSON: " + e.what());
  }
  if (!header.is_object()) fail(path + ": safetensors header is not a JSON object");
  return header;
}

std::map<std::string, std::string> metadata_of(const nlohmann::json& header, const std::string& path) {
  std::map<std::string, std::string> out;
  auto it = header.find("__metadata__");
  if (it == header.end()) return out;
  if (!it->is_object()) fail(path + ": __metadata__ must be an object of strings");
  for (const auto& [k, v] : it->items()) {
    if (!v.is_string()) fail(path + ": __metadata__ value '" + k + "' is not a string");
    out[k] = v.get<std::string>();
  }
  return out;
}

}  // namespace

std::map<std::string, std::string> read_safetensors_metadata(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) fail("cannot open " + path);
  const uint64_t size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  uint64_t n = 0;
  return metadata_of(read_header(in, size, path, n), path);
}

Safetensors read_safetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) fail("cannot open " + path);
  const uint64_t size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  uint64_t n = 0;
  const nlohmann::json header = read_header(in, size, path, n);
  const uint64_t data_size = size - 8 - n;
  std::vector<char> data(data_size);
  if (data_size > 0 && !in.read(data.data(), static_cast<std::streamsize>(data_size))) fail(path + ": truncated");

  Safetensors out;
  out.metadata = metadata_of(header, path);
  auto recorded = out.metadata.find(kDataChecksumKey);
  if (recorded != out.metadata.end()) {  // before any tensor: damaged data is named as such
    const std::string got = checksum_hex(crc32c(0, data.data(), data.size()));
    if (recorded->second != got) {
      fail(path + ": its tensor data does not match the checksum its header records (" + kDataChecksumKey + " " +
           recorded->second + ", the data hashes to " + got + "): the file was altered or damaged after it was "
           "written; export it again");
    }
    out.verified = true;
  }
  std::vector<std::tuple<uint64_t, uint64_t, std::string>> ranges;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") continue;
    const std::string where = path + ": tensor '" + name + "'";
    if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") || !entry.contains("data_offsets")) {
      fail(where + " needs dtype, shape and data_offsets");
    }
    const std::string dtype = entry["dtype"].is_string() ? entry["dtype"].get<std::string>() : "?";
    at::ScalarType type = at::kFloat;
    bool known = false;
    for (const auto& [tag, t] : dtypes()) {
      if (tag == dtype) type = t, known = true;
    }
    if (!known) fail(where + " has dtype " + dtype + ", which this reader does not take");
    std::vector<int64_t> shape;
    int64_t count = 1;
    for (const auto& d : entry["shape"]) {
      if (!d.is_number_unsigned()) fail(where + " has a shape that is not a list of sizes");
      shape.push_back(d.get<int64_t>());
      count *= shape.back();
    }
    const auto& off = entry["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned()) {
      fail(where + " has data_offsets that are not [begin, end]");
    }
    const uint64_t begin = off[0].get<uint64_t>(), end = off[1].get<uint64_t>();
    const uint64_t bytes = static_cast<uint64_t>(count) * c10::elementSize(type);
    if (end < begin || end > data_size || end - begin != bytes) {
      fail(where + ": bytes " + std::to_string(begin) + ".." + std::to_string(end) + " do not hold its shape " +
           c10::str(at::IntArrayRef(shape)) + " of " + dtype + " within the " + std::to_string(data_size) +
           " data bytes");
    }
    at::Tensor t = at::empty(shape, at::TensorOptions().dtype(type));
    if (bytes > 0) std::memcpy(t.data_ptr(), data.data() + begin, bytes);  // little-endian, as this machine
    ranges.emplace_back(begin, end, name);
    out.tensors.emplace_back(name, t);
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i) {
    if (std::get<0>(ranges[i]) < std::get<1>(ranges[i - 1])) {
      fail(path + ": tensors '" + std::get<2>(ranges[i - 1]) + "' and '" + std::get<2>(ranges[i]) + "' overlap");
    }
  }
  // Order by data offset: the order they were written in.
  std::map<std::string, uint64_t> at_byte;
  for (const auto& r : ranges) at_byte[std::get<2>(r)] = std::get<0>(r);
  std::stable_sort(out.tensors.begin(), out.tensors.end(),
                   [&](const auto& a, const auto& b) { return at_byte[a.first] < at_byte[b.first]; });
  return out;
}

void write_safetensors(const std::string& path, const Safetensors& file) {
  std::vector<at::Tensor> blobs;
  uint64_t offset = 0;
  std::set<std::string> names;
  for (const auto& [name, tensor] : file.tensors) {
    if (!names.insert(name).second) fail("safetensors: tensor name '" + name + "' appears twice");
    if (tag_of(tensor.scalar_type()).empty()) fail("safetensors: tensor '" + name + "' has a dtype the format does not hold");
    blobs.push_back(tensor.detach().to(at::kCPU).contiguous());
  }
  // The data section is the blobs back to back, so its checksum is known before the header is written.
  uint32_t crc = 0;
  for (const at::Tensor& c : blobs) crc = crc32c(crc, c.data_ptr(), static_cast<size_t>(c.nbytes()));
  std::map<std::string, std::string> metadata = file.metadata;
  metadata[kDataChecksumKey] = checksum_hex(crc);
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  header["__metadata__"] = metadata;
  for (size_t i = 0; i < blobs.size(); ++i) {
    const at::Tensor& c = blobs[i];
    const uint64_t bytes = static_cast<uint64_t>(c.nbytes());
    header[file.tensors[i].first] = {{"dtype", tag_of(c.scalar_type())}, {"shape", c.sizes().vec()},
                                     {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  while ((8 + text.size()) % 8 != 0) text.push_back(' ');
  write_atomically(path, [&](const std::string& tmp) {
    std::ofstream out(tmp, std::ios::binary);
    unsigned char len[8];
    for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>((text.size() >> (8 * i)) & 0xff);
    out.write(reinterpret_cast<const char*>(len), 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const at::Tensor& c : blobs) {
      out.write(static_cast<const char*>(c.data_ptr()), static_cast<std::streamsize>(c.numel() * c.element_size()));
    }
    out.flush();
    if (!out) fail("cannot write " + tmp);
  });
}

}  // namespace p2p
