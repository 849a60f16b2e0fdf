#include "daemon/protocol/json_message.h"

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace spk::protocol {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

std::vector<uint8_t> Text(std::string_view text) {
  return std::vector<uint8_t>(text.begin(), text.end());
}

TEST(ParseJsonObjectTest, AcceptsAnObject) {
  auto value = ParseJsonObject(Text(R"({"op": "version", "n": [1, 2]})"), "request");
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ((*value)["op"], "version");
}

TEST(ParseJsonObjectTest, RefusesBadInputWithoutThrowing) {
  struct Case {
    std::string text;
    const char* message;
  };
  const Case cases[] = {
      {"", "infer: payload is not valid JSON: "},
      {"{\"a\": tru}", "infer: payload is not valid JSON: parse error at line 1, column"},
      {"{\"a\": 1} x", "infer: payload is not valid JSON: "},
      {"[1, 2]", "infer: payload must be a JSON object, got array"},
      {"\"text\"", "infer: payload must be a JSON object, got string"},
      {"{\"a\": \"\xff\"}", "infer: payload is not valid JSON: "},
      {std::string(100, '[') + std::string(100, ']'), "infer: payload nests deeper than 64 levels"},
  };
  for (const Case& c : cases) {
    auto value = ParseJsonObject(Text(c.text), "infer");
    EXPECT_EQ(value.status().code(), StatusCode::kInvalidArgument) << c.text;
    EXPECT_THAT(std::string(value.status().message()), StartsWith(c.message)) << c.text;
    EXPECT_THAT(std::string(value.status().message()), Not(HasSubstr("json.exception")));
  }
}

TEST(ParseJsonObjectTest, BracketsInsideStringsDoNotCountAsNesting) {
  const std::string text = "{\"s\": \"" + std::string(200, '[') + "\\\"" + "\"}";
  EXPECT_TRUE(ParseJsonObject(Text(text), "x").ok());
}

TEST(SerializeJsonTest, InvalidUtf8IsReplacedNotThrown) {
  nlohmann::json value = {{"path", std::string("/tmp/\xff\xfe.pt")}};
  const auto bytes = SerializeJson(value);
  auto parsed = ParseJsonObject(bytes, "x");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
}

TEST(FieldReaderTest, ReadsAndNamesFields) {
  const nlohmann::json body = {{"deployment", "mnist"}, {"steps", 10},    {"flag", true},
                               {"gain", 0.5},           {"mode", "fast"}, {"gone", nullptr},
                               {"sub", {{"x", 1}}}};
  FieldReader reader(body, "infer");
  EXPECT_EQ(*reader.String("deployment"), "mnist");
  EXPECT_EQ(*reader.Uint("steps", 1, 100), 10u);
  EXPECT_EQ(**reader.OptionalBool("flag"), true);
  EXPECT_EQ(**reader.OptionalNumber("gain"), 0.5);
  EXPECT_EQ(*reader.Choice("mode", {"fast", "slow"}, "slow"), "fast");
  EXPECT_EQ(*reader.Choice("other", {"fast", "slow"}, "slow"), "slow");
  EXPECT_FALSE(reader.OptionalString("gone")->has_value());  // null is absent
  EXPECT_FALSE(reader.Has("gone"));
  auto sub = reader.Object("sub");
  ASSERT_TRUE(sub.ok());
  FieldReader nested(**sub, "infer", "sub.");
  EXPECT_EQ(nested.Uint("x", 2, 5).status().message(),
            "infer: field 'sub.x' must be an integer in 2..5, got number 1");
  EXPECT_TRUE(reader.CheckNoUnknownFields().ok());
}

TEST(FieldReaderTest, ErrorsNameTheFieldAndWhatWasWrong) {
  const nlohmann::json body = {{"deployment", 5},   {"negative", -1},  {"fraction", 2.5},
                               {"big", 1ull << 63}, {"flag", "yes"},   {"mode", "medium"},
                               {"list", {1, 2}},    {"object", "str"}, {"word", {{"a", 1}}}};
  FieldReader reader(body, "infer");
  EXPECT_EQ(reader.String("deployment").status().message(),
            "infer: field 'deployment' must be a string, got number 5");
  EXPECT_EQ(reader.String("missing").status().message(), "infer: missing required field 'missing'");
  EXPECT_EQ(reader.Uint("negative", 0, 10).status().message(),
            "infer: field 'negative' must be an integer in 0..10, got number -1");
  EXPECT_EQ(reader.Uint("fraction", 0, 10).status().message(),
            "infer: field 'fraction' must be an integer in 0..10, got number 2.5");
  EXPECT_EQ(reader.Uint("big", 0, 10).status().message(),
            "infer: field 'big' must be an integer in 0..10, got number 9223372036854775808");
  EXPECT_EQ(reader.OptionalBool("flag").status().message(),
            "infer: field 'flag' must be true or false, got string");
  EXPECT_EQ(reader.Choice("mode", {"fast", "slow"}, "fast").status().message(),
            "infer: field 'mode' must be one of 'fast', 'slow', got 'medium'");
  EXPECT_EQ(reader.OptionalObject("object").status().message(),
            "infer: field 'object' must be an object, got string");
  EXPECT_EQ(reader.OptionalArray("word").status().message(),
            "infer: field 'word' must be an array, got object");
  EXPECT_EQ(reader.CheckNoUnknownFields().message(), "infer: unknown field 'list'");
  for (const auto& status : {reader.String("deployment").status(), reader.CheckNoUnknownFields()}) {
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  }
}

TEST(FieldReaderTest, ListsEveryUnknownField) {
  const nlohmann::json body = {{"op", "infer"}, {"deploymnet", "x"}, {"timestep", 3}};
  FieldReader reader(body, "infer");
  reader.Allow("op");
  EXPECT_EQ(reader.CheckNoUnknownFields().message(),
            "infer: unknown fields 'deploymnet', 'timestep'");
}

TEST(ErrorFrameTest, RoundTripsStatusAndDetails) {
  const nlohmann::json details = {{"layer", "attn.q"}, {"line", 42}};
  const Frame frame =
      MakeErrorFrame(7, NotFoundError("deployment 'mnist' does not exist"), details);
  EXPECT_EQ(frame.header.type, FrameType::kError);
  EXPECT_EQ(frame.header.request_id, 7u);
  auto error = ParseErrorPayload(frame.payload);
  ASSERT_TRUE(error.ok()) << error.status();
  EXPECT_EQ(error->status, NotFoundError("deployment 'mnist' does not exist"));
  EXPECT_EQ(error->details, details);
  EXPECT_EQ(StatusFromErrorFrame(frame), NotFoundError("deployment 'mnist' does not exist"));
}

TEST(ErrorFrameTest, EveryCodeSurvivesTheTrip) {
  for (int code = 1; code <= 15; ++code) {
    const Status status(static_cast<StatusCode>(code), "why");
    EXPECT_EQ(StatusFromErrorFrame(MakeErrorFrame(1, status)), status);
  }
}

TEST(ErrorFrameTest, UnknownCodesAndMalformedPayloads) {
  auto newer = ParseErrorPayload(Text(R"({"code": "QUOTA_GONE", "message": "later", "x": 1})"));
  ASSERT_TRUE(newer.ok());
  EXPECT_EQ(newer->status, UnknownError("QUOTA_GONE: later"));
  auto ok_code = ParseErrorPayload(Text(R"({"code": "OK"})"));
  ASSERT_TRUE(ok_code.ok());
  EXPECT_EQ(ok_code->status.code(), StatusCode::kUnknown);

  EXPECT_EQ(ParseErrorPayload(Text(R"({"message": "m"})")).status().message(),
            "error: missing required field 'code'");
  Frame broken = MakeFrame(FrameType::kError, 3, Text("not json"));
  const Status status = StatusFromErrorFrame(broken);
  EXPECT_EQ(status.code(), StatusCode::kDataLoss);
  EXPECT_THAT(std::string(status.message()), StartsWith("malformed ERROR frame for request 3: "));
}

}  // namespace
}  // namespace spk::protocol
