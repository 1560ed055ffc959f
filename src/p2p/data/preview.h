// Augmentation preview: what the training loader feeds the networks, written as images, so the
// effect of --augment / --jitter / --rotate / --scale_jitter can be judged before a long run.
#pragma once

#include "p2p/core/config.h"

#include <ATen/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace p2p {

// Writes min(n, number of training pairs) augmented training pairs as PNG files "<k>_<stem>.png" in
// out_dir (created if missing), each A | B side by side (a channel count of 1 shows as gray, 3 as
// RGB, more as the first three channels, 2 as the first channel in gray; a gray side next to an RGB
// side is shown as RGB). Pair k is sample k of epoch 1 of the training loader: the same train split,
// epoch order (shuffled unless cfg.serial_batches) and per-sample seed sample_seed(seed, 1, k), so
// the preview shows exactly what the first epoch of `p2p train --seed <seed>` trains on.
// Returns the written paths in order. Throws p2p::Error naming --n when n < 1, and the usual dataset
// errors (missing --dataroot, unreadable files, bad augmentation options).
std::vector<std::string> write_augment_preview(const DataConfig& cfg, int n, uint64_t seed, const std::string& out_dir);

// The image a preview file holds for one sample already in the [0,1] range: A | B, [3 or 1, H, 2W].
at::Tensor preview_image(const at::Tensor& a_unit, const at::Tensor& b_unit);

}  // namespace p2p
