#include "base/check.h"

#include <gtest/gtest.h>

namespace spk {
namespace {

TEST(CheckTest, PassingChecksDoNothing) {
  SPK_CHECK(1 + 1 == 2) << "never printed";
  SPK_CHECK_EQ(3, 3);
  SPK_CHECK_LT(1, 2);
  SPK_CHECK_OK(Status());
}

TEST(CheckDeathTest, FailureNamesConditionAndMessage) {
  EXPECT_DEATH(SPK_CHECK(2 < 1) << "while placing layer " << 4, "check failed: 2 < 1.*layer 4");
}

TEST(CheckDeathTest, ComparisonShowsBothValues) {
  int cores = 3;
  EXPECT_DEATH(SPK_CHECK_EQ(cores, 4), "\\(3 vs 4\\)");
}

TEST(CheckDeathTest, CheckOkShowsStatus) {
  EXPECT_DEATH(SPK_CHECK_OK(DataLossError("crc")), "DATA_LOSS: crc");
}

}  // namespace
}  // namespace spk
