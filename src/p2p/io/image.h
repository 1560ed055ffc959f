// Image files <-> tensors. Decoding via stb (PNG, JPEG, BMP, TGA, PGM/PPM) and libtiff (TIFF/GeoTIFF,
// see tiff.h); writing PNG (and float32 TIFF in tiff.h). Tensors are float32 [C,H,W], in [0,1] except
// float32 TIFF bands, which are taken as stored.
#pragma once

#include <ATen/Tensor.h>

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
