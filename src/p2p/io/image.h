// Image files <-> tensors. Decoding via stb (PNG, JPEG, BMP, TGA, PGM/PPM); writing PNG.
// Tensors are float32 [C,H,W] with values in [0,1].
#pragma once

#include <ATen/Tensor.h>

#include <string>

namespace p2p {

// Loads `path` as `channels` (1 = luminance, 3 = RGB) float [C,H,W] in [0,1]. Gray sources are
// replicated to 3 channels; RGB is converted to gray with ITU-R 601 weights (as PIL 'L').
// Missing, zero-byte, truncated or undecodable files throw p2p::Error naming the file.
at::Tensor load_image(const std::string& path, int channels);
// As above, also reporting the source's bits per channel (8 or 16; 16-bit PNG/PNM keep their
// precision), so preprocessing can resample 8-bit data exactly like PIL and leave 16-bit data unrounded.
at::Tensor load_image(const std::string& path, int channels, int& bit_depth);

// The channel conversion load_image applies, for [C,H,W] in [0,1] (C = 1 or 3): gray is replicated;
// RGB becomes luminance with ITU-R 601 weights, rounded to 8 bits exactly as PIL's convert('L') when
// bit_depth is 8, unrounded otherwise.
at::Tensor convert_channels(const at::Tensor& unit, int channels, int bit_depth = 8);

// Writes [C,H,W] (C = 1 or 3, values clamped to [0,1], rounded to 8 bits) as PNG, atomically
// (temp file + rename) so a crash never leaves a half-written image (not flushed to disk: see fs.h).
void save_png(const std::string& path, const at::Tensor& image);

// Reads only the header: width and height. Throws p2p::Error naming the file when unreadable.
void image_size(const std::string& path, int& width, int& height);

// True for file names with an image extension we can decode (case-insensitive).
bool is_image_file(const std::string& path);

// [-1,1] network range <-> [0,1] image range.
at::Tensor to_network_range(const at::Tensor& unit);
at::Tensor to_unit_range(const at::Tensor& net);

}  // namespace p2p
