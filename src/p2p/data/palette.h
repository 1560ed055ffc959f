// Label maps as classes: a palette maps colours to class ids, so colour label images (Cityscapes
// gtFine_color, the pix2pix facades labels, a segmenter's colour output) can be scored as segmentations.
// Built-in palettes (cityscapes, facades) or a JSON file; exact nearest-colour decoding with a distance
// cut-off; encoding ids back to colours; and a palette proposed from a folder of label images.
#pragma once

#include <ATen/Tensor.h>
#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace p2p {

struct DataConfig;

// The id of a pixel that is no class: its colour is an ignore entry or too far from every colour. Scores
// skip such target pixels (as the Cityscapes trainId 255).
constexpr int64_t kIgnoreClass = 255;

// Default max_distance (Euclidean, 0..255 RGB units) of decode_labels: half the 8-bit range. A colour
// farther than that from every palette colour is not a noisy copy of any of them. JPEG label maps need
// a wide margin because 4:2:0 chroma subsampling blends the colours of two classes at every edge: on the
// 400 pix2pix facades training labels 3.1% of the pixels lie farther than 128 from every class colour
// (14% farther than 64, 0.8% farther than 150), nearly all of them within 2 pixels of a class edge.
constexpr double kDefaultPaletteDistance = 128.0;

// The most colours a palette may have (decoding keeps a one-byte code per colour).
constexpr int kMaxPaletteColours = 250;

struct PaletteEntry {
  std::string name;
  std::array<uint8_t, 3> rgb{};
  bool ignore = false;  // decodes to kIgnoreClass instead of a class id
};

// Class ids go to the non-ignore entries in order, 0..K-1.
struct Palette {
  std::string name;
  std::vector<PaletteEntry> entries;

  int num_classes() const;
  std::vector<std::string> class_names() const;  // by class id
};

// `cityscapes` (the 19 train classes, trainId order, with the colours the Cityscapes label colour images
// use for ignored ids as ignore entries; polegroup has pole's colour and decodes as pole), `facades` (the 12 CMP classes in the colours of the
// pix2pix facades labels), or a JSON file:
//   {"name": "...", "classes": [{"name": "road", "color": [128,64,128]},
//                               {"name": "void", "color": [0,0,0], "ignore": true}, ...]}
// ("share", written by propose_palette, and a top-level "source" are accepted and not used). A file named
// like a built-in palette is read when given with a folder, e.g. ./facades. Bad JSON, missing or unknown
// keys, colours that are not 3 integers 0..255, repeated colours or names, no class, or an unknown name
// throw p2p::Error naming the file and key.
Palette load_palette(const std::string& name_or_file);

// The JSON file format of load_palette.
nlohmann::json palette_to_json(const Palette& palette);

struct DecodedLabels {
  at::Tensor ids;                      // int64 [H,W]: class id, or kIgnoreClass
  double ignored_fraction = 0;         // pixels decoded to kIgnoreClass, either way
  double far_fraction = 0;             // ... because no colour is within max_distance
  double ignore_colour_fraction = 0;   // ... because the nearest colour is an ignore entry
};

// image: [3,H,W] float in [0,1] (as load_image gives); values are scaled to 0..255 and rounded (half to
// even), then every pixel takes the nearest palette colour (Euclidean RGB; on a tie the earlier entry),
// or kIgnoreClass when that colour is farther than max_distance. Exact: each distinct colour is looked up
// once per call, so a 1024x2048 image takes tens of milliseconds.
DecodedLabels decode_labels(const at::Tensor& image, const Palette& palette,
                            double max_distance = kDefaultPaletteDistance);

// ids [H,W] (any integer type) -> [3,H,W] float in [0,1] colour image. Ids that are no class (kIgnoreClass
// or any other) take the palette's first ignore colour, or black when it has none.
at::Tensor encode_labels(const at::Tensor& ids, const Palette& palette);

// propose_palette defaults: colours within kDefaultMergeDistance of a more frequent colour belong to its
// class (JPEG q75 noise in flat areas reaches ~30 units on saturated colours; the facades classes lie 58+
// apart); a class needs kDefaultMinShare of the flat pixels (facades, 400 training labels: the smallest
// class, pillar, holds 0.5%; no cluster of no class holds 0.03%).
constexpr double kDefaultMergeDistance = 40.0;
constexpr double kDefaultMinShare = 0.004;

// A palette proposed from the colour histogram of label images (read as RGB). Only pixels in flat areas
// count (see palette.cpp), which leaves out the blends JPEG makes at class edges. The most frequent colours
// become class seeds; every colour within merge_distance of a seed joins its nearest seed, count-weighted;
// a seed whose class holds min_share of the flat pixels is kept, unless it is the noise tail of a much
// larger class next to it (see palette.cpp). Classes are named class_0, class_1 ... by
// decreasing share (of the flat pixels), at most max_classes; a colour is the count-weighted mean near its
// seed. Returns the load_palette JSON format with a "share" per class and a "source" summary. Throws
// p2p::Error when there is no image, an image is unreadable, or no colour qualifies.
nlohmann::json propose_palette(const std::vector<std::string>& files, int max_classes,
                               double merge_distance = kDefaultMergeDistance, double min_share = kDefaultMinShare);
// The same over `count` images that `load(i)` gives as [3,H,W] in [0,1] (e.g. one half of aligned pairs).
nlohmann::json propose_palette(size_t count, const std::function<at::Tensor(size_t)>& load, int max_classes,
                               double merge_distance = kDefaultMergeDistance, double min_share = kDefaultMinShare);

// A palette proposed from the network inputs of a run's training split (<dataroot>/train; the A half of
// aligned pairs, or B with --direction BtoA), at most `max_images` of them: the colours a person drawing
// an input for that run should use. Throws p2p::Error as propose_palette, or naming the missing folder.
nlohmann::json propose_input_palette(const DataConfig& data, int max_images = 100);

}  // namespace p2p
