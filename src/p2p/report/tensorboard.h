// TensorBoard event files, written directly: `tensorboard --logdir <checkpoints_dir>` shows every run's
// scalars and sample images without TensorFlow or a Python process beside training.
//
// Format (what TensorBoard's reader expects): a file named events.out.tfevents.<unix time>.<host>, a
// sequence of records   uint64 length | uint32 masked CRC-32C(length) | data | uint32 masked CRC-32C(data)
// (little-endian; mask = rotate right by 15, plus 0xa282ead8), each data a serialized tensorflow.Event:
//   Event   { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; }
//   Summary { repeated Value value = 1; }
//   Value   { string tag = 1; float simple_value = 2; Image image = 4; }
//   Image   { int32 height = 1; int32 width = 2; int32 colorspace = 3; bytes encoded_image_string = 4; }
// The first record carries file_version "brain.Event:2". Scalars use simple_value and images the PNG
// bytes as they are, the summary forms every TensorBoard release since 1.x reads.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <cstdio>
#include <string>

namespace p2p {

// CRC-32C (Castagnoli), and the masked form the record framing stores.
uint32_t crc32c(const void* data, size_t size);
uint32_t masked_crc32c(const void* data, size_t size);

class EventWriter {
 public:
  // Creates `dir` and a new event file in it (one per writer: a resumed run adds a file, which
  // TensorBoard reads together with the earlier ones). Throws p2p::Error naming the file on failure.
  explicit EventWriter(const std::string& dir);
  ~EventWriter();
  EventWriter(const EventWriter&) = delete;
  EventWriter& operator=(const EventWriter&) = delete;

  void scalar(const std::string& tag, double value, int64_t step);
  // A PNG file's bytes as an image summary (size and channels read from its header). Throws p2p::Error
  // naming `png_path` when it is not a readable PNG.
  void image_file(const std::string& tag, const std::string& png_path, int64_t step);
  // Makes what was written visible to readers (called after each epoch).
  void flush();

  const std::string& path() const { return path_; }

 private:
  void write_event(const std::string& event);
  std::string path_;
  std::FILE* file_ = nullptr;
};

// One history.jsonl record as events at step = its epoch: train/<loss>, val/<metric>, lr/G, lr/D,
// weight/<term>, speed/images_per_s, and the epoch's sample triplets <samples_dir>/epoch_<EEE>_<stem>.png
// as images samples/<stem>. Flushes at the end.
void write_epoch_events(EventWriter& w, const nlohmann::json& record, const std::string& samples_dir);

}  // namespace p2p
