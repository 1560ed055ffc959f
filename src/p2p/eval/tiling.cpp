// Tiled translation (tiling.h). Rows of tiles are processed top to bottom; a row's blended output
// (weighted sum and weight sum, image-wide, one tile high) is written once no later tile row reaches
// it, and the part the next row overlaps is carried over.
#include "p2p/eval/tiling.h"

#include "p2p/core/error.h"
#include "p2p/eval/inference.h"
#include "p2p/io/image.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

namespace p2p {

void check_tile_options(const TileOptions& t, int64_t size_multiple) {
  const int64_t m = std::max<int64_t>(1, size_multiple);
  if (t.tile < 0) fail("--tile must be 0 (whole image) or a positive size, got " + std::to_string(t.tile));
  if (t.tile > 0 && t.tile % m != 0) {
    fail("--tile " + std::to_string(t.tile) + ": must be a multiple of " + std::to_string(m) +
         " for this generator (its input size multiple), e.g. " + std::to_string((t.tile + m - 1) / m * m));
  }
  if (t.overlap < 0) fail("--overlap must be >= 0, got " + std::to_string(t.overlap));
  if (t.tile > 0 && t.overlap >= t.tile) {
    fail("--overlap " + std::to_string(t.overlap) + ": must be smaller than --tile " + std::to_string(t.tile));
  }
  const int64_t min_step = (t.tile + kMinStepFraction - 1) / kMinStepFraction;
  if (t.tile > 0 && t.tile - t.overlap < min_step) {
    fail("--overlap " + std::to_string(t.overlap) + ": leaves tiles of --tile " + std::to_string(t.tile) + " only " +
         std::to_string(t.tile - t.overlap) + " px apart; the step (tile - overlap) must be at least a quarter of the "
         "tile, so --overlap at most " + std::to_string(t.tile - min_step));
  }
  if (t.tile_batch < 1) fail("--tile_batch must be >= 1, got " + std::to_string(t.tile_batch));
}

std::vector<int64_t> tile_starts(int64_t n, int64_t tile, int64_t overlap) {
  if (n <= tile) return {0};
  const int64_t step = tile - overlap;
  std::vector<int64_t> s;
  for (int64_t x = 0; x + tile < n; x += step) s.push_back(x);
  s.push_back(n - tile);  // the last tile ends at the border (it may overlap its neighbour more)
  return s;
}

namespace {

// G's input for the window at (x, y) of `in` must be finite: one NaN or infinity spreads over the output
// (convolutions and normalisation mix every pixel). Declared nodata was filled by the mapping.
void check_network_window(const at::Tensor& net, const RasterReader& in, int64_t x, int64_t y) {
  const at::Tensor bad = net.isfinite().logical_not();
  if (!bad.any().item<bool>()) return;
  const at::Tensor first = bad.nonzero()[0];  // band, row, column
  fail(in.name() + ": band " + std::to_string(first[0].item<int64_t>() + 1) + " at pixel x " +
       std::to_string(x + first[2].item<int64_t>()) + ", y " + std::to_string(y + first[1].item<int64_t>()) +
       " is not finite once mapped to the network's range (" + std::to_string(bad.sum().item<int64_t>()) +
       " samples of the window); its value is too large for the run's input mapping");
}

// ... and so must G's answer: weights holding NaN or an overflow inside G give a whole tile of NaN.
void check_network_output(const at::Tensor& y, const RasterReader& in, int64_t x, int64_t y0, int64_t w, int64_t h) {
  if (y.isfinite().all().item<bool>()) return;
  fail(in.name() + ": the generator's output for the " + std::to_string(w) + " x " + std::to_string(h) +
       " pixels at x " + std::to_string(x) + ", y " + std::to_string(y0) +
       " is not finite (NaN or infinite); its weights, or the input's range, are unusable");
}

}  // namespace

at::Tensor blend_ramp(int64_t n, int64_t overlap) {
  at::Tensor w = at::ones({n}, at::kFloat);
  if (overlap <= 0) return w;
  auto a = w.accessor<float, 1>();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t d = std::min(i, n - 1 - i);  // distance to the nearer end
    if (d < overlap) {
      const double s = std::sin(M_PI / 2.0 * (static_cast<double>(d) + 0.5) / static_cast<double>(overlap));
      a[i] = static_cast<float>(s * s);
    }
  }
  return w;
}

void translate_raster(Network& G, RasterReader& in, RasterWriter& out,
                      const std::function<at::Tensor(const at::Tensor&)>& to_network, const TileOptions& options,
                      const c10::Device& device, std::ostream& log, const std::function<void(int64_t, int64_t)>& on_tile,
                      const BatchForward& forward) {
  const int64_t H = in.info().height, W = in.info().width;
  const int64_t m = std::max<int64_t>(1, G.size_multiple());
  TileOptions t = options;
  check_tile_options(t, m);
  const double bands = static_cast<double>(in.info().bands);
  if (t.tile == 0) {
    if (H * W <= kAutoTileArea) {
      // Whole: the input window, its mapped copy and the output (G's output channels are not known
      // yet: as many as the input's, at least 3), before G's own activations.
      check_memory_fits("translating " + in.name() + " whole", static_cast<double>(H) * W * 4.0 * (2 * bands + std::max(3.0, bands)),
                        "use --tile");
      if (on_tile) on_tile(0, 1);
      const at::Tensor x = to_network(in.read(0, 0, W, H));
      check_network_window(x, in, 0, 0);
      const at::Tensor y = translate_tensor(G, x, device, forward);
      check_network_output(y, in, 0, 0, W, H);
      out.write(0, 0, to_unit_range(y));
      if (on_tile) on_tile(1, 1);
      return;
    }
    t.tile = (kAutoTile + m - 1) / m * m;
    t.overlap = std::min(t.overlap, t.tile / 2);
    log << "note: " << W << "x" << H << " pixels is too large to translate whole; using --tile " << t.tile
        << " --overlap " << t.overlap << "\n";
  }
  // Tiles are square except where the image is smaller than a tile; then translate_batch pads them.
  const int64_t th = std::min(t.tile, H), tw = std::min(t.tile, W);
  const std::vector<int64_t> ys = tile_starts(H, th, t.overlap), xs = tile_starts(W, tw, t.overlap);
  const at::Tensor weight = blend_ramp(th, t.overlap).unsqueeze(1) * blend_ramp(tw, t.overlap).unsqueeze(0);
  const int64_t total = static_cast<int64_t>(ys.size() * xs.size());
  // One band of tile rows, image-wide: the weighted sum, the weights and the rows being written (output
  // channels taken as the input's, at least 3), plus a batch of tiles in and out.
  const double out_bands = std::max(3.0, bands);
  check_memory_fits("translating " + in.name() + " in tiles of " + std::to_string(t.tile),
                    static_cast<double>(th) * W * 4.0 * (2 * out_bands + 1) +
                        static_cast<double>(t.tile_batch) * th * tw * 4.0 * (2 * bands + out_bands),
                    "the image is too wide for its tile rows; use a smaller --tile");
  if (total > 1) {
    log << in.name() << ": " << W << " x " << H << " pixels in " << total << " tiles (" << xs.size() << " x "
        << ys.size() << ") of " << t.tile << " px, overlap " << t.overlap << "\n";
  }
  int64_t done = 0;
  if (on_tile) on_tile(0, total);

  // Rows [y0, y0 + th) of the weighted output sum (channels known after the first forward) and weights.
  at::Tensor acc, wsum = at::zeros({th, W}, at::kFloat);
  for (size_t r = 0; r < ys.size(); ++r) {
    const int64_t y0 = ys[r];
    for (size_t first = 0; first < xs.size(); first += static_cast<size_t>(t.tile_batch)) {
      const size_t last = std::min(xs.size(), first + static_cast<size_t>(t.tile_batch));
      std::vector<at::Tensor> tiles;
      for (size_t i = first; i < last; ++i) {
        tiles.push_back(to_network(in.read(xs[i], y0, tw, th)));
        check_network_window(tiles.back(), in, xs[i], y0);
      }
      const at::Tensor y = translate_batch(G, at::stack(tiles), device, forward);
      check_network_output(y, in, xs[first], y0, xs[last - 1] + tw - xs[first], th);
      if (!acc.defined()) acc = at::zeros({y.size(1), th, W}, at::kFloat);
      for (size_t i = first; i < last; ++i) {
        acc.narrow(2, xs[i], tw).add_(y[static_cast<int64_t>(i - first)] * weight);
        wsum.narrow(1, xs[i], tw).add_(weight);
      }
      done += static_cast<int64_t>(last - first);
      if (on_tile) on_tile(done, total);
    }
    // Rows no later tile row reaches are final: normalised and mapped to unit range in place (they are
    // not used again), written, and the rows the next tile row shares moved to the top.
    const int64_t next = r + 1 < ys.size() ? ys[r + 1] : y0 + th;
    const int64_t final_rows = next - y0;
    at::Tensor rows = acc.narrow(1, 0, final_rows);
    rows.div_(wsum.narrow(0, 0, final_rows)).add_(1.0).mul_(0.5);  // to_unit_range
    out.write(0, y0, rows);
    if (r + 1 < ys.size()) {
      const int64_t keep = th - final_rows;
      const at::Tensor kept_acc = acc.narrow(1, final_rows, keep).clone(), kept_w = wsum.narrow(0, final_rows, keep).clone();
      acc.zero_();
      wsum.zero_();
      acc.narrow(1, 0, keep).copy_(kept_acc);
      wsum.narrow(0, 0, keep).copy_(kept_w);
    }
  }
}

}  // namespace p2p
