// Tiled translation of rasters of any size: the image is cut into overlapping tiles, the tiles run
// through G in batches, and their outputs are blended with a smooth window, so no seam shows where one
// tile ends. Input windows are read and output rows written band by band, so memory is bounded by
// about tile × image width, whatever the image's height — a scene larger than RAM works when both
// rasters are windowed (raster.h).
//
// Tiled and untiled outputs differ legitimately: a U-Net's receptive field is larger than a tile, so a
// tile sees less context than the whole image does. Blending removes the seams, not that difference.
#pragma once

#include "p2p/eval/batch_forward.h"
#include "p2p/io/raster.h"
#include "p2p/models/networks.h"

#include <ATen/Tensor.h>
#include <c10/core/Device.h>

#include <cstdint>
#include <functional>
#include <ostream>
#include <vector>

namespace p2p {

struct TileOptions {
  int64_t tile = 0;        // tile side in pixels; 0 = whole image (tiled at kAutoTile beyond kAutoTileArea)
  int64_t overlap = 32;    // pixels shared by neighbouring tiles, blended
  int64_t tile_batch = 1;  // tiles per forward pass
};

// Untiled images larger than this many pixels are tiled anyway (at kAutoTile, rounded up to G's size
// multiple), with a note: a U-Net on a whole 10,000² scene would need tens of GB.
constexpr int64_t kAutoTileArea = 4096LL * 4096LL;
constexpr int64_t kAutoTile = 1024;
// Neighbouring tiles start at least tile / kMinStepFraction apart: at most 16 times the tiles of no
// overlap (4 per axis).
constexpr int64_t kMinStepFraction = 4;

// Checks the options against G: tile a multiple of G->size_multiple() (so tiles need no padding),
// 0 <= overlap, a step (tile - overlap) of at least a quarter of the tile (kMinStepFraction: --tile 64
// --overlap 63 would run 64² times the tiles of no overlap, silently, for minutes), tile_batch >= 1.
// Throws p2p::Error naming --tile / --overlap / --tile_batch.
void check_tile_options(const TileOptions& t, int64_t size_multiple);

// Tile origins along an axis of length n for tiles of length `tile` overlapping by at least `overlap`:
// 0, tile-overlap, ..., with the last tile ending at n. {0} when n <= tile.
std::vector<int64_t> tile_starts(int64_t n, int64_t tile, int64_t overlap);

// Blend weights of one axis of a tile of length n: sin² ramps over the `overlap` pixels at each end,
// 1 between; every weight is positive, so a pixel covered by one tile only keeps that tile's value.
// overlap 0 gives all ones (tiles simply abut).
at::Tensor blend_ramp(int64_t n, int64_t overlap);

// Translates `in` into `out` (same width and height; `out` has G's output channels) in the network's
// unit range. `to_network` maps a window of `in` to G's input range (per pixel, so per tile exact).
// With t.tile == 0 and an image of at most kAutoTileArea pixels: one pass over the whole image
// (translate_tensor). `on_tile(done, total)` reports progress. Notes go to `log`, and a tiled job says
// how many tiles it will run before it starts. Before anything is allocated, the memory of the chosen
// path (the whole image, or one band of tile rows) must fit in the machine. Every window mapped for G
// must be finite and every output G gives too; otherwise p2p::Error names in.name() and the pixel or
// tile (a NaN would otherwise spread over the whole output).
void translate_raster(Network& G, RasterReader& in, RasterWriter& out,
                      const std::function<at::Tensor(const at::Tensor&)>& to_network, const TileOptions& t,
                      const c10::Device& device, std::ostream& log,
                      const std::function<void(int64_t, int64_t)>& on_tile = {}, const BatchForward& forward = {});

}  // namespace p2p
