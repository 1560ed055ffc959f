// Image pool (see image_pool.h).
#include "p2p/train/image_pool.h"

#include "p2p/core/error.h"

#include <ATen/ATen.h>

#include <algorithm>

namespace p2p {

ImagePool::ImagePool(int size) : size_(size) {}

at::Tensor ImagePool::query(const at::Tensor& images) {
  if (size_ <= 0) return images;
  std::vector<at::Tensor> out;
  out.reserve(static_cast<size_t>(images.size(0)));
  for (int64_t i = 0; i < images.size(0); ++i) {
    at::Tensor image = images[i].detach().clone();
    if (static_cast<int>(images_.size()) < size_) {
      images_.push_back(image);
      out.push_back(image);
      continue;
    }
    if (at::rand({1}).item<double>() > 0.5) {
      const int64_t k = at::randint(0, size_, {1}).item<int64_t>();
      out.push_back(images_[static_cast<size_t>(k)]);
      images_[static_cast<size_t>(k)] = image;
    } else {
      out.push_back(image);
    }
  }
  return at::stack(out, 0);
}

void ImagePool::restore(const std::vector<at::Tensor>& images, const std::string& source) {
  if (static_cast<int64_t>(images.size()) > std::max(size_, 0)) {
    fail(source + ": holds " + std::to_string(images.size()) + " image-pool images, more than --pool_size " +
         std::to_string(size_));
  }
  images_.clear();
  for (const at::Tensor& image : images) images_.push_back(image.clone());
}

}  // namespace p2p
