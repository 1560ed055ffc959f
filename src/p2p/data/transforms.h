// Preprocessing of one image pair: resize (PIL-compatible bicubic), crop and flip, driven by one set
// of parameters drawn per pair so A and B stay registered. Images are [C,H,W] float in [0,1].
#pragma once

#include "p2p/core/config.h"

#include <ATen/Tensor.h>

#include <cstdint>
#include <string>

namespace p2p {

// PIL's Image.resize(..., BICUBIC): separable cubic (a = -0.5) whose support widens when shrinking
// (antialiasing). For bit_depth 8 it uses PIL's 22-bit fixed-point weights and clipping after each
// pass, so the result equals PIL's byte for byte; other depths use double weights, clamped to [0,1].
at::Tensor resize_bicubic(const at::Tensor& unit, int width, int height, int bit_depth);

struct AugmentParams {
  int resize_w = 0;  // size after the resize step (== source size when there is none)
  int resize_h = 0;
  bool crop = false;  // crop_size x crop_size window at (crop_x, crop_y)
  int crop_x = 0;
  int crop_y = 0;
  bool flip = false;  // horizontal
};

// Size of a w x h image after the resize step of cfg.preprocess:
//   resize_and_crop       load_size x load_size
//   scale_width[_and_crop] width load_size, height load_size*h/w but at least crop_size (so a crop fits;
//                         the reference computes load_size*crop_size/w there, which keeps the aspect
//                         ratio only for square crops of h = crop_size images)
//   crop                  unchanged
//   none                  each side rounded to the nearest multiple of cfg.size_multiple (at least one
//                         multiple). The reference rounds to 4 whatever the generator, and unet_256 then
//                         fails on sizes that are not multiples of 256; the generator's real multiple fixes that.
void preprocess_size(const DataConfig& cfg, int w, int h, int& out_w, int& out_h);

// Draws crop position and flip from `seed` alone (augment) or takes the centre crop and no flip
// (!augment). Throws p2p::Error naming `file` when the resized image is smaller than crop_size.
AugmentParams draw_augment(const DataConfig& cfg, int w, int h, uint64_t seed, bool augment,
                           const std::string& file);

// Applies resize, crop and flip to one image of the pair.
at::Tensor apply_augment(const at::Tensor& unit, const AugmentParams& p, int crop_size, int bit_depth);

}  // namespace p2p
