// The table of contents of a zip archive (the container of torch.save files written by PyTorch >= 1.6
// and of our checkpoints), read from its central directory and checked against every local header.
// LibTorch's zip reader does not verify CRC-32s, so a flipped byte in a tensor would load silently;
// with this index each record's bytes are checked against the CRC-32 the writer stored.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

namespace p2p {

struct ZipEntry {
  std::string full_name;  // as stored, e.g. "archive/data/0"
  uint32_t crc32 = 0;
  uint64_t size = 0;      // uncompressed bytes
  bool verified = false;  // set by verify_zip_entry
};

// Entries keyed by their name inside the archive folder ("data.pkl", "data/0"), as LibTorch's reader
// names records. Throws p2p::Error naming `path` when the directory or a local header is damaged, or
// when an entry lies outside the archive folder.
std::map<std::string, ZipEntry> read_zip_index(const std::string& path);

// Checks `n` bytes read for `entry` against its stored size and CRC-32; throws p2p::Error naming `path`
// and the entry on a mismatch.
void verify_zip_entry(ZipEntry& entry, const void* data, size_t n, const std::string& path);

// CRC-32 (the zip polynomial) of a buffer of any length.
uint32_t crc32_of(const void* data, size_t n);

}  // namespace p2p
