// TensorBoard event files (see tensorboard.h): record framing, CRC-32C and the few protobuf fields used.
#include "p2p/report/tensorboard.h"

#include "p2p/core/error.h"
#include "p2p/io/fs.h"

#include <nlohmann/json.hpp>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iterator>
#include <sstream>
#include <vector>

namespace fs = std::filesystem;

namespace p2p {

namespace {

// Protobuf wire format: a key is (field << 3 | wire type); 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32.
void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}

template <typename T>
void put_fixed(std::string& out, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));  // x86-64 and every CUDA host are little-endian, as the format
  out.append(b, sizeof(T));
}

void put_bytes(std::string& out, int field, const std::string& bytes) {
  put_varint(out, static_cast<uint64_t>(field) << 3 | 2);
  put_varint(out, bytes.size());
  out += bytes;
}

void put_int(std::string& out, int field, int64_t v) {
  put_varint(out, static_cast<uint64_t>(field) << 3 | 0);
  put_varint(out, static_cast<uint64_t>(v));
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Event { wall_time = 1, step = 2, <payload> }.
std::string event(int64_t step, const std::string& payload) {
  std::string e;
  put_varint(e, 1 << 3 | 1);
  put_fixed<double>(e, now_seconds());
  put_int(e, 2, step);
  return e + payload;
}

std::string summary_event(int64_t step, const std::string& value) {
  std::string summary;
  put_bytes(summary, 1, value);  // Summary.value
  std::string payload;
  put_bytes(payload, 5, summary);  // Event.summary
  return event(step, payload);
}

const std::array<uint32_t, 256>& crc_table() {
  static const std::array<uint32_t, 256> t = [] {
    std::array<uint32_t, 256> table{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;  // reflected Castagnoli
      table[i] = c;
    }
    return table;
  }();
  return t;
}

uint32_t be32(const unsigned char* p) {
  return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 | static_cast<uint32_t>(p[2]) << 8 | p[3];
}

}  // namespace

uint32_t crc32c(const void* data, size_t size) {
  const auto* p = static_cast<const unsigned char*>(data);
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < size; ++i) c = crc_table()[(c ^ p[i]) & 0xff] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

uint32_t masked_crc32c(const void* data, size_t size) {
  const uint32_t c = crc32c(data, size);
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

EventWriter::EventWriter(const std::string& dir) {
  make_dirs(dir);
  char host[256] = "localhost";
  gethostname(host, sizeof host - 1);
  const auto secs = static_cast<long long>(now_seconds());
  // The PID keeps two writers started in the same second (a quick resume) in separate files.
  path_ = (fs::path(dir) / ("events.out.tfevents." + std::to_string(secs) + "." + host + "." +
                            std::to_string(static_cast<long>(getpid()))))
              .string();
  file_ = std::fopen(path_.c_str(), "ab");
  if (!file_) fail("cannot create TensorBoard event file " + path_ + ": " + std::strerror(errno));
  std::string version;
  put_bytes(version, 3, "brain.Event:2");
  write_event(event(0, version));
  flush();
}

EventWriter::~EventWriter() {
  if (file_) std::fclose(file_);
}

void EventWriter::write_event(const std::string& data) {
  std::string rec;
  put_fixed<uint64_t>(rec, data.size());
  const uint32_t len_crc = masked_crc32c(rec.data(), 8);
  put_fixed<uint32_t>(rec, len_crc);
  rec += data;
  put_fixed<uint32_t>(rec, masked_crc32c(data.data(), data.size()));
  if (std::fwrite(rec.data(), 1, rec.size(), file_) != rec.size()) {
    fail("cannot write TensorBoard event file " + path_ + ": " + std::strerror(errno));
  }
}

void EventWriter::scalar(const std::string& tag, double value, int64_t step) {
  std::string v;
  put_bytes(v, 1, tag);
  put_varint(v, 2 << 3 | 5);
  put_fixed<float>(v, static_cast<float>(value));
  write_event(summary_event(step, v));
}

void EventWriter::image_file(const std::string& tag, const std::string& png_path, int64_t step) {
  std::error_code ec;
  std::ifstream in(png_path, std::ios::binary);
  if (!fs::is_regular_file(png_path, ec) || !in) fail("cannot add image " + png_path + " to TensorBoard: not a readable file");
  const std::string png((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  static const unsigned char kSig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  const auto* b = reinterpret_cast<const unsigned char*>(png.data());
  if (png.size() < 33 || std::memcmp(b, kSig, 8) != 0 || std::memcmp(b + 12, "IHDR", 4) != 0) {
    fail("cannot add image " + png_path + " to TensorBoard: not a PNG file");
  }
  const int color_type = b[25];  // 0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA
  const int channels = color_type == 0 ? 1 : color_type == 4 ? 2 : color_type == 6 ? 4 : 3;
  std::string image;
  put_int(image, 1, be32(b + 20));  // height
  put_int(image, 2, be32(b + 16));  // width
  put_int(image, 3, channels);      // colorspace: the channel count
  put_bytes(image, 4, png);
  std::string v;
  put_bytes(v, 1, tag);
  put_bytes(v, 4, image);
  write_event(summary_event(step, v));
}

void EventWriter::flush() {
  if (std::fflush(file_) != 0) fail("cannot write TensorBoard event file " + path_ + ": " + std::strerror(errno));
}

void write_epoch_events(EventWriter& w, const nlohmann::json& record, const std::string& samples_dir) {
  const int64_t step = record.value("epoch", static_cast<int64_t>(0));
  auto section = [&](const char* key, const std::string& prefix) {
    auto it = record.find(key);
    if (it == record.end() || !it->is_object()) return;
    for (auto kv = it->begin(); kv != it->end(); ++kv) {
      if (kv.value().is_number()) w.scalar(prefix + kv.key(), kv.value().get<double>(), step);
    }
  };
  section("train", "train/");
  section("val", "val/");
  section("weights", "weight/");
  for (const auto& [key, tag] : {std::pair<const char*, const char*>{"lr_G", "lr/G"}, {"lr_D", "lr/D"},
                                 {"images_per_s", "speed/images_per_s"}}) {
    auto it = record.find(key);
    if (it != record.end() && it->is_number()) w.scalar(tag, it->get<double>(), step);
  }
  std::ostringstream prefix;
  prefix << "epoch_" << std::setw(3) << std::setfill('0') << step << "_";
  std::vector<fs::path> samples;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(samples_dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(prefix.str(), 0) == 0 && e.path().extension() == ".png") samples.push_back(e.path());
  }
  std::sort(samples.begin(), samples.end());
  for (const auto& p : samples) {
    const std::string stem = p.stem().string().substr(prefix.str().size());
    w.image_file("samples/" + stem, p.string(), step);
  }
  w.flush();
}

}  // namespace p2p
