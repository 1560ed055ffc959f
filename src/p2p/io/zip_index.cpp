// Zip central directory and local headers (see zip_index.h). Only what torch.save archives use is
// accepted: one disk, stored or deflated entries, optional ZIP64 sizes and offsets, and PyTorch's
// alignment padding (an extra field "FB" filled with 'Z'), which is checked byte for byte so that a
// damaged padding byte is reported like any other damage.
#include "p2p/io/zip_index.h"

#include "p2p/core/error.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <vector>

namespace p2p {
namespace {

constexpr uint32_t kLocalSig = 0x04034b50, kCentralSig = 0x02014b50, kEndSig = 0x06054b50;
constexpr uint32_t kEnd64Sig = 0x06064b50, kLocator64Sig = 0x07064b50;
constexpr uint16_t kZip64Extra = 0x0001, kPaddingExtra = 0x4246;  // "FB", PyTorch's alignment padding

uint64_t le(const unsigned char* p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
}

class File {
 public:
  explicit File(const std::string& path) : path_(path), in_(path, std::ios::binary) {
    if (!in_) fail(path + ": cannot open");
    in_.seekg(0, std::ios::end);
    size_ = static_cast<uint64_t>(in_.tellg());
  }
  uint64_t size() const { return size_; }
  std::vector<unsigned char> read(uint64_t offset, uint64_t n, const char* what) {
    if (offset > size_ || n > size_ - offset) damaged(std::string(what) + " lies beyond the end of the file");
    std::vector<unsigned char> buf(n);
    in_.seekg(static_cast<std::streamoff>(offset));
    in_.read(reinterpret_cast<char*>(buf.data()), static_cast<std::streamsize>(n));
    if (static_cast<uint64_t>(in_.gcount()) != n) damaged(std::string("cannot read ") + what);
    return buf;
  }
  [[noreturn]] void damaged(const std::string& what) const {
    fail(path_ + ": the zip archive is damaged or truncated (" + what +
         ") — expected a PyTorch state_dict file (torch.save(net.state_dict()))");
  }

 private:
  std::string path_;
  std::ifstream in_;
  uint64_t size_ = 0;
};

struct Central {
  std::string name;
  uint16_t needed = 0, flags = 0, method = 0, time = 0, date = 0;
  uint32_t crc = 0;
  uint64_t csize = 0, usize = 0, offset = 0;
};

// Replaces 0xFFFFFFFF fields by their values from a ZIP64 extra field (in the order the format fixes).
void apply_zip64(const unsigned char* extra, size_t n, uint64_t* usize, uint64_t* csize, uint64_t* offset,
                 File& f, const std::string& name) {
  for (size_t i = 0; i + 4 <= n;) {
    const uint16_t id = static_cast<uint16_t>(le(extra + i, 2));
    const size_t len = static_cast<size_t>(le(extra + i + 2, 2));
    if (i + 4 + len > n) f.damaged("extra field of " + name + " overruns its header");
    if (id == kZip64Extra) {
      size_t at = i + 4;
      for (uint64_t* field : {usize, csize, offset}) {
        if (field == nullptr || *field != 0xFFFFFFFFu) continue;
        if (at + 8 > i + 4 + len) f.damaged("ZIP64 field of " + name + " is too short");
        *field = le(extra + at, 8);
        at += 8;
      }
    }
    i += 4 + len;
  }
}

std::vector<Central> read_central_directory(File& f) {
  // End of central directory: 22 bytes plus a comment of up to 65535 bytes at the end of the file.
  const uint64_t tail = std::min<uint64_t>(f.size(), 22 + 65535);
  if (f.size() < 22) f.damaged("too short for a zip archive");
  const std::vector<unsigned char> t = f.read(f.size() - tail, tail, "the end of the archive");
  int64_t end = -1;
  for (int64_t i = static_cast<int64_t>(tail) - 22; i >= 0; --i) {
    if (le(&t[i], 4) == kEndSig && i + 22 + le(&t[i + 20], 2) == tail) {
      end = i;
      break;
    }
  }
  if (end < 0) f.damaged("no end-of-directory record");
  const unsigned char* e = &t[end];
  uint64_t count = le(e + 10, 2), cd_size = le(e + 12, 4), cd_offset = le(e + 16, 4);
  if (le(e + 4, 2) != 0 || le(e + 6, 2) != 0 || le(e + 8, 2) != count) f.damaged("multi-disk archive");
  const uint64_t end_offset = f.size() - tail + static_cast<uint64_t>(end);
  if (count == 0xFFFF || cd_size == 0xFFFFFFFFu || cd_offset == 0xFFFFFFFFu) {
    if (end_offset < 20) f.damaged("ZIP64 locator missing");
    const std::vector<unsigned char> loc = f.read(end_offset - 20, 20, "the ZIP64 locator");
    if (le(loc.data(), 4) != kLocator64Sig) f.damaged("ZIP64 locator missing");
    const std::vector<unsigned char> e64 = f.read(le(loc.data() + 8, 8), 56, "the ZIP64 end record");
    if (le(e64.data(), 4) != kEnd64Sig) f.damaged("ZIP64 end record missing");
    count = le(e64.data() + 32, 8);
    cd_size = le(e64.data() + 40, 8);
    cd_offset = le(e64.data() + 48, 8);
  }
  if (count > cd_size / 46 + 1) f.damaged("entry count does not fit the directory");
  const std::vector<unsigned char> cd = f.read(cd_offset, cd_size, "the central directory");
  std::vector<Central> entries;
  size_t i = 0;
  for (uint64_t k = 0; k < count; ++k) {
    if (i + 46 > cd.size() || le(&cd[i], 4) != kCentralSig) f.damaged("central directory entry " + std::to_string(k));
    const unsigned char* h = &cd[i];
    Central c;
    c.needed = static_cast<uint16_t>(le(h + 6, 2));
    c.flags = static_cast<uint16_t>(le(h + 8, 2));
    c.method = static_cast<uint16_t>(le(h + 10, 2));
    c.time = static_cast<uint16_t>(le(h + 12, 2));
    c.date = static_cast<uint16_t>(le(h + 14, 2));
    c.crc = static_cast<uint32_t>(le(h + 16, 4));
    c.csize = le(h + 20, 4);
    c.usize = le(h + 24, 4);
    const size_t name_len = le(h + 28, 2), extra_len = le(h + 30, 2), comment_len = le(h + 32, 2);
    if (le(h + 34, 2) != 0) f.damaged("multi-disk archive");
    c.offset = le(h + 42, 4);
    if (i + 46 + name_len + extra_len + comment_len > cd.size()) f.damaged("central directory entry " + std::to_string(k));
    c.name.assign(reinterpret_cast<const char*>(h + 46), name_len);
    apply_zip64(h + 46 + name_len, extra_len, &c.usize, &c.csize, &c.offset, f, c.name);
    entries.push_back(std::move(c));
    i += 46 + name_len + extra_len + comment_len;
  }
  if (i != cd.size()) f.damaged("the central directory size does not match its entries");
  return entries;
}

// The local header must repeat the directory's facts; its extra fields may only be ZIP64 sizes and
// PyTorch's 'Z' padding.
void check_local_header(File& f, const Central& c) {
  const std::vector<unsigned char> h = f.read(c.offset, 30, ("the local header of " + c.name).c_str());
  if (le(h.data(), 4) != kLocalSig) f.damaged("local header of " + c.name + " not found");
  const size_t name_len = le(&h[26], 2), extra_len = le(&h[28], 2);
  const std::vector<unsigned char> rest =
      f.read(c.offset + 30, name_len + extra_len, ("the local header of " + c.name).c_str());
  uint64_t usize = le(&h[22], 4), csize = le(&h[18], 4);
  apply_zip64(rest.data() + name_len, extra_len, &usize, &csize, nullptr, f, c.name);
  const bool descriptor = (c.flags & 0x08) != 0;  // sizes and CRC follow the data instead
  const bool same = le(&h[4], 2) == c.needed && le(&h[6], 2) == c.flags && le(&h[8], 2) == c.method &&
                    le(&h[10], 2) == c.time && le(&h[12], 2) == c.date &&
                    std::string(reinterpret_cast<const char*>(rest.data()), name_len) == c.name &&
                    (descriptor || (le(&h[14], 4) == c.crc && usize == c.usize && csize == c.csize));
  if (!same) f.damaged("the local header of " + c.name + " disagrees with the central directory");
  for (size_t i = name_len; i + 4 <= rest.size();) {
    const uint16_t id = static_cast<uint16_t>(le(&rest[i], 2));
    const size_t len = le(&rest[i + 2], 2);
    if (id == kPaddingExtra &&
        !std::all_of(rest.begin() + i + 4, rest.begin() + i + 4 + len, [](unsigned char b) { return b == 'Z'; })) {
      f.damaged("alignment padding of " + c.name + " was altered");
    }
    if (id != kPaddingExtra && id != kZip64Extra) f.damaged("unexpected extra field in " + c.name);
    i += 4 + len;
  }
  if (c.offset + 30 + name_len + extra_len + c.csize > f.size()) f.damaged("data of " + c.name + " is cut off");
}

}  // namespace

std::map<std::string, ZipEntry> read_zip_index(const std::string& path) {
  File f(path);
  std::map<std::string, ZipEntry> index;
  std::string folder;
  for (const Central& c : read_central_directory(f)) {
    check_local_header(f, c);
    const size_t slash = c.name.find('/');
    if (slash == std::string::npos) f.damaged("entry " + c.name + " is outside the archive folder");
    if (folder.empty()) folder = c.name.substr(0, slash + 1);
    if (c.name.compare(0, folder.size(), folder) != 0) {
      f.damaged("entry " + c.name + " is outside the archive folder " + folder);
    }
    ZipEntry e;
    e.full_name = c.name;
    e.crc32 = c.crc;
    e.size = c.usize;
    if (!index.emplace(c.name.substr(folder.size()), e).second) f.damaged("entry " + c.name + " appears twice");
  }
  return index;
}

uint32_t crc32_of(const void* data, size_t n) {
  uLong crc = crc32(0L, Z_NULL, 0);
  const auto* p = static_cast<const Bytef*>(data);
  while (n > 0) {  // zlib takes uInt lengths
    const uInt chunk = static_cast<uInt>(std::min<size_t>(n, 1u << 30));
    crc = crc32(crc, p, chunk);
    p += chunk;
    n -= chunk;
  }
  return static_cast<uint32_t>(crc);
}

void verify_zip_entry(ZipEntry& entry, const void* data, size_t n, const std::string& path) {
  if (n != entry.size) {
    fail(path + ": entry " + entry.full_name + " holds " + std::to_string(n) + " bytes but the directory says " +
         std::to_string(entry.size) + " — the file is damaged");
  }
  const uint32_t crc = crc32_of(data, n);
  if (crc != entry.crc32) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "CRC-32 %08x, stored %08x", crc, entry.crc32);
    fail(path + ": entry " + entry.full_name + " is damaged (" + buf + ") — the file was altered after it was written");
  }
  entry.verified = true;
}

}  // namespace p2p
