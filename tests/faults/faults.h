// Shared by the fault suite (tests/faults): the reliability promise, case by case. A process either does
// what was asked, or says in one line what was wrong and exits non-zero; it leaves no child, lock,
// half-written file or non-finite number behind, and calls nothing good that it has not checked.
#pragma once

#include "testutil/testutil.h"

#include <cstdlib>

// Slow cases (names containing "Slow", ctest label `slow`) run only with P2P_SLOW_TESTS=1.
#define P2P_SLOW_CASE()                                                       \
  do {                                                                        \
    if (std::getenv("P2P_SLOW_TESTS") == nullptr)                             \
      GTEST_SKIP() << "slow case: run with P2P_SLOW_TESTS=1 (ctest -L slow)"; \
  } while (0)
