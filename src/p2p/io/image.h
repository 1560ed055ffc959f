// Image files <-> tensors. Decoding via stb (PNG, JPEG, BMP, TGA, PGM/PPM) and libtiff (TIFF/GeoTIFF,
// see tiff.h); writing PNG (and float32 TIFF in tiff.h). Tensors are float32 [C,H,W], in [0,1] except
// float32 TIFF bands, which are taken as stored. A colour file can also be held as its decoded samples
// (8-bit: a quarter of the float image) and converted window by window, and a PNG written row by row,
// so a large image is never held as floats whole (raster.h builds its PNG reader and writer on these).
#pragma once

#include <ATen/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>

namespace p2p {

// Loads `path` as `channels` float [C,H,W].
// Colour files (PNG, JPEG, ...): 1 = luminance, 3 = RGB, 4 = RGBA, in [0,1]. Gray sources are
// replicated to 3 channels; RGB is converted to gray with ITU-R 601 weights (as PIL 'L'); a missing
// alpha is opaque (as PIL 'RGBA'). Any other count throws: N-channel data needs TIFF.
// TIFF: every band, no conversion; the band count must equal `channels` (see tiff.h for the values).
// Missing, zero-byte, truncated or undecodable files throw p2p::Error naming the file.
at::Tensor load_image(const std::string& path, int channels);
// As above, also reporting the source's bits per channel (8 or 16; 16-bit PNG/PNM/TIFF keep their
// precision; 32 for float TIFF), so preprocessing can resample 8-bit data exactly like PIL and leave
// deeper data unrounded. `channel_flag` names the option that chose `channels` (e.g. "--input_nc") in
// the errors a wrong channel count gives.
at::Tensor load_image(const std::string& path, int channels, int& bit_depth, const std::string& channel_flag = "");

// The channel conversion load_image applies to colour files, for [C,H,W] in [0,1] (C and channels 1, 3
// or 4; any C when channels == C, which returns the input): gray is replicated; RGB(A) becomes
// luminance with ITU-R 601 weights, rounded to 8 bits exactly as PIL's convert('L') when bit_depth is
// 8, unrounded otherwise; alpha is dropped, or added as 1 (opaque).
at::Tensor convert_channels(const at::Tensor& unit, int channels, int bit_depth = 8);

// A colour file (not TIFF) decoded once into its samples, [H,W,n] with the file's n channels (1 gray,
// 2 gray + alpha, 3 RGB, 4 RGBA): uint8 for 8-bit files; for 16-bit PNG int16 holding the uint16 bits;
// for 16-bit PGM/PPM float in [0,1]. `channels` is what decoded_to_unit converts to (1, 3 or 4; errors
// as load_image's, naming the file and `channel_flag`).
struct DecodedImage {
  at::Tensor samples;
  int bit_depth = 8;  // of the file: 8 or 16
  int channels = 3;
};
DecodedImage decode_image(const std::string& path, int channels, const std::string& channel_flag = "");

// The window [x, x+w) × [y, y+h) of a decoded image as load_image gives the whole: float [channels,h,w]
// in [0,1], channels converted per pixel (alpha, gray <-> RGB as convert_channels), so a window of the
// whole image and the whole image's window agree to the bit. The window must lie inside the image.
at::Tensor decoded_to_unit(const DecodedImage& image, int64_t x, int64_t y, int64_t w, int64_t h);

// [C,H,W] in [0,1] (values clamped) -> [H,W,C] uint8 rounded half up: the samples save_png writes.
at::Tensor to_png_samples(const at::Tensor& chw);

struct PngRowState;

// An 8-bit PNG of `channels` (1 gray or 3 RGB) written row by row, atomically: rows go to a temp file
// beside `path` (<path>.tmp.<pid>.<n>, see fs.h) that finish() renames over it; a writer destroyed
// unfinished removes it. With libpng (P2P_HAVE_PNG) rows are encoded as they come, so only the caller's
// band is ever held; without it they are kept (8-bit) and encoded at finish by stb. Not flushed to disk
// (an output image can be made again). Errors name `path`.
class PngRowWriter {
 public:
  PngRowWriter(const std::string& path, int64_t width, int64_t height, int channels);
  ~PngRowWriter();
  PngRowWriter(const PngRowWriter&) = delete;
  PngRowWriter& operator=(const PngRowWriter&) = delete;
  // `count` rows of width × channels bytes (interleaved, as to_png_samples gives them) below those
  // already written. More rows than the image's height throw.
  void write_rows(const uint8_t* rows, int64_t count);
  int64_t rows_written() const;
  // Completes the file once every row is written (throws saying how many are missing otherwise) and
  // moves it into place.
  void finish();

 private:
  std::unique_ptr<PngRowState> state_;
};

// Writes [C,H,W] (C = 1 or 3, values clamped to [0,1], rounded to 8 bits) as PNG, atomically
// (temp file + rename) so a crash never leaves a half-written image (not flushed to disk: see fs.h).
void save_png(const std::string& path, const at::Tensor& image);

// A PNG-able preview of [C,H,W] for any C: 1 and 3 channels as they are, 2 -> the first band (gray),
// 4 or more -> the first three bands as RGB. For sample sheets; outputs keep every band (save_tiff).
at::Tensor to_display(const at::Tensor& unit);

// Reads only the header: width and height (TIFF too). Throws p2p::Error naming the file when unreadable.
void image_size(const std::string& path, int& width, int& height);

// True for file names with an image extension we can decode (case-insensitive).
bool is_image_file(const std::string& path);

// [-1,1] network range <-> [0,1] image range.
at::Tensor to_network_range(const at::Tensor& unit);
at::Tensor to_unit_range(const at::Tensor& net);

}  // namespace p2p
