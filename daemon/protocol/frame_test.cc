#include "daemon/protocol/frame.h"

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace spk::protocol {
namespace {

using ::testing::HasSubstr;

StatusOr<FrameHeader> Decode(const FrameHeader& header, uint32_t limit = kDefaultFrameLimit) {
  const auto bytes = EncodeHeader(header);
  return DecodeHeader(bytes, limit);
}

FrameHeader Header(FrameType type, uint16_t flags = 0, uint64_t id = 1, uint32_t length = 0) {
  FrameHeader header;
  header.type = type;
  header.flags = flags;
  header.request_id = id;
  header.payload_length = length;
  return header;
}

TEST(Crc32Test, MatchesZlibCheckValue) {
  const std::string text = "123456789";
  EXPECT_EQ(Crc32({reinterpret_cast<const uint8_t*>(text.data()), text.size()}), 0xCBF43926u);
  EXPECT_EQ(Crc32({}), 0u);
}

TEST(FrameHeaderTest, LayoutIsLittleEndianAsDocumented) {
  const auto bytes =
      EncodeHeader(Header(FrameType::kRequest, kFlagMore, 0x0102030405060708ull, 0x00A0B0C0));
  const std::array<uint8_t, 20> expected = {'S',  'P',  'K',  'D',  1,    0x10, 0x01,
                                            0x00, 0x08, 0x07, 0x06, 0x05, 0x04, 0x03,
                                            0x02, 0x01, 0xC0, 0xB0, 0xA0, 0x00};
  EXPECT_TRUE(std::equal(expected.begin(), expected.end(), bytes.begin()));
  const uint32_t crc = Crc32(std::span<const uint8_t>(bytes.data(), 20));
  EXPECT_EQ(bytes[20], crc & 0xFF);
  EXPECT_EQ(bytes[23], crc >> 24);
}

// The example in docs/protocol.md, byte for byte.
TEST(FrameHeaderTest, DocumentedExample) {
  const std::string body = R"({"op":"version"})";
  const Frame frame =
      MakeFrame(FrameType::kRequest, 7, std::vector<uint8_t>(body.begin(), body.end()));
  const auto bytes = EncodeHeader(frame.header);
  const std::array<uint8_t, kHeaderSize> documented = {
      0x53, 0x50, 0x4b, 0x44, 0x01, 0x10, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0xad, 0xfb, 0x97, 0x8c};
  EXPECT_EQ(bytes, documented);
}

TEST(FrameHeaderTest, RoundTripsEveryType) {
  const FrameType types[] = {FrameType::kRequest,     FrameType::kResponse, FrameType::kError,
                             FrameType::kCancel,      FrameType::kProgress, FrameType::kTensor,
                             FrameType::kSpikes,      FrameType::kBlob,     FrameType::kStreamInput,
                             FrameType::kStreamOutput};
  for (FrameType type : types) {
    const FrameHeader header = Header(type, 0, 42, type == FrameType::kCancel ? 0 : 100);
    auto decoded = Decode(header);
    ASSERT_TRUE(decoded.ok()) << FrameTypeName(type) << ": " << decoded.status();
    EXPECT_EQ(*decoded, header);
  }
  auto credit = Decode(Header(FrameType::kCredit, 0, 9, 4));
  ASSERT_TRUE(credit.ok()) << credit.status();
  auto hello = Decode(Header(FrameType::kHello, 0, 0, 50));
  ASSERT_TRUE(hello.ok()) << hello.status();
  auto reply = Decode(Header(FrameType::kHelloReply, 0, 0, 50));
  ASSERT_TRUE(reply.ok()) << reply.status();
  auto connection_error = Decode(Header(FrameType::kError, 0, 0, 50));
  ASSERT_TRUE(connection_error.ok()) << connection_error.status();
  auto continued = Decode(Header(FrameType::kBlob, kFlagMore | kFlagContinued, 3, 10));
  ASSERT_TRUE(continued.ok()) << continued.status();
  auto open = Decode(Header(FrameType::kResponse, kFlagOpen, 3, 10));
  ASSERT_TRUE(open.ok()) << open.status();
}

TEST(FrameHeaderTest, BadMagicShowsWhatArrived) {
  auto bytes = EncodeHeader(Header(FrameType::kRequest));
  const std::string http = "GET ";
  std::copy(http.begin(), http.end(), bytes.begin());
  auto decoded = DecodeHeader(bytes, kDefaultFrameLimit);
  EXPECT_EQ(decoded.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(decoded.status().message()),
              HasSubstr("bad magic 47 45 54 20 (\"GET \")"));
}

TEST(FrameHeaderTest, OtherVersionIsFailedPreconditionNamingBoth) {
  FrameHeader header = Header(FrameType::kRequest);
  header.version = 2;
  auto decoded = Decode(header);
  EXPECT_EQ(decoded.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(decoded.status().message(),
            "frame header: version 2 is not supported; this side speaks protocol version 1");
}

TEST(FrameHeaderTest, ChecksumMismatchIsDataLoss) {
  auto bytes = EncodeHeader(Header(FrameType::kRequest, 0, 5, 10));
  bytes[16] ^= 0x01;  // payload_length changed in transit
  auto decoded = DecodeHeader(bytes, kDefaultFrameLimit);
  EXPECT_EQ(decoded.status().code(), StatusCode::kDataLoss);
  EXPECT_THAT(std::string(decoded.status().message()), HasSubstr("header_crc"));
}

struct BadHeaderCase {
  const char* name;
  FrameHeader header;
  const char* message;
};

TEST(FrameHeaderTest, EveryMalformedFieldIsNamed) {
  const BadHeaderCase cases[] = {
      {"unknown type", Header(static_cast<FrameType>(0x7F)), "frame header: type 0x7f is unknown"},
      {"reserved flag", Header(FrameType::kRequest, 0x0100),
       "frame header: flags 0x0100 has reserved bits set (known: 0x0007)"},
      {"open on request", Header(FrameType::kRequest, kFlagOpen),
       "frame header: flag OPEN is only valid on RESPONSE, not REQUEST"},
      {"continued on json", Header(FrameType::kRequest, kFlagContinued | kFlagMore),
       "frame header: flag CONTINUED is only valid on binary frames, not REQUEST"},
      {"continued without more", Header(FrameType::kBlob, kFlagContinued),
       "frame header: flag CONTINUED requires flag MORE"},
      {"more on cancel", Header(FrameType::kCancel, kFlagMore),
       "frame header: flag MORE is not valid on CANCEL"},
      {"more on stream without continued", Header(FrameType::kStreamInput, kFlagMore),
       "frame header: flag MORE is not valid on STREAM_INPUT"},
      {"hello with id", Header(FrameType::kHello, 0, 7),
       "frame header: request_id must be 0 on HELLO, got 7"},
      {"request with id 0", Header(FrameType::kRequest, 0, 0),
       "frame header: request_id 0 is reserved for the connection; REQUEST needs a request's "
       "id"},
      {"oversized", Header(FrameType::kBlob, 0, 1, kDefaultFrameLimit + 1),
       "frame header: payload_length 16777217 exceeds the frame limit of 16777216 bytes"},
      {"cancel with payload", Header(FrameType::kCancel, 0, 1, 3),
       "frame header: payload_length of CANCEL must be 0, got 3"},
      {"short credit", Header(FrameType::kCredit, 0, 1, 2),
       "frame header: payload_length of CREDIT must be 4, got 2"},
  };
  for (const BadHeaderCase& c : cases) {
    auto decoded = Decode(c.header);
    EXPECT_EQ(decoded.status().code(), StatusCode::kInvalidArgument) << c.name;
    EXPECT_EQ(decoded.status().message(), c.message) << c.name;
  }
}

TEST(FrameHeaderTest, LimitIsTheCallers) {
  EXPECT_TRUE(Decode(Header(FrameType::kBlob, 0, 1, 1000), 1000).ok());
  EXPECT_FALSE(Decode(Header(FrameType::kBlob, 0, 1, 1001), 1000).ok());
}

TEST(FrameTest, MakeAndEncode) {
  Frame frame = MakeFrame(FrameType::kBlob, 9, {1, 2, 3}, kFlagMore);
  EXPECT_EQ(frame.header.payload_length, 3u);
  const auto bytes = EncodeFrame(frame);
  ASSERT_EQ(bytes.size(), kHeaderSize + 3);
  EXPECT_EQ(bytes[kHeaderSize + 2], 3);
  auto header = DecodeHeader(std::span<const uint8_t, kHeaderSize>(bytes.data(), kHeaderSize),
                             kDefaultFrameLimit);
  ASSERT_TRUE(header.ok());
  EXPECT_EQ(*header, frame.header);
}

TEST(FrameTest, TypeNamesAndClasses) {
  EXPECT_EQ(FrameTypeName(FrameType::kStreamInput), "STREAM_INPUT");
  EXPECT_EQ(FrameTypeName(static_cast<FrameType>(0x99)), "UNKNOWN");
  EXPECT_TRUE(IsKnownFrameType(0x32));
  EXPECT_FALSE(IsKnownFrameType(0x33));
  EXPECT_TRUE(IsJsonFrameType(FrameType::kProgress));
  EXPECT_FALSE(IsJsonFrameType(FrameType::kTensor));
  EXPECT_TRUE(IsAttachmentFrameType(FrameType::kBlob));
  EXPECT_TRUE(IsStreamDataFrameType(FrameType::kStreamOutput));
  EXPECT_FALSE(IsStreamDataFrameType(FrameType::kCredit));
}

}  // namespace
}  // namespace spk::protocol
