// Preprocessing of one image pair: resize (PIL-compatible bicubic), crop and flip, driven by one set
// of parameters drawn per pair so A and B stay registered; --augment strong adds a rotation/scale
// warp (both sides) and colour jitter (the --jitter_side side(s)). Images are [C,H,W] float in [0,1].
#pragma once

#include "p2p/core/config.h"

#include <ATen/Tensor.h>

#include <cstdint>
#include <string>

namespace p2p {

// PIL's Image.resize(..., BICUBIC): separable cubic (a = -0.5) whose support widens when shrinking
// (antialiasing). For bit_depth 8 it uses PIL's 22-bit fixed-point weights and clipping after each
// pass, so the result equals PIL's byte for byte; other depths use double weights, 16-bit clamped to
// [0,1], 32-bit (float bands) left unclamped as PIL's mode 'F' does.
at::Tensor resize_bicubic(const at::Tensor& unit, int width, int height, int bit_depth);

// Photometric jitter with torchvision ColorJitter semantics: factors of 1 and a hue shift of 0 are
// the identity (those steps are skipped, so a zero jitter leaves the image bit for bit as it was).
struct ColorJitterParams {
  double brightness = 1.0;  // img * b
  double contrast = 1.0;    // blend with the mean gray level
  double saturation = 1.0;  // blend with the per-pixel gray (3 channels only)
  double hue = 0.0;         // shift of the HSV hue in turns, [-0.5, 0.5] (3 channels only)
  // Order of the four steps (0 brightness, 1 contrast, 2 saturation, 3 hue); ColorJitter draws a
  // random permutation per call, and so does draw_augment.
  int order[4] = {0, 1, 2, 3};
};

struct AugmentParams {
  int resize_w = 0;  // size after the resize step (== source size when there is none)
  int resize_h = 0;
  bool crop = false;  // crop_size x crop_size window at (crop_x, crop_y)
  int crop_x = 0;
  int crop_y = 0;
  bool flip = false;  // horizontal
  // --augment strong, geometry (both sides): the output window shows the resized image rotated by
  // `angle` degrees (counter-clockwise on screen, as torchvision's rotate) and magnified by `scale`
  // about the window's centre, sampled bilinearly; the flip comes after.
  bool warp = false;
  double angle = 0.0;
  double scale = 1.0;
  // --augment strong, photometry: which side(s) --jitter_side selects (A = network input, B = target).
  bool color_A = false;
  bool color_B = false;
  ColorJitterParams color;
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

// Checks the augmentation options: --augment none|basic|strong, --jitter_side input|target|both|none,
// --jitter >= 0, --rotate in [0, 180], --scale_jitter in [0, 1), no strong warp of label maps (--palette).
// Throws p2p::Error naming the flag.
void check_augment_config(const DataConfig& cfg);

// Draws crop position and flip from `seed` alone (augment) or takes the centre crop and no flip
// (!augment, or --augment none). --augment strong adds the geometric and photometric parameters,
// drawn from a second stream derived from `seed`, so crop and flip stay exactly those of basic.
// Throws p2p::Error naming `file` when the resized image is smaller than crop_size, and naming the
// flag for invalid augmentation options.
AugmentParams draw_augment(const DataConfig& cfg, int w, int h, uint64_t seed, bool augment,
                           const std::string& file);

// Applies resize, crop (with the strong warp, if any) and flip to one image of the pair, then the
// colour jitter when `photometric` (pass p.color_A for A, p.color_B for B).
at::Tensor apply_augment(const at::Tensor& unit, const AugmentParams& p, int crop_size, int bit_depth,
                         bool photometric = false);

// Nearest-neighbour resize of [C,H,W] as PIL's Image.resize(NEAREST): pixel centres aligned, no mixing,
// so class ids stay class ids.
at::Tensor resize_nearest(const at::Tensor& chw, int width, int height);

// The pair's geometry (resize, crop, flip) on a class-id map [1,H,W] by nearest sampling: a label map is
// never interpolated. check_augment_config refuses the strong warp with --palette.
at::Tensor apply_augment_labels(const at::Tensor& ids, const AugmentParams& p, int crop_size);

// The strong warp alone: a width x height window of `unit` whose centre sits at (cx, cy) (pixel
// index coordinates, may be half-integer), rotated by angle_deg and magnified by scale. Bilinear, in
// double precision; outside the image the source is mirrored about its edges with the edge pixel
// repeated (numpy 'symmetric', grid_sample padding 'reflection' with align_corners=False).
at::Tensor warp_affine(const at::Tensor& unit, double cx, double cy, int width, int height, double angle_deg,
                       double scale);

// The colour jitter alone on [C,H,W] in [0,1]: 3 channels get all four steps (contrast against the
// mean of 0.2989 R + 0.587 G + 0.114 B, as torchvision), 1 channel brightness and contrast, other
// channel counts brightness and contrast per channel (each channel against its own mean). Each step
// clamps to [0,1].
at::Tensor color_jitter(const at::Tensor& unit, const ColorJitterParams& c);

}  // namespace p2p
