// Tests for core/runtime: option checks, device parsing, seeding, stop requests.
#include "p2p/core/error.h"
#include "p2p/core/runtime.h"

#include <ATen/ATen.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <cstdlib>
#include <cstring>
#include <gtest/gtest.h>

namespace p2p {
namespace {

TEST(CheckChoice, AcceptsListedValuesAndNamesTheOptionOtherwise) {
  EXPECT_NO_THROW(check_choice("--norm", "batch", "batch|instance|none"));
  EXPECT_NO_THROW(check_choice("--norm", "none", "batch|instance|none"));
  try {
    check_choice("--norm", "bach", "batch|instance|none");
    FAIL() << "expected p2p::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--norm"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("bach"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("batch|instance|none"), std::string::npos);
  }
  // A prefix of an allowed value is not allowed.
  EXPECT_THROW(check_choice("--norm", "batc", "batch|instance|none"), Error);
  EXPECT_THROW(check_choice("--norm", "", "batch|instance|none"), Error);
}

TEST(ParseDevice, CpuSpellings) {
  EXPECT_TRUE(parse_device("cpu").is_cpu());
  EXPECT_TRUE(parse_device("-1").is_cpu());
  EXPECT_TRUE(parse_device("").is_cpu());
}

TEST(ParseDevice, GarbageIsAnErrorNamingTheFlag) {
  try {
    parse_device("gpu0", "--gpu_ids");
    FAIL() << "expected p2p::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--gpu_ids"), std::string::npos);
  }
}

TEST(ParseDevice, CudaWithoutGpuIsAnError) {
  if (at::hasCUDA()) GTEST_SKIP() << "machine has CUDA";
  EXPECT_THROW(parse_device("0"), Error);
  EXPECT_THROW(parse_device("cuda:0"), Error);
}

TEST(SeedEverything, SameSeedSameNumbers) {
  seed_everything(123, false);
  at::Tensor a = at::rand({5});
  seed_everything(123, false);
  at::Tensor b = at::rand({5});
  seed_everything(124, false);
  at::Tensor c = at::rand({5});
  EXPECT_TRUE(at::equal(a, b));
  EXPECT_FALSE(at::equal(a, c));
}

TEST(StopRequest, SetAndClear) {
  clear_stop_request();
  EXPECT_FALSE(stop_requested());
  request_stop();
  EXPECT_TRUE(stop_requested());
  clear_stop_request();
  EXPECT_FALSE(stop_requested());
}

#if defined(__GLIBC__)
// After keep_freed_memory, a 64 MB block comes from the heap rather than a mapping of its own, and
// freeing it keeps the memory in the process (glibc's own accounting, mallinfo2), ready for the next
// step; with glibc's defaults it would be mapped and unmapped, faulting in again each time.
TEST(KeepFreedMemory, LargeBlocksStayInTheProcessForReuse) {
  unsetenv("P2P_MALLOC");
  ASSERT_TRUE(keep_freed_memory());
  const size_t size = 64u << 20;
  char* p = static_cast<char*>(std::malloc(size));
  ASSERT_NE(p, nullptr);
  std::memset(p, 1, size);
  EXPECT_LT(mallinfo2().hblkhd, size) << "the block was mapped on its own";
  std::free(p);
  EXPECT_GE(mallinfo2().arena, size) << "the freed block went back to the OS";
  setenv("P2P_MALLOC", "system", 1);
  EXPECT_FALSE(keep_freed_memory());
  unsetenv("P2P_MALLOC");
}
#endif

}  // namespace
}  // namespace p2p
