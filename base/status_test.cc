#include "base/status.h"

#include <memory>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace spk {
namespace {

TEST(StatusTest, DefaultIsOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kOk);
  EXPECT_EQ(s.ToString(), "OK");
}

TEST(StatusTest, ErrorCarriesCodeAndMessage) {
  Status s = DataLossError("section 3 checksum mismatch");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_EQ(s.message(), "section 3 checksum mismatch");
  EXPECT_EQ(s.ToString(), "DATA_LOSS: section 3 checksum mismatch");
}

TEST(StatusTest, OkCodeWithMessageIsStillOk) {
  Status s(StatusCode::kOk, "ignored");
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.message(), "");
}

TEST(StatusTest, WithContextPrefixesMessageAndKeepsCode) {
  Status s = NotFoundError("no such deployment").WithContext("undeploy d7");
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "undeploy d7: no such deployment");
  EXPECT_TRUE(Status().WithContext("anything").ok());
}

TEST(StatusTest, CodeNamesRoundTrip) {
  for (int i = 0; i <= 15; ++i) {
    auto code = static_cast<StatusCode>(i);
    auto back = StatusCodeFromName(StatusCodeName(code));
    ASSERT_TRUE(back.has_value()) << i;
    EXPECT_EQ(*back, code);
  }
  EXPECT_FALSE(StatusCodeFromName("NOT_A_CODE").has_value());
  EXPECT_EQ(StatusCodeName(StatusCode::kResourceExhausted), "RESOURCE_EXHAUSTED");
}

TEST(StatusTest, EqualityComparesCodeAndMessage) {
  EXPECT_EQ(InternalError("x"), InternalError("x"));
  EXPECT_FALSE(InternalError("x") == InternalError("y"));
  EXPECT_FALSE(InternalError("x") == UnavailableError("x"));
}

TEST(StatusOrTest, HoldsValue) {
  StatusOr<std::string> v = std::string("core 3");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, "core 3");
  EXPECT_EQ(v->size(), 6u);
}

TEST(StatusOrTest, HoldsError) {
  StatusOr<int> v = ResourceExhaustedError("no cores left");
  EXPECT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(v.value_or(-1), -1);
}

TEST(StatusOrTest, MoveOnlyValue) {
  StatusOr<std::unique_ptr<int>> v = std::make_unique<int>(7);
  std::unique_ptr<int> p = std::move(v).value();
  EXPECT_EQ(*p, 7);
}

TEST(StatusOrDeathTest, ValueOfErrorAborts) {
  StatusOr<int> v = InvalidArgumentError("bad shape");
  EXPECT_DEATH((void)v.value(), "INVALID_ARGUMENT: bad shape");
}

TEST(StatusOrDeathTest, OkStatusIsRejected) {
  EXPECT_DEATH(
      {
        StatusOr<int> v = Status();
        (void)v;
      },
      "OK Status");
}

Status FailsWhen(bool fail) { return fail ? UnavailableError("board 0 unplugged") : Status(); }

Status Chain(bool fail, int* reached) {
  SPK_RETURN_IF_ERROR(FailsWhen(fail));
  *reached = 1;
  return Status();
}

StatusOr<int> Half(int x) {
  if (x % 2 != 0) return InvalidArgumentError("odd: " + std::to_string(x));
  return x / 2;
}

StatusOr<int> Quarter(int x) {
  SPK_ASSIGN_OR_RETURN(int half, Half(x));
  SPK_ASSIGN_OR_RETURN(int quarter, Half(half));
  return quarter;
}

TEST(MacrosTest, ReturnIfErrorStopsAtFirstError) {
  int reached = 0;
  EXPECT_EQ(Chain(true, &reached).code(), StatusCode::kUnavailable);
  EXPECT_EQ(reached, 0);
  EXPECT_TRUE(Chain(false, &reached).ok());
  EXPECT_EQ(reached, 1);
}

TEST(MacrosTest, AssignOrReturnPropagates) {
  EXPECT_EQ(*Quarter(12), 3);
  StatusOr<int> r = Quarter(6);
  EXPECT_EQ(r.status().message(), "odd: 3");
}

TEST(MacrosTest, ReturnIfErrorAcceptsStatusOr) {
  auto f = []() -> Status {
    SPK_RETURN_IF_ERROR(Half(5));
    return Status();
  };
  EXPECT_EQ(f().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace spk
