#include "daemon/protocol/handshake.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace spk::protocol {
namespace {

ProtocolVersion V(uint32_t major, uint32_t minor) { return {major, minor}; }

TEST(ProtocolVersionTest, ParsesMajorDotMinor) {
  auto version = ProtocolVersion::Parse("12.34");
  ASSERT_TRUE(version.ok());
  EXPECT_EQ(*version, V(12, 34));
  EXPECT_EQ(version->ToString(), "12.34");
  for (const char* bad : {"", "1", "1.", ".1", "a.b", "1.0.0", "-1.0", "1.-1", " 1.0", "1.0 "}) {
    auto parsed = ProtocolVersion::Parse(bad);
    EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_LT(V(1, 9), V(2, 0));
  EXPECT_LT(V(1, 2), V(1, 10));
}

TEST(NegotiateVersionTest, PicksTheHighestCommonVersion) {
  EXPECT_EQ(*NegotiateVersion({V(1, 0), V(1, 3)}, {V(1, 0), V(1, 1)}), V(1, 1));
  EXPECT_EQ(*NegotiateVersion({V(1, 0), V(1, 1)}, {V(1, 0), V(1, 3)}), V(1, 1));
  EXPECT_EQ(*NegotiateVersion({V(1, 0), V(2, 1)}, {V(1, 0), V(1, 3)}), V(1, 3));
  EXPECT_EQ(*NegotiateVersion({V(1, 2), V(1, 2)}, {V(1, 0), V(1, 3)}), V(1, 2));
}

TEST(NegotiateVersionTest, RefusesDisjointRangesNamingBoth) {
  auto newer = NegotiateVersion({V(2, 0), V(2, 1)}, {V(1, 0), V(1, 3)});
  EXPECT_EQ(newer.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(newer.status().message(),
            "protocol: client speaks 2.0..2.1, spiked speaks 1.0..1.3; upgrade spiked or use "
            "an older client");
  auto older = NegotiateVersion({V(0, 1), V(0, 9)}, {V(1, 0), V(1, 3)});
  EXPECT_EQ(older.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(older.status().message(),
            "protocol: client speaks 0.1..0.9, spiked speaks 1.0..1.3; upgrade the client or "
            "use an older spiked");
}

TEST(HelloTest, ClientHelloRoundTrips) {
  ClientHello hello;
  hello.client = "spikectl 0.1.0";
  hello.versions = {V(1, 0), V(1, 4)};
  const Frame frame = MakeHelloFrame(hello);
  EXPECT_EQ(frame.header.type, FrameType::kHello);
  EXPECT_EQ(frame.header.request_id, 0u);
  auto parsed = ParseClientHello(frame.payload);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->client, hello.client);
  EXPECT_EQ(parsed->versions.min, V(1, 0));
  EXPECT_EQ(parsed->versions.max, V(1, 4));
}

TEST(HelloTest, ServerHelloRoundTrips) {
  ServerHello hello;
  hello.version = V(1, 0);
  hello.server = "spiked 0.1.0";
  hello.limits.max_frame_bytes = 1 << 20;
  hello.limits.max_message_bytes = 1ull << 33;
  hello.limits.max_requests_in_flight = 8;
  hello.limits.session_idle_timeout_ms = 0;
  hello.peer = {1000, 1000, 4242, true};
  auto parsed = ParseServerHello(MakeHelloReplyFrame(hello).payload);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->version, hello.version);
  EXPECT_EQ(parsed->server, hello.server);
  EXPECT_EQ(parsed->limits.max_frame_bytes, hello.limits.max_frame_bytes);
  EXPECT_EQ(parsed->limits.max_message_bytes, hello.limits.max_message_bytes);
  EXPECT_EQ(parsed->limits.max_requests_in_flight, 8u);
  EXPECT_EQ(parsed->limits.session_idle_timeout_ms, 0u);
  EXPECT_EQ(parsed->peer.uid, 1000u);
  EXPECT_EQ(parsed->peer.pid, 4242);
  EXPECT_TRUE(parsed->peer.authorised);
}

std::vector<uint8_t> Text(std::string_view text) {
  return std::vector<uint8_t>(text.begin(), text.end());
}

TEST(HelloTest, BadHellosNameTheField) {
  EXPECT_EQ(ParseClientHello(Text(R"({"min_version": "1.0"})")).status().message(),
            "hello: missing required field 'max_version'");
  EXPECT_EQ(
      ParseClientHello(Text(R"({"min_version": "1.0", "max_version": 1})")).status().message(),
      "hello: field 'max_version' must be a string, got number 1");
  EXPECT_EQ(
      ParseClientHello(Text(R"({"min_version": "1.0", "max_version": "one"})")).status().message(),
      "hello: field 'max_version' must be a version like \"1.0\", got 'one'");
  EXPECT_EQ(
      ParseClientHello(Text(R"({"min_version": "1.2", "max_version": "1.0"})")).status().message(),
      "hello: min_version 1.2 is above max_version 1.0");
  // A newer client's extra fields do not stop the handshake.
  EXPECT_TRUE(
      ParseClientHello(Text(R"({"min_version": "1.0", "max_version": "1.0", "x": 1})")).ok());
  EXPECT_EQ(ParseServerHello(Text(R"({"version": "1.0"})")).status().message(),
            "hello_reply: missing required field 'limits'");
  EXPECT_EQ(
      ParseServerHello(Text(R"({"version": "1.0", "limits": {"max_frame_bytes": 10,
          "max_message_bytes": 10, "max_requests_in_flight": 1, "session_idle_timeout_ms": 0}})"))
          .status()
          .message(),
      "hello_reply: field 'limits.max_frame_bytes' must be an integer in 65536..4294967295, got "
      "number 10");
}

}  // namespace
}  // namespace spk::protocol
