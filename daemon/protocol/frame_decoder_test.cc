#include "daemon/protocol/frame_decoder.h"

#include <random>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace spk::protocol {
namespace {

using ::testing::HasSubstr;

std::vector<uint8_t> Pattern(size_t size, uint8_t seed) {
  std::vector<uint8_t> out(size);
  for (size_t i = 0; i < size; ++i) out[i] = static_cast<uint8_t>(seed + i * 7);
  return out;
}

// A stream with empty, small, attachment and large frames.
std::vector<Frame> SampleFrames() {
  return {
      MakeFrame(FrameType::kHello, 0, Pattern(40, 1)),
      MakeFrame(FrameType::kRequest, 1, Pattern(120, 2), kFlagMore),
      MakeFrame(FrameType::kBlob, 1, Pattern(1 << 20, 3), kFlagMore | kFlagContinued),
      MakeFrame(FrameType::kBlob, 1, Pattern(5, 4)),
      MakeFrame(FrameType::kCancel, 2, {}),
      MakeFrame(FrameType::kCredit, 3, {4, 0, 0, 0}),
      MakeFrame(FrameType::kResponse, 1, {}),
  };
}

std::vector<uint8_t> Concat(const std::vector<Frame>& frames) {
  std::vector<uint8_t> out;
  for (const Frame& frame : frames) {
    const auto bytes = EncodeFrame(frame);
    out.insert(out.end(), bytes.begin(), bytes.end());
  }
  return out;
}

void ExpectSame(const std::vector<Frame>& got, const std::vector<Frame>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got[i].header, want[i].header) << "frame " << i;
    EXPECT_EQ(got[i].payload, want[i].payload) << "frame " << i;
  }
}

// Feeds `stream` in chunks from `next_chunk`, collecting frames as they come.
template <typename NextChunk>
std::vector<Frame> DecodeInChunks(const std::vector<uint8_t>& stream, NextChunk next_chunk) {
  FrameDecoder decoder(2u << 20);
  std::vector<Frame> frames;
  size_t pos = 0;
  while (pos < stream.size()) {
    const size_t size = std::min(next_chunk(), stream.size() - pos);
    EXPECT_TRUE(decoder.Feed(std::span<const uint8_t>(stream).subspan(pos, size)).ok());
    pos += size;
    while (auto frame = decoder.Next()) frames.push_back(*std::move(frame));
  }
  EXPECT_TRUE(decoder.Finish().ok());
  EXPECT_TRUE(decoder.at_boundary());
  return frames;
}

TEST(FrameDecoderTest, WholeStreamAtOnce) {
  const auto frames = SampleFrames();
  const auto stream = Concat(frames);
  ExpectSame(DecodeInChunks(stream, [&] { return stream.size(); }), frames);
}

TEST(FrameDecoderTest, OneByteAtATime) {
  const auto frames = SampleFrames();
  ExpectSame(DecodeInChunks(Concat(frames), [] { return size_t{1}; }), frames);
}

TEST(FrameDecoderTest, RandomChunks) {
  const auto frames = SampleFrames();
  const auto stream = Concat(frames);
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    std::mt19937 rng(seed);
    // Mostly small chunks, sometimes large ones, so boundaries land inside
    // headers and payloads alike.
    std::uniform_int_distribution<size_t> small(1, 40);
    std::uniform_int_distribution<size_t> large(1, 300000);
    ExpectSame(DecodeInChunks(stream, [&] { return rng() % 4 ? small(rng) : large(rng); }), frames);
  }
}

TEST(FrameDecoderTest, OversizedFrameIsRefusedBeforeItsPayload) {
  FrameDecoder decoder(kMinFrameLimit);
  std::vector<uint8_t> stream = EncodeFrame(MakeFrame(FrameType::kCancel, 4, {}));
  FrameHeader big;
  big.type = FrameType::kBlob;
  big.request_id = 5;
  big.payload_length = 1 << 20;
  const auto header = EncodeHeader(big);
  stream.insert(stream.end(), header.begin(), header.end());
  stream.resize(stream.size() + 1000, 0xAB);  // the start of the payload

  const Status status = decoder.Feed(stream);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(),
            "frame #2 at stream offset 24: frame header: payload_length 1048576 exceeds the "
            "frame limit of 65536 bytes");
  // Nothing of the payload was taken in.
  EXPECT_EQ(decoder.bytes_consumed(), 2 * kHeaderSize);
  // The frame before it is still delivered; the error sticks.
  auto first = decoder.Next();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->header.type, FrameType::kCancel);
  EXPECT_EQ(decoder.Feed(stream), status);
  EXPECT_EQ(decoder.Finish(), status);
}

TEST(FrameDecoderTest, MalformedHeadersKeepTheirCodes) {
  struct Case {
    size_t byte;
    uint8_t value;
    StatusCode code;
    const char* text;
  };
  const Case cases[] = {
      {0, 'X', StatusCode::kInvalidArgument, "bad magic"},
      {4, 9, StatusCode::kFailedPrecondition, "version 9"},
      {5, 0x11, StatusCode::kDataLoss, "header_crc"},  // type changed, checksum not
      {9, 0xFF, StatusCode::kDataLoss, "header_crc"},
  };
  for (const Case& c : cases) {
    auto stream = EncodeFrame(MakeFrame(FrameType::kRequest, 1, {'{', '}'}));
    stream[c.byte] = c.value;
    FrameDecoder decoder;
    const Status status = decoder.Feed(stream);
    EXPECT_EQ(status.code(), c.code) << c.byte;
    EXPECT_THAT(std::string(status.message()), HasSubstr(c.text));
    EXPECT_THAT(std::string(status.message()), HasSubstr("frame #1 at stream offset 0"));
    EXPECT_FALSE(decoder.Next().has_value());
  }
}

TEST(FrameDecoderTest, FinishReportsAPartialFrame) {
  const auto stream = EncodeFrame(MakeFrame(FrameType::kBlob, 1, Pattern(10, 0)));
  {
    FrameDecoder decoder;
    ASSERT_TRUE(decoder.Feed(std::span<const uint8_t>(stream).first(10)).ok());
    const Status status = decoder.Finish();
    EXPECT_EQ(status.code(), StatusCode::kDataLoss);
    EXPECT_EQ(status.message(),
              "stream ended inside frame #1 at stream offset 0: got 10 of 24 header bytes");
  }
  {
    FrameDecoder decoder;
    ASSERT_TRUE(decoder.Feed(std::span<const uint8_t>(stream).first(kHeaderSize + 3)).ok());
    EXPECT_FALSE(decoder.at_boundary());
    EXPECT_EQ(decoder.Finish().message(),
              "stream ended inside frame #1 at stream offset 0: got 3 of 10 payload bytes of a "
              "BLOB frame");
  }
  {
    FrameDecoder decoder;
    EXPECT_TRUE(decoder.Finish().ok());
  }
}

}  // namespace
}  // namespace spk::protocol
