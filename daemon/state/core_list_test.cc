#include "daemon/state/core_list.h"

#include "daemon/state/test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace spk::daemon::state {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(CoreList, FormatsRunsCompactly) {
  EXPECT_EQ(FormatCoreList({}), "");
  EXPECT_EQ(FormatCoreList({5}), "5");
  EXPECT_EQ(FormatCoreList({3, 4}), "3-4");
  EXPECT_EQ(FormatCoreList({40, 0, 1, 2, 3, 32, 41, 42, 7, 7}), "0-3,7,32,40-42");
}

TEST(CoreList, ParsesAnyOrder) {
  SPK_ASSERT_OK_AND_ASSIGN(auto cores, ParseCoreList("40-42,0-1,7"));
  EXPECT_THAT(cores, ElementsAre(0, 1, 7, 40, 41, 42));
  SPK_ASSERT_OK_AND_ASSIGN(auto single, ParseCoreList("2147483647"));
  EXPECT_THAT(single, ElementsAre(2147483647u));
}

TEST(CoreList, RoundTrips) {
  std::vector<uint32_t> cores = {0, 2, 3, 4, 9, 10, 100};
  EXPECT_EQ(ParseCoreList(FormatCoreList(cores)).value(), cores);
}

TEST(CoreList, RefusesBadLists) {
  for (const char* bad : {"", ",", "1,", "a", "1-", "-3", "5-2", "1--2", " 1", "2147483648",
                          "0-2147483647", "1,1", "0-3,2"}) {
    auto parsed = ParseCoreList(bad);
    EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument) << '"' << bad << '"';
  }
  EXPECT_THAT(ParseCoreList("0-3,2").status().message(), HasSubstr("core 2 is listed twice"));
  EXPECT_THAT(ParseCoreList("1,x").status().message(), HasSubstr("bad item \"x\""));
}

}  // namespace
}  // namespace spk::daemon::state
