// Tests for train/image_pool: reference semantics (fill, then swap with probability 1/2), size 0 = off, and
// a pool restored from its images (as checkpoints carry them) answering as the original would.
#include "p2p/core/error.h"
#include "p2p/core/runtime.h"
#include "p2p/train/image_pool.h"
#include "testutil/testutil.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
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

TEST(ImagePool, RestoredPoolAnswersAsTheOriginal) {
  seed_everything(7, false);
  ImagePool original(3);
  for (int i = 0; i < 5; ++i) original.query(image(static_cast<float>(i)));
  ImagePool copy(3);
  copy.restore(original.images(), "test");
  ASSERT_EQ(copy.stored(), 3u);
  at::Generator gen = at::detail::getDefaultCPUGenerator();
  const at::Tensor state = gen.get_state();
  std::vector<float> a, b;
  for (int i = 5; i < 40; ++i) a.push_back(original.query(image(static_cast<float>(i))).max().item<float>());
  gen.set_state(state);
  for (int i = 5; i < 40; ++i) b.push_back(copy.query(image(static_cast<float>(i))).max().item<float>());
  EXPECT_EQ(a, b);
  // An empty (old) pool draws differently: what the checkpoint's pool is for.
  ImagePool empty(3);
  gen.set_state(state);
  std::vector<float> c;
  for (int i = 5; i < 40; ++i) c.push_back(empty.query(image(static_cast<float>(i))).max().item<float>());
  EXPECT_NE(a, c);
  // More images than the pool's size cannot have come from it.
  ImagePool small(2);
  EXPECT_NE(test::error_of([&] { small.restore(original.images(), "checkpoint x.pt"); }).find(
                "checkpoint x.pt: holds 3 image-pool images, more than --pool_size 2"),
            std::string::npos);
}

}  // namespace
}  // namespace p2p
