// History of generated images for the discriminator (Shrivastava et al.; the reference's ImagePool).
// D then also sees fakes from earlier generators, which damps G/D oscillation. Reference semantics: while
// fewer than `size` images are stored, each new one is stored and used; afterwards each new image is,
// with probability 1/2, swapped for a random stored one (which is used instead), else used as is.
// Size 0 = no pool. Random draws come from LibTorch's global generator, so a seeded run is reproducible.
// Unlike the reference, the pool's contents travel in checkpoints (stored(), restore()): a resumed run
// shows D the same past fakes, and draws the same, as one that never stopped.
#pragma once

#include <ATen/Tensor.h>

#include <string>
#include <vector>

namespace p2p {

class ImagePool {
 public:
  explicit ImagePool(int size);
  // images [N,...] (detached) -> [N,...]: per sample, the new image or a past one as described above.
  at::Tensor query(const at::Tensor& images);
  // The stored images in slot order (a swap draws a slot, so the order is part of the state).
  const std::vector<at::Tensor>& images() const { return images_; }
  size_t stored() const { return images_.size(); }
  // Replaces the contents with a checkpoint's images (in slot order); more than `size` images is an
  // error naming `source`, since this pool could not have held them.
  void restore(const std::vector<at::Tensor>& images, const std::string& source);

 private:
  int size_;
  std::vector<at::Tensor> images_;
};

}  // namespace p2p
