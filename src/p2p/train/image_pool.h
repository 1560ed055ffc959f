// History of generated images for the discriminator (Shrivastava et al.; the reference's ImagePool).
// D then also sees fakes from earlier generators, which damps G/D oscillation. Reference semantics: while
// fewer than `size` images are stored, each new one is stored and used; afterwards each new image is,
// with probability 1/2, swapped for a random stored one (which is used instead), else used as is.
// Size 0 = no pool. Random draws come from LibTorch's global generator, so a seeded run is reproducible.
// The pool's contents are not part of checkpoints (nor are they in the reference): a resumed run starts
// with an empty pool.
#pragma once

#include <ATen/Tensor.h>

#include <vector>

namespace p2p {

class ImagePool {
 public:
  explicit ImagePool(int size);
  // images [N,...] (detached) -> [N,...]: per sample, the new image or a past one as described above.
  at::Tensor query(const at::Tensor& images);
  size_t stored() const { return images_.size(); }

 private:
  int size_;
  std::vector<at::Tensor> images_;
};

}  // namespace p2p
