// pix2pix.cpp's embeddable C++ API: load a trained generator and translate images with it.
//
//   #include <pix2pix/pix2pix.h>
//   pix2pix::Translator t("checkpoints/facades");      // a run folder, or a weights file
//   t.translate_file("label.png", "photo.png");         // any size; tiled with Options::tile
//   pix2pix::Image out = t.translate(in);               // float pixels in [0,1], interleaved
//
// In CMake: find_package(pix2pix CONFIG REQUIRED) and target_link_libraries(app PRIVATE pix2pix::pix2pix).
// The header names no LibTorch type: a program using it needs neither LibTorch's headers nor its
// CMake package (libpix2pix.so brings LibTorch at run time).
//
// Thread safety: a Translator may be shared by threads. Its calls are serialised on an internal mutex
// (one forward pass at a time: the paper's test mode updates batch-norm state, and the compute threads
// already use every core). For calls that truly run at once, use one Translator per thread.
// Errors: every failure (missing or corrupt files, wrong sizes, unknown options) throws pix2pix::Error
// with a message naming the file or option.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#define PIX2PIX_API __attribute__((visibility("default")))

namespace pix2pix {

class PIX2PIX_API Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// "0.1.0": the library's version.
PIX2PIX_API std::string version();

struct Options {
  std::string device = "cpu";    // cpu | cuda | cuda:N
  std::string epoch = "latest";  // for a run folder: latest | best | <N>
  bool eval = false;             // running BN statistics, no dropout (default: the paper's test mode)
  uint64_t seed = 0;             // dropout draws of the paper's test mode: each call draws from (seed, file name)
  int64_t tile = 0;              // tile side in pixels (0: whole image; over 4096x4096 tiled at 1024)
  int64_t overlap = 32;          // pixels shared by neighbouring tiles, blended smoothly
  int64_t tile_batch = 1;        // tiles per forward pass
  int threads = 0;               // compute threads (0: leave the process's setting)
  // Which generator of a CycleGAN run or checkpoint: "G_A" (A -> B, the default) or "G_B" (B -> A);
  // "" takes the only (pix2pix) or first one. For a reference folder: its <epoch>_net_G_A.pth / _G_B.pth.
  std::string generator;
  // Arithmetic on the CPU: "fp32"; "bf16" (needs avx512_bf16 or AMX, else the constructor throws); "auto"
  // (bf16 where the CPU has it and this generator measures faster in it: timed once per machine, cached).
  std::string precision = "fp32";
};

// An image in memory: height × width × channels floats, interleaved (row-major, channels last), in the
// unit range [0,1] — 8-bit data is value / 255. TIFF-style data (SAR intensity, many bands) may be any
// float; the run's input mapping (SAR dB, dataset statistics) is applied by translate().
struct Image {
  int64_t width = 0;
  int64_t height = 0;
  int64_t channels = 0;
  std::vector<float> pixels;
};

class PIX2PIX_API Translator {
 public:
  // `weights_or_run`: a run folder (its config.json gives the architecture and input mapping) or a file
  // (pix2pix.cpp checkpoint .pt, exported .safetensors, or a reference *_net_G.pth with the default
  // pix2pix architecture). Options::generator picks G_A or G_B of a CycleGAN run.
  explicit Translator(const std::string& weights_or_run, const Options& options = Options());
  ~Translator();
  Translator(Translator&&) noexcept;
  Translator& operator=(Translator&&) noexcept;
  Translator(const Translator&) = delete;
  Translator& operator=(const Translator&) = delete;

  int64_t input_channels() const;
  int64_t output_channels() const;
  // "unet_256", ...
  std::string architecture() const;

  // Translates `input` (input_channels() channels, any size): output_channels() channels, same size.
  Image translate(const Image& input) const;
  // Reads `input` (PNG, JPEG, TIFF/GeoTIFF, ...) and writes `output`: .png, or .tif keeping a TIFF
  // input's sample type and georeferencing. Tiled per Options::tile; windowed for TIFF.
  void translate_file(const std::string& input, const std::string& output) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pix2pix
