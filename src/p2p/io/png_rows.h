// A PNG read forward, row by row (libpng), for passes that walk an image top to bottom in bands (the
// metrics): only the rows of the current window are held, so memory does not grow with the image.
#pragma once

#include "p2p/io/raster.h"

#include <memory>
#include <string>

namespace p2p {

// A reader of `path` as `channels` channels (values as load_image gives them, to the bit) whose windows
// must be whole rows and must not start above the previous window's start (overlapping bands are
// fine). nullptr when the file is not a PNG that can be streamed (not a PNG, interlaced, or a build
// without libpng): the caller then uses open_raster. Impossible headers throw as open_raster's do.
std::unique_ptr<RasterReader> open_png_rows(const std::string& path, int channels, const std::string& channel_flag);

}  // namespace p2p
