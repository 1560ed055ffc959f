// .npy / .npz reading and writing (see npz.h). The zip side is read here rather than with zip_index.h:
// an .npz has no archive folder, may be deflated (savez_compressed), and Python's zipfile writes ZIP64
// extra fields into every local header (numpy opens entries with force_zip64). Sizes and offsets are
// taken from the central directory; the local header only tells where the data starts.
#include "p2p/io/npz.h"

#include "p2p/core/error.h"
#include "p2p/io/fs.h"
#include "p2p/io/zip_index.h"

#include <ATen/ATen.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

namespace p2p {
namespace {

constexpr char kMagic[] = "\x93NUMPY";  // 6 bytes
constexpr uint32_t kLocalSig = 0x04034b50, kCentralSig = 0x02014b50, kEndSig = 0x06054b50;
constexpr uint32_t kEnd64Sig = 0x06064b50, kLocator64Sig = 0x07064b50;
constexpr uint64_t kMax32 = 0xFFFFFFFFu;

// ---- dtypes -------------------------------------------------------------------------------------

struct Dtype {
  char kind;  // f, i, u, b
  int size;
  at::ScalarType type;
};

const Dtype kDtypes[] = {{'f', 2, at::kHalf}, {'f', 4, at::kFloat}, {'f', 8, at::kDouble}, {'i', 1, at::kChar},
                         {'i', 2, at::kShort}, {'i', 4, at::kInt},   {'i', 8, at::kLong},   {'u', 1, at::kByte},
                         {'b', 1, at::kBool}};

std::string descr_of(at::ScalarType type) {
  for (const Dtype& d : kDtypes) {
    if (d.type == type) return std::string(d.size == 1 ? "|" : "<") + d.kind + std::to_string(d.size);
  }
  fail(std::string("cannot write dtype ") + c10::toString(type) +
       " to .npy (float16/32/64, int8..int64, uint8 and bool are written)");
}

// ---- .npy header ----------------------------------------------------------------------------------

// The value after 'key': in numpy's header dict, as raw text up to the next top-level ',' or '}'.
std::string header_value(const std::string& header, const std::string& key, const std::string& what) {
  size_t at = std::string::npos;
  for (const char* q : {"'", "\""}) {
    at = header.find(q + key + q);
    if (at != std::string::npos) {
      at += key.size() + 2;
      break;
    }
  }
  if (at == std::string::npos) fail(what + ": the .npy header has no '" + key + "' (header: " + header + ")");
  at = header.find(':', at);
  if (at == std::string::npos) fail(what + ": malformed .npy header: " + header);
  ++at;
  int depth = 0;
  size_t end = at;
  for (; end < header.size(); ++end) {
    const char c = header[end];
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (depth == 0 && (c == ',' || c == '}')) break;
  }
  std::string v = header.substr(at, end - at);
  const auto b = v.find_first_not_of(" \t");
  return b == std::string::npos ? "" : v.substr(b, v.find_last_not_of(" \t") - b + 1);
}

struct NpyHeader {
  Dtype dtype;
  bool big_endian = false;
  bool fortran = false;
  std::vector<int64_t> shape;
};

NpyHeader parse_header(const std::string& header, const std::string& what) {
  NpyHeader h;
  std::string descr = header_value(header, "descr", what);
  if (descr.size() < 2 || (descr.front() != '\'' && descr.front() != '"') || descr.back() != descr.front()) {
    fail(what + ": unsupported dtype " + descr + " (structured or object arrays are not read)");
  }
  descr = descr.substr(1, descr.size() - 2);
  const bool ok_order = descr.size() >= 3 && (descr[0] == '<' || descr[0] == '>' || descr[0] == '|' || descr[0] == '=');
  bool found = false;
  if (ok_order) {
    for (const Dtype& d : kDtypes) {
      if (descr.substr(1) == std::string(1, d.kind) + std::to_string(d.size)) {
        h.dtype = d;
        found = true;
      }
    }
  }
  if (!found) {
    fail(what + ": unsupported dtype '" + descr +
         "' (read: float16/32/64, int8..int64, uint8, bool; object arrays are refused)");
  }
  h.big_endian = descr[0] == '>';
  const std::string fortran = header_value(header, "fortran_order", what);
  if (fortran != "True" && fortran != "False") fail(what + ": fortran_order is '" + fortran + "', not True/False");
  h.fortran = fortran == "True";
  const std::string shape = header_value(header, "shape", what);
  if (shape.size() < 2 || shape.front() != '(' || shape.back() != ')') fail(what + ": malformed shape " + shape);
  std::stringstream items(shape.substr(1, shape.size() - 2));
  for (std::string item; std::getline(items, item, ',');) {
    item.erase(std::remove_if(item.begin(), item.end(), [](unsigned char c) { return std::isspace(c); }), item.end());
    if (item.empty()) continue;  // the trailing comma of a 1-tuple
    if (item.find_first_not_of("0123456789") != std::string::npos || item.size() > 15) {
      fail(what + ": malformed shape " + shape);
    }
    h.shape.push_back(std::stoll(item));
  }
  return h;
}

// ---- zip ------------------------------------------------------------------------------------------

uint64_t le(const unsigned char* p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
}

void put(std::string& out, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

struct Entry {
  std::string name;
  uint16_t flags = 0, method = 0;
  uint32_t crc = 0;
  uint64_t csize = 0, usize = 0, offset = 0;
};

class ZipFile {
 public:
  explicit ZipFile(const std::string& path) : path_(path), in_(path, std::ios::binary) {
    if (!in_) fail(path + ": cannot open (expected an .npz file, as numpy.savez writes)");
    in_.seekg(0, std::ios::end);
    size_ = static_cast<uint64_t>(in_.tellg());
  }

  std::string read(uint64_t offset, uint64_t n, const std::string& what) {
    if (offset > size_ || n > size_ - offset) damaged(what + " lies beyond the end of the file");
    std::string buf(n, '\0');
    in_.seekg(static_cast<std::streamoff>(offset));
    in_.read(buf.data(), static_cast<std::streamsize>(n));
    if (static_cast<uint64_t>(in_.gcount()) != n) damaged("cannot read " + what);
    return buf;
  }

  [[noreturn]] void damaged(const std::string& what) const {
    fail(path_ + ": not a readable .npz file (" + what + ") — expected a zip of .npy arrays as numpy.savez or "
         "numpy.savez_compressed writes");
  }

  std::vector<Entry> entries() {
    if (size_ < 22) damaged("too short for a zip archive");
    const uint64_t tail = std::min<uint64_t>(size_, 22 + 65535);
    const std::string t = read(size_ - tail, tail, "the end of the archive");
    const auto* u = reinterpret_cast<const unsigned char*>(t.data());
    int64_t end = -1;
    for (int64_t i = static_cast<int64_t>(tail) - 22; i >= 0; --i) {
      if (le(u + i, 4) == kEndSig && static_cast<uint64_t>(i) + 22 + le(u + i + 20, 2) == tail) {
        end = i;
        break;
      }
    }
    if (end < 0) damaged("no end-of-directory record");
    const unsigned char* e = u + end;
    uint64_t count = le(e + 10, 2), cd_size = le(e + 12, 4), cd_offset = le(e + 16, 4);
    if (count == 0xFFFF || cd_size == kMax32 || cd_offset == kMax32) {
      const uint64_t end_offset = size_ - tail + static_cast<uint64_t>(end);
      if (end_offset < 20) damaged("ZIP64 locator missing");
      const std::string loc = read(end_offset - 20, 20, "the ZIP64 locator");
      const auto* l = reinterpret_cast<const unsigned char*>(loc.data());
      if (le(l, 4) != kLocator64Sig) damaged("ZIP64 locator missing");
      const std::string e64s = read(le(l + 8, 8), 56, "the ZIP64 end record");
      const auto* e64 = reinterpret_cast<const unsigned char*>(e64s.data());
      if (le(e64, 4) != kEnd64Sig) damaged("ZIP64 end record missing");
      count = le(e64 + 32, 8);
      cd_size = le(e64 + 40, 8);
      cd_offset = le(e64 + 48, 8);
    }
    if (count > cd_size / 46 + 1) damaged("entry count does not fit the directory");
    const std::string cds = read(cd_offset, cd_size, "the central directory");
    const auto* cd = reinterpret_cast<const unsigned char*>(cds.data());
    std::vector<Entry> out;
    size_t i = 0;
    for (uint64_t k = 0; k < count; ++k) {
      if (i + 46 > cds.size() || le(cd + i, 4) != kCentralSig) damaged("central directory entry " + std::to_string(k));
      const unsigned char* h = cd + i;
      Entry en;
      en.flags = static_cast<uint16_t>(le(h + 8, 2));
      en.method = static_cast<uint16_t>(le(h + 10, 2));
      en.crc = static_cast<uint32_t>(le(h + 16, 4));
      en.csize = le(h + 20, 4);
      en.usize = le(h + 24, 4);
      en.offset = le(h + 42, 4);
      const size_t name_len = le(h + 28, 2), extra_len = le(h + 30, 2), comment_len = le(h + 32, 2);
      if (i + 46 + name_len + extra_len + comment_len > cds.size()) {
        damaged("central directory entry " + std::to_string(k));
      }
      en.name.assign(reinterpret_cast<const char*>(h + 46), name_len);
      apply_zip64(h + 46 + name_len, extra_len, en);
      out.push_back(std::move(en));
      i += 46 + name_len + extra_len + comment_len;
    }
    return out;
  }

  // The entry's uncompressed bytes, checked against its size and CRC-32.
  std::string data(const Entry& en) {
    if (en.flags & 0x01) damaged("entry " + en.name + " is encrypted");
    const std::string h = read(en.offset, 30, "the local header of " + en.name);
    const auto* l = reinterpret_cast<const unsigned char*>(h.data());
    if (le(l, 4) != kLocalSig) damaged("local header of " + en.name + " not found");
    const uint64_t start = en.offset + 30 + le(l + 26, 2) + le(l + 28, 2);
    std::string raw = read(start, en.csize, "the data of " + en.name);
    std::string out;
    if (en.method == 0) {
      out = std::move(raw);
    } else if (en.method == 8) {
      out = inflate_raw(raw, en);
    } else {
      damaged("entry " + en.name + " uses compression method " + std::to_string(en.method) +
              " (stored and deflated entries are read)");
    }
    if (out.size() != en.usize) {
      damaged("entry " + en.name + " has " + std::to_string(out.size()) + " bytes, the directory says " +
              std::to_string(en.usize));
    }
    if (crc32_of(out.data(), out.size()) != en.crc) damaged("entry " + en.name + " fails its CRC-32 check");
    return out;
  }

 private:
  void apply_zip64(const unsigned char* extra, size_t n, Entry& en) {
    for (size_t i = 0; i + 4 <= n;) {
      const uint16_t id = static_cast<uint16_t>(le(extra + i, 2));
      const size_t len = le(extra + i + 2, 2);
      if (i + 4 + len > n) damaged("extra field of " + en.name + " overruns its header");
      if (id == 0x0001) {
        size_t at = i + 4;
        for (uint64_t* field : {&en.usize, &en.csize, &en.offset}) {
          if (*field != kMax32) continue;
          if (at + 8 > i + 4 + len) damaged("ZIP64 field of " + en.name + " is too short");
          *field = le(extra + at, 8);
          at += 8;
        }
      }
      i += 4 + len;
    }
  }

  std::string inflate_raw(const std::string& in, const Entry& en) {
    std::string out(en.usize, '\0');
    z_stream s{};
    if (inflateInit2(&s, -MAX_WBITS) != Z_OK) damaged("zlib cannot start inflating " + en.name);
    int rc = Z_OK;
    size_t in_at = 0, out_at = 0;
    // zlib counts in uInt: feed and drain in chunks so entries over 4 GiB work too.
    while (rc == Z_OK) {
      const size_t in_chunk = std::min<size_t>(in.size() - in_at, 1u << 30);
      const size_t out_chunk = std::min<size_t>(out.size() - out_at, 1u << 30);
      s.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data() + in_at));
      s.avail_in = static_cast<uInt>(in_chunk);
      s.next_out = reinterpret_cast<Bytef*>(out.data() + out_at);
      s.avail_out = static_cast<uInt>(out_chunk);
      rc = inflate(&s, Z_NO_FLUSH);
      in_at += in_chunk - s.avail_in;
      out_at += out_chunk - s.avail_out;
      if (rc == Z_OK && s.avail_in == in_chunk && s.avail_out == out_chunk) rc = Z_BUF_ERROR;  // no progress
    }
    inflateEnd(&s);
    if (rc != Z_STREAM_END) damaged("the deflated data of " + en.name + " is corrupt or truncated");
    out.resize(out_at);
    return out;
  }

  std::string path_;
  std::ifstream in_;
  uint64_t size_ = 0;
};

std::string slurp(const std::string& path, const std::string& expected) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path + ": cannot open (expected " + expected + ")");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

at::Tensor parse_npy(const std::string& bytes, const std::string& what) {
  if (bytes.size() < 10 || bytes.compare(0, 6, kMagic, 6) != 0) {
    fail(what + ": not an .npy array (no \\x93NUMPY magic)");
  }
  const auto* u = reinterpret_cast<const unsigned char*>(bytes.data());
  const int major = u[6];
  if (major < 1 || major > 3) fail(what + ": .npy format version " + std::to_string(major) + " is not read (1-3 are)");
  const size_t len_bytes = major == 1 ? 2 : 4;
  if (bytes.size() < 8 + len_bytes) fail(what + ": truncated .npy header");
  const uint64_t header_len = le(u + 8, static_cast<int>(len_bytes));
  const uint64_t data_at = 8 + len_bytes + header_len;
  if (data_at > bytes.size()) fail(what + ": truncated .npy header");
  const NpyHeader h = parse_header(bytes.substr(8 + len_bytes, header_len), what);

  std::vector<int64_t> shape = h.shape;
  if (h.fortran) std::reverse(shape.begin(), shape.end());
  int64_t count = 1;
  for (int64_t d : shape) {
    if (d != 0 && count > (int64_t{1} << 50) / d) fail(what + ": the shape is implausibly large");
    count *= d;
  }
  const uint64_t nbytes = static_cast<uint64_t>(count) * static_cast<uint64_t>(h.dtype.size);
  if (bytes.size() - data_at != nbytes) {
    fail(what + ": the array holds " + std::to_string(bytes.size() - data_at) + " bytes of data, its header (" +
         std::to_string(count) + " elements of " + std::to_string(h.dtype.size) + " bytes) says " +
         std::to_string(nbytes) + " — the file is truncated or damaged");
  }
  at::Tensor t = at::empty(shape, at::TensorOptions().dtype(h.dtype.type));
  if (nbytes) std::memcpy(t.data_ptr(), bytes.data() + data_at, nbytes);
  if (h.big_endian && h.dtype.size > 1) {
    auto* p = static_cast<unsigned char*>(t.data_ptr());
    for (int64_t i = 0; i < count; ++i) std::reverse(p + i * h.dtype.size, p + (i + 1) * h.dtype.size);
  }
  if (h.dtype.type == at::kBool) {  // numpy bools are bytes 0/1; anything else would be undefined in C++
    const auto* p = static_cast<const unsigned char*>(t.data_ptr());
    if (std::any_of(p, p + count, [](unsigned char c) { return c > 1; })) {
      fail(what + ": a bool array holds bytes other than 0 and 1");
    }
  }
  if (h.fortran && shape.size() > 1) {
    std::vector<int64_t> perm(shape.size());
    for (size_t i = 0; i < perm.size(); ++i) perm[i] = static_cast<int64_t>(perm.size() - 1 - i);
    t = t.permute(perm).contiguous();
  }
  return t;
}

std::string format_npy(const at::Tensor& array) {
  const at::Tensor t = array.detach().to(at::kCPU).contiguous();
  // numpy's spelling of the shape tuple: "()", "(2048,)", "(2048, 2048)".
  std::string shape;
  for (int64_t d = 0; d < t.dim(); ++d) shape += (d ? ", " : "") + std::to_string(t.size(d));
  if (t.dim() == 1) shape += ",";
  std::string header =
      "{'descr': '" + descr_of(t.scalar_type()) + "', 'fortran_order': False, 'shape': (" + shape + "), }";
  // Version 1.0 while the header fits 16 bits; the data starts on a 64-byte boundary, as numpy pads it.
  const bool v1 = header.size() + 1 + 10 < 65536;
  const size_t prefix = v1 ? 10 : 12;
  const size_t total = (prefix + header.size() + 1 + 63) / 64 * 64;
  header.append(total - prefix - header.size() - 1, ' ');
  header += '\n';
  std::string out(kMagic, 6);
  out.push_back(static_cast<char>(v1 ? 1 : 2));
  out.push_back(0);
  put(out, header.size(), v1 ? 2 : 4);
  out += header;
  const size_t nbytes = static_cast<size_t>(t.numel()) * t.element_size();
  const size_t at = out.size();
  out.resize(at + nbytes);
  if (nbytes) std::memcpy(out.data() + at, t.data_ptr(), nbytes);
  return out;
}

at::Tensor read_npy(const std::string& path) { return parse_npy(slurp(path, "an .npy array"), path); }

void write_npy(const std::string& path, const at::Tensor& array) {
  const std::string bytes = format_npy(array);
  write_atomically(path, [&](const std::string& tmp) {
    std::ofstream out(tmp, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) fail(path + ": cannot write");
  }, /*durable=*/false);
}

NpzArrays read_npz(const std::string& path) {
  ZipFile zip(path);
  NpzArrays out;
  for (const Entry& en : zip.entries()) {
    const std::string suffix = ".npy";
    if (en.name.size() <= suffix.size() ||
        en.name.compare(en.name.size() - suffix.size(), suffix.size(), suffix) != 0) {
      zip.damaged("entry " + en.name + " is not an .npy array");
    }
    out.emplace_back(en.name.substr(0, en.name.size() - suffix.size()),
                     parse_npy(zip.data(en), path + ": entry " + en.name));
  }
  return out;
}

void write_npz(const std::string& path, const NpzArrays& arrays) {
  std::set<std::string> names;
  for (const auto& [name, array] : arrays) {
    if (name.empty() || !names.insert(name).second) {
      fail(path + ": array names must be non-empty and unique ('" + name + "')");
    }
    descr_of(array.scalar_type());  // refuse an unwritable dtype before anything is written
  }
  write_atomically(path, [&](const std::string& tmp) {
    std::ofstream out(tmp, std::ios::binary);
    std::string central;
    uint64_t offset = 0;
    // 1980-01-01 00:00 (DOS date 0 is not a valid date): the statistics' content, not the clock, matters.
    const uint16_t dos_time = 0, dos_date = (0 << 9) | (1 << 5) | 1;
    for (const auto& [name, array] : arrays) {
      const std::string file = name + ".npy";
      const std::string data = format_npy(array);
      if (data.size() >= kMax32 || offset >= kMax32) {
        fail(path + ": array " + name + " makes the .npz larger than 4 GiB, which needs ZIP64 (not written)");
      }
      const uint32_t crc = crc32_of(data.data(), data.size());
      std::string local;
      put(local, kLocalSig, 4);
      put(local, 20, 2);  // version needed: 2.0
      put(local, 0, 2);   // flags
      put(local, 0, 2);   // stored
      put(local, dos_time, 2);
      put(local, dos_date, 2);
      put(local, crc, 4);
      put(local, data.size(), 4);
      put(local, data.size(), 4);
      put(local, file.size(), 2);
      put(local, 0, 2);
      local += file;
      out.write(local.data(), static_cast<std::streamsize>(local.size()));
      out.write(data.data(), static_cast<std::streamsize>(data.size()));
      put(central, kCentralSig, 4);
      put(central, 20, 2);  // made by: 2.0, MS-DOS attributes
      put(central, 20, 2);
      put(central, 0, 2);
      put(central, 0, 2);
      put(central, dos_time, 2);
      put(central, dos_date, 2);
      put(central, crc, 4);
      put(central, data.size(), 4);
      put(central, data.size(), 4);
      put(central, file.size(), 2);
      put(central, 0, 2);  // extra
      put(central, 0, 2);  // comment
      put(central, 0, 2);  // disk
      put(central, 0, 2);  // internal attributes
      put(central, 0, 4);  // external attributes
      put(central, offset, 4);
      central += file;
      offset += local.size() + data.size();
    }
    if (offset >= kMax32) fail(path + ": the .npz would be larger than 4 GiB, which needs ZIP64 (not written)");
    std::string end;
    put(end, kEndSig, 4);
    put(end, 0, 2);
    put(end, 0, 2);
    put(end, arrays.size(), 2);
    put(end, arrays.size(), 2);
    put(end, central.size(), 4);
    put(end, offset, 4);
    put(end, 0, 2);
    out.write(central.data(), static_cast<std::streamsize>(central.size()));
    out.write(end.data(), static_cast<std::streamsize>(end.size()));
    out.flush();
    if (!out) fail(path + ": cannot write (disk full?)");
  }, /*durable=*/false);
}

const at::Tensor& npz_get(const NpzArrays& arrays, const std::string& name, const std::string& source) {
  std::string present;
  for (const auto& [n, t] : arrays) {
    if (n == name) return t;
    present += (present.empty() ? "" : ", ") + n;
  }
  fail(source + ": no array '" + name + "' (the file holds: " + (present.empty() ? "nothing" : present) + ")");
}

}  // namespace p2p
