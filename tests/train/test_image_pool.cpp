// Tests for train/image_pool: reference semantics (fill, then swap with probability 1/2) and size 0 = off.
#include "p2p/core/runtime.h"
#include "p2p/train/image_pool.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

namespace p2p {
namespace {

at::Tensor image(float id) { return at::full({1, 1, 2, 2}, id); }

TEST(ImagePool, SizeZeroPassesImagesThrough) {
  ImagePool pool(0);
  at::Tensor x = image(3);
  EXPECT_TRUE(pool.query(x).is_same(x));
  EXPECT_EQ(pool.stored(), 0u);
}

TEST(ImagePool, FillsThenReturnsPastImagesHalfTheTime) {
  seed_everything(5, false);
  const int size = 4;
  ImagePool pool(size);
  for (int i = 0; i < size; ++i) EXPECT_EQ(pool.query(image(static_cast<float>(i))).max().item<float>(), i);
  EXPECT_EQ(pool.stored(), 4u);
  const int n = 4000;
  int past = 0;
  std::vector<bool> seen(size + n, false);
  for (int i = 0; i < size; ++i) seen[i] = true;
  for (int i = size; i < size + n; ++i) {
    const float got = pool.query(image(static_cast<float>(i))).max().item<float>();
    if (got != static_cast<float>(i)) {
      ++past;
      ASSERT_TRUE(seen[static_cast<size_t>(got)]) << "returned " << got << ", never stored";
      seen[static_cast<size_t>(got)] = false;  // a returned image leaves the pool: never returned twice
    }
    seen[i] = got != static_cast<float>(i);  // the new image was stored iff a past one came back
  }
  // Binomial(4000, 0.5): sd ~ 32; 0.5 +- 0.04 is more than 5 sd.
  EXPECT_NEAR(static_cast<double>(past) / n, 0.5, 0.04);
}

TEST(ImagePool, BatchesAreHandledPerSample) {
  seed_everything(6, false);
  ImagePool pool(3);
  at::Tensor batch = at::cat({image(0), image(1)}, 0);
  EXPECT_TRUE(at::equal(pool.query(batch), batch));
  EXPECT_EQ(pool.stored(), 2u);
  EXPECT_EQ(pool.query(at::cat({image(2), image(3)}, 0)).size(0), 2);
  EXPECT_EQ(pool.stored(), 3u);
}

}  // namespace
}  // namespace p2p
